"""Every analytics method against a planted data set whose answers are computed here.

The data lives in this module's scratch database, in a window 40 days in the past, so no
other test's rows can change the answers. On the full edition the window is refreshed into the
continuous aggregates after planting (backfill is outside the policy window: see the
freshness contract in arc/database/analytics.py); a second test checks fresh rows are visible
with no refresh at all.
"""

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from statistics import stdev
from typing import Any

import pytest
from sqlalchemy import func, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.analytics import ArcAnalytics, ceil_time, floor_time
from arc.database.core.errors import ArcValidationError
from arc.database.core.timescale import TimescaleCapabilities
from arc.database.models import LLMRecommendationSession, Outcome, Recommendation
from arc.database.ops.maintenance import refresh_aggregates
from tests.support.scratch import (
    Planted,
    day_start,
    make_dataset,
    plant,
    scratch_engine,
    scratch_url,
)

__all__ = ["scratch_engine", "scratch_url"]  # fixtures re-exported for this module

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
approx = pytest.approx


@pytest.fixture(scope="module")
async def planted(scratch_engine: AsyncEngine) -> AsyncIterator[Planted]:
    start = day_start(datetime.now(UTC) - timedelta(days=40)) + timedelta(hours=5)
    data = make_dataset(start, days=3, seed=11)
    await plant(scratch_engine, data)
    # Backfill older than the policy window reaches the continuous aggregates on refresh;
    # on the Apache edition this refreshes the fallback views (analytics reads raw anyway).
    # A week on either side: the weeks holding the data are whole, so the weekly aggregate
    # (0012) holds them and the scenario trends read them from it.
    await refresh_aggregates(scratch_engine, start=data.start - WEEK, end=data.end + WEEK)
    return data


def _window(data: Planted) -> tuple[datetime, datetime]:
    return data.start, data.end


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


@pytest.fixture(params=["auto", "raw"])
def analytics(request: pytest.FixtureRequest, scratch_engine: AsyncEngine) -> ArcAnalytics:
    """`auto` reads the continuous aggregates on the full edition; `raw` always the tables."""
    return ArcAnalytics(scratch_engine, source=request.param)


async def test_source_follows_edition(
    scratch_engine: AsyncEngine, capabilities: TimescaleCapabilities
) -> None:
    source = await ArcAnalytics(scratch_engine).source()
    assert source == ("aggregate" if capabilities.full_edition else "raw")


async def test_simulation_performance_hourly_and_summary(
    analytics: ArcAnalytics, planted: Planted
) -> None:
    sim = planted.simulations[2]["simulation_id"]
    rows = [o for o in planted.outcomes if o["simulation_id"] == sim]
    perf = await analytics.get_simulation_performance(
        sim, time_range=planted.end - planted.start, end=planted.end
    )
    buckets: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    for o in rows:
        buckets[floor_time(o["execution_time"], HOUR)].append(o)
    assert [h.hour for h in perf.hourly] == sorted(buckets)
    for h in perf.hourly:
        group = buckets[h.hour]
        assert h.total_outcomes == len(group)
        assert h.avg_reliability == approx(_mean([o["reliability_score"] for o in group]))
        assert h.avg_execution_time_ms == approx(_mean([o["execution_time_ms"] for o in group]))
        assert h.total_cost == approx(sum(o["cost_usd"] for o in group))
        assert h.error_count == sum(o["status"] == "error" for o in group)
    s = perf.summary
    assert s.total_outcomes == len(rows) == 40
    assert s.avg_reliability == approx(_mean([o["reliability_score"] for o in rows]))
    assert s.total_cost == approx(sum(o["cost_usd"] for o in rows))
    assert s.error_count == sum(o["status"] == "error" for o in rows)
    assert s.error_rate == approx(s.error_count / 40)
    assert s.hours_with_data == len(buckets)


async def test_simulation_performance_window_excludes_older_rows(
    analytics: ArcAnalytics, planted: Planted
) -> None:
    sim = planted.simulations[0]["simulation_id"]
    end = planted.start + DAY
    perf = await analytics.get_simulation_performance(sim, time_range=HOUR * 6, end=end)
    lo, hi = floor_time(end - HOUR * 6, HOUR), ceil_time(end, HOUR)
    expected = [
        o for o in planted.outcomes if o["simulation_id"] == sim and lo <= o["execution_time"] < hi
    ]
    assert perf.summary.total_outcomes == len(expected)


