"""Chunk counts and sizes of outcomes, failure_patterns and tool_usage; on the full edition the
sizes before and after compression (hypertable_compression_stats) and the ratio."""

from typing import Any

from sqlalchemy import text

from arc.database.ops.health.context import CheckContext
from arc.database.ops.health.report import UNHEALTHY, CheckResult, Collector

NAME = "hypertables"
HYPERTABLES = ("outcomes", "failure_patterns", "tool_usage")


async def check(ctx: CheckContext) -> CheckResult:
    c = Collector("hypertables")
    async with ctx.engine.connect() as conn:
        caps = await ctx.caps(conn)
        present = set(
            (
                await conn.execute(
                    text(
                        "SELECT hypertable_name FROM timescaledb_information.hypertables "
                        "WHERE hypertable_schema = 'public'"
                    )
                )
            ).scalars()
        )
        tables: dict[str, Any] = {}
        for name in HYPERTABLES:
            if name not in present:
                c.flag(UNHEALTHY, f"{name} is not a hypertable")
                continue
            row = (
                await conn.execute(
                    text(
                        """
                        SELECT count(*) AS chunks,
                               count(*) FILTER (WHERE is_compressed) AS compressed_chunks
                        FROM timescaledb_information.chunks
                        WHERE hypertable_schema = 'public' AND hypertable_name = :name
                        """
                    ),
                    {"name": name},
                )
            ).one()
            size = (
                await conn.execute(
                    text(
                        "SELECT coalesce(sum(total_bytes), 0) FROM "
                        "hypertable_detailed_size(CAST(:name AS regclass))"
                    ),
                    {"name": name},
                )
            ).scalar_one()
            info: dict[str, Any] = {
                "chunks": int(row.chunks),
                "compressed_chunks": int(row.compressed_chunks),
                "total_bytes": int(size),
            }
            if caps.compression:
                stats = (
                    await conn.execute(
                        text(
                            "SELECT before_compression_total_bytes AS before, "
                            "after_compression_total_bytes AS after "
                            "FROM hypertable_compression_stats(CAST(:name AS regclass))"
                        ),
                        {"name": name},
                    )
                ).first()
                before = int(stats.before or 0) if stats else 0
                after = int(stats.after or 0) if stats else 0
                info["before_compression_bytes"] = before
                info["after_compression_bytes"] = after
                if before and after:
                    info["compression_ratio"] = round(before / after, 2)
                    info["space_saved_pct"] = round((1 - after / before) * 100, 1)
                    info["storage_efficiency"] = "good" if before / after > 2 else "needs_attention"
            tables[name] = info
    c.details = {"edition": caps.edition, "hypertables": tables}
    return c.result()
