"""Exports by LOGIN roles of the tenant groups, as a deployment runs them: since revision 0009
the tenant roles may not read the hypertables, so a tenant's export reads v_outcomes,
v_tool_usage and v_failure_patterns under row-level security, and holds that tenant's rows
only, whichever tenant group the login belongs to. The ingest worker exports everything, and
no tenant's share (it may not read who owns what)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.core.engine import build_engine
from arc.database.core.errors import ArcIntegrityError
from arc.database.export import export_rows
from arc.database.ops.provision import with_database
from tests.integration.export.planted import KEYS, Tenants, exported_ids, plant_tenants, rows_of
from tests.support.roles import LoginRole, login_roles
from tests.support.scratch import scratch_engine, scratch_url

__all__ = ["scratch_engine", "scratch_url"]


@pytest.fixture(scope="module")
async def tenants(scratch_engine: AsyncEngine) -> Tenants:
    return await plant_tenants(scratch_engine)


@pytest.fixture(scope="module")
def logins(server_url: str) -> Iterator[dict[str, LoginRole]]:
    with login_roles(server_url, ("app_user", "app_readonly", "app_worker")) as roles:
        yield roles


def direct(server_url: str, scratch_url: str) -> str:
    """The scratch database on the server itself (new logins are unknown to a pooler)."""
    return with_database(server_url, make_url(scratch_url).database or "")


@pytest.mark.parametrize("group", ["app_user", "app_readonly"])
@pytest.mark.parametrize("kind", ["outcomes", "tool_usage", "failures"])
async def test_a_tenant_login_exports_its_rows_through_the_views(
    server_url: str,
    scratch_url: str,
    logins: dict[str, LoginRole],
    tenants: Tenants,
    tmp_path: Path,
    group: str,
    kind: str,
) -> None:
    engine = build_engine(url=logins[group].url(direct(server_url, scratch_url)), pool_size=1)
    try:
        path = tmp_path / f"{kind}.jsonl"
        result = await export_rows(engine, kind, "jsonl", path, tenant=tenants.tenant_b)
        assert result.role == group
        got = sorted(exported_ids(path, "jsonl", KEYS[kind]))
        assert got == sorted(str(r[KEYS[kind]]) for r in rows_of(tenants.b, kind))
        # the hypertable itself is closed to the login: the export did not read it
        with pytest.raises(DBAPIError, match="permission denied"):
            async with engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1 FROM outcomes LIMIT 1")
    finally:
        await engine.dispose()


async def test_the_ingest_worker_exports_all_but_no_tenants_rows(
    server_url: str,
    scratch_url: str,
    logins: dict[str, LoginRole],
    tenants: Tenants,
    tmp_path: Path,
) -> None:
    """The worker is cross-tenant: it may export every row. It may not read who owns a
    configuration, so an export for one tenant fails closed, with a typed error, and
    writes nothing."""
    worker = logins["app_worker"]
    engine = build_engine(url=worker.url(direct(server_url, scratch_url)), pool_size=1)
    try:
        path = tmp_path / "outcomes.csv"
        result = await export_rows(engine, "outcomes", "csv", path)
        assert result.role == worker.name
        every = tenants.a.outcomes + tenants.b.outcomes
        assert sorted(exported_ids(path, "csv", "outcome_id")) == sorted(
            str(o["outcome_id"]) for o in every
        )
        refused = tmp_path / "tenant.csv"
        with pytest.raises(ArcIntegrityError, match="permission denied"):
            await export_rows(engine, "outcomes", "csv", refused, tenant=tenants.tenant_a)
        assert not refused.exists()
    finally:
        await engine.dispose()
