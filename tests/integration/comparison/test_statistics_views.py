"""The statistics views of migration 0007 against the raw rows they summarise.

Means and variances read from the views (materialized buckets and the real-time part together)
equal those PostgreSQL computes from the raw outcomes, to 1e-9 relative, on both editions; the
latency histogram gives quantiles within its stated error; a late outcome in an aggregated
bucket is in the answer once the aggregate is refreshed, as the freshness contract says.
"""

import math
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.analytics.windows import DAY, WEEK, floor_time
from arc.database.comparison import latency, reader
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

SCENARIOS = [f"stats_s{i}" for i in range(6)]
NARROW = "stats_narrow"
# Days with outcomes: three whole weeks before the current one (the weekly aggregate of 0012),
# and days of the last week (the daily view around them).
WHEN = (days_ago(24), days_ago(17), days_ago(10), days_ago(4), days_ago(3), days_ago(1))


async def _raw(
    engine: AsyncEngine,
    versions: list[uuid.UUID],
    column: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                f"""
                SELECT s.config_version_id AS v, o.scenario_id, count(*) AS n,
                       avg(o.{column}::float8) AS mean, var_samp(o.{column}::float8) AS var,
                       count(*) FILTER (WHERE o.status = 'success') AS success_n
                FROM outcomes o JOIN simulations s ON s.simulation_id = o.simulation_id
                WHERE s.config_version_id = ANY(:v)
                  AND o.execution_time >= COALESCE(CAST(:start AS timestamptz), '-infinity')
                  AND o.execution_time < COALESCE(CAST(:end AS timestamptz), 'infinity')
                GROUP BY 1, 2
                """
            ),
            {"v": versions, "start": start, "end": end},
        )
        return {(r.v, r.scenario_id): r for r in rows}


