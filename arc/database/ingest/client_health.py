"""`client.health` (seed 000): extensions and the connection pool, through the client."""

import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from arc.database.core.metrics import pool_stats
from arc.database.core.timescale import detect_async

if TYPE_CHECKING:
    from arc.database.ingest.client import ArcDBClient


class ClientHealth:
    """`client.health.check_extensions()` / `check_connection_pool()` (seed 000)."""

    def __init__(self, client: "ArcDBClient") -> None:
        self._client = client

    async def check_extensions(self) -> dict[str, Any]:
        async def work(conn: AsyncConnection) -> dict[str, Any]:
            rows = await conn.execute(text("SELECT extname, extversion FROM pg_extension"))
            versions = {r.extname: r.extversion for r in rows}
            caps = await detect_async(conn)
            return {
                "timescaledb": versions.get("timescaledb"),
                "vector": versions.get("vector"),
                "uuid-ossp": versions.get("uuid-ossp"),
                "edition": caps.edition,
                "server_version": caps.server_version,
                "extensions": versions,
            }

        return await self._client.run("health.check_extensions", work, write=False)

    async def check_connection_pool(self) -> dict[str, Any]:
        client = self._client

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            started = time.perf_counter()
            await conn.execute(text("SELECT 1"))
            latency = (time.perf_counter() - started) * 1000
            server = (
                await conn.execute(
                    text(
                        "SELECT count(*) AS total,"
                        " count(*) FILTER (WHERE state = 'idle in transaction') AS idle_in_tx "
                        "FROM pg_stat_activity WHERE application_name = :app"
                    ),
                    {"app": client.settings.application_name},
                )
            ).one()
            return {
                **pool_stats(client.engine),
                "ping_ms": latency,
                "server_connections": int(server.total),
                "server_idle_in_transaction": int(server.idle_in_tx),
                "status": "healthy",
            }

        return await client.run("health.check_connection_pool", work, write=False)
