"""Bulk export: arc.database.export against the raw driver's COPY, in the same run.

Generates ARC_BENCH_EXPORT_OUTCOMES outcomes (default 1,000,000; small trajectories) of one
tenant with one server-side INSERT ... SELECT generate_series into a scratch database (its
secondary indexes and foreign keys dropped first: an export reads whole chunks and uses
neither, and the load is about twice as fast without them). Then, ARC_BENCH_REPEATS rounds
(default 3), each running every variant once in turn, writing to /dev/null:

- raw: asyncpg alone, `COPY (SELECT * FROM outcomes) TO STDOUT WITH (FORMAT csv, HEADER)`,
  with the engine's session settings (no JIT), its bytes counted and dropped (the cheapest
  sink there is: a strict baseline);
- export csv / jsonl / parquet: `export_rows(engine, "outcomes", fmt, stream)`;
- export csv/jsonl --tenant: the same as the tenant (app_user, row-level security and the
  explicit tenant filter; every row belongs to that tenant, so the same rows go out).

It prints, per variant, the median seconds, rows/s, MiB written and MiB/s, and the ratio of
its time to raw COPY's. Options: --rows N overrides the environment.
"""

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.core.engine import DEFAULT_SERVER_SETTINGS, build_engine
from arc.database.core.settings import to_asyncpg_url
from arc.database.core.timescale import detect_async
from arc.database.export import export_rows
from arc.database.ops.provision import drop_database, ensure_database, with_database
from arc.database.schema import migrate
from bench.results import figure, half_noise

GENERATE = """
INSERT INTO outcomes (outcome_id, execution_time, simulation_id, scenario_id, status,
    reliability_score, execution_time_ms, tokens_used, cost_usd, trajectory)
SELECT gen_random_uuid(), CAST(:start AS timestamptz) + make_interval(secs => n * 0.25),
       CAST(:simulation AS uuid), 'export_bench', CASE WHEN n % 5 = 0 THEN 'error' ELSE
       'success' END, (n % 64) / 64.0, n % 9000, n % 4000, (n % 200) / 1024.0,
       jsonb_build_object('start_time', CAST(:start AS timestamptz), 'status', 'success',
                          'steps', n % 7)
FROM generate_series(1, :rows) AS n
"""


async def _load(engine: AsyncEngine, rows: int) -> uuid.UUID:
    tenant, config, version, simulation = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        names = await conn.execute(
            text(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'outcomes' "
                "AND indexname <> 'outcomes_pkey'"
            )
        )
        for name in names.scalars().all():
            await conn.execute(text(f'DROP INDEX "{name}"'))
        await conn.execute(
            text(
                "ALTER TABLE outcomes DROP CONSTRAINT outcomes_simulation_id_fkey, "
                "DROP CONSTRAINT outcomes_scenario_id_fkey"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO scenarios (scenario_id, name, task_prompt) "
                "VALUES ('export_bench', 'export bench', 'bulk export benchmark')"
            )
        )
        await conn.execute(
            text("INSERT INTO configurations (config_id, name, user_id) VALUES (:c, :n, :u)"),
            {"c": config, "n": "export bench", "u": tenant},
        )
        await conn.execute(
            text(
                "INSERT INTO config_versions (version_id, config_id, version_number, raw_yaml, "
                "parsed_config, config_hash) VALUES (:v, :c, 1, 'model: m', CAST(:p AS jsonb), :h)"
            ),
            {"v": version, "c": config, "p": '{"model": "m", "temperature": 0.5}', "h": "0" * 64},
        )
        await conn.execute(
            text(
                "INSERT INTO simulations (simulation_id, config_version_id, scenario_set, "
                "total_scenarios) VALUES (:s, :v, ARRAY['export_bench'], 1)"
            ),
            {"s": simulation, "v": version},
        )
        await conn.execute(
            text(GENERATE),
            {"start": datetime(2026, 1, 1, tzinfo=UTC), "simulation": simulation, "rows": rows},
        )
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.execute(text("VACUUM ANALYZE outcomes"))
    return tenant


async def _raw_copy(url: str) -> tuple[int, int]:
    target, ssl = to_asyncpg_url(url)
    # the engine's session settings (no JIT, UTC), so that only the driver differs
    conn = await asyncpg.connect(
        user=target.username, password=target.password, host=target.host, port=target.port,
        database=target.database, ssl=ssl, server_settings=DEFAULT_SERVER_SETTINGS,
    )  # fmt: skip
    written = 0

    async def drop(data: bytes) -> None:
        nonlocal written
        written += len(data)

    try:
        status: str = await conn.copy_from_query(
            "SELECT * FROM outcomes", output=drop, format="csv", header=True
        )
        return int(status.split()[-1]), written
    finally:
        await conn.close()


