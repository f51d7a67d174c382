"""The engine through a real PgBouncer (Debian's package, transaction mode, stock settings):
startup, statements without named prepared statements, COPY, tenant context, the API flow.
The write-path, fault and security suites also run through it (make test's second pass)."""

import asyncio
import random
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.configs import ConfigurationManager
from arc.database.core.engine import build_engine, session_factory, startup_settings
from arc.database.core.errors import ArcConfigurationError
from arc.database.core.tenancy import acting_as
from arc.database.demo.surface import DefaultSurface, make_scenarios
from arc.database.ingest.api import create_arc_api
from arc.database.schema.migrate import locked_migration
from tests.support.topology import on_database, pgbouncer_url

__all__ = ["pgbouncer_url"]
CONFIG = {"model": "gpt-4o-mini", "temperature": 0.3, "tools": ["web_search"]}


@pytest.fixture
def pooled_url(pgbouncer_url: str, database_url: str) -> str:
    return on_database(pgbouncer_url, database_url)


@pytest.fixture
async def pooled(pooled_url: str) -> AsyncIterator[AsyncEngine]:
    engine = build_engine(url=pooled_url, pool_size=10, max_overflow=10)
    yield engine
    await engine.dispose()


def test_only_parameters_pgbouncer_tracks_are_sent_at_startup() -> None:
    sent = startup_settings(None, "arc-eval-db", pgbouncer=True)
    assert sent == {"timezone": "UTC", "application_name": "arc-eval-db"}
    assert startup_settings(None, "x", pgbouncer=False)["jit"] == "off"


async def test_the_url_flag_selects_the_safe_mode_and_startup_succeeds(
    pooled: AsyncEngine,
) -> None:
    async with pooled.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT current_setting('TimeZone'), current_setting('application_name'), "
                    "inet_server_port()"
                )
            )
        ).one()
    assert row[0] == "UTC"
    assert row[1] == "arc-eval-db"


async def test_the_url_without_the_flag_is_refused_by_pgbouncer(pooled_url: str) -> None:
    """What the flag prevents: PgBouncer refuses a startup parameter it does not track."""
    engine = build_engine(url=pooled_url.replace("pgbouncer=true", "pgbouncer=false"))
    try:
        with pytest.raises(Exception, match="unsupported startup parameter: jit"):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


async def test_many_distinct_statements_from_many_tasks(pooled: AsyncEngine) -> None:
    """Server connections change between transactions: no prepared statement may be reused
    on a connection that never saw it."""

    async def worker(seed: int) -> int:
        rng = random.Random(seed)
        total = 0
        for _ in range(25):
            width = rng.randrange(1, 6)  # a different statement text now and then
            columns = ", ".join(f"CAST(:v AS int) + {i}" for i in range(width))
            async with pooled.connect() as conn:
                row = (await conn.execute(text(f"SELECT {columns}"), {"v": seed})).one()
            total += sum(row)
        return total

    results = await asyncio.gather(*(worker(s) for s in range(16)))
    assert all(r > 0 for r in results)


async def test_the_tenant_never_outlives_its_transaction(pooled: AsyncEngine) -> None:
    tenants = [uuid.uuid4() for _ in range(20)]

    async def act(tenant: uuid.UUID) -> tuple[str, str]:
        async with acting_as(pooled, tenant) as conn:
            inside = (
                await conn.execute(text("SELECT current_setting('app.user_id', true)"))
            ).scalar_one()
        async with pooled.connect() as conn:
            after = (
                await conn.execute(text("SELECT current_setting('app.user_id', true)"))
            ).scalar()
        return inside, after or ""

    seen = await asyncio.gather(*(act(t) for t in tenants))
    assert [inside for inside, _ in seen] == [str(t) for t in tenants]
    assert {after for _, after in seen} == {""}


async def test_the_api_flow_with_copy_through_pgbouncer(pooled_url: str) -> None:
    api = await create_arc_api(pooled_url, log_level="WARNING", pool_size=4)
    scenarios = make_scenarios(12)
    try:
        async with session_factory(api.db.engine).begin() as s:
            created = await ConfigurationManager().create_configuration(
                s, uuid.uuid4(), f"pgb-{uuid.uuid4().hex[:8]}", CONFIG
            )
        info = await api.start_simulation(
            config_version_id=created.version_id, scenarios=scenarios, simulation_name="pgb"
        )
        rng = random.Random(3)
        results = [DefaultSurface().run(CONFIG, sc, rng) for sc in scenarios]
        await api.record_batch_outcomes(
            simulation_id=info["simulation_id"],
            scenario_results=results,
            modal_call_ids=[f"call-{i}" for i in range(len(results))],
        )
        await api.complete_simulation(info["simulation_id"], suite_result={"overall_score": 0.5})
        status = await api.get_simulation_status(info["simulation_id"])
        stored = await api.get_scenario_outcomes(info["simulation_id"])
    finally:
        await api.db.close()
    assert status["status"] == "completed"
    assert len(stored) == len(scenarios)


def test_migrations_refuse_the_pooler(pooled_url: str) -> None:
    """The advisory lock and the DDL need one session: migrating through PgBouncer is refused
    before anything runs, naming the fix."""
    with pytest.raises(ArcConfigurationError, match="direct URL"):
        locked_migration(pooled_url, "upgrade")


async def test_no_prepared_statement_is_left_on_the_server_connections(pooled_url: str) -> None:
    """Statements are unnamed: nothing stays on a server connection PgBouncer hands to the next
    client (uuid-named statements did, until asyncpg released them)."""
    engine = build_engine(url=pooled_url, pool_size=2, max_overflow=0)
    try:
        for i in range(30):
            async with engine.begin() as conn:
                await conn.execute(text("SELECT CAST(:x AS int) + 1"), {"x": i})
                await conn.execute(
                    text("SELECT count(*) FROM pg_class WHERE relname = :n"), {"n": f"t{i}"}
                )
        for _ in range(4):  # look at each server connection the pool may be served by
            async with engine.begin() as conn:
                left = (
                    await conn.execute(text("SELECT count(*) FROM pg_prepared_statements"))
                ).scalar_one()
                assert left == 0
    finally:
        await engine.dispose()
