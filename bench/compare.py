"""Version comparison: from the statistics aggregate against the same comparison from raw rows.

Loads ARC_BENCH_COMPARE_OUTCOMES outcomes (default 2,000,000) for two versions of one
configuration over ARC_BENCH_COMPARE_SCENARIOS scenarios (default 500), one simulation per
version and day over the 30 days before today, with planted effects (10 scenarios regress, 20
improve), by server-side INSERT ... SELECT generate_series. After the aggregates are refreshed,
it times, ARC_BENCH_REPEATS times each (default 20), for every metric:

- `aggregate`: VersionComparator.compare_versions (statistics views, then scipy);
- `raw`: the same per-(version, scenario) statistics computed by PostgreSQL from the raw
  outcomes joined to simulations, then the same evaluation;

checks that both give the same verdicts and statistics (to 1e-9) and that the planted effects
are found, and prints p50/p95 and the ratio raw / aggregate; then the freshness step
`arc-db compare` runs before reading (comparison.freshness) when there is nothing to refresh.
Goal: under 100 ms from the aggregate. `--keep` keeps the loaded database, `--reuse DATABASE`
times a kept one again without loading (minutes saved at 2M outcomes).
"""

import argparse
import asyncio
import gc
import math
import os
import statistics
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.comparison import METRICS, VersionComparator
from arc.database.comparison.evaluation import evaluate
from arc.database.comparison.freshness import refresh_statistics
from arc.database.comparison.reader import GroupStats
from arc.database.core.engine import build_engine
from arc.database.core.timescale import detect_async
from arc.database.ops.maintenance import refresh_aggregates
from arc.database.ops.provision import drop_database, ensure_database, with_database
from arc.database.schema import migrate
from bench.results import figure, half_noise

DAYS = 30
REGRESS, IMPROVE = 10, 20

LOAD_DAY = """
INSERT INTO outcomes (outcome_id, execution_time, simulation_id, scenario_id, status,
    reliability_score, execution_time_ms, tokens_used, cost_usd, trajectory)
SELECT gen_random_uuid(), t, CAST(:sim AS uuid), scn, st,
       least(1, greatest(0, 0.6 + 0.1 * e + 0.1 * z1))::real,
       exp(7.5 - 0.3 * e + 0.4 * z2)::real,
       (800 + (n * 7919) % 2000)::int,
       exp(-4.5 - 0.3 * e + 0.3 * z1)::real,
       jsonb_build_object('start_time', t, 'status', st)
FROM (
    SELECT n, t, scn, e, z1, z2,
           CASE WHEN random() < 0.75 + 0.15 * e THEN 'success' ELSE 'error' END AS st
    FROM (
        SELECT n,
               CAST(:day AS timestamptz) + make_interval(secs => n * 86400.0 / :per_day) AS t,
               'cmp_bench_' || lpad((n % :nscn)::text, 4, '0') AS scn,
               CAST(:candidate AS int) * CASE WHEN n % :nscn < :regress THEN -1
                    WHEN n % :nscn < :regress + :improve THEN 1 ELSE 0 END AS e,
               sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z1,
               sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z2
        FROM generate_series(0, CAST(:per_day AS int) - 1) AS n
    ) draws
) rows
"""

RAW_STATS = """
SELECT s.config_version_id AS subject, o.scenario_id, count(*) AS n,
       count(*) FILTER (WHERE o.status = 'success') AS success_n,
       avg(o.{column}::float8) AS mean, var_pop(o.{column}::float8) * count(*) AS ss
FROM outcomes o JOIN simulations s ON s.simulation_id = o.simulation_id
WHERE s.config_version_id = ANY(:versions)
GROUP BY 1, 2
"""
COLUMNS = {
    "reliability_score": "reliability_score",
    "success_rate": "reliability_score",
    "execution_time_ms": "execution_time_ms",
    "cost_usd": "cost_usd",
}