async def test_performance_trends_by_day(analytics: ArcAnalytics, planted: Planted) -> None:
    trends = await analytics.performance_trends(*_window(planted))
    by_day: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    for o in planted.outcomes:
        by_day[day_start(o["execution_time"])].append(o)
    assert [t.day for t in trends] == sorted(by_day, reverse=True)
    for t in trends:
        group = by_day[t.day]
        errors = sum(o["status"] == "error" for o in group)
        assert t.total_executions == len(group)
        assert t.avg_reliability == approx(_mean([o["reliability_score"] for o in group]))
        assert t.avg_duration_ms == approx(_mean([o["execution_time_ms"] for o in group]))
        assert t.daily_cost == approx(sum(o["cost_usd"] for o in group))
        assert t.error_count == errors
        assert t.error_rate_pct == round(errors / len(group) * 100, 2)


async def test_performance_trends_filtered_by_simulation(
    analytics: ArcAnalytics, planted: Planted
) -> None:
    sims = [planted.simulations[0]["simulation_id"], planted.simulations[5]["simulation_id"]]
    trends = await analytics.performance_trends(*_window(planted), simulation_ids=sims)
    assert sum(t.total_executions for t in trends) == 80


async def test_error_rates_per_scenario_and_day(analytics: ArcAnalytics, planted: Planted) -> None:
    rates = await analytics.error_rates(*_window(planted), min_runs=5)
    groups: dict[tuple[datetime, str], list[dict[str, Any]]] = defaultdict(list)
    for o in planted.outcomes:
        groups[(day_start(o["execution_time"]), o["scenario_id"])].append(o)
    expected = {k: v for k, v in groups.items() if len(v) >= 5}
    assert {(r.day, r.scenario_id) for r in rates} == set(expected)
    for r in rates:
        group = expected[(r.day, r.scenario_id)]
        assert r.total_runs == len(group)
        assert r.error_count == sum(o["status"] == "error" for o in group)
        assert r.error_rate_pct == round(r.error_count / r.total_runs * 100, 2)
    days = [r.day for r in rates]
    assert days == sorted(days, reverse=True)


async def test_cost_breakdown_by_model_and_configuration(
    analytics: ArcAnalytics, planted: Planted
) -> None:
    rows = await analytics.cost_breakdown(*_window(planted), per_day=False)
    expected: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for o in planted.outcomes:
        expected[planted.config_of_simulation(o["simulation_id"])].append(o)
    assert {r.config_id for r in rows} == set(expected)
    for r in rows:
        group = expected[r.config_id]
        assert r.day is None
        assert r.model == planted.model_of_simulation(group[0]["simulation_id"])
        assert r.executions == len(group)
        assert r.total_cost == approx(sum(o["cost_usd"] for o in group))
        assert r.avg_cost_per_execution == approx(r.total_cost / len(group))
    assert [r.total_cost for r in rows] == sorted((r.total_cost for r in rows), reverse=True)
    daily = await analytics.cost_breakdown(*_window(planted))
    assert sum(r.executions for r in daily) == len(planted.outcomes)
    assert {r.day for r in daily} == {day_start(o["execution_time"]) for o in planted.outcomes}


async def test_config_performance_per_version_and_day(
    analytics: ArcAnalytics, planted: Planted
) -> None:
    config_id = planted.configurations[1]["config_id"]
    rows = await analytics.config_performance(*_window(planted), config_id=config_id)
    groups: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    for o in planted.outcomes:
        if planted.config_of_simulation(o["simulation_id"]) == config_id:
            groups[day_start(o["execution_time"])].append(o)
    assert {r.day for r in rows} == set(groups)
    for r in rows:
        group = groups[r.day]
        assert r.config_id == config_id
        assert r.version_number == 1
        assert r.model == "claude-3-5-sonnet"
        assert r.total_executions == len(group)
        assert r.avg_reliability == approx(_mean([o["reliability_score"] for o in group]))
        assert r.avg_execution_time_ms == approx(_mean([o["execution_time_ms"] for o in group]))
        assert r.daily_cost == approx(sum(o["cost_usd"] for o in group))
        assert r.error_count == sum(o["status"] == "error" for o in group)


async def test_failure_trends_by_category(analytics: ArcAnalytics, planted: Planted) -> None:
    trends = await analytics.failure_trends(*_window(planted))
    groups: dict[tuple[datetime, str], list[dict[str, Any]]] = defaultdict(list)
    for f in planted.failures:
        groups[(day_start(f["execution_time"]), f["failure_category"])].append(f)
    assert {(t.day, t.failure_category) for t in trends} == set(groups)
    for t in trends:
        group = groups[(t.day, t.failure_category)]
        assert t.failure_count == len(group)
        assert t.avg_confidence == approx(_mean([f["cluster_confidence"] for f in group]))
        assert t.unique_patterns == len({f["pattern_cluster_id"] for f in group})
    only = await analytics.failure_trends(*_window(planted), category="timeout")
    assert {t.failure_category for t in only} <= {"timeout"}
    assert sum(t.failure_count for t in only) == sum(
        f["failure_category"] == "timeout" for f in planted.failures
    )


