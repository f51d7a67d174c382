"""The engine's pool (size, checked out, overflow) and whether a connection can be had within
`pool_acquire_timeout`. When none can, the runner skips the other checks."""

import asyncio
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.ops.health.context import CheckContext
from arc.database.ops.health.report import DEGRADED, UNHEALTHY, CheckResult, Collector

NAME = "connection_pool"


def pool_stats(engine: AsyncEngine) -> dict[str, Any]:
    pool: Any = engine.pool
    stats: dict[str, Any] = {"class": type(pool).__name__}
    for key in ("size", "checkedin", "checkedout", "overflow"):
        method = getattr(pool, key, None)
        if callable(method):
            stats[key] = int(method())
    max_overflow = getattr(pool, "_max_overflow", None)
    if isinstance(max_overflow, int):
        stats["max_overflow"] = max_overflow
        capacity = stats.get("size", 0) + max(max_overflow, 0)
        stats["capacity"] = capacity
        if capacity > 0 and max_overflow >= 0:
            stats["utilisation"] = round(stats.get("checkedout", 0) / capacity, 3)
    return stats


async def check(ctx: CheckContext) -> CheckResult:
    c = Collector(NAME)
    stats = pool_stats(ctx.engine)
    c.details = stats
    utilisation = stats.get("utilisation")
    if utilisation is not None and utilisation >= ctx.thresholds.pool_utilisation_degraded:
        c.flag(
            DEGRADED,
            f"{stats.get('checkedout')} of {stats.get('capacity')} connections checked out",
        )
    acquire_started = time.perf_counter()
    try:
        async with asyncio.timeout(ctx.thresholds.pool_acquire_timeout):
            async with ctx.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except TimeoutError:
        c.flag(
            UNHEALTHY,
            f"pool exhausted: no connection within {ctx.thresholds.pool_acquire_timeout:g}s "
            f"({stats.get('checkedout')} checked out, capacity {stats.get('capacity')})",
        )
    else:
        c.details["acquire_ms"] = round((time.perf_counter() - acquire_started) * 1000, 2)
    return c.result()
