"""Shared fixtures: one fresh, migrated database per test run on a real server.

The server comes from ARC_TEST_DATABASE_URL (any server: Timescale Cloud, the docker image,
the local cluster); without it, scripts/localdb.sh starts the embedded local cluster. The
schema is built by the real Alembic migrations, never by create_all.
"""

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from arc.database.core.engine import build_engine
from arc.database.core.timescale import TimescaleCapabilities, detect_async
from arc.database.ops.provision import drop_database, ensure_database, with_database
from arc.database.schema import migrate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _server_url() -> str:
    url = os.environ.get("ARC_TEST_DATABASE_URL")
    if url:
        return url
    started = subprocess.run(
        ["bash", os.path.join(ROOT, "scripts", "localdb.sh"), "start"],
        check=True,
        capture_output=True,
        text=True,
    )
    return started.stdout.strip().splitlines()[-1]


def app_url(direct_url: str) -> str:
    """The URL the code under test uses for a database made on the server: through PgBouncer
    on make test's pooled pass (ARC_TEST_THROUGH_PGBOUNCER=1), else the server's own.
    Databases are created, migrated and dropped directly either way."""
    if os.environ.get("ARC_TEST_THROUGH_PGBOUNCER") != "1":
        return direct_url
    bouncer = make_url(os.environ["ARC_TEST_PGBOUNCER_URL"])
    pooled = make_url(direct_url).set(host=bouncer.host, port=bouncer.port)
    return pooled.update_query_dict({"pgbouncer": "true"}).render_as_string(hide_password=False)


def fresh_database_name(prefix: str = "arc_test") -> str:
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def server_url() -> str:
    """Admin URL of the test server (its `postgres` database)."""
    return _server_url()


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A database created for this run and migrated to head; dropped at the end."""
    url = with_database(server_url, fresh_database_name())
    asyncio.run(ensure_database(url))
    try:
        migrate.upgrade(url)
        yield app_url(url)
    finally:
        asyncio.run(drop_database(url))


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = build_engine(url=database_url)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
async def capabilities(engine: AsyncEngine) -> TimescaleCapabilities:
    async with engine.connect() as conn:
        return await detect_async(conn)


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside an outer transaction that is rolled back after the test."""
    async with engine.connect() as conn:
        trans = await conn.begin()
        try:
            yield conn
        finally:
            if trans.is_active:
                await trans.rollback()


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """An ORM session in the rolled-back outer transaction; commits become savepoints."""
    s = AsyncSession(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture(autouse=True)
def _full_edition_only(request: pytest.FixtureRequest) -> None:
    """Tests marked `full_edition` skip, with the reason, on the Apache edition."""
    if request.node.get_closest_marker("full_edition") is None:
        return
    caps: TimescaleCapabilities = request.getfixturevalue("capabilities")
    if not caps.full_edition:
        pytest.skip(
            f"needs the full TimescaleDB edition (compression, continuous aggregates, policies); "
            f"this server runs TimescaleDB {caps.timescaledb_version} under the "
            f"'{caps.license}' license"
        )
