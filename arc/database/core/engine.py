"""The one async engine of a process, its session factory, and `connect` for readers that take
either an engine or the caller's own connection."""

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_

from arc.database.core.errors import is_unusable_connection
from arc.database.core.jsonb import json_dumps
from arc.database.core.settings import (
    DatabaseSettings,
    redact_url,
    to_asyncpg_url,
    url_wants_pgbouncer,
)

log = structlog.get_logger("arc.database.core.engine")
# A connection idle in the pool longer than this is tested before it is handed out.
PING_AFTER_IDLE_S = 1.0


# What PgBouncer (1.18, transaction mode, stock settings) accepts at startup: the parameters it
# tracks per client. Anything else ("jit" ...) makes it refuse the connection.
PGBOUNCER_STARTUP_PARAMETERS = frozenset(
    {"application_name", "client_encoding", "datestyle", "timezone", "standard_conforming_strings"}
)
DEFAULT_SERVER_SETTINGS = {"jit": "off", "timezone": "UTC"}
# A read engine whose replica is down connects to the primary; its connections are recycled
# this often so that reads return to the replica once it is back.
READ_FALLBACK_RECYCLE_S = 60
_CONNECT_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
)


@dataclass
class ReadStats:
    """Connections a read engine made to the primary because its replica was unreachable."""

    fallbacks: int = 0


READ_STATS = ReadStats()


def startup_settings(
    server_settings: dict[str, str] | None, application_name: str, pgbouncer: bool
) -> dict[str, str]:
    """The session parameters sent when connecting. Through PgBouncer only those it tracks:
    set the others on the server instead (ALTER ROLE ... SET jit = off; docs/operations.md)."""
    wanted = {**(server_settings or DEFAULT_SERVER_SETTINGS), "application_name": application_name}
    if not pgbouncer:
        return wanted
    return {k: v for k, v in wanted.items() if k.lower() in PGBOUNCER_STARTUP_PARAMETERS}


def build_engine(
    *,
    url: str,
    pool_size: int = 20,
    max_overflow: int = 30,
    pool_timeout: float = 30.0,
    pool_recycle: int = 3600,
    command_timeout: float = 60.0,
    connect_timeout: float = 10.0,
    pgbouncer: bool | None = None,
    application_name: str = "arc-eval-db",
    server_settings: dict[str, str] | None = None,
    echo: bool = False,
    fallback_url: str | None = None,
) -> AsyncEngine:
    """Create the async engine. Keyword-only so a call site reads as its configuration.

    `pgbouncer`: None reads `?pgbouncer=true` from the URL. `fallback_url`: for a read engine
    on a replica, where connections go while the replica cannot be reached.
    """
    settings = DatabaseSettings(url=url)
    if pgbouncer is None:
        pgbouncer = url_wants_pgbouncer(url)
    connect_args: dict[str, Any] = {
        "command_timeout": command_timeout,  # a statement that hangs fails after this
        "timeout": connect_timeout,  # establishing a connection fails after this
        "server_settings": startup_settings(server_settings, application_name, pgbouncer),
    }
    ssl_argument = settings.ssl_argument
    if ssl_argument is not None:
        connect_args["ssl"] = ssl_argument  # a verifying context, or require / prefer
    if pgbouncer:
        # PgBouncer in transaction mode cannot keep named prepared statements per client: no
        # cache, and the unnamed statement ("") for SQLAlchemy's prepare-then-execute, which
        # runs inside the transaction's server connection and leaves nothing behind on it
        # (uuid names, SQLAlchemy's recipe, stayed on the server connections until released).
        connect_args["statement_cache_size"] = 0
        connect_args["prepared_statement_cache_size"] = 0
        connect_args["prepared_statement_name_func"] = lambda: ""
    options: dict[str, Any] = {}
    if fallback_url is not None:
        options["creator"] = _fallback_creator(url, fallback_url, connect_args, lambda: engine)
        pool_recycle = min(pool_recycle, READ_FALLBACK_RECYCLE_S)
    else:
        options["connect_args"] = connect_args
    engine = create_async_engine(
        settings.async_url,
        pool_size=pool_size,  # connections kept open
        max_overflow=max_overflow,  # extra connections allowed under load (20 + 30 = 50)
        pool_timeout=pool_timeout,  # seconds to wait for a free connection before failing
        pool_recycle=pool_recycle,  # reconnect connections older than this (seconds)
        pool_pre_ping=False,  # _pinger instead: one round trip, not three
        json_serializer=json_dumps,
        echo=echo,
        hide_parameters=True,  # bound values (trajectories, logs) never go into error texts
        **options,
    )
    event.listen(engine.sync_engine, "handle_error", _invalidate_unusable_connections)
    ping_after = 0.0 if fallback_url is not None else PING_AFTER_IDLE_S
    event.listen(engine.sync_engine, "checkout", _pinger(ping_after))
    event.listen(engine.sync_engine, "checkin", _note_checkin)
    log.info(
        "db.engine_created",
        url=settings.redacted_url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        ssl=settings.ssl or "off",
        pgbouncer=pgbouncer,
        fallback=redact_url(fallback_url) if fallback_url else None,
    )
    return engine


