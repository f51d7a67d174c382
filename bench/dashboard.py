"""Dashboard queries: aggregates against the raw hypertable, and compression of outcomes.

Loads ARC_BENCH_OUTCOMES outcomes (default 10,000,000) into a scratch database with one
INSERT ... SELECT generate_series per day of data (the fastest load there is: no client round
trips), spread over 30 days, 200 simulations per day, 40 scenarios, with realistic seed-003
trajectories (repeated keys, tool steps, varied numbers and texts; not random bytes) and
tool usage rows. Then, in the same run, it times each dashboard panel (ARC_BENCH_REPEATS
times, default 30) through ArcAnalytics with source="aggregate" and with source="raw" and
prints p50/p95, and on the full edition compresses every chunk of outcomes and reports the
ratio from hypertable_compression_stats. Targets from the seeds: dashboard p95 < 50 ms,
compression >= 90 % (a ratio of 10x).
"""

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.analytics import ArcAnalytics
from arc.database.core.engine import build_engine
from arc.database.core.timescale import detect_async
from arc.database.ops.maintenance import refresh_aggregates
from arc.database.ops.provision import drop_database, ensure_database, with_database
from arc.database.schema import migrate

DAYS = 30
SIMS_PER_DAY = 200
SCENARIOS = 40
MODELS = ("gpt-4o", "claude-3-5-sonnet", "llama-3-70b", "gpt-4o-mini")

# One day of outcomes: the day runs 200 simulations one after another (row n belongs to
# simulation n * 200 // per_day, as a real run occupies a stretch of time), scenario n % 40, a
# timestamp spread over the day; the trajectory follows seed 003 (status, task, tool steps
# with durations, token usage, final response or error).
LOAD_DAY = """
INSERT INTO outcomes (outcome_id, execution_time, simulation_id, scenario_id, status,
    reliability_score, execution_time_ms, tokens_used, cost_usd, trajectory, metrics,
    modal_call_id, error_code, error_category)
SELECT gen_random_uuid(), t, sim, scn, st,
       CASE WHEN st = 'success' THEN round((0.55 + random() * 0.45)::numeric, 3) ELSE 0 END,
       dur, tok, round((tok * 0.000004)::numeric, 6),
       jsonb_build_object(
           'status', st,
           'start_time', t - make_interval(secs => dur / 1000),
           'task_prompt', 'Find the weather forecast for city ' || (n % 97) || ' and summarise it',
           'execution_time_seconds', round((dur / 1000)::numeric, 3),
           'full_trajectory', jsonb_build_array(
               jsonb_build_object('type', 'tool_call', 'tool_name', 'web_search',
                   'duration_ms', round((dur * 0.3)::numeric, 1), 'status', 'success',
                   'arguments', jsonb_build_object('query', 'weather city ' || (n % 97))),
               jsonb_build_object('type', 'tool_call', 'tool_name', 'weather_api',
                   'duration_ms', round((dur * 0.5)::numeric, 1),
                   'status', CASE WHEN st = 'error' THEN 'error' ELSE 'success' END)),
           'token_usage', jsonb_build_object('prompt_tokens', tok - 120,
               'completion_tokens', 120, 'total_tokens', tok,
               'total_cost', round((tok * 0.000004)::numeric, 6)),
           'final_response', CASE WHEN st = 'success'
               THEN 'The forecast for city ' || (n % 97) || ' is ' || (n % 31) || ' degrees'
               ELSE NULL END,
           'error', CASE WHEN st = 'error' THEN 'weather_api returned HTTP 503' ELSE NULL END),
       jsonb_build_object('overall_score', 0.8, 'grade', 'B'),
       'call-' || n,
       CASE st WHEN 'success' THEN NULL WHEN 'timeout' THEN 'timeout' ELSE 'tool_failure' END,
       CASE st WHEN 'success' THEN NULL WHEN 'timeout' THEN 'timeout' ELSE 'tool_error' END
FROM (
    SELECT n,
           CAST(:day AS timestamptz) + make_interval(secs => (n * 86400.0 / :per_day)) AS t,
           (CAST(:sims AS uuid[]))[1 + (n * :nsims / :per_day)] AS sim,
           'bench_scenario_' || (n % :nscn) AS scn,
           CASE WHEN n % 11 = 0 THEN 'error' WHEN n % 29 = 0 THEN 'timeout'
                ELSE 'success' END AS st,
           (400 + (n * 7919) % 9000)::real AS dur,
           (300 + (n * 104729) % 3000)::int AS tok
    FROM generate_series(CAST(0 AS bigint), CAST(:per_day AS bigint) - 1) AS n
) g
"""
LOAD_TOOLS = """
INSERT INTO tool_usage (usage_id, outcome_id, execution_time, tool_name, call_count,
    avg_duration_ms, success_rate, total_cost_usd)
SELECT gen_random_uuid(), outcome_id, execution_time,
       CASE WHEN tokens_used % 2 = 0 THEN 'weather_api' ELSE 'web_search' END,
       1 + tokens_used % 3, execution_time_ms * 0.4,
       CASE WHEN status = 'success' THEN 1 ELSE 0 END, 0.0004
FROM outcomes
WHERE execution_time >= CAST(:day AS timestamptz)
  AND execution_time < CAST(:day AS timestamptz) + INTERVAL '1 day'
  AND tokens_used % 4 = 0
"""


