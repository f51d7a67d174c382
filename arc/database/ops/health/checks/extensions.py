"""timescaledb, vector and uuid-ossp with versions; the edition and what it allows."""

from sqlalchemy import text

from arc.database.ops.health.context import CheckContext
from arc.database.ops.health.report import UNHEALTHY, CheckResult, Collector

NAME = "extensions"
REQUIRED_EXTENSIONS = ("timescaledb", "vector", "uuid-ossp")


async def check(ctx: CheckContext) -> CheckResult:
    c = Collector(NAME)
    async with ctx.engine.connect() as conn:
        caps = await ctx.caps(conn)
        rows = (
            await conn.execute(
                text("SELECT extname, extversion FROM pg_extension ORDER BY extname")
            )
        ).all()
    installed = {r.extname: r.extversion for r in rows}
    c.details = {
        "server_version": caps.server_version,
        "extensions": installed,
        "capabilities": caps.as_dict(),
    }
    for ext in REQUIRED_EXTENSIONS:
        if ext not in installed:
            c.flag(UNHEALTHY, f"extension {ext} is not installed (run arc-db migrate upgrade)")
    return c.result()