async def _from_views(
    engine: AsyncEngine,
    versions: list[uuid.UUID],
    metric: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict:
    async with engine.connect() as conn:
        return await reader.scenario_stats(
            conn,
            kind="version",
            subject_ids=versions,
            metric=METRICS[metric],
            start=start,
            end=end,
            scenarios=None,
        )


@pytest.fixture(scope="module")
async def planted(scratch_engine: AsyncEngine) -> list[uuid.UUID]:
    """Two versions; outcomes 24, 17, 10, 4, 3 and 1 days ago (aggregated after a refresh) and
    in the current hour (never aggregated: the real-time part), with values of realistic
    spread."""
    rng = random.Random(20261130)
    config = await make_configuration(scratch_engine, user_id=uuid.uuid4())
    versions = [
        await make_version(scratch_engine, config, {"model": f"m{i}", "temperature": 0.2})
        for i in range(2)
    ]
    for v_index, version in enumerate(versions):
        runs = [
            Run(
                scenario_id=s,
                at=when - timedelta(minutes=rng.randrange(0, 50)),
                reliability=min(1.0, max(0.0, rng.gauss(0.7 + 0.05 * v_index, 0.15))),
                time_ms=rng.lognormvariate(7.5 + 0.1 * i, 0.6),
                cost=rng.uniform(0.001, 0.05),
                status="success" if rng.random() < 0.8 else "error",
                tokens=rng.randrange(50, 5000),
            )
            for i, s in enumerate(SCENARIOS)
            for when in WHEN
            for _ in range(rng.randrange(3, 12))
        ]
        # the current hour, to be read in real time whatever the edition
        now_runs = [
            Run(
                s,
                datetime.now(UTC) - timedelta(minutes=1),
                rng.random(),
                rng.uniform(200, 5000),
                rng.uniform(0.001, 0.02),
            )
            for s in SCENARIOS
            for _ in range(3)
        ]
        # a spread tiny beside the mean (variance / mean^2 about 1e-10): the one-pass sums
        # cannot give it to 1e-9, so the reader must re-read it with the two-pass form
        narrow_runs = [
            Run(
                NARROW,
                when - timedelta(minutes=rng.randrange(0, 50)),
                0.9 + rng.gauss(0, 1e-5),
                rng.gauss(50_000.0, 0.5),
                0.02 + rng.gauss(0, 1e-7),
            )
            for when in (days_ago(4), days_ago(3), days_ago(1))
            for _ in range(6)
        ]
        await make_simulation(scratch_engine, version, runs + narrow_runs)
        await make_simulation(scratch_engine, version, now_runs)
    await refresh_statistics(scratch_engine)
    return versions


@pytest.mark.parametrize("metric", ["reliability_score", "execution_time_ms", "cost_usd"])
async def test_means_and_variances_equal_the_raw_rows(
    scratch_engine: AsyncEngine, planted: list[uuid.UUID], metric: str
) -> None:
    raw = await _raw(scratch_engine, planted, metric)
    views = await _from_views(scratch_engine, planted, metric)
    assert set(views) == set(raw)
    for key, expected in raw.items():
        got = views[key]
        assert got.n == expected.n
        assert got.success_n == expected.success_n
        assert math.isclose(got.mean, expected.mean, rel_tol=1e-9), (key, got, expected.mean)
        assert math.isclose(got.variance, expected.var, rel_tol=1e-9), (key, got, expected.var)


async def test_whole_weeks_come_from_the_weekly_aggregate(
    scratch_engine: AsyncEngine, planted: list[uuid.UUID]
) -> None:
    """The weeks of 24, 17 and 10 days ago are whole: the comparison reads them as one cell
    per version and scenario (and the means above still equal the raw rows: no day of them
    is counted twice)."""
    async with scratch_engine.connect() as conn:
        weeks = set(
            (
                await conn.execute(
                    text(
                        "SELECT DISTINCT week FROM v_version_scenario_stats_weekly"
                        " WHERE config_version_id = ANY(:v)"
                    ),
                    {"v": planted},
                )
            ).scalars()
        )
    assert {floor_time(days_ago(d), WEEK) for d in (24, 17, 10)} <= weeks


@pytest.mark.parametrize("metric", ["reliability_score", "success_rate", "execution_time_ms"])
async def test_windows_through_weeks_equal_the_raw_rows(
    scratch_engine: AsyncEngine, planted: list[uuid.UUID], metric: str
) -> None:
    """Windows that start and end inside weeks, or are open at either end: the whole weeks in
    them from the weekly aggregate, the days around them from the daily view, equal to the raw
    rows of the same whole days."""
    today = floor_time(datetime.now(UTC), DAY)
    windows = [
        (today - timedelta(days=a), today - timedelta(days=b))
        for a, b in ((27, 0), (23, 2), (20, 9), (16, 11), (30, 18), (12, 2))
    ]
    windows += [(None, today - timedelta(days=5)), (today - timedelta(days=19), None)]
    column = "reliability_score" if metric == "success_rate" else metric
    for start, end in windows:
        raw = await _raw(scratch_engine, planted, column, start, end)
        views = await _from_views(scratch_engine, planted, metric, start, end)
        assert set(views) == set(raw), (start, end)
        for key, expected in raw.items():
            got = views[key]
            assert (got.n, got.success_n) == (expected.n, expected.success_n), (start, end)
            if got.mean is not None:
                assert math.isclose(got.mean, expected.mean, rel_tol=1e-9), (start, end)
                if expected.var is not None:
                    assert math.isclose(got.variance, expected.var, rel_tol=1e-9), key


@pytest.mark.parametrize("metric", ["reliability_score", "execution_time_ms", "cost_usd"])
async def test_only_a_narrow_spread_is_read_twice(
    scratch_engine: AsyncEngine, planted: list[uuid.UUID], metric: str
) -> None:
    """The one-pass read flags exactly the scenario whose spread it cannot keep to 1e-9."""
    sql, params = reader.scenario_stats_query(
        kind="version",
        subject_ids=planted,
        metric=METRICS[metric],
        start=None,
        end=None,
        scenarios=None,
    )
    async with scratch_engine.connect() as conn:
        flagged = {
            row.scenario_id
            for row in await conn.execute(text(sql), params)
            if reader._group(*row[2:])[1]
        }
    assert flagged == {NARROW}


@pytest.mark.parametrize("metric", ["reliability_score", "execution_time_ms", "cost_usd"])
async def test_per_simulation_statistics_equal_the_raw_rows(
    scratch_engine: AsyncEngine, planted: list[uuid.UUID], metric: str
) -> None:
    """The same for compare_simulations, read from v_outcome_stats_hourly."""
    async with scratch_engine.connect() as conn:
        simulations = (
            (
                await conn.execute(
                    text("SELECT simulation_id FROM simulations WHERE config_version_id = ANY(:v)"),
                    {"v": planted},
                )
            )
            .scalars()
            .all()
        )
        raw = {
            (r.simulation_id, r.scenario_id): r
            for r in await conn.execute(
                text(
                    f"SELECT simulation_id, scenario_id, count(*) AS n,"
                    f" avg({metric}::float8) AS mean, var_samp({metric}::float8) AS var"
                    f" FROM outcomes WHERE simulation_id = ANY(:s) GROUP BY 1, 2"
                ),
                {"s": simulations},
            )
        }
        views = await reader.scenario_stats(
            conn,
            kind="simulation",
            subject_ids=simulations,
            metric=METRICS[metric],
            start=None,
            end=None,
            scenarios=None,
        )
    assert set(views) == set(raw)
    for key, expected in raw.items():
        got = views[key]
        assert got.n == expected.n
        assert math.isclose(got.mean, expected.mean, rel_tol=1e-9), (key, got, expected.mean)
        if expected.var is not None:
            assert math.isclose(got.variance, expected.var, rel_tol=1e-9, abs_tol=1e-15)


async def test_the_views_hold_aggregated_and_real_time_rows(
    scratch_engine: AsyncEngine, planted: list[uuid.UUID]
) -> None:
    """Old buckets come from the aggregate's own storage, the current ones in real time."""
    async with scratch_engine.connect() as conn:
        storage = (
            await conn.execute(
                text(
                    "SELECT format('%I.%I', materialization_hypertable_schema,"
                    " materialization_hypertable_name) FROM"
                    " timescaledb_information.continuous_aggregates"
                    " WHERE view_name = 'version_scenario_stats_daily'"
                )
            )
        ).scalar()
        stored = (
            await conn.execute(
                text(
                    f"SELECT count(DISTINCT day) FROM {storage or 'version_scenario_stats_daily'}"
                    " WHERE config_version_id = ANY(:v) AND day < now() - INTERVAL '2 days'"
                ),
                {"v": planted},
            )
        ).scalar_one()
        today = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM v_version_scenario_stats_daily"
                    " WHERE config_version_id = ANY(:v) AND day >= date_trunc('day', now())"
                ),
                {"v": planted},
            )
        ).scalar_one()
    assert stored == 5  # 24, 17, 10, 4 and 3 days ago are materialized
    assert today == 2 * len(SCENARIOS)  # today's rows, computed at query time


