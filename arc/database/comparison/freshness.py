"""Bring the statistics a comparison reads up to date before a CI gate reads them.

The statistics views answer in real time for buckets after each aggregate's watermark, but an
outcome written *into* a bucket already materialised (a backfill, planted or imported history,
a late outcome) is only counted once that bucket is materialised again:

- full edition: TimescaleDB logs the invalidation and the refresh policies (every 5 to 30
  minutes, over the last 7 days) re-materialise it. `refresh_statistics` runs the same
  incremental refresh at once over the comparison's window (the caller's `refresh_aggregates`,
  i.e. ops.maintenance's, which waits out a policy refreshing the same window): TimescaleDB
  recomputes only the invalidated buckets (a refresh with nothing to do costs tens of
  milliseconds an aggregate);
- Apache edition: a fallback view holds what the last refresh saw and nothing logs what came
  after. A cheap test decides whether a refresh is needed: a simulation of the compared
  versions written or changed after the view's last refresh (its row's xmin is newer than
  the transaction that stamped the view, read through pg_description) that has outcomes
  before the view's watermark, found by one index probe per such simulation. Only then are
  the views the comparison reads refreshed (arc_refresh_fallback_aggregate(): REFRESH ...
  CONCURRENTLY and the same `arc:refreshed_at=` stamp as arc_refresh_fallback_aggregates()).
  An outcome added later to a simulation whose row did not change since is not seen by this
  test: it counts after the next `arc-db maintain` (or `arc-db compare --refresh`).

Refreshing needs the owner's rights (and a primary server): without them the comparison goes
on with what the views hold, and the report says why nothing was refreshed.
"""

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.core.errors import sqlstate_of
from arc.database.core.timescale import detect_async

log = structlog.get_logger(__name__)

# What is read: a comparison of versions or of simulations, or the Pareto frontier.
Kind = Literal["version", "simulation", "pareto"]
# (engine, start) -> the aggregates refreshed: ops.maintenance.refresh_aggregates, passed in by
# the caller (this layer does not import ops).
RefreshAggregates = Callable[[AsyncEngine, datetime | None], Awaitable[list[str]]]

# Apache edition: the fallback view each kind reads, its bucket width and the subject column,
# and the views refreshed with it (the whole weeks a version comparison reads, migration 0012).
FALLBACK_SOURCES: dict[Kind, tuple[str, str, str, tuple[str, ...]]] = {
    "version": (
        "version_scenario_stats_daily",
        "1 day",
        "config_version_id",
        ("version_scenario_stats_weekly",),
    ),
    "simulation": ("outcome_stats_hourly", "1 hour", "simulation_id", ()),
    "pareto": ("version_stats_daily", "1 day", "config_version_id", ()),
}
# Errors that mean "not allowed to refresh here", not "broken": not the owner, a read-only
# transaction or a standby.
NOT_ALLOWED = {"42501", "25006", "0A000"}

_STALE_FALLBACK = """
WITH mark AS (
    SELECT (SELECT age(d.xmin) FROM pg_description d
            WHERE d.classoid = 'pg_class'::regclass AND d.objsubid = 0
              AND d.objoid = to_regclass(CAST(:view AS text))) AS refresh_age,
           public.arc_fallback_watermark(CAST(:view AS text), INTERVAL '{width}') AS watermark
)
SELECT EXISTS (
    SELECT 1 FROM simulations s, mark m
    WHERE (CAST(:ids AS uuid[]) IS NULL OR s.{subject} = ANY(:ids))
      AND age(s.xmin) < m.refresh_age
      AND EXISTS (
          SELECT 1 FROM outcomes o
          WHERE o.simulation_id = s.simulation_id
            AND o.execution_time >= CAST(:start AS timestamptz)
            AND o.execution_time < LEAST(m.watermark, CAST(:end AS timestamptz))
      )
)
"""


@dataclass
class FreshnessReport:
    """What was refreshed before a comparison, and what could not be."""

    edition: str
    refreshed: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # Apache: found up to date
    not_refreshed: str | None = None  # why nothing could be refreshed

    def note(self) -> str | None:
        """One line for people when something is worth saying."""
        if self.not_refreshed:
            return (
                f"statistics not refreshed ({self.not_refreshed}); outcomes written into "
                "buckets already aggregated count after the next `arc-db maintain`"
            )
        return None


async def refresh_statistics(
    engine: AsyncEngine,
    *,
    kind: Kind,
    subject_ids: Sequence[uuid.UUID] | None,
    start: datetime | None,
    end: datetime | None,
    refresh_aggregates: RefreshAggregates,
) -> FreshnessReport:
    """Bring the statistics `kind` reads up to date over [start, end), a window of whole
    buckets (see above); `subject_ids` None: whatever simulation wrote into them."""
    async with engine.connect() as conn:
        caps = await detect_async(conn)
        await conn.rollback()
    report = FreshnessReport(edition=caps.edition)
    try:
        if caps.continuous_aggregates:
            report.refreshed = list(await refresh_aggregates(engine, start))
        else:
            await _refresh_fallback(engine, kind, subject_ids, start, end, report)
    except DBAPIError as exc:
        code = sqlstate_of(exc)
        if code not in NOT_ALLOWED:
            raise
        report.not_refreshed = f"SQLSTATE {code}: {str(exc.orig).splitlines()[0]}"
        log.warning("comparison.refresh_not_allowed", sqlstate=code, kind=kind)
    return report


async def _refresh_fallback(
    engine: AsyncEngine,
    kind: Kind,
    subject_ids: Sequence[uuid.UUID] | None,
    start: datetime | None,
    end: datetime | None,
    report: FreshnessReport,
) -> None:
    view, width, subject, together = FALLBACK_SOURCES[kind]
    async with engine.connect() as conn:
        stale = (
            await conn.execute(
                text(_STALE_FALLBACK.format(subject=subject, width=width)),
                {
                    "view": view,
                    "ids": None if subject_ids is None else list(subject_ids),
                    "start": start or datetime.min.replace(tzinfo=UTC),
                    "end": end or datetime.max.replace(tzinfo=UTC),
                },
            )
        ).scalar_one()
        await conn.rollback()
        if not stale:
            report.checked.append(view)
            return
        async with conn.begin():
            # What arc_refresh_fallback_aggregates() does for each view: the same stamp (the
            # transaction's now(), which the view's own `now()` saw) makes the same watermark.
            for name in (view, *together):
                await conn.execute(
                    text("SELECT arc_refresh_fallback_aggregate(:view)"), {"view": name}
                )
    report.refreshed += [view, *together]
    log.info("comparison.fallback_refreshed", views=[view, *together])