async def _export(engine: AsyncEngine, fmt: str, tenant: uuid.UUID | None) -> tuple[int, int]:
    with open(os.devnull, "wb") as sink:
        result = await export_rows(engine, "outcomes", fmt, sink, tenant=tenant)
    return result.rows, result.bytes


async def run(server_url: str, args: Sequence[str] = ()) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench export")
    parser.add_argument("--rows", type=int, default=None, help="outcomes to export")
    options = parser.parse_args(list(args))
    rows = options.rows or int(os.environ.get("ARC_BENCH_EXPORT_OUTCOMES", "1000000"))
    repeats = int(os.environ.get("ARC_BENCH_REPEATS", "3"))
    url = with_database(server_url, f"arc_bench_export_{uuid.uuid4().hex[:8]}")
    await ensure_database(url)
    figures: dict[str, Any] = {"rows": rows, "repeats": repeats, "variants": {}}
    times_by_variant: dict[str, list[float]] = {}
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        engine = build_engine(url=url, pool_size=2, max_overflow=0)
        try:
            async with engine.connect() as conn:
                figures["edition"] = (await detect_async(conn)).edition
            started = time.perf_counter()
            tenant = await _load(engine, rows)
            async with engine.connect() as conn:
                size = await conn.execute(text("SELECT hypertable_size('outcomes')"))
                figures["table_mib"] = round(size.scalar_one() / 2**20, 1)
            print(
                f"loaded {rows:,} outcomes ({figures['table_mib']} MiB) in "
                f"{time.perf_counter() - started:.1f} s ({figures['edition']} edition); "
                f"{repeats} rounds, output to /dev/null"
            )
            variants: dict[str, Callable[[], Awaitable[tuple[int, int]]]] = {
                "raw COPY (asyncpg)": lambda: _raw_copy(url),
                "export csv": lambda: _export(engine, "csv", None),
                "export jsonl": lambda: _export(engine, "jsonl", None),
                "export parquet": lambda: _export(engine, "parquet", None),
                "export csv --tenant": lambda: _export(engine, "csv", tenant),
                "export jsonl --tenant": lambda: _export(engine, "jsonl", tenant),
            }
            await _raw_copy(url)  # warm up: the table into the page cache, imports, plans
            times: dict[str, list[float]] = {name: [] for name in variants}
            times_by_variant = times
            written: dict[str, int] = {}
            for _ in range(repeats):
                for name, work in variants.items():
                    began = time.perf_counter()
                    exported, written[name] = await work()
                    times[name].append(time.perf_counter() - began)
                    assert exported == rows, (name, exported)
            raw = statistics.median(times["raw COPY (asyncpg)"])
            print(
                f"{'variant':<24} {'median s':>9} {'rows/s':>11} {'MiB':>8} {'MiB/s':>7} "
                f"{'x raw time':>11}"
            )
            for name, spent in times.items():
                median = statistics.median(spent)
                mib = written[name] / 2**20
                row = {
                    "median_s": round(median, 2),
                    "rows_per_s": round(rows / median),
                    "mib": round(mib, 1),
                    "mib_per_s": round(mib / median, 1),
                    "ratio_to_raw": round(median / raw, 2),
                }
                figures["variants"][name] = row
                print(
                    f"{name:<24} {row['median_s']:>9} {row['rows_per_s']:>11,} {row['mib']:>8} "
                    f"{row['mib_per_s']:>7} {row['ratio_to_raw']:>10}x"
                )
        finally:
            await engine.dispose()
    finally:
        await drop_database(url)
    # for `python -m bench compare`: each variant's time as a multiple of raw COPY's, with the
    # spread between the two halves of the rounds as its noise
    raw_times = times_by_variant.get("raw COPY (asyncpg)", [])
    figures["figures"] = {
        f"time_ratio_{name.replace(' ', '_')}": figure(
            row["ratio_to_raw"],
            "ratio",
            "lower",
            half_noise(
                [a / b for a, b in zip(times_by_variant[name], raw_times, strict=True)],
                statistics.median,
            ),
        )
        for name, row in figures["variants"].items()
        if name != "raw COPY (asyncpg)"
    }
    return figures