def _asyncpg_target(url: str) -> dict[str, Any]:
    target, ssl_argument = to_asyncpg_url(url)
    return {
        "host": target.host,
        "port": target.port,
        "user": target.username,
        "password": target.password,
        "database": target.database,
        "ssl": ssl_argument,
    }


def _fallback_creator(
    url: str, fallback_url: str, connect_args: dict[str, Any], engine: Callable[[], AsyncEngine]
) -> Callable[[], Any]:
    """A pool creator that connects to `url` and, when it cannot be reached, to `fallback_url`
    (logged, counted in READ_STATS)."""
    adapted = {
        k: connect_args.pop(k)
        for k in ("prepared_statement_cache_size", "prepared_statement_name_func")
        if k in connect_args
    }
    shared = {k: v for k, v in connect_args.items() if k != "ssl"}
    preferred, fallback = _asyncpg_target(url), _asyncpg_target(fallback_url)

    async def connect() -> asyncpg.Connection:
        try:
            return await asyncpg.connect(**{**shared, **preferred})
        except _CONNECT_ERRORS as exc:
            READ_STATS.fallbacks += 1
            log.warning(
                "db.read_fallback",
                replica=redact_url(url),
                error=f"{type(exc).__name__}: {exc}"[:300],
            )
            return await asyncpg.connect(**{**shared, **fallback})

    def creator() -> Any:
        dbapi: Any = engine().sync_engine.dialect.dbapi
        return dbapi.connect(async_creator_fn=connect, **adapted)

    return creator


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info["checked_in_at"] = time.monotonic()


def _pinger(after_idle_s: float) -> Callable[[Any, Any, Any], None]:
    """The checkout test: a connection idle in the pool `after_idle_s` or longer, new, or with
    its socket known closed is tested as the pool hands it out; a failed test replaces it.

    One simple-protocol `SELECT 1` (one message, so atomic through PgBouncer in transaction
    mode) where SQLAlchemy's pre-ping sends BEGIN, `;` and ROLLBACK. Connections die idle
    (server or PgBouncer idle timeouts, restarts, failovers); should one in use a moment ago
    die unseen, the statement fails with a disconnect that invalidates it and the write path
    retries. A single-row record_outcome saved 0.3 ms a call, a third of what it adds to the
    INSERT (docs/decisions.md P22). Read engines on a replica test every checkout: losing the
    replica sends the next read to the primary at once.
    """

    def ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        driver = dbapi_connection.driver_connection
        returned = record.info.get("checked_in_at") if record is not None else None
        recent = returned is not None and time.monotonic() - returned < after_idle_s
        if recent and not driver.is_closed():  # is_closed: the socket is known to be gone
            return
        try:
            await_(driver.execute("SELECT 1"))
        except Exception as exc:  # any failure: the pool invalidates it and takes another
            raise DisconnectionError(f"connection failed its ping: {type(exc).__name__}") from exc

    return ping


def _invalidate_unusable_connections(context: ExceptionContext) -> None:
    """Make the pool drop a connection asyncpg reports as closed or stuck mid-operation.

    SQLAlchemy recognises only some disconnect texts; a COPY cut off by a terminated backend
    leaves asyncpg answering "another operation is in progress" on that connection forever.
    """
    if not context.is_disconnect and is_unusable_connection(context.original_exception):
        context.is_disconnect = True


def _from_settings(settings: DatabaseSettings) -> dict[str, Any]:
    """build_engine's arguments every engine of these settings shares."""
    return {
        "pool_size": settings.pool_size,
        "max_overflow": settings.max_overflow,
        "pool_timeout": settings.pool_timeout,
        "command_timeout": settings.command_timeout,
        "connect_timeout": settings.connect_timeout,
        "server_settings": settings.server_settings,
        "echo": settings.echo,
    }


def engine_from_settings(settings: DatabaseSettings) -> AsyncEngine:
    return build_engine(
        url=settings.url,
        pool_recycle=settings.pool_recycle,
        pgbouncer=settings.pgbouncer,
        application_name=settings.application_name,
        **_from_settings(settings),
    )


def read_engine_from_settings(settings: DatabaseSettings) -> AsyncEngine | None:
    """The engine for dashboards, analytics, comparisons and similarity: on the replica of
    ARC_DB_READ_URL, falling back to the primary while it cannot be reached; None without one.
    Writes and reads that must see their own writes stay on the primary's engine."""
    if not settings.read_url:
        return None
    return build_engine(
        url=settings.read_url,
        pgbouncer=url_wants_pgbouncer(settings.read_url),
        application_name=f"{settings.application_name}-read",
        fallback_url=settings.url,
        **_from_settings(settings),
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (no implicit refresh I/O)."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


Bind = AsyncEngine | AsyncConnection


@asynccontextmanager
async def connect(bind: Bind) -> AsyncIterator[AsyncConnection]:
    """The caller's connection as it is (its transaction, role and tenant setting stay theirs),
    or a new connection from the engine, closed afterwards."""
    if isinstance(bind, AsyncConnection):
        yield bind
    else:
        async with bind.connect() as conn:
            yield conn
