"""Backup and restore of a TimescaleDB database, as docs/operations.md tells an operator to do it.

A scratch database is migrated to head and populated: outcomes and tool usage over six days
(several chunks each), failure patterns, recommendations; the aggregates refreshed; on the full
edition the chunks past the compression window compressed. Then:

    pg_dump -Fc                                   (the server's major version)
    CREATE DATABASE <empty>; CREATE EXTENSION timescaledb; SELECT timescaledb_pre_restore();
    pg_restore
    SELECT timescaledb_post_restore();

and the restored database must hold the same rows in every table, hypertable and aggregate
(the materialised part of continuous aggregates too), the same chunks (compressed where they
were), the same policies, with its hypertables still routing new rows into chunks.
"""

import asyncio
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from arc.database.core.engine import build_engine
from arc.database.core.timescale import TimescaleCapabilities
from arc.database.models.aggregates import ALL_AGGREGATES
from arc.database.ops.maintenance import compress_old_chunks, refresh_aggregates
from arc.database.ops.provision import drop_database, ensure_database, with_database
from arc.database.schema import migrate
from tests.conftest import fresh_database_name
from tests.support.scratch import make_dataset, plant

HYPERTABLES = ("outcomes", "tool_usage", "failure_patterns")


def _major_of(version_text: str) -> int | None:
    """15 from 'pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)'."""
    found = re.search(r"\(PostgreSQL\) (\d+)", version_text)
    return int(found.group(1)) if found else None


def pg_tool(name: str, major: int) -> str:
    """`name` (pg_dump, pg_restore) of the server's major version, found as scripts/localdb.sh
    finds the PostgreSQL binaries: ARC_PG_BIN, `pg_config --bindir`, /usr/lib/postgresql/N/bin.
    A pg_dump older than the server refuses to dump it; a newer one writes archives an older
    pg_restore cannot read: both must match the server."""
    candidates: list[Path] = []
    if os.environ.get("ARC_PG_BIN"):
        candidates.append(Path(os.environ["ARC_PG_BIN"]))
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        bindir = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
        if bindir:
            candidates.append(Path(bindir))
    candidates.append(Path(f"/usr/lib/postgresql/{major}/bin"))
    seen: list[str] = []
    for directory in candidates:
        tool = directory / name
        if not (tool.is_file() and os.access(tool, os.X_OK)):
            continue
        shown = subprocess.run(
            [str(tool), "--version"], capture_output=True, text=True, timeout=30
        ).stdout
        seen.append(f"{tool}: {shown.strip()}")
        if _major_of(shown) == major:
            return str(tool)
    pytest.fail(f"no {name} of PostgreSQL {major} (the server's major version); found: {seen}")


@pytest.fixture
def source_url(server_url: str) -> Iterator[str]:
    url = with_database(server_url, fresh_database_name("arc_backup_src"))
    asyncio.run(ensure_database(url))
    try:
        migrate.upgrade(url)
        yield url
    finally:
        asyncio.run(drop_database(url))


@pytest.fixture
def target_url(server_url: str) -> Iterator[str]:
    url = with_database(server_url, fresh_database_name("arc_backup_dst"))
    asyncio.run(ensure_database(url))
    try:
        yield url
    finally:
        asyncio.run(drop_database(url))


async def _populate(url: str, full_edition: bool) -> None:
    """Six days of outcomes ending eight days ago: outside the refresh policies' seven-day
    window (their background runs cannot change the aggregates while the test compares) and
    past the outcomes' compression window."""
    engine = build_engine(url=url, pool_size=2, max_overflow=0)
    try:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=14)
        await plant(engine, make_dataset(start, days=6, seed=5))
        await refresh_aggregates(engine)
        if full_edition:
            await compress_old_chunks(engine)
    finally:
        await engine.dispose()


def _connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True, connect_timeout=10)


def _one(conn: psycopg.Connection[Any], sql: str, *params: Any) -> Any:
    row = conn.execute(sql, params).fetchone()
    assert row is not None, sql
    return row[0]


