"""The pool's checkout test (core.engine._pinger): one round trip, and a connection the server
closed while it sat idle is replaced before anyone uses it, directly and through PgBouncer."""

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.core import engine as engine_module
from arc.database.core.engine import build_engine
from arc.database.core.settings import to_asyncpg_url
from tests.support.topology import on_database, pgbouncer_url

__all__ = ["pgbouncer_url"]


@pytest.fixture
async def one_connection(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = build_engine(url=database_url, pool_size=1, max_overflow=0)
    yield engine
    await engine.dispose()


async def _pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(database_url: str, pid: int) -> None:
    target, ssl = to_asyncpg_url(database_url)
    dsn = target.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, ssl=ssl)
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
        for _ in range(100):  # until the server has let it go
            if not await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid):
                break
            await asyncio.sleep(0.02)
    finally:
        await conn.close()


async def test_an_idle_connection_the_server_closed_is_replaced(
    one_connection: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await _pid(one_connection)
    await _terminate(database_url, first)
    await asyncio.sleep(engine_module.PING_AFTER_IDLE_S + 0.2)
    second = await _pid(one_connection)  # no error: the ping found it closed
    assert second != first


async def test_a_connection_killed_a_moment_after_use_is_replaced_too(
    one_connection: AsyncEngine, database_url: str
) -> None:
    """Within PING_AFTER_IDLE_S of its return a connection is handed out untested unless its
    socket is known closed, as after pg_terminate_backend: then it is tested and replaced."""
    first = await _pid(one_connection)
    await _terminate(database_url, first)
    await asyncio.sleep(0.05)  # the event loop reads the server's goodbye
    assert await _pid(one_connection) != first


async def test_one_round_trip_per_checkout(database_url: str) -> None:
    """After an idle spell a checkout sends one `SELECT 1` (simple protocol) and nothing else:
    SQLAlchemy's own ping sent BEGIN, `;` and ROLLBACK."""
    engine = build_engine(url=database_url, pool_size=1, max_overflow=0)
    try:
        sent: list[str] = []
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            raw.add_query_logger(lambda record: sent.append(record.query))
        await asyncio.sleep(engine_module.PING_AFTER_IDLE_S + 0.2)
        sent.clear()
        async with engine.connect():  # the same connection (a pool of one), pinged
            await asyncio.sleep(0.05)  # asyncpg calls its query loggers soon, not at once
        assert sent == ["SELECT 1"]
        sent.clear()
        async with engine.connect():  # back a moment ago: not pinged
            await asyncio.sleep(0.05)
        assert sent == []
    finally:
        await engine.dispose()


async def test_the_ping_through_pgbouncer(pgbouncer_url: str, database_url: str) -> None:
    """A simple-protocol statement is one message: atomic in PgBouncer's transaction mode,
    where SQLAlchemy had to wrap its ping in a transaction."""
    pooled = build_engine(url=on_database(pgbouncer_url, database_url), pool_size=1, max_overflow=0)
    try:
        pids = set()
        for _ in range(3):  # each checkout pinged: idle longer than PING_AFTER_IDLE_S
            pids.add(await _pid(pooled))
            await asyncio.sleep(engine_module.PING_AFTER_IDLE_S + 0.1)
        assert pids
    finally:
        await pooled.dispose()
