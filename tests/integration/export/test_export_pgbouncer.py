"""Exports through a real PgBouncer in transaction mode (`?pgbouncer=true`): several at once,
every format, as a tenant too, give the same rows as a direct connection, and leave no
prepared statement or cursor behind on the server connections PgBouncer hands to the next
client. (make test runs the write path through PgBouncer in a second pass; these tests ask
for it themselves.)"""

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.core.engine import build_engine
from arc.database.export import export_rows
from tests.conftest import ROOT
from tests.integration.export.planted import KEYS, Tenants, exported_ids, plant_tenants, rows_of
from tests.support.scratch import scratch_engine, scratch_url
from tests.support.topology import on_database, pgbouncer_url

__all__ = ["pgbouncer_url", "scratch_engine", "scratch_url"]

VARIANTS = [
    ("outcomes", "csv", False),
    ("outcomes", "jsonl", True),
    ("tool_usage", "parquet", False),
    ("failures", "jsonl", False),
    ("tool_usage", "csv", True),
    ("outcomes", "parquet", True),
]


@pytest.fixture(scope="module")
async def tenants(scratch_engine: AsyncEngine) -> Tenants:
    return await plant_tenants(scratch_engine)


@pytest.fixture(scope="module")
def pooled_url(pgbouncer_url: str, scratch_url: str) -> str:
    return on_database(pgbouncer_url, scratch_url)


@pytest.fixture
async def pooled(pooled_url: str) -> AsyncIterator[AsyncEngine]:
    engine = build_engine(url=pooled_url, pool_size=6, max_overflow=6)
    yield engine
    await engine.dispose()


async def test_exports_at_once_through_pgbouncer_hold_the_same_rows(
    pooled: AsyncEngine, tenants: Tenants, tmp_path: Path
) -> None:
    async def one(kind: str, fmt: str, as_tenant: bool, n: int) -> tuple[list[str], str]:
        path = tmp_path / f"{n}.{fmt}"
        tenant = tenants.tenant_a if as_tenant else None
        # small fetches: many statements per export, interleaved with the others'
        result = await export_rows(pooled, kind, fmt, path, tenant=tenant, batch_rows=7)
        assert result.rows == len(exported_ids(path, fmt, KEYS[kind]))
        return sorted(exported_ids(path, fmt, KEYS[kind])), result.role

    for _ in range(2):  # twice: the second round meets server connections the first used
        done = await asyncio.gather(*(one(*v, n) for n, v in enumerate(VARIANTS)))
        for (kind, _, as_tenant), (ids, role) in zip(VARIANTS, done, strict=True):
            planted = rows_of(tenants.a, kind) + ([] if as_tenant else rows_of(tenants.b, kind))
            assert ids == sorted(str(r[KEYS[kind]]) for r in planted)
            assert (role == "app_user") == as_tenant


async def test_nothing_is_left_on_the_server_connections(
    pooled: AsyncEngine, pooled_url: str, tenants: Tenants, tmp_path: Path
) -> None:
    for n, (kind, fmt, as_tenant) in enumerate(VARIANTS):
        tenant = tenants.tenant_b if as_tenant else None
        await export_rows(pooled, kind, fmt, tmp_path / f"{n}.{fmt}", tenant=tenant)
    # Open transactions at once: PgBouncer gives each its own server connection, so together
    # they see the server connections the exports ran on.
    holders = build_engine(url=pooled_url, pool_size=12, max_overflow=0)
    leftovers: list[Any] = []
    try:
        connections = [await holders.connect() for _ in range(12)]
        try:
            for conn in connections:
                await conn.begin()
            for conn in connections:
                found = await conn.execute(
                    text(
                        # the export's statements (not this one, which names them)
                        "SELECT pg_backend_pid(), name, statement FROM pg_prepared_statements "
                        "WHERE (name ILIKE '%export%' OR statement ILIKE '%arc_export%' "
                        "OR statement ILIKE '%row_to_json%') "
                        "AND statement NOT ILIKE '%pg_prepared_statements%' "
                        "UNION ALL SELECT pg_backend_pid(), name, statement FROM pg_cursors "
                        "WHERE name <> ''"
                    )
                )
                leftovers.extend(found.all())
        finally:
            for conn in connections:
                await conn.close()
    finally:
        await holders.dispose()
    assert leftovers == []


def test_the_command_through_pgbouncer(pooled_url: str, tenants: Tenants, tmp_path: Path) -> None:
    path = tmp_path / "failures.parquet"
    done = subprocess.run(
        [sys.executable, "-m", "arc.database.cli", "--url", pooled_url, "export", "failures",
         "--format", "parquet", "--tenant", str(tenants.tenant_b), "-o", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    theirs = sorted(str(r["pattern_id"]) for r in rows_of(tenants.b, "failures"))
    assert sorted(exported_ids(path, "parquet", "pattern_id")) == theirs
