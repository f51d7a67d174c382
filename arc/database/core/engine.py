"""The one async engine of a process, its session factory, and `connect` for readers that take
either an engine or the caller's own connection."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from arc.database.core.errors import is_unusable_connection
from arc.database.core.jsonb import json_dumps
from arc.database.core.settings import DatabaseSettings

log = structlog.get_logger("arc.database.core.engine")


def build_engine(
    *,
    url: str,
    pool_size: int = 20,
    max_overflow: int = 30,
    pool_timeout: float = 30.0,
    pool_recycle: int = 3600,
    command_timeout: float = 60.0,
    connect_timeout: float = 10.0,
    pgbouncer: bool = False,
    application_name: str = "arc-eval-db",
    server_settings: dict[str, str] | None = None,
    echo: bool = False,
) -> AsyncEngine:
    """Create the async engine. Keyword-only so a call site reads as its configuration."""
    settings = DatabaseSettings(url=url)
    connect_args: dict[str, Any] = {
        "command_timeout": command_timeout,  # a statement that hangs fails after this
        "timeout": connect_timeout,  # establishing a connection fails after this
        "server_settings": {
            **(server_settings or {"jit": "off", "timezone": "UTC"}),
            "application_name": application_name,  # shows in pg_stat_activity
        },
    }
    if settings.ssl:
        connect_args["ssl"] = settings.ssl  # require / verify-ca / verify-full / prefer
    if pgbouncer:
        # PgBouncer in transaction mode cannot keep named prepared statements per client.
        connect_args["statement_cache_size"] = 0
        connect_args["prepared_statement_cache_size"] = 0
        connect_args["prepared_statement_name_func"] = lambda: f"__arc_{uuid.uuid4().hex}__"
    engine = create_async_engine(
        settings.async_url,
        pool_size=pool_size,  # connections kept open
        max_overflow=max_overflow,  # extra connections allowed under load (20 + 30 = 50)
        pool_timeout=pool_timeout,  # seconds to wait for a free connection before failing
        pool_recycle=pool_recycle,  # reconnect connections older than this (seconds)
        pool_pre_ping=True,  # test a connection on checkout; drops ones the server closed
        json_serializer=json_dumps,
        echo=echo,
        hide_parameters=True,  # bound values (trajectories, logs) never go into error texts
        connect_args=connect_args,
    )
    event.listen(engine.sync_engine, "handle_error", _invalidate_unusable_connections)
    log.info(
        "db.engine_created",
        url=settings.redacted_url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        ssl=settings.ssl or "off",
        pgbouncer=pgbouncer,
    )
    return engine


def _invalidate_unusable_connections(context: ExceptionContext) -> None:
    """Make the pool drop a connection asyncpg reports as closed or stuck mid-operation.

    SQLAlchemy recognises only some disconnect texts; a COPY cut off by a terminated backend
    leaves asyncpg answering "another operation is in progress" on that connection forever.
    """
    if not context.is_disconnect and is_unusable_connection(context.original_exception):
        context.is_disconnect = True


def engine_from_settings(settings: DatabaseSettings) -> AsyncEngine:
    return build_engine(
        url=settings.url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_recycle=settings.pool_recycle,
        command_timeout=settings.command_timeout,
        connect_timeout=settings.connect_timeout,
        pgbouncer=settings.pgbouncer,
        application_name=settings.application_name,
        server_settings=settings.server_settings,
        echo=settings.echo,
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
