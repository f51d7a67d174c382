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
    """`client.health.check_extensions()` / `check_connection_pool()` (seed 000) and
    `check_hypertable_health()` (seed 002 §9)."""

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

    async def check_hypertable_health(self) -> dict[str, Any]:
        """Seed 002's shape (hypertable_status, chunk_count, compression_ratio,
        storage_efficiency) for `outcomes`, from the health checker's hypertables check; the
        ratio is None where the edition does not compress or nothing is compressed yet."""
        from arc.database.ops.health.checker import DatabaseHealthChecker

        result = await DatabaseHealthChecker(self._client.engine).check_hypertables()
        outcomes = result.details.get("hypertables", {}).get("outcomes", {})
        ratio = outcomes.get("compression_ratio")
        return {
            "hypertable_status": result.status,
            "chunk_count": outcomes.get("chunks"),
            "compression_ratio": ratio,
            "storage_efficiency": outcomes.get("storage_efficiency", "not_compressed"),
            "reasons": list(result.reasons),
            "hypertables": result.details.get("hypertables", {}),
        }

    async def check_connection_pool(self) -> dict[str, Any]:
        """The pool as it is: checked out, overflow, utilisation, how long a connection took to
        get, the server's view of this client's connections, and the health checker's verdict
        (degraded when nearly saturated, unhealthy when no connection comes in time)."""
        from arc.database.ops.health.checker import DatabaseHealthChecker

        client = self._client
        verdict = await DatabaseHealthChecker(client.engine).check_connection_pool()

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
                "utilisation": verdict.details.get("utilisation"),
                "acquire_ms": verdict.details.get("acquire_ms"),
                "ping_ms": latency,
                "server_connections": int(server.total),
                "server_idle_in_transaction": int(server.idle_in_tx),
                "status": verdict.status,
                "reasons": list(verdict.reasons),
            }

        if verdict.status == "unhealthy":  # no connection to be had: report, do not wait again
            return {**pool_stats(client.engine), "status": verdict.status,
                    "reasons": list(verdict.reasons)}  # fmt: skip
        return await client.run("health.check_connection_pool", work, write=False)