LOAD_FAILURES = """
INSERT INTO failure_patterns (pattern_id, outcome_id, execution_time, failure_type,
    failure_category, error_message, pattern_cluster_id, cluster_confidence)
SELECT gen_random_uuid(), outcome_id, execution_time, error_code,
       error_category, trajectory ->> 'error',
       CAST(md5(error_category || (tokens_used % 5)) AS uuid), 0.8 + (tokens_used % 20) / 100.0
FROM outcomes
WHERE execution_time >= CAST(:day AS timestamptz)
  AND execution_time < CAST(:day AS timestamptz) + INTERVAL '1 day'
  AND status <> 'success'
"""


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _setup_rows(engine: AsyncEngine, start: datetime) -> list[Any]:
    """Configurations, versions, scenarios and DAYS * SIMS_PER_DAY simulations."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO scenarios (scenario_id, name, task_prompt) "
                "SELECT 'bench_scenario_' || i, 'bench scenario ' || i, "
                "'Benchmark task prompt number ' || i FROM generate_series(0, :n - 1) i"
            ),
            {"n": SCENARIOS},
        )
        versions = []
        for i, model in enumerate(MODELS):
            config = (
                await conn.execute(
                    text(
                        "INSERT INTO configurations (name, user_id) "
                        "VALUES (:name, gen_random_uuid()) RETURNING config_id"
                    ),
                    {"name": f"bench config {i}"},
                )
            ).scalar_one()
            version = (
                await conn.execute(
                    text(
                        "INSERT INTO config_versions (config_id, version_number, raw_yaml, "
                        "parsed_config, config_hash) VALUES (:c, 1, :y, "
                        "jsonb_build_object('model', CAST(:m AS text), 'temperature', 0.5), "
                        "encode(sha256(CAST(:m AS bytea)), 'hex')) RETURNING version_id"
                    ),
                    {"c": config, "y": f"model: {model}\n", "m": model},
                )
            ).scalar_one()
            versions.append(version)
        sims = (
            (
                await conn.execute(
                    text(
                        "INSERT INTO simulations (config_version_id, scenario_set, "
                        "total_scenarios, status, completed_scenarios, completed_at, created_at) "
                        "SELECT (CAST(:versions AS uuid[]))[1 + i % 4], "
                        "ARRAY['bench_scenario_0'], 1, "
                        "'completed', 1, CAST(:start AS timestamptz), "
                        "CAST(:start AS timestamptz) - INTERVAL '1 day' "
                        "FROM generate_series(0, :n - 1) i RETURNING simulation_id"
                    ),
                    {"versions": versions, "n": DAYS * SIMS_PER_DAY, "start": start},
                )
            )
            .scalars()
            .all()
        )
    return list(sims)


async def _load(engine: AsyncEngine, total: int, start: datetime) -> float:
    sims = await _setup_rows(engine, start)
    per_day = max(1, total // DAYS)
    began = time.perf_counter()
    for d in range(DAYS):
        day = start + timedelta(days=d)
        day_sims = sims[d * SIMS_PER_DAY : (d + 1) * SIMS_PER_DAY]
        async with engine.begin() as conn:
            await conn.execute(
                text(LOAD_DAY),
                {
                    "day": day,
                    "per_day": per_day,
                    "sims": day_sims,
                    "nsims": SIMS_PER_DAY,
                    "nscn": SCENARIOS,
                },
            )
            await conn.execute(text(LOAD_TOOLS), {"day": day})
            await conn.execute(text(LOAD_FAILURES), {"day": day})
        print(f"  loaded day {d + 1}/{DAYS} ({per_day * (d + 1):,} outcomes)", flush=True)
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.execute(text("ANALYZE outcomes"))
        await auto.execute(text("ANALYZE tool_usage"))
        await auto.execute(text("ANALYZE failure_patterns"))
    return time.perf_counter() - began


async def _time(fn: Callable[[], Awaitable[Any]], repeats: int) -> tuple[float, float]:
    await fn()  # warm the cache and the connection
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), _pct(samples, 0.95)


async def _compress(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        chunks = (await auto.execute(text("SELECT show_chunks('outcomes')"))).scalars().all()
        began = time.perf_counter()
        for chunk in chunks:
            await auto.execute(
                text("SELECT compress_chunk(CAST(:c AS regclass), if_not_compressed => true)"),
                {"c": str(chunk)},
            )
        took = time.perf_counter() - began
        row = (
            await auto.execute(
                text(
                    "SELECT before_compression_total_bytes AS b, "
                    "after_compression_total_bytes AS a "
                    "FROM hypertable_compression_stats('outcomes')"
                )
            )
        ).one()
    ratio = row.b / row.a
    saved = (1 - row.a / row.b) * 100
    verdict = "meets" if saved >= 90 else "misses"
    print(
        f"compression of outcomes ({len(chunks)} chunks, {took:.1f}s): "
        f"{row.b / 1e6:,.0f} MB -> {row.a / 1e6:,.0f} MB, ratio {ratio:.2f}x, "
        f"{saved:.1f}% saved ({verdict} the seeds' 90% claim)"
    )


async def run(server_url: str, args: Sequence[str] = ()) -> None:
    argparse.ArgumentParser(prog="python -m bench dashboard").parse_args(list(args))
    total = int(os.environ.get("ARC_BENCH_OUTCOMES", "10000000"))
    repeats = int(os.environ.get("ARC_BENCH_REPEATS", "30"))
    url = with_database(server_url, f"arc_bench_dashboard_{os.getpid()}")
    await ensure_database(url)
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        engine = build_engine(url=url, pool_size=4, max_overflow=0, command_timeout=3600)
        try:
            async with engine.connect() as conn:
                caps = await detect_async(conn)
            now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            start = now - timedelta(days=DAYS)
            print(f"edition {caps.edition}; loading {total:,} outcomes over {DAYS} days ...")
            seconds = await _load(engine, total, start)
            print(f"loaded in {seconds:.1f}s ({total / seconds:,.0f} rows/s, INSERT ... SELECT)")
            if caps.continuous_aggregates:
                began = time.perf_counter()
                await refresh_aggregates(engine)  # what the policies do, all at once
                print(f"refreshed the continuous aggregates in {time.perf_counter() - began:.1f}s")
            sources = ["raw"] + (["aggregate"] if caps.continuous_aggregates else [])
            panels: dict[str, Callable[[ArcAnalytics], Callable[[], Awaitable[Any]]]] = {
                "performance trends 30d": lambda a: lambda: a.performance_trends(start, now),
                "cost by model 30d": lambda a: lambda: a.cost_breakdown(start, now, per_day=False),
                "tool performance 30d": lambda a: lambda: a.tool_performance(start, now),
                "failure trends 30d": lambda a: lambda: a.failure_trends(start, now),
                "simulation performance 24h": lambda a: (
                    lambda: a.get_simulation_performance(sim_id, timedelta(hours=24), end=now)
                ),
            }
            async with engine.connect() as conn:
                sim_id = (
                    await conn.execute(
                        text(
                            "SELECT simulation_id FROM outcomes "
                            "WHERE execution_time > :t ORDER BY execution_time LIMIT 1"
                        ),
                        {"t": now - timedelta(hours=12)},
                    )
                ).scalar_one()
            print(f"\n{'panel':<28} {'source':<10} {'p50 ms':>9} {'p95 ms':>9}")
            worst = 0.0
            for name, make in panels.items():
                for source in sources:
                    analytics = ArcAnalytics(engine, source=source)  # type: ignore[arg-type]
                    p50, p95 = await _time(make(analytics), repeats)
                    if source == sources[-1]:
                        worst = max(worst, p95)
                    print(f"{name:<28} {source:<10} {p50:>9.1f} {p95:>9.1f}", flush=True)
            target = "meets" if worst < 50 else "misses"
            print(
                f"dashboard p95 (worst panel, {sources[-1]} path): {worst:.1f} ms ({target} 50 ms)"
            )
            if caps.compression:
                await _compress(engine)
            else:
                print("compression: skipped: apache edition")
        finally:
            await engine.dispose()
    finally:
        await drop_database(url)