async def test_tool_performance_over_window_and_per_day(
    analytics: ArcAnalytics, planted: Planted
) -> None:
    names = sorted({t["tool_name"] for t in planted.tools})
    rows = await analytics.tool_performance(*_window(planted), tool_names=names)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in planted.tools:
        groups[t["tool_name"]].append(t)
    assert {r.tool_name for r in rows} == set(groups)
    for r in rows:
        group = groups[r.tool_name]
        assert r.day is None
        assert r.usage_count == len(group)
        assert r.avg_success_rate == approx(_mean([t["success_rate"] for t in group]))
        assert r.avg_duration_ms == approx(_mean([t["avg_duration_ms"] for t in group]))
        assert r.total_cost == approx(sum(t["total_cost_usd"] for t in group))
    per_day = await analytics.tool_performance(*_window(planted), tool_names=names, per_day=True)
    assert sum(r.usage_count for r in per_day) == len(planted.tools)
    assert all(r.day is not None for r in per_day)


async def test_scenario_difficulty_trends_weekly(analytics: ArcAnalytics, planted: Planted) -> None:
    ids = [s["scenario_id"] for s in planted.scenarios]
    trends = await analytics.scenario_difficulty_trends(*_window(planted), scenario_ids=ids)
    groups: dict[tuple[str, datetime], list[dict[str, Any]]] = defaultdict(list)
    for o in planted.outcomes:
        groups[(o["scenario_id"], floor_time(o["execution_time"], timedelta(days=7)))].append(o)
    assert {(t.scenario_id, t.week) for t in trends} == set(groups)
    for t in trends:
        group = groups[(t.scenario_id, t.week)]
        scores = [o["reliability_score"] for o in group]
        assert t.week.weekday() == 0  # Monday, as date_trunc('week') in the seed's view
        assert t.executions == len(group)
        assert t.avg_reliability == approx(_mean(scores))
        if len(scores) > 1:
            assert t.reliability_stddev == approx(stdev(scores))
        assert t.timeout_count == sum(o["status"] == "timeout" for o in group)


@pytest.mark.full_edition
async def test_scenario_trends_read_whole_weeks(
    scratch_engine: AsyncEngine, planted: Planted
) -> None:
    """On the full edition the weeks of the planted data come from the weekly aggregate (the
    trends above equal the raw rows with them: no day counted twice or left out)."""
    async with scratch_engine.connect() as conn:
        weeks = (
            await conn.execute(
                text(
                    "SELECT count(DISTINCT week) FROM v_version_scenario_stats_weekly"
                    " WHERE week >= :start AND week < :end"
                ),
                {"start": floor_time(planted.start, WEEK), "end": planted.end},
            )
        ).scalar_one()
    assert weeks >= 1


async def test_active_simulations_progress(scratch_engine: AsyncEngine, planted: Planted) -> None:
    version = planted.versions[0]
    sim_id = uuid.uuid4()
    async with scratch_engine.begin() as conn:
        from arc.database.models import Simulation

        await conn.execute(
            insert(Simulation).values(
                simulation_id=sim_id,
                config_version_id=version["version_id"],
                scenario_set=[s["scenario_id"] for s in planted.scenarios[:4]],
                simulation_name="read active",
                total_scenarios=4,
                completed_scenarios=1,
                status="running",
                started_at=func.now(),
            )
        )
        now = datetime.now(UTC)
        await conn.execute(
            insert(Outcome).values(
                outcome_id=uuid.uuid4(),
                execution_time=now,
                simulation_id=sim_id,
                scenario_id=planted.scenarios[0]["scenario_id"],
                status="success",
                reliability_score=0.5,
                execution_time_ms=10.0,
                tokens_used=1,
                cost_usd=0.0,
                trajectory={"start_time": now.isoformat(), "status": "success"},
            )
        )
    active = await ArcAnalytics(scratch_engine).active_simulations()
    mine = [a for a in active if a.simulation_id == sim_id]
    assert len(mine) == 1
    assert mine[0].progress_pct == 25.0
    assert mine[0].outcomes_recorded == 1
    assert mine[0].model_name == version["parsed_config"]["model"]
    assert all(a.status in ("pending", "running") for a in active)
    assert not {s["simulation_id"] for s in planted.simulations} & {a.simulation_id for a in active}


