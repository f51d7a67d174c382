"""A comparison never reads raw outcomes of a materialised bucket: shown by the plan.

The query compare_versions / compare_simulations runs (reader.scenario_stats_query) is run
under EXPLAIN (ANALYZE): every scan of an outcomes chunk that executes holds time after the
watermark of the aggregate the query completes in real time (chunks wholly before it are
excluded, at plan or run time), and the raw rows those scans pass on are outcomes after the
watermark only. Older outcomes (three days of them, per version) reach the answer through the
aggregates alone. A chunk that straddles the watermark may be read whole and filtered, when
the planner finds that cheaper than its time index (small chunks: here 200 rows of the chunk
before the full edition's quarter-hour watermark show as "Rows Removed by Filter"); those rows
are discarded by the scan, never aggregated. Both editions.
"""

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.comparison import reader
from arc.database.comparison.metrics import METRICS
from tests.support.planting import (
    Run,
    days_ago,
    make_configuration,
    make_simulation,
    make_version,
    refresh_statistics,
)
from tests.support.scratch import scratch_engine, scratch_url

__all__ = ["scratch_engine", "scratch_url"]

SCENARIOS = [f"raw_scan_s{i}" for i in range(5)]
NOW_RUNS = 3  # per scenario and simulation, in real time


@pytest.fixture(scope="module")
async def planted(scratch_engine: AsyncEngine) -> dict[str, Any]:
    config = await make_configuration(scratch_engine, user_id=uuid.uuid4())
    versions = [
        await make_version(scratch_engine, config, {"model": "m", "temperature": t})
        for t in (0.2, 0.8)
    ]
    simulations = []
    for v in versions:
        old = [
            Run(s, days_ago(d) + timedelta(minutes=k), 0.5 + 0.01 * k)
            for d in (4, 3, 2)
            for s in SCENARIOS
            for k in range(20)
        ]
        simulations.append(await make_simulation(scratch_engine, v, old))
    await refresh_statistics(scratch_engine)
    now = datetime.now(UTC) - timedelta(seconds=30)
    for v in versions:
        fresh = [Run(s, now, 0.7) for s in SCENARIOS for _ in range(NOW_RUNS)]
        simulations.append(await make_simulation(scratch_engine, v, fresh))
    return {"versions": versions, "simulations": simulations, "now": now}


def _scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan] if "Relation Name" in plan else []
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


async def _watermark(conn: Any, kind: str, full: bool) -> datetime:
    """Where the real-time part of what `kind` reads starts."""
    if full:
        aggregate = "version_scenario_stats_15m" if kind == "version" else "outcome_stats_hourly"
        return (
            await conn.execute(
                text(
                    "SELECT _timescaledb_functions.to_timestamp("
                    "_timescaledb_functions.cagg_watermark(ca.mat_hypertable_id)) "
                    "FROM _timescaledb_catalog.continuous_agg ca WHERE ca.user_view_name = :v"
                ),
                {"v": aggregate},
            )
        ).scalar_one()
    view, width = (
        ("version_scenario_stats_daily", "1 day")
        if kind == "version"
        else ("outcome_stats_hourly", "1 hour")
    )
    return (
        await conn.execute(
            text(f"SELECT arc_fallback_watermark(:v, INTERVAL '{width}')"), {"v": view}
        )
    ).scalar_one()


@pytest.mark.parametrize("kind", ["version", "simulation"])
@pytest.mark.parametrize("metric", ["reliability_score", "success_rate"])
async def test_only_outcomes_after_the_watermark_are_read(
    scratch_engine: AsyncEngine, planted: dict[str, Any], capabilities: Any, kind: str, metric: str
) -> None:
    subjects = planted["versions"] if kind == "version" else planted["simulations"][:2]
    sql, params = reader.scenario_stats_query(
        kind=kind,  # type: ignore[arg-type]
        subject_ids=subjects,
        metric=METRICS[metric],
        start=None,
        end=None,
        scenarios=None,
    )
    async with scratch_engine.connect() as conn:
        mark = await _watermark(conn, kind, capabilities.continuous_aggregates)
        chunks = {
            r.chunk_name: r
            for r in await conn.execute(
                text(
                    "SELECT chunk_name, range_start, range_end FROM timescaledb_information.chunks"
                    " WHERE hypertable_name = 'outcomes'"
                )
            )
        }
        after = (
            await conn.execute(
                text("SELECT count(*) FROM outcomes WHERE execution_time >= :m"), {"m": mark}
            )
        ).scalar_one()
        before = (
            await conn.execute(
                text("SELECT count(*) FROM outcomes WHERE execution_time < :m"), {"m": mark}
            )
        ).scalar_one()
        plan = (
            await conn.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}"), params)
        ).scalar_one()
        answer = await reader.scenario_stats(
            conn,
            kind=kind,  # type: ignore[arg-type]
            subject_ids=subjects,
            metric=METRICS[metric],
            start=None,
            end=None,
            scenarios=None,
        )
    plan = json.loads(plan) if isinstance(plan, str) else plan
    assert before >= 2 * 3 * len(SCENARIOS) * 20  # the aggregated history is there
    read_rows = 0
    for scan in _scans(plan[0]["Plan"]):
        name = scan["Relation Name"]
        if name not in chunks or scan.get("Actual Loops", 0) == 0:
            continue  # not an outcomes chunk (the aggregates, the hypertable's append node), or
            # excluded at run time: never executed
        assert chunks[name].range_end > mark, (name, chunks[name], mark)
        read_rows += scan["Actual Loops"] * scan["Actual Rows"]
    assert read_rows <= after, (read_rows, after, mark)
    assert after == 2 * NOW_RUNS * len(SCENARIOS)
    # and the answer still holds the whole history
    total = sum(g.n for g in answer.values())
    expected = (3 * 20 + NOW_RUNS) * len(SCENARIOS) * 2 if kind == "version" else 60 * 5 * 2
    assert total == expected
