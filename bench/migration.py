"""migrate_from_postgres against a raw binary COPY of the same rows, in the same run.

    python -m bench migration [--rows N] [--batch-size B]

Builds a plain-PostgreSQL source database (seed 002's tables, no TimescaleDB) holding N outcomes
(default ARC_BENCH_MIGRATION_ROWS or 200,000; the dashboard benchmark's trajectory model, about
1.5 KB a row) of 200 simulations, and two targets migrated to head. Then:

- raw: `COPY (SELECT ... ORDER BY execution_time, outcome_id) TO STDOUT (FORMAT binary)` from
  the source piped into `COPY outcomes FROM STDIN (FORMAT binary)` on the first target, in one
  transaction: the floor for moving these rows (no paging, no checks, no idempotency);
- migrate_from_postgres into the second target, with its progress bar: the outcomes table's
  rate (first to last page, from the progress callback) and the whole call's time, which
  includes the parents, the verification and the rest.

Prints rows/s of both and the ratio. Target of issue 10: pages of binary COPY, close to raw.
"""

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from arc.database.core.settings import to_asyncpg_url
from arc.database.ops.data_migration import ProgressBar, migrate_from_postgres
from arc.database.ops.provision import drop_database, ensure_database, with_database
from arc.database.schema import migrate
from bench.dashboard import TRAJECTORY
from bench.results import figure

SOURCE_DDL = [
    """CREATE TABLE configurations (config_id uuid PRIMARY KEY, name text NOT NULL,
        user_id uuid NOT NULL, latest_version_id uuid, is_active boolean DEFAULT true,
        created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now())""",
    """CREATE TABLE config_versions (version_id uuid PRIMARY KEY,
        config_id uuid NOT NULL REFERENCES configurations ON DELETE CASCADE,
        version_number integer NOT NULL, raw_yaml text NOT NULL, parsed_config jsonb NOT NULL,
        config_hash text NOT NULL, created_at timestamptz DEFAULT now())""",
    """CREATE TABLE scenarios (scenario_id text PRIMARY KEY, name text NOT NULL,
        task_prompt text NOT NULL, created_at timestamptz DEFAULT now())""",
    """CREATE TABLE simulations (simulation_id uuid PRIMARY KEY,
        config_version_id uuid NOT NULL REFERENCES config_versions, scenario_set text[] NOT NULL,
        status text DEFAULT 'running', total_scenarios integer NOT NULL,
        created_at timestamptz DEFAULT now())""",
    """CREATE TABLE outcomes (outcome_id uuid PRIMARY KEY, simulation_id uuid NOT NULL
        REFERENCES simulations ON DELETE CASCADE, scenario_id text NOT NULL REFERENCES scenarios,
        execution_time timestamptz NOT NULL, status text NOT NULL, reliability_score real NOT NULL,
        execution_time_ms real NOT NULL, tokens_used integer NOT NULL, cost_usd real NOT NULL,
        trajectory jsonb NOT NULL, metrics jsonb DEFAULT '{}', modal_call_id text,
        sandbox_id text, error_code text, error_category text, retry_count integer DEFAULT 0,
        created_at timestamptz DEFAULT now())""",
]
FILL = f"""
INSERT INTO outcomes (outcome_id, simulation_id, scenario_id, execution_time, status,
    reliability_score, execution_time_ms, tokens_used, cost_usd, trajectory, modal_call_id,
    sandbox_id, error_code, error_category)
SELECT gen_random_uuid(), (CAST($1 AS uuid[]))[1 + n % 200], 'mig_scn_' || (n % 40), t, st,
       CASE WHEN st = 'success' THEN 0.9 ELSE 0 END, dur, tok, tok * 0.000004,
       {TRAJECTORY}, 'fc-' || md5(n::text), 'sb-' || (n % 64),
       CASE WHEN st = 'success' THEN NULL ELSE 'tool_failure' END,
       CASE WHEN st = 'success' THEN NULL ELSE 'tool_error' END
FROM (
    SELECT n, n % 40 AS s, $2::timestamptz + make_interval(secs => n * 20.0) AS t,
           CASE WHEN n % 11 = 0 THEN 'error' ELSE 'success' END AS st,
           (400 + (n * 7919) % 9000)::real AS dur, (300 + (n * 104729) % 3000)::int AS tok
    FROM generate_series(CAST(1 AS bigint), CAST($3 AS bigint)) AS n
) g
"""
COLUMNS = [
    "outcome_id", "simulation_id", "scenario_id", "execution_time", "status",
    "reliability_score", "execution_time_ms", "tokens_used", "cost_usd", "trajectory",
    "modal_call_id", "sandbox_id", "error_code", "error_category",
]  # fmt: skip
PARENTS = ["configurations", "config_versions", "scenarios", "simulations"]


async def _connect(url: str) -> asyncpg.Connection:
    u, ssl = to_asyncpg_url(url)
    return await asyncpg.connect(
        user=u.username, password=u.password, host=u.host, port=u.port, database=u.database,
        ssl=ssl, server_settings={"jit": "off"},
    )  # fmt: skip