def snapshot(url: str, full_edition: bool) -> dict[str, Any]:
    """What a restore must bring back, read from the catalogs and the data."""
    with _connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        state: dict[str, Any] = {
            "rows": {t: _one(conn, f'SELECT count(*) FROM public."{t}"') for t in tables},
            "alembic": _one(conn, "SELECT version_num FROM alembic_version"),
            # Row counts could hide a swap; the ids in order cannot.
            "outcome_ids": _one(
                conn,
                "SELECT md5(string_agg(outcome_id::text || execution_time::text, ','"
                " ORDER BY outcome_id)) FROM outcomes",
            ),
            "hypertables": conn.execute(
                "SELECT h.hypertable_name, d.column_name, d.time_interval::text,"
                " h.compression_enabled"
                " FROM timescaledb_information.hypertables h"
                " JOIN timescaledb_information.dimensions d USING (hypertable_schema,"
                " hypertable_name)"
                " WHERE h.hypertable_schema = 'public' ORDER BY 1, 2"
            ).fetchall(),
            "chunks": conn.execute(
                "SELECT hypertable_name, chunk_name, range_start, range_end, is_compressed"
                " FROM timescaledb_information.chunks WHERE hypertable_schema = 'public'"
                " ORDER BY 1, 3, 2"
            ).fetchall(),
            "aggregates": {
                a: _one(conn, f'SELECT count(*) FROM public."{a}"') for a in ALL_AGGREGATES
            },
        }
        if full_edition:
            state["materialized"] = {
                view: _one(conn, f'SELECT count(*) FROM "{schema}"."{table}"')
                for view, schema, table in conn.execute(
                    "SELECT view_name, materialization_hypertable_schema,"
                    " materialization_hypertable_name"
                    " FROM timescaledb_information.continuous_aggregates"
                    " WHERE view_schema = 'public' ORDER BY 1"
                )
            }
            state["jobs"] = conn.execute(
                "SELECT proc_name, coalesce(hypertable_name, ''), schedule_interval::text"
                " FROM timescaledb_information.jobs WHERE job_id >= 1000 ORDER BY 1, 2"
            ).fetchall()
        else:
            state["materialized"] = {
                r[0]: _one(conn, f'SELECT count(*) FROM public."{r[0]}"')
                for r in conn.execute(
                    "SELECT matviewname FROM pg_matviews WHERE schemaname = 'public' ORDER BY 1"
                )
            }
    return state


def test_pg_dump_and_pg_restore_bring_back_every_row_chunk_and_aggregate(
    source_url: str, target_url: str, capabilities: TimescaleCapabilities, tmp_path: Path
) -> None:
    full = capabilities.full_edition
    asyncio.run(_populate(source_url, full))
    before = snapshot(source_url, full)

    # The data set is what the test claims: several chunks, aggregates with rows, and on the
    # full edition compressed chunks and policies.
    chunks = {h: sum(1 for c in before["chunks"] if c[0] == h) for h in HYPERTABLES}
    assert chunks["outcomes"] >= 3, chunks
    assert chunks["tool_usage"] >= 3, chunks
    assert {h[0] for h in before["hypertables"]} == set(HYPERTABLES)
    assert before["rows"]["outcomes"] > 0
    assert before["rows"]["failure_patterns"] > 0
    assert set(before["aggregates"]) == set(ALL_AGGREGATES)
    assert all(n > 0 for n in before["aggregates"].values()), before["aggregates"]
    assert set(before["materialized"]) == set(ALL_AGGREGATES)
    assert all(n > 0 for n in before["materialized"].values()), before["materialized"]
    if full:
        assert any(c[4] for c in before["chunks"]), "no chunk was compressed"
        assert before["jobs"], "no policy jobs"

    with _connect(source_url) as conn:
        major = int(_one(conn, "SHOW server_version_num")) // 10000
    archive = tmp_path / "arc.dump"
    dumped = subprocess.run(
        [pg_tool("pg_dump", major), "-Fc", "--file", str(archive), "--dbname", source_url],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert dumped.returncode == 0, dumped.stderr[-3000:]
    assert archive.stat().st_size > 0

    with _connect(target_url) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        conn.execute("SELECT timescaledb_pre_restore()")
    restored = subprocess.run(
        [pg_tool("pg_restore", major), "--dbname", target_url, str(archive)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert restored.returncode == 0, restored.stderr[-3000:]
    assert "error" not in restored.stderr.lower(), restored.stderr[-3000:]
    with _connect(target_url) as conn:
        conn.execute("SELECT timescaledb_post_restore()")

    after = snapshot(target_url, full)
    assert after == before

    # A new session is not in restore mode, and the hypertables still route rows into chunks.
    with _connect(target_url) as conn:
        assert _one(conn, "SHOW timescaledb.restoring") == "off"
        simulation_id, scenario_id = conn.execute(
            "SELECT simulation_id, scenario_id FROM outcomes LIMIT 1"
        ).fetchone() or (None, None)
        assert simulation_id is not None
        with conn.transaction(force_rollback=True):
            chunk = _one(
                conn,
                "INSERT INTO outcomes (outcome_id, execution_time, simulation_id, scenario_id,"
                " status, reliability_score, execution_time_ms, tokens_used, cost_usd, trajectory)"
                " VALUES (%s, now(), %s, %s, 'success', 0.5, 100, 10, 0.01,"
                ' \'{"start_time": "now", "status": "success"}\')'
                " RETURNING tableoid::regclass::text",
                uuid.uuid4(),
                simulation_id,
                scenario_id,
            )
        assert chunk.startswith("_timescaledb_internal._hyper_"), chunk
