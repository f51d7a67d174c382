"""Freshness of the dashboard aggregates.

Full edition: a real-time continuous aggregate is as fresh as its refresh policy keeps it: no
policy, a paused policy, a failed last run, or no success yet (with rows to aggregate) once the
policy's first run is due, is degraded; a policy whose first run is still ahead (0010 starts new
ones one interval on) is not, as its real-time aggregate reads the raw rows meanwhile. The age
of the policy's last success is held against the lag thresholds; the watermark (end of the
materialised range) is reported. The watermark's own age is not a staleness signal: it stops
moving when no new rows arrive. Apache edition: each fallback view's
last refresh, read from the `arc:refreshed_at=` stamp that arc_refresh_fallback_aggregates()
writes into the view's COMMENT, against the same thresholds; a view never populated is
unhealthy. An aggregate over an empty hypertable is healthy.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from arc.database.models.aggregates import AGGREGATE_SOURCES, ALL_AGGREGATES
from arc.database.ops.health.context import CheckContext
from arc.database.ops.health.report import (
    DEGRADED,
    UNHEALTHY,
    CheckResult,
    Collector,
    ago,
    jsonable,
)

NAME = "aggregates"
_REFRESH_STAMP = "arc:refreshed_at="


async def check(ctx: CheckContext) -> CheckResult:
    c = Collector("aggregates")
    now = datetime.now(UTC)
    async with ctx.engine.connect() as conn:
        caps = await ctx.caps(conn)
        if caps.continuous_aggregates:
            found = await _cagg_freshness(conn)
        else:
            found = await _fallback_freshness(conn)
        for name in ALL_AGGREGATES:
            info = found.get(name)
            if info is None:
                c.flag(UNHEALTHY, f"{name} does not exist (run arc-db migrate upgrade)")
                continue
            source_has_rows = (
                await conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {AGGREGATE_SOURCES[name]})"))
            ).scalar_one()
            info["source_has_rows"] = bool(source_has_rows)
            if caps.continuous_aggregates:
                _judge_cagg(ctx, c, name, info, now)
            else:
                _judge_fallback(ctx, c, name, info, now)
    c.details = {
        "edition": caps.edition,
        "kind": "continuous" if caps.continuous_aggregates else "fallback materialized view",
        "aggregates": {k: {kk: jsonable(vv) for kk, vv in v.items()} for k, v in found.items()},
    }
    return c.result()


def _judge_lag(ctx: CheckContext, c: Collector, name: str, what: str, lag: timedelta) -> None:
    if lag > ctx.thresholds.aggregate_lag_unhealthy:
        c.flag(UNHEALTHY, f"{name}: {what} {ago(lag)} ago")
    elif lag > ctx.thresholds.aggregate_lag_degraded:
        c.flag(DEGRADED, f"{name}: {what} {ago(lag)} ago")


def _judge_cagg(
    ctx: CheckContext, c: Collector, name: str, info: dict[str, Any], now: datetime
) -> None:
    """A real-time aggregate is as fresh as its refresh policy keeps it."""
    if info.get("policy_job_id") is None:
        if info["source_has_rows"]:
            c.flag(DEGRADED, f"{name} has no refresh policy: it is never refreshed")
        return
    if not info.get("policy_scheduled"):
        c.flag(DEGRADED, f"{name}: refresh policy (job {info['policy_job_id']}) is paused")
        return
    if info.get("policy_last_status") == "Failed":
        c.flag(DEGRADED, f"{name}: refresh policy (job {info['policy_job_id']}) failed")
    last_ok: datetime | None = info.get("policy_last_success")
    if last_ok is None:
        first_run: datetime | None = info.get("policy_next_start")
        if first_run is not None and first_run > now:
            return  # scheduled, not yet due: a new policy (0010 starts them one interval on)
        if info["source_has_rows"]:
            c.flag(DEGRADED, f"{name} has never been refreshed")
        return
    info["lag_seconds"] = round((now - last_ok).total_seconds(), 1)
    _judge_lag(ctx, c, name, "last successful refresh", now - last_ok)


def _judge_fallback(
    ctx: CheckContext, c: Collector, name: str, info: dict[str, Any], now: datetime
) -> None:
    """A fallback view is as fresh as the last arc_refresh_fallback_aggregates()."""
    if not info["populated"]:
        c.flag(UNHEALTHY, f"{name} has never been refreshed (not populated)")
        return
    if not info["source_has_rows"]:
        return  # nothing to aggregate: fresh by definition
    refreshed: datetime | None = info.get("refreshed_at")
    if refreshed is None:
        c.flag(DEGRADED, f"{name}: time of the last refresh is unknown (no stamp)")
        return
    info["lag_seconds"] = round((now - refreshed).total_seconds(), 1)
    _judge_lag(ctx, c, name, "last refreshed", now - refreshed)


async def _cagg_freshness(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
    """Watermark (end of the materialised range) and the refresh policy's last runs."""
    rows = (
        await conn.execute(
            text(
                """
                SELECT marks.view_name, marks.materialized_only,
                       -- the minimum (4714 BC, "never materialised") does not fit Python
                       CASE WHEN marks.w >= TIMESTAMPTZ '1971-01-01' THEN marks.w END
                           AS watermark,
                       j.job_id, j.scheduled, s.last_run_status,
                       CASE WHEN s.last_successful_finish > TIMESTAMPTZ '1971-01-01'
                            THEN s.last_successful_finish END AS last_success,
                       COALESCE(s.next_start, j.next_start) AS next_start
                FROM (
                    SELECT ca.view_name, ca.materialized_only,
                           _timescaledb_functions.to_timestamp(
                               _timescaledb_functions.cagg_watermark(h.id)) AS w
                    FROM timescaledb_information.continuous_aggregates ca
                    JOIN _timescaledb_catalog.hypertable h
                      ON h.schema_name = ca.materialization_hypertable_schema
                     AND h.table_name = ca.materialization_hypertable_name
                    WHERE ca.view_schema = 'public'
                ) marks
                LEFT JOIN timescaledb_information.jobs j
                  ON j.proc_name = 'policy_refresh_continuous_aggregate'
                 AND j.hypertable_name = marks.view_name
                LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
                """
            )
        )
    ).all()
    return {
        r.view_name: {
            "real_time": not r.materialized_only,
            "watermark": r.watermark,
            "policy_job_id": r.job_id,
            "policy_scheduled": r.scheduled,
            "policy_last_status": r.last_run_status,
            "policy_last_success": r.last_success,
            "policy_next_start": r.next_start,
        }
        for r in rows
    }


async def _fallback_freshness(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
    rows = (
        await conn.execute(
            text(
                """
                SELECT m.matviewname AS name, m.ispopulated,
                       obj_description(format('%I.%I', m.schemaname, m.matviewname)::regclass,
                                       'pg_class') AS comment
                FROM pg_matviews m
                WHERE m.schemaname = 'public'
                """
            )
        )
    ).all()
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        refreshed = _parse_stamp(r.comment)
        out[r.name] = {
            "populated": bool(r.ispopulated),
            "refreshed_at": refreshed,
        }
    return out


def _parse_stamp(comment: str | None) -> datetime | None:
    if not comment or _REFRESH_STAMP not in comment:
        return None
    raw = comment.split(_REFRESH_STAMP, 1)[1].strip().split()[0:2]
    try:
        value = datetime.fromisoformat(" ".join(raw))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
