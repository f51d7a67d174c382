"""Full edition: timescaledb_information.job_stats (last run, failures, consecutive failures).
The Apache edition has no job scheduler; its fallback maintenance shows in the aggregates check
(age of the last arc_refresh_fallback_aggregates())."""

from sqlalchemy import text

from arc.database.ops.health.context import CheckContext
from arc.database.ops.health.report import DEGRADED, UNHEALTHY, CheckResult, Collector, jsonable

NAME = "jobs"


async def check(ctx: CheckContext) -> CheckResult:
    c = Collector("jobs")
    async with ctx.engine.connect() as conn:
        caps = await ctx.caps(conn)
        if not caps.policies:
            c.details = {
                "edition": caps.edition,
                "scheduler": "none: run `arc-db maintain` from cron "
                "(refresh, retention); see the aggregates check for its last run",
            }
            return c.result()
        rows = (
            await conn.execute(
                text(
                    """
                    SELECT j.job_id, j.proc_name, j.hypertable_name, j.scheduled,
                           s.last_run_status, s.last_run_started_at,
                           s.last_successful_finish, s.total_runs, s.total_failures,
                           s.next_start, st.consecutive_failures
                    FROM timescaledb_information.jobs j
                    LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
                    LEFT JOIN _timescaledb_internal.bgw_job_stat st ON st.job_id = j.job_id
                    ORDER BY j.job_id
                    """
                )
            )
        ).all()
        errors = {
            r.job_id: r.err_message
            for r in (
                await conn.execute(
                    text(
                        "SELECT DISTINCT ON (job_id) job_id, err_message "
                        "FROM timescaledb_information.job_errors "
                        "ORDER BY job_id, finish_time DESC NULLS LAST"
                    )
                )
            ).all()
        }
    jobs = []
    limit = ctx.thresholds.job_consecutive_failures_unhealthy
    for r in rows:
        failing = r.last_run_status == "Failed"
        consecutive = int(r.consecutive_failures or 0)
        jobs.append(
            {
                "job_id": r.job_id,
                "proc_name": r.proc_name,
                "hypertable": r.hypertable_name,
                "scheduled": r.scheduled,
                "last_run_status": r.last_run_status,
                "last_run_started_at": jsonable(r.last_run_started_at),
                "last_successful_finish": jsonable(r.last_successful_finish),
                "total_runs": r.total_runs,
                "total_failures": r.total_failures,
                "consecutive_failures": consecutive,
                "last_error": errors.get(r.job_id) if failing else None,
            }
        )
        if failing:
            what = f"job {r.job_id} ({r.proc_name}"
            what += f" on {r.hypertable_name})" if r.hypertable_name else ")"
            status = UNHEALTHY if consecutive >= limit else DEGRADED
            message = errors.get(r.job_id)
            c.flag(
                status,
                f"{what} failed its last run ({consecutive} in a row)"
                + (f": {message}" if message else ""),
            )
    c.details = {"edition": caps.edition, "jobs": jobs}
    return c.result()