async def _load(engine: AsyncEngine, total: int, scenarios: int) -> tuple[uuid.UUID, uuid.UUID]:
    config, versions = uuid.uuid4(), (uuid.uuid4(), uuid.uuid4())
    per_day = total // (2 * DAYS)
    first_day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=DAYS
    )
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO scenarios (scenario_id, name, task_prompt) "
                "SELECT 'cmp_bench_' || lpad(i::text, 4, '0'), 'bench ' || i, 'benchmark task' "
                "FROM generate_series(0, :n - 1) i"
            ),
            {"n": scenarios},
        )
        await conn.execute(
            text("INSERT INTO configurations (config_id, name, user_id) VALUES (:c, :n, :u)"),
            {"c": config, "n": f"bench compare {config.hex[:8]}", "u": uuid.uuid4()},
        )
        for number, version in enumerate(versions, start=1):
            await conn.execute(
                text(
                    "INSERT INTO config_versions (version_id, config_id, version_number, "
                    "raw_yaml, parsed_config, config_hash) VALUES (:v, :c, :num, :y, "
                    "CAST(:p AS jsonb), :h)"
                ),
                {
                    "v": version,
                    "c": config,
                    "num": number,
                    "y": f"model: bench\ntemperature: 0.{number}\n",
                    "p": f'{{"model": "bench", "temperature": 0.{number}}}',
                    "h": uuid.uuid4().hex * 2,
                },
            )
    scenario_ids = [f"cmp_bench_{i:04d}" for i in range(scenarios)]
    for day in range(DAYS):
        when = first_day + timedelta(days=day)
        async with engine.begin() as conn:
            for candidate, version in enumerate(versions):
                sim = uuid.uuid4()
                await conn.execute(
                    text(
                        "INSERT INTO simulations (simulation_id, config_version_id, scenario_set,"
                        " total_scenarios, status) VALUES (:s, :v, :set, :n, 'running')"
                    ),
                    {"s": sim, "v": version, "set": scenario_ids, "n": scenarios},
                )
                await conn.execute(
                    text(LOAD_DAY),
                    {
                        "sim": sim,
                        "day": when,
                        "per_day": per_day,
                        "nscn": scenarios,
                        "candidate": candidate,
                        "regress": REGRESS,
                        "improve": IMPROVE,
                    },
                )
    return versions


async def settle(engine: AsyncEngine) -> None:
    """The steady state autovacuum would reach: statistics for the planner, dirty pages
    written, so timings measure queries rather than a bulk load's aftermath."""
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.execute(text("VACUUM ANALYZE"))
        await auto.execute(text("CHECKPOINT"))


async def _raw_comparison(
    engine: AsyncEngine, versions: tuple[uuid.UUID, uuid.UUID], metric: str
) -> Any:
    measure = METRICS[metric]
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(RAW_STATS.format(column=COLUMNS[metric])), {"versions": list(versions)}
        )
        groups: dict[uuid.UUID, dict[str, GroupStats]] = {v: {} for v in versions}
        for r in rows:
            groups[r.subject][r.scenario_id] = GroupStats(
                int(r.n), int(r.success_n), float(r.mean), float(r.ss)
            )
    return evaluate(measure, groups[versions[0]], groups[versions[1]], alpha=0.05, min_samples=5)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


