"""Alembic environment: async (asyncpg), URL from TIMESCALE_SERVICE_URL, models as the target.

A caller that already holds a connection (tests, `arc-db migrate`) passes it as
`config.attributes["connection"]`; otherwise a NullPool engine is made for the run.
"""

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import create_async_engine

from arc.database.core.settings import DatabaseSettings
from arc.database.models import Base

config = context.config
target_metadata = Base.metadata


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Compare only what the models own: TimescaleDB's and views' objects are not ORM tables."""
    return not (type_ == "table" and reflected and compare_to is None)


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        include_schemas=False,
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    settings = DatabaseSettings.from_env(config.attributes.get("url"))
    connect_args: dict[str, Any] = {"server_settings": {"application_name": "arc-eval-db-migrate"}}
    if settings.ssl:
        connect_args["ssl"] = settings.ssl
    engine = create_async_engine(
        settings.async_url, poolclass=pool.NullPool, connect_args=connect_args
    )
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
    else:
        asyncio.run(run_async_migrations())


if context.is_offline_mode():
    raise SystemExit("offline (--sql) mode is not supported: the migrations inspect the server")
run_migrations_online()