async def test_latency_quantiles_are_within_the_histogram_error(
    scratch_engine: AsyncEngine, planted: list[uuid.UUID]
) -> None:
    async with scratch_engine.connect() as conn:
        totals = await reader.version_totals(conn, start=None, end=None, version_ids=planted)
        for t in totals:
            for q in (0.5, 0.9, 0.95, 0.99):
                exact = (
                    await conn.execute(
                        text(
                            "SELECT percentile_disc(:q) WITHIN GROUP (ORDER BY o.execution_time_ms)"
                            " FROM outcomes o JOIN simulations s USING (simulation_id)"
                            " WHERE s.config_version_id = :v"
                        ),
                        {"q": q, "v": t.version_id},
                    )
                ).scalar_one()
                estimate = latency.quantile(t.latency_hist, q)
                assert estimate is not None
                assert abs(estimate / exact - 1) <= latency.MAX_RELATIVE_ERROR + 1e-9, (q, exact)
                in_sql = (
                    await conn.execute(
                        text("SELECT arc_latency_quantile(CAST(:h AS bigint[]), :q)"),
                        {"h": list(t.latency_hist), "q": q},
                    )
                ).scalar_one()
                assert math.isclose(in_sql, estimate, rel_tol=1e-12)
    assert latency.quantile([0] * (latency.BUCKETS + 2), 0.5) is None


async def test_a_late_outcome_counts_once_the_aggregate_is_refreshed(
    scratch_engine: AsyncEngine, planted: list[uuid.UUID]
) -> None:
    """An outcome arriving for a bucket already aggregated (three days back): the aggregate is
    refreshed (the policy or `arc-db maintain` does it) and the statistics then include it."""
    version = planted[0]
    before = (await _from_views(scratch_engine, [version], "reliability_score"))[
        (version, SCENARIOS[0])
    ]
    await make_simulation(scratch_engine, version, [Run(SCENARIOS[0], days_ago(3), 0.0)] * 4)
    await refresh_statistics(scratch_engine)
    after = (await _from_views(scratch_engine, [version], "reliability_score"))[
        (version, SCENARIOS[0])
    ]
    assert after.n == before.n + 4
    assert math.isclose(after.mean, before.mean * before.n / after.n, rel_tol=1e-9)
    raw = (await _raw(scratch_engine, [version], "reliability_score"))[(version, SCENARIOS[0])]
    assert math.isclose(after.variance, raw.var, rel_tol=1e-9)


async def test_tenant_roles_cannot_read_the_aggregates_only_their_views(
    scratch_engine: AsyncEngine, planted: list[uuid.UUID]
) -> None:
    async with scratch_engine.connect() as conn:
        await conn.begin()
        await conn.execute(text("SET LOCAL ROLE app_user"))
        for name in ("outcome_stats_hourly", "version_scenario_stats_daily", "version_stats_daily"):
            await conn.execute(text("SAVEPOINT probe"))
            with pytest.raises(Exception, match="permission denied"):
                await conn.execute(text(f"SELECT 1 FROM {name} LIMIT 1"))
            await conn.execute(text("ROLLBACK TO SAVEPOINT probe"))
        # no tenant set: the views show nothing
        seen = (await conn.execute(text("SELECT count(*) FROM v_version_stats_daily"))).scalar()
        assert seen == 0
        await conn.rollback()
