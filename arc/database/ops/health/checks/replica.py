"""The read replica (ARC_DB_READ_URL): reachable, in recovery, and how far behind.

Reads fall back to the primary while the replica cannot be reached (core.engine, documented in
docs/operations.md): that is degraded, not unhealthy, because every read still answers.
Lag is 0 when everything received has been replayed (an idle primary makes the last replay
timestamp old without the replica being behind); else the age of the last replayed
transaction, with the bytes received but not yet replayed.
"""

from sqlalchemy import text

from arc.database.core.engine import READ_STATS
from arc.database.ops.health.context import CheckContext
from arc.database.ops.health.report import DEGRADED, UNHEALTHY, CheckResult, Collector

NAME = "replica"

_REPLICA = text(
    """
    SELECT pg_is_in_recovery() AS standby,
           inet_server_port() AS port,
           pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) AS replay_bytes,
           CASE WHEN NOT pg_is_in_recovery() THEN NULL
                WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())
           END AS lag_s
    """
)
_PRIMARY = text("SELECT count(*) AS streaming FROM pg_stat_replication WHERE state = 'streaming'")


async def check(ctx: CheckContext) -> CheckResult:
    c = Collector(NAME)
    if ctx.read_engine is None:
        c.details = {"configured": False}
        return c.result()
    async with ctx.read_engine.connect() as conn:
        row = (await conn.execute(_REPLICA)).one()
    async with ctx.engine.connect() as conn:
        streaming = int((await conn.execute(_PRIMARY)).scalar_one())
    lag = None if row.lag_s is None else round(float(row.lag_s), 3)
    c.details = {
        "configured": True,
        "standby": bool(row.standby),
        "port": row.port,
        "lag_seconds": lag,
        "replay_bytes": None if row.replay_bytes is None else int(row.replay_bytes),
        "streaming_replicas_of_primary": streaming,
        "read_fallbacks": READ_STATS.fallbacks,
    }
    thresholds = ctx.thresholds
    if not row.standby:
        c.flag(
            DEGRADED,
            "the read URL does not reach a replica (unreachable, or not a standby): reads go "
            "to the primary",
        )
    elif lag is not None and lag > thresholds.replica_lag_unhealthy_s:
        c.flag(UNHEALTHY, f"replica is {lag:.0f}s behind the primary")
    elif lag is not None and lag > thresholds.replica_lag_degraded_s:
        c.flag(DEGRADED, f"replica is {lag:.0f}s behind the primary")
    return c.result()