async def test_pending_high_confidence_recommendations(scratch_engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    session_id = uuid.uuid4()
    recs = [
        {"confidence": 0.95, "applied": False, "applied_at": None},
        {"confidence": 0.8, "applied": False, "applied_at": None},
        {"confidence": 0.6, "applied": False, "applied_at": None},  # below the bar
        {"confidence": 0.99, "applied": True, "applied_at": now},  # already applied
    ]
    rows = [
        {
            "recommendation_id": uuid.uuid4(),
            "source_type": "pattern_analysis",
            "source_id": uuid.uuid4(),
            "recommendation_type": "config_change",
            "description": f"Lower the temperature, variant {i}",
            "created_at": now - timedelta(minutes=5),
            **r,
        }
        for i, r in enumerate(recs)
    ]
    async with scratch_engine.begin() as conn:
        await conn.execute(
            insert(LLMRecommendationSession).values(
                session_id=session_id,
                user_id=uuid.uuid4(),
                analysis_start_time=now - timedelta(minutes=10),
                analysis_end_time=now,
                data_window_start=now - timedelta(days=7),
                data_window_end=now,
                llm_model="test-llm",
                total_outcomes_analyzed=10,
            )
        )
        await conn.execute(insert(Recommendation), rows)
    pending = await ArcAnalytics(scratch_engine).pending_recommendations(limit=50)
    ids = [p.recommendation_id for p in pending]
    assert ids[:2] == [rows[0]["recommendation_id"], rows[1]["recommendation_id"]]
    assert rows[2]["recommendation_id"] not in ids
    assert rows[3]["recommendation_id"] not in ids
    assert pending[0].generated_by_model == "test-llm"
    assert all(p.confidence > 0.7 for p in pending)


async def test_fresh_rows_are_visible_immediately(
    scratch_engine: AsyncEngine, planted: Planted
) -> None:
    """Real time: no refresh between the write and the read, on either edition."""
    analytics = ArcAnalytics(scratch_engine)
    sim = planted.simulations[1]
    now = datetime.now(UTC)
    async with scratch_engine.begin() as conn:
        from arc.database.models import Simulation

        fresh_sim = uuid.uuid4()
        await conn.execute(
            insert(Simulation).values(
                simulation_id=fresh_sim,
                config_version_id=sim["config_version_id"],
                scenario_set=[planted.scenarios[0]["scenario_id"]],
                total_scenarios=1,
                status="running",
                started_at=func.now(),
            )
        )
        await conn.execute(
            insert(Outcome),
            [
                {
                    "outcome_id": uuid.uuid4(),
                    "execution_time": now - timedelta(seconds=i),
                    "simulation_id": fresh_sim,
                    "scenario_id": planted.scenarios[0]["scenario_id"],
                    "status": "error" if i == 0 else "success",
                    "reliability_score": 0.25,
                    "execution_time_ms": 100.0,
                    "tokens_used": 10,
                    "cost_usd": 0.5,
                    "trajectory": {"start_time": now.isoformat(), "status": "success"},
                }
                for i in range(3)
            ],
        )
    perf = await analytics.get_simulation_performance(fresh_sim, timedelta(hours=1))
    assert perf.summary.total_outcomes == 3
    assert perf.summary.error_count == 1
    assert perf.summary.total_cost == approx(1.5)
    trends = await analytics.performance_trends(
        now - timedelta(minutes=5), now + timedelta(minutes=1), simulation_ids=[fresh_sim]
    )
    assert sum(t.total_executions for t in trends) == 3


async def test_recent_failures_newest_first(scratch_engine: AsyncEngine, planted: Planted) -> None:
    sim = planted.simulations[3]["simulation_id"]
    failures = await ArcAnalytics(scratch_engine).recent_failures(
        since=planted.start, simulation_id=sim, limit=1000
    )
    expected = [
        o for o in planted.outcomes if o["simulation_id"] == sim and o["status"] != "success"
    ]
    assert len(failures) == len(expected)
    times = [f.execution_time for f in failures]
    assert times == sorted(times, reverse=True)


async def test_dashboard_bundles_the_panels(scratch_engine: AsyncEngine, planted: Planted) -> None:
    board = await ArcAnalytics(scratch_engine).dashboard(days=3, end=planted.end)
    assert sum(p.total_executions for p in board.performance) == len(planted.outcomes)
    assert {c.config_id for c in board.cost} == {c["config_id"] for c in planted.configurations}


async def test_invalid_windows_are_rejected(scratch_engine: AsyncEngine) -> None:
    analytics = ArcAnalytics(scratch_engine)
    now = datetime.now(UTC)
    with pytest.raises(ArcValidationError) as naive:
        await analytics.performance_trends(datetime(2024, 1, 1), now)
    assert naive.value.field == "start"
    with pytest.raises(ArcValidationError) as order:
        await analytics.tool_performance(now, now - DAY)
    assert order.value.rule == "must be before end"
    with pytest.raises(ArcValidationError):
        await analytics.get_simulation_performance(uuid.uuid4(), timedelta(0))
    with pytest.raises(ArcValidationError):
        await analytics.pending_recommendations(min_confidence=1.5)