async def _fill(url: str, rows: int) -> list[uuid.UUID]:
    conn = await _connect(url)
    try:
        for ddl in SOURCE_DDL:
            await conn.execute(ddl)
        config, version = uuid.uuid4(), uuid.uuid4()
        await conn.execute(
            "INSERT INTO configurations (config_id, name, user_id) VALUES ($1, 'bench mig', $2)",
            config,
            uuid.uuid4(),
        )
        await conn.execute(
            "INSERT INTO config_versions (version_id, config_id, version_number, raw_yaml, "
            "parsed_config, config_hash) VALUES ($1, $2, 1, 'model: m', "
            '\'{"model": "m", "temperature": 0.2}\', repeat(\'a\', 64))',
            version,
            config,
        )
        await conn.execute(
            "INSERT INTO scenarios (scenario_id, name, task_prompt) SELECT 'mig_scn_' || i, "
            "'scenario ' || i, 'a benchmark task prompt' FROM generate_series(0, 39) i"
        )
        sims = [uuid.uuid4() for _ in range(200)]
        await conn.executemany(
            "INSERT INTO simulations (simulation_id, config_version_id, scenario_set, "
            "total_scenarios) VALUES ($1, $2, ARRAY['mig_scn_0'], 40)",
            [(s, version) for s in sims],
        )
        start = datetime.now(UTC) - timedelta(seconds=rows * 20 + 3600)
        await conn.execute(FILL, sims, start, rows)
        await conn.execute("VACUUM ANALYZE")
        return sims
    finally:
        await conn.close()


async def _raw_copy(source_url: str, target_url: str) -> float:
    """Seconds for one binary COPY of the source's outcomes (parents first, not timed)."""
    source, target = await _connect(source_url), await _connect(target_url)
    try:
        for table in PARENTS:
            columns = [
                r["column_name"]
                for r in await source.fetch(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = $1 "
                    "AND column_name <> 'latest_version_id' ORDER BY ordinal_position",
                    table,
                )
            ]
            records = await source.fetch(f"SELECT {', '.join(columns)} FROM {table}")
            await target.copy_records_to_table(
                table, records=[tuple(r) for r in records], columns=columns
            )
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=64)

        async def chunks() -> AsyncIterator[bytes]:
            while (chunk := await queue.get()) is not None:
                yield chunk

        async def produce() -> None:
            await source.copy_from_query(
                f"SELECT {', '.join(COLUMNS)} FROM outcomes ORDER BY execution_time, outcome_id",
                output=queue.put,
                format="binary",
            )
            await queue.put(None)

        began = time.perf_counter()
        async with target.transaction():
            await asyncio.gather(
                produce(),
                target.copy_to_table("outcomes", source=chunks(), columns=COLUMNS, format="binary"),
            )
        return time.perf_counter() - began
    finally:
        await source.close()
        await target.close()


class _Timing(ProgressBar):
    """The progress bar, remembering when the outcomes' first and last pages arrived."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)
        self.first: dict[str, tuple[float, int]] = {}
        self.last: dict[str, tuple[float, int]] = {}

    def __call__(self, table: str, done: int, total: int) -> None:
        now = time.perf_counter()
        self.first.setdefault(table, (now, done))
        self.last[table] = (now, done)
        super().__call__(table, done, total)


async def run(server_url: str, args: Sequence[str] = ()) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench migration")
    parser.add_argument(
        "--rows", type=int, default=int(os.environ.get("ARC_BENCH_MIGRATION_ROWS", "200000"))
    )
    parser.add_argument("--batch-size", type=int, default=5000)
    options = parser.parse_args(list(args))
    tag = uuid.uuid4().hex[:8]
    source = with_database(server_url, f"arc_bench_mig_src_{tag}")
    raw_target = with_database(server_url, f"arc_bench_mig_raw_{tag}")
    target = with_database(server_url, f"arc_bench_mig_dst_{tag}")
    for url in (source, raw_target, target):
        await ensure_database(url)
    try:
        for url in (raw_target, target):
            await asyncio.to_thread(migrate.upgrade, url)
        began = time.perf_counter()
        await _fill(source, options.rows)
        print(f"source: {options.rows:,} outcomes in {time.perf_counter() - began:.1f}s")
        raw_s = await _raw_copy(source, raw_target)
        timing = _Timing()
        began = time.perf_counter()
        report = await migrate_from_postgres(
            source,
            target,
            batch_size=options.batch_size,
            tables=[*PARENTS, "outcomes"],
            progress=timing,
        )
        total_s = time.perf_counter() - began
        assert report.ok, (report.mismatches, report.rejected_rows[:3])
        assert report.tables["outcomes"].copied == options.rows
    finally:
        for url in (source, raw_target, target):
            await drop_database(url)
    (t0, n0), (t1, n1) = timing.first["outcomes"], timing.last["outcomes"]
    # the first page's own time is not inside (t0, t1): rate over the pages after it
    pages_rate = (n1 - n0) / (t1 - t0) if t1 > t0 else float("nan")
    raw_rate = options.rows / raw_s
    print(
        f"\nraw binary COPY (one transaction):          {raw_rate:>9,.0f} rows/s ({raw_s:.1f}s)\n"
        f"migrate_from_postgres, outcomes pages:      {pages_rate:>9,.0f} rows/s "
        f"({pages_rate / raw_rate:.2f}x raw)\n"
        f"migrate_from_postgres, whole call:          {options.rows / total_s:>9,.0f} rows/s "
        f"({total_s:.1f}s with parents and verification, "
        f"{options.rows / total_s / raw_rate:.2f}x raw)"
    )
    return {
        "figures": {
            "pages_vs_raw_copy": figure(round(pages_rate / raw_rate, 3), "ratio", "higher"),
            "whole_call_vs_raw_copy": figure(
                round(options.rows / total_s / raw_rate, 3), "ratio", "higher"
            ),
        },
        "rows": options.rows,
        "batch_size": options.batch_size,
        "raw_rows_per_s": round(raw_rate),
        "pages_rows_per_s": round(pages_rate),
        "whole_call_s": round(total_s, 1),
    }
