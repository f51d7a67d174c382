"""One way to choose where a panel reads from: the aggregate, or the same SQL on the raw rows.

Each `SourcePair` holds the aggregate's read and the identical aggregation on its hypertable
(the aggregate's definition from migrations/versions/0004 with the window pushed down), so a
panel writes its outer query once and runs on either edition with the same numbers.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.core.errors import ArcValidationError
from arc.database.core.timescale import TimescaleCapabilities, detect_async
from arc.database.models.aggregates import DASHBOARD_AGGREGATES

log = structlog.get_logger("arc.database.analytics")

Source = Literal["auto", "aggregate", "raw"]
Resolved = Literal["aggregate", "raw"]
AGGREGATES = tuple(DASHBOARD_AGGREGATES)


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
FAILURES_DAILY = SourcePair(
    aggregate="""
        SELECT day, failure_category, failure_count, avg_confidence, unique_patterns
        FROM failure_trends_daily
        WHERE day >= :start AND day < :end {filters}
    """,
    raw="""
        SELECT time_bucket(INTERVAL '1 day', execution_time) AS day, failure_category,
               count(*) AS failure_count, avg(cluster_confidence) AS avg_confidence,
               count(DISTINCT pattern_cluster_id) AS unique_patterns
        FROM failure_patterns
        WHERE execution_time >= :start AND execution_time < :end {filters}
        GROUP BY 1, 2
    """,
)
TOOLS_DAILY = SourcePair(
    aggregate="""
        SELECT day, tool_name, avg_success_rate, avg_duration, daily_cost, usage_count
        FROM tool_performance_daily
        WHERE day >= :start AND day < :end {filters}
    """,
    raw="""
        SELECT time_bucket(INTERVAL '1 day', execution_time) AS day, tool_name,
               avg(success_rate) AS avg_success_rate, avg(avg_duration_ms) AS avg_duration,
               sum(total_cost_usd) AS daily_cost, count(*) AS usage_count
        FROM tool_usage
        WHERE execution_time >= :start AND execution_time < :end {filters}
        GROUP BY 1, 2
    """,
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
