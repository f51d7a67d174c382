"""One way to choose where a panel reads from: the aggregate, or the same SQL on the raw rows.

Each `SourcePair` holds the aggregate's read and the identical aggregation on its hypertable
(the aggregate's definition from migrations/versions/0004, 0007 or 0010 with the window pushed
down), so a panel writes its outer query once and runs on either edition with the same numbers.

Panels read hourly aggregates (0010), or daily ones whose views add today rolled up from
quarter-hour ones, so that at query time no more than 25 minutes (quarter-hour) to 70 minutes
(hourly) of raw rows are aggregated: the real-time part of an aggregate is recomputed from the
hypertable on every read, and with a daily bucket that is the whole current day (330,000 rows
at 10M outcomes a month).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.core.errors import ArcValidationError
from arc.database.core.timescale import TimescaleCapabilities, detect_async
from arc.database.models.aggregates import DASHBOARD_AGGREGATES, RECENT_AGGREGATES

log = structlog.get_logger("arc.database.analytics")

Source = Literal["auto", "aggregate", "raw"]
Resolved = Literal["aggregate", "raw"]
# The continuous aggregates the `aggregate` source reads (directly or through their views).
AGGREGATES = (
    *DASHBOARD_AGGREGATES,
    *RECENT_AGGREGATES,
    "outcome_stats_hourly",
    "version_scenario_stats_daily",
    "version_stats_daily",
)


@dataclass(frozen=True)
class SourcePair:
    """The aggregate read and its raw equivalent; `{filters}` takes extra AND clauses."""

    aggregate: str
    raw: str

    def sql(self, source: Resolved, filters: str = "") -> str:
        return (self.aggregate if source == "aggregate" else self.raw).format(filters=filters)


HOURLY = SourcePair(
    aggregate="""
        SELECT hour, simulation_id, total_outcomes, avg_reliability, avg_execution_time,
               total_cost, error_count
        FROM simulation_performance_hourly
        WHERE hour >= :start AND hour < :end {filters}
    """,
    raw="""
        SELECT time_bucket(INTERVAL '1 hour', execution_time) AS hour, simulation_id,
               count(*) AS total_outcomes, avg(reliability_score) AS avg_reliability,
               avg(execution_time_ms) AS avg_execution_time, sum(cost_usd) AS total_cost,
               sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS error_count
        FROM outcomes
        WHERE execution_time >= :start AND execution_time < :end {filters}
        GROUP BY 1, 2
    """,
)
# 0007/0010: per configuration version and day (performance, cost by model, configurations):
# the materialized days, and today rolled up from version_stats_15m (real-time).
VERSION_DAILY = SourcePair(
    aggregate="""
        SELECT day, config_version_id, n, error_n, sum_reliability, sum_time_ms, sum_cost
        FROM v_version_stats_daily
        WHERE day >= :start AND day < :end {filters}
    """,
    raw="""
        SELECT time_bucket(INTERVAL '1 day', o.execution_time) AS day, s.config_version_id,
               count(*) AS n, sum(CASE WHEN o.status = 'error' THEN 1 ELSE 0 END) AS error_n,
               sum(o.reliability_score::float8) AS sum_reliability,
               sum(o.execution_time_ms::float8) AS sum_time_ms,
               sum(o.cost_usd::float8) AS sum_cost
        FROM outcomes o JOIN simulations s ON s.simulation_id = o.simulation_id
        WHERE o.execution_time >= :start AND o.execution_time < :end {filters}
        GROUP BY 1, 2
    """,
)
# 0010: per failure category, cluster and hour (distinct clusters are counted over its rows).
FAILURES_HOURLY = SourcePair(
    aggregate="""
        SELECT hour, failure_category, pattern_cluster_id, failure_count, sum_confidence,
               confidence_n
        FROM failure_trends_hourly
        WHERE hour >= :start AND hour < :end {filters}
    """,
    raw="""
        SELECT time_bucket(INTERVAL '1 hour', execution_time) AS hour, failure_category,
               pattern_cluster_id, count(*) AS failure_count,
               sum(cluster_confidence::float8) AS sum_confidence,
               count(cluster_confidence) AS confidence_n
        FROM failure_patterns
        WHERE execution_time >= :start AND execution_time < :end {filters}
        GROUP BY 1, 2, 3
    """,
)
# 0010: per tool and hour.
TOOLS_HOURLY = SourcePair(
    aggregate="""
        SELECT hour, tool_name, usage_count, sum_success_rate, sum_duration_ms, total_cost
        FROM tool_performance_hourly
        WHERE hour >= :start AND hour < :end {filters}
    """,
    raw="""
        SELECT time_bucket(INTERVAL '1 hour', execution_time) AS hour, tool_name,
               count(*) AS usage_count, sum(success_rate::float8) AS sum_success_rate,
               sum(avg_duration_ms::float8) AS sum_duration_ms,
               sum(total_cost_usd::float8) AS total_cost
        FROM tool_usage
        WHERE execution_time >= :start AND execution_time < :end {filters}
        GROUP BY 1, 2
    """,
)
# 0007/0010: per scenario and day (one row per version on the aggregate side), with the
# statistics that combine exactly: sums, and SS (sum of squared deviations from the mean).
SCENARIO_DAILY = SourcePair(
    aggregate="""
        SELECT day, scenario_id, n, error_n, timeout_n, sum_reliability, ss_reliability,
               sum_time_ms
        FROM v_version_scenario_stats_daily
        WHERE day >= :start AND day < :end {filters}
    """,
    raw="""
        SELECT time_bucket(INTERVAL '1 day', execution_time) AS day, scenario_id,
               count(*) AS n, count(*) FILTER (WHERE status = 'error') AS error_n,
               count(*) FILTER (WHERE status = 'timeout') AS timeout_n,
               sum(reliability_score::float8) AS sum_reliability,
               var_pop(reliability_score::float8) * count(*) AS ss_reliability,
               sum(execution_time_ms::float8) AS sum_time_ms
        FROM outcomes
        WHERE execution_time >= :start AND execution_time < :end {filters}
        GROUP BY 1, 2
    """,
)

# 0012: the same per scenario, whole weeks from the weekly aggregate (one row per version and
# week, `day` its Monday) up to the last week it holds in the window, then days; for reads that
# group by week over a window of whole weeks. The raw side is SCENARIO_DAILY's.
SCENARIO_WEEKS = SourcePair(
    aggregate="""
        WITH weeks AS (
            SELECT week AS day, scenario_id, n, error_n, timeout_n, sum_reliability,
                   ss_reliability, sum_time_ms
            FROM v_version_scenario_stats_weekly
            WHERE week >= :start AND week < :end {filters}
        ), covered AS (
            SELECT COALESCE(max(day) + INTERVAL '7 days', :start) AS until FROM weeks
        )
        SELECT * FROM weeks
        UNION ALL
        SELECT day, scenario_id, n, error_n, timeout_n, sum_reliability, ss_reliability,
               sum_time_ms
        FROM v_version_scenario_stats_daily
        WHERE day >= (SELECT until FROM covered) AND day < :end {filters}
    """,
    raw=SCENARIO_DAILY.raw,
)


class PanelBase:
    """The engine, the resolved source and one read helper, shared by every panel family."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        source: Source = "auto",
        capabilities: TimescaleCapabilities | None = None,
    ) -> None:
        if source not in ("auto", "aggregate", "raw"):
            raise ArcValidationError("source", "must be auto, aggregate or raw", value=source)
        self.engine = engine
        self._requested: Source = source
        self._capabilities = capabilities
        self._resolved: Resolved | None = None

    async def source(self) -> Resolved:
        """`aggregate` when the continuous aggregates exist (full edition), else `raw`."""
        if self._resolved is not None:
            return self._resolved
        if self._requested != "auto":
            self._resolved = self._requested
            return self._resolved
        async with self.engine.connect() as conn:
            caps = self._capabilities or await detect_async(conn)
            self._capabilities = caps
            count = 0
            if caps.continuous_aggregates:
                count = (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM timescaledb_information.continuous_aggregates "
                            "WHERE view_name = ANY(:names)"
                        ),
                        {"names": list(AGGREGATES)},
                    )
                ).scalar_one()
        self._resolved = "aggregate" if count == len(AGGREGATES) else "raw"
        log.debug("analytics.source_resolved", source=self._resolved, edition=caps.edition)
        return self._resolved

    async def from_source(self, pair: SourcePair, filters: str = "") -> str:
        """The pair's SQL for this server's source, as a subquery body."""
        return pair.sql(await self.source(), filters)

    async def fetch(self, sql: str, params: dict[str, Any]) -> Sequence[Any]:
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).all()
