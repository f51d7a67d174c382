"""Create and drop whole databases (tests, the demo). Works on any server the URL can reach."""

import re

import asyncpg
from sqlalchemy.engine import make_url

from arc.database.core.errors import ArcValidationError
from arc.database.core.settings import to_asyncpg_url

_SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def _admin_connection(url: str) -> asyncpg.Connection:
    async_url, ssl = to_asyncpg_url(with_database(url, "postgres"))
    return await asyncpg.connect(
        user=async_url.username,
        password=async_url.password,
        host=async_url.host,
        port=async_url.port,
        database=async_url.database,
        ssl=ssl,
        timeout=10,
    )


def _check_name(database: str) -> None:
    if not _SAFE_NAME.match(database):
        raise ArcValidationError("database", "must match ^[a-z_][a-z0-9_]{0,62}$", value=database)


async def ensure_database(url: str) -> bool:
    """Create the URL's database if it does not exist. Returns True when it was created."""
    database = make_url(url).database or ""
    _check_name(database)
    conn = await _admin_connection(url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if exists:
            return False
        await conn.execute(f'CREATE DATABASE "{database}"')
        return True
    finally:
        await conn.close()


async def drop_database(url: str) -> None:
    database = make_url(url).database or ""
    _check_name(database)
    conn = await _admin_connection(url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()