async def _timed(repeats: int, work: Any) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = await work()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _versions(engine: AsyncEngine) -> tuple[uuid.UUID, uuid.UUID]:
    """The two versions a kept database holds (--reuse)."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT cv.version_id FROM config_versions cv JOIN configurations c "
                    "USING (config_id) WHERE c.name LIKE 'bench compare %' "
                    "ORDER BY cv.version_number"
                )
            )
        ).all()
    if len(rows) != 2:
        raise SystemExit("--reuse: not a database this benchmark kept")
    return rows[0][0], rows[1][0]


async def run(server_url: str, args: Sequence[str] = ()) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench compare")
    parser.add_argument("--keep", action="store_true", help="keep the database it loads")
    parser.add_argument("--reuse", metavar="DATABASE", help="time a kept database, no loading")
    options = parser.parse_args(list(args))
    total = int(os.environ.get("ARC_BENCH_COMPARE_OUTCOMES", "2000000"))
    scenarios = int(os.environ.get("ARC_BENCH_COMPARE_SCENARIOS", "500"))
    repeats = int(os.environ.get("ARC_BENCH_REPEATS", "20"))
    name = options.reuse or f"arc_bench_compare_{uuid.uuid4().hex[:8]}"
    url = with_database(server_url, name)
    if not options.reuse:
        await ensure_database(url)
    figures: dict[str, Any] = {"outcomes": total, "scenarios": scenarios, "metrics": {}}
    try:
        if not options.reuse:
            await asyncio.to_thread(migrate.upgrade, url)
        # A refresh of 2M outcomes' fallback views takes minutes on a busy 2-core machine: the
        # default 60 s statement timeout is for applications, not for a bulk load.
        engine = build_engine(url=url, pool_size=4, max_overflow=0, command_timeout=3600)
        try:
            async with engine.connect() as conn:
                caps = await detect_async(conn)
                figures["load_average"] = os.getloadavg()[0]
            figures["edition"] = caps.edition
            if options.reuse:
                versions = await _versions(engine)
                print(f"reusing {name} ({caps.edition} edition)")
            else:
                started = time.perf_counter()
                versions = await _load(engine, total, scenarios)
                figures["load_s"] = round(time.perf_counter() - started, 1)
                started = time.perf_counter()
                await refresh_aggregates(engine)
                figures["refresh_s"] = round(time.perf_counter() - started, 1)
                await settle(engine)
                print(
                    f"loaded {total:,} outcomes ({scenarios} scenarios, 2 versions, {DAYS} days)"
                    f" in {figures['load_s']} s, aggregates refreshed in {figures['refresh_s']} s"
                    f" ({caps.edition} edition)"
                )
            if caps.policies:  # no background compression or refresh while timing
                async with engine.begin() as conn:
                    await conn.execute(
                        text(
                            "SELECT alter_job(job_id, scheduled => false) "
                            "FROM timescaledb_information.jobs WHERE job_id >= 1000"
                        )
                    )
            comparator = VersionComparator(engine)
            await comparator.compare_versions(*versions)  # warm up: imports, plans, caches
            gc.freeze()  # as arc-db does after its imports (cli.main): no 90 ms full scans
            print(f"{'metric':<20} {'aggregate p50/p95 ms':>22} {'raw p50/p95 ms':>18} ratio")
            for metric in METRICS:
                agg_times, agg = await _timed(
                    repeats,
                    lambda metric=metric: comparator.compare_versions(*versions, metric=metric),
                )
                raw_times, (raw_rows, _) = await _timed(
                    max(3, repeats // 5),
                    lambda metric=metric: _raw_comparison(engine, versions, metric),
                )
                for a, r in zip(agg.scenarios, raw_rows, strict=True):
                    assert a.verdict == r.verdict, (metric, a, r)
                    assert _same(a.delta, r.delta), (a, r)
                    assert _same(a.p_value, r.p_value), (a, r)
                found = (agg.summary.regressions, agg.summary.improvements)
                row: dict[str, Any] = {
                    "aggregate_p50_ms": round(statistics.median(agg_times), 1),
                    "aggregate_p95_ms": round(_p(agg_times, 0.95), 1),
                    "raw_p50_ms": round(statistics.median(raw_times), 1),
                    "raw_p95_ms": round(_p(raw_times, 0.95), 1),
                }
                row["raw_over_aggregate"] = round(row["raw_p50_ms"] / row["aggregate_p50_ms"], 1)
                row["found_regressions_improvements"] = found
                figures["metrics"][metric] = row
                figures.setdefault("figures", {})[f"{metric}_aggregate_p95_ms"] = figure(
                    row["aggregate_p95_ms"],
                    "ms",
                    "lower",
                    round(half_noise(agg_times, lambda s: _p(list(s), 0.95)), 1),
                )
                print(
                    f"{metric:<20} {row['aggregate_p50_ms']:>10} / {row['aggregate_p95_ms']:<9}"
                    f" {row['raw_p50_ms']:>8} / {row['raw_p95_ms']:<8} {row['raw_over_aggregate']}x"
                    f"  found {found[0]}/{REGRESS} regressions, {found[1]}/{IMPROVE} improvements"
                )
            # What `arc-db compare` adds before reading: bringing the statistics up to date
            # (comparison.freshness). Everything is fresh here: the cost of finding that out.
            fresh_times, fresh = await _timed(
                repeats,
                lambda: refresh_statistics(
                    engine,
                    kind="version",
                    subject_ids=list(versions),
                    start=None,
                    end=None,
                    refresh_aggregates=lambda e, s: refresh_aggregates(e, start=s),
                ),
            )
            figures["freshness"] = {
                "p50_ms": round(statistics.median(fresh_times), 1),
                "p95_ms": round(_p(fresh_times, 0.95), 1),
                "refreshed": fresh.refreshed,
            }
            print(
                f"freshness step of arc-db compare (nothing to refresh): "
                f"{figures['freshness']['p50_ms']} / {figures['freshness']['p95_ms']} ms p50/p95"
                f" ({'refreshed ' + ', '.join(fresh.refreshed) if fresh.refreshed else 'checked'})"
            )
            print(
                "goal: under 100 ms from the aggregate (p95); load average "
                f"{figures['load_average']:.1f} on {os.cpu_count()} cores at the start"
            )
        finally:
            await engine.dispose()
    finally:
        if options.keep or options.reuse:
            print(f"kept database {name}: python -m bench compare --reuse {name}")
        else:
            await drop_database(url)
    return figures
