"""Routine maintenance (`arc-db maintain`), safe to run from cron on either edition.

1. Aggregates. Apache edition: `SELECT arc_refresh_fallback_aggregates()` refreshes the plain
   materialized views and stamps the refresh time into each view's COMMENT
   (`arc:refreshed_at=<timestamp>`), which the health checker reads back. Full edition: the
   continuous aggregates refresh themselves by policy; maintenance refreshes the window the
   policy does not cover when asked (`refresh_since`), e.g. after a backfill.
2. Retention: `SELECT * FROM arc_apply_retention()` drops whole chunks past each hypertable's
   retention window (drop_chunks works on both editions) and deletes old audit rows.
3. Compression (full edition only): compress every uncompressed chunk of a compressed
   hypertable older than its compression policy's `compress_after`, so cron can catch up
   when the background jobs lag or are disabled.

A session-level advisory lock makes concurrent runs wait for each other instead of racing.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from arc.database.analytics.windows import ceil_time, floor_time
from arc.database.core.errors import sqlstate_of
from arc.database.core.timescale import detect_async
from arc.database.models.aggregates import ALL_AGGREGATES, BUCKET_WIDTHS

log = structlog.get_logger(__name__)

MAINTENANCE_LOCK_KEY = 0x4152_434D  # "ARCM"
# The daily aggregates' end_offset (0004/0007), the largest of the refresh policies' (0010's
# hourly and quarter-hour policies stop 5 minutes before now): a manual refresh stops there.
REFRESH_END_OFFSET = timedelta(hours=1)
# How long a refresh waits for a refresh policy running over the same window.
CONCURRENT_REFRESH_WAIT_S = 120.0

Progress = Callable[[int, int, str], None]


@dataclass
class MaintenanceReport:
    edition: str
    refreshed: list[str] = field(default_factory=list)
    dropped_chunks: dict[str, int] = field(default_factory=dict)
    compressed_chunks: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "edition": self.edition,
            "refreshed": self.refreshed,
            "dropped_chunks": self.dropped_chunks,
            "compressed_chunks": self.compressed_chunks,
            "skipped": self.skipped,
        }


async def _refresh_one(
    conn: AsyncConnection, name: str, start: datetime | None, end: datetime
) -> None:
    """refresh_continuous_aggregate, waiting out a refresh policy that holds the same window:
    TimescaleDB refuses a concurrent refresh (55P03) instead of waiting for it, and the
    policies of 0010 run every 5 minutes."""
    delay = 0.1
    deadline = time.monotonic() + CONCURRENT_REFRESH_WAIT_S
    while True:
        try:
            await conn.execute(
                text(
                    "CALL refresh_continuous_aggregate(CAST(:name AS regclass), "
                    "CAST(:lo AS timestamptz), CAST(:hi AS timestamptz))"
                ),
                {"name": name, "lo": start, "hi": end},
            )
            return
        except DBAPIError as exc:
            if sqlstate_of(exc) != "55P03" or time.monotonic() + delay > deadline:
                raise
        log.info("aggregates.refresh_waits_for_policy", aggregate=name, retry_in_s=delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


async def refresh_aggregates(
    engine: AsyncEngine,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[str]:
    """Bring every aggregate (dashboard, comparison statistics) up to date for [start, end),
    widened to each one's whole buckets; returns the aggregates refreshed.

    Full edition: refresh_continuous_aggregate per aggregate (it cannot run inside a
    transaction, hence the AUTOCOMMIT connection). The end is clipped to now - 1 hour, the
    daily policies' end_offset: materialising the current bucket would move the watermark past rows
    still arriving, which would then wait for the next refresh instead of being read in real
    time. Apache edition: the fallback views are refreshed whole (no partial refresh).
    """
    async with engine.connect() as conn:
        caps = await detect_async(conn)
        await conn.rollback()
        if caps.continuous_aggregates:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            result = await auto.execute(
                text(
                    "SELECT view_name FROM timescaledb_information.continuous_aggregates "
                    "WHERE view_name = ANY(:names)"
                ),
                {"names": list(ALL_AGGREGATES)},
            )
            existing = set(result.scalars().all())
            names = [n for n in ALL_AGGREGATES if n in existing]
            latest = datetime.now(UTC) - REFRESH_END_OFFSET
            end = latest if end is None else min(end, latest)
            if start is not None and start >= end:
                log.info("aggregates.refresh_skipped", start=start, end=end)
                return []
            refreshed = []
            for name in names:
                # Whole buckets: TimescaleDB materialises only the buckets inside the window
                # (the one holding `start` would be left out) and refuses a window narrower
                # than one (the weekly aggregate of 0012 on a window of days).
                width = BUCKET_WIDTHS[name]
                lo = floor_time(start, width) if start is not None else None
                hi = min(ceil_time(end, width), latest)
                if lo is not None and hi - lo < width:
                    continue  # no whole bucket has ended in the window yet
                await _refresh_one(auto, name, lo, hi)
                refreshed.append(name)
            log.info("aggregates.refreshed", aggregates=refreshed, start=start, end=end)
            return refreshed
        async with conn.begin():
            refreshed = (
                await conn.execute(text("SELECT arc_refresh_fallback_aggregates()"))
            ).scalar_one()
        log.info("aggregates.fallback_refreshed", views=list(refreshed or []))
        return list(refreshed or [])


async def apply_retention(engine: AsyncEngine) -> dict[str, int]:
    """Drop chunks (and audit rows) past their retention windows; returns counts per object."""
    async with engine.begin() as conn:
        rows = (await conn.execute(text("SELECT object, dropped FROM arc_apply_retention()"))).all()
    dropped = {r.object: int(r.dropped) for r in rows}
    log.info("retention.applied", **dropped)
    return dropped


async def _chunks_to_compress(conn: AsyncConnection) -> list[tuple[str, str]]:
    """(hypertable, chunk) pairs older than the compression policy window, not compressed."""
    rows = (
        await conn.execute(
            text(
                """
                SELECT c.hypertable_name, format('%I.%I', c.chunk_schema, c.chunk_name) AS chunk
                FROM timescaledb_information.chunks c
                JOIN timescaledb_information.jobs j
                  ON j.hypertable_name = c.hypertable_name
                 AND j.proc_name = 'policy_compression'
                WHERE c.hypertable_schema = 'public'
                  AND NOT c.is_compressed
                  AND c.range_end < now() - (j.config ->> 'compress_after')::interval
                ORDER BY c.hypertable_name, c.range_end
                """
            )
        )
    ).all()
    return [(r.hypertable_name, r.chunk) for r in rows]


async def compress_old_chunks(
    engine: AsyncEngine, *, progress: Progress | None = None
) -> dict[str, int]:
    """Compress what the compression policies would (full edition); one transaction per chunk."""
    async with engine.connect() as conn:
        todo = await _chunks_to_compress(conn)
        await conn.rollback()
    done: dict[str, int] = {}
    for i, (table, chunk) in enumerate(todo, start=1):
        async with engine.begin() as conn:
            await conn.execute(
                text("SELECT compress_chunk(CAST(:chunk AS regclass), if_not_compressed => true)"),
                {"chunk": chunk},
            )
        done[table] = done.get(table, 0) + 1
        if progress is not None:
            progress(i, len(todo), chunk)
    log.info("compression.applied", **done)
    return done


async def run_maintenance(
    engine: AsyncEngine,
    *,
    refresh_since: datetime | None = None,
    compress: bool = True,
    retention: bool = True,
    progress: Progress | None = None,
) -> MaintenanceReport:
    """All of the above in order, under a session advisory lock (concurrent runs queue)."""
    async with engine.connect() as lock_conn:
        await lock_conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MAINTENANCE_LOCK_KEY})
        await lock_conn.commit()
        try:
            caps = await detect_async(lock_conn)
            await lock_conn.commit()
            report = MaintenanceReport(edition=caps.edition)
            steps = 3
            if progress is not None:
                progress(0, steps, "refresh aggregates")
            if caps.continuous_aggregates:
                if refresh_since is not None:
                    report.refreshed = await refresh_aggregates(engine, start=refresh_since)
                else:
                    report.skipped.append("refresh: continuous aggregates refresh by policy")
            else:
                report.refreshed = await refresh_aggregates(engine)
            if progress is not None:
                progress(1, steps, "retention")
            if retention:
                report.dropped_chunks = await apply_retention(engine)
            else:
                report.skipped.append("retention: disabled")
            if progress is not None:
                progress(2, steps, "compression")
            if not compress:
                report.skipped.append("compression: disabled")
            elif caps.compression:
                report.compressed_chunks = await compress_old_chunks(engine)
            else:
                report.skipped.append(f"compression: not available on the {caps.edition} edition")
            if progress is not None:
                progress(3, steps, "done")
            log.info("maintenance.completed", **report.as_dict())
            return report
        finally:
            await lock_conn.execute(
                text("SELECT pg_advisory_unlock(:k)"), {"k": MAINTENANCE_LOCK_KEY}
            )
            await lock_conn.commit()
