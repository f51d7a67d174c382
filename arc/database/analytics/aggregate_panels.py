"""Panels read from the aggregates (or their raw equivalent): performance, cost, failures, tools.

Every panel rolls buckets up in one outer query over `PanelBase.from_source(...)`, so both
editions return the same numbers for the same rows. Performance, cost by model and the
configuration panel read the per-version daily statistics (one row per version and day; today
rolled up from quarter-hour ones) rather than joining per-simulation hourly buckets to
simulations; per simulation, simulation_performance_hourly.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from arc.database.analytics.rows import from_row, pct
from arc.database.analytics.sources import (
    FAILURES_HOURLY,
    HOURLY,
    TOOLS_HOURLY,
    VERSION_DAILY,
    PanelBase,
)
from arc.database.analytics.windows import DAY, HOUR, bucket_window, check_moment, check_names
from arc.database.core.checks import (
    check_choice,
    check_timedelta,
    check_uuid,
    check_uuid_list,
    require_uuid,
    text_limits,
)
from arc.database.models import ToolUsage
from arc.database.models.failure_pattern import FAILURE_CATEGORIES


@dataclass(frozen=True)
class HourlyMetrics:
    hour: datetime
    total_outcomes: int
    avg_reliability: float | None
    avg_execution_time_ms: float | None
    total_cost: float
    error_count: int


@dataclass(frozen=True)
class PerformanceSummary:
    total_outcomes: int
    avg_reliability: float | None
    avg_execution_time_ms: float | None
    total_cost: float
    error_count: int
    error_rate: float  # errors / outcomes, 0..1
    hours_with_data: int


@dataclass(frozen=True)
class SimulationPerformance:
    """Seed 000 `get_simulation_performance`: hourly metrics plus a summary."""

    simulation_id: uuid.UUID
    start: datetime
    end: datetime
    hourly: tuple[HourlyMetrics, ...]
    summary: PerformanceSummary


@dataclass(frozen=True)
class DailyPerformance:
    """One day of v_dashboard_performance_trends."""

    day: datetime
    total_executions: int
    avg_reliability: float | None
    avg_duration_ms: float | None
    daily_cost: float
    error_count: int
    error_rate_pct: float


@dataclass(frozen=True)
class CostBreakdown:
    """Cost by model and configuration (day is None for the whole window)."""

    day: datetime | None
    model: str | None
    config_id: uuid.UUID
    config_name: str
    executions: int
    total_cost: float
    avg_cost_per_execution: float


@dataclass(frozen=True)
class ConfigPerformance:
    """One (config version, day) of v_llm_config_performance."""

    config_id: uuid.UUID
    version_id: uuid.UUID
    version_number: int
    model: str | None
    day: datetime
    total_executions: int
    avg_reliability: float | None
    avg_execution_time_ms: float | None
    daily_cost: float
    error_count: int


@dataclass(frozen=True)
class FailureTrend:
    """One (day, category) of failure_trends_daily."""

    day: datetime
    failure_category: str
    failure_count: int
    avg_confidence: float | None
    unique_patterns: int


@dataclass(frozen=True)
class ToolPerformance:
    """A tool over the window (day None) or on one day."""

    day: datetime | None
    tool_name: str
    usage_count: int
    avg_success_rate: float | None
    avg_duration_ms: float | None
    total_cost: float


def _weighted(hourly: Sequence[HourlyMetrics], attr: str) -> float | None:
    """The mean over all outcomes of hourly means, weighted by each hour's count."""
    known = [(getattr(h, attr), h.total_outcomes) for h in hourly if getattr(h, attr) is not None]
    weight = sum(n for _, n in known)
    return sum(v * n for v, n in known) / weight if weight else None


class AggregatePanels(PanelBase):
    # -- seed 000
    async def get_simulation_performance(
        self,
        simulation_id: uuid.UUID,
        time_range: timedelta = timedelta(hours=24),
        *,
        end: datetime | None = None,
    ) -> SimulationPerformance:
        """Hourly metrics of one simulation over the last `time_range` (ending at `end`)."""
        simulation_id = require_uuid(simulation_id, "simulation_id")
        check_timedelta(time_range, "time_range")
        stop = datetime.now(UTC) if end is None else check_moment(end, "end")
        start, stop = bucket_window(stop - time_range, stop, HOUR)
        hourly_sql = await self.from_source(HOURLY, "AND simulation_id = :sim")
        rows = await self.fetch(
            f"""
            SELECT hour, total_outcomes, avg_reliability,
                   avg_execution_time AS avg_execution_time_ms, total_cost, error_count
            FROM ({hourly_sql}) h ORDER BY hour
            """,
            {"start": start, "end": stop, "sim": simulation_id},
        )
        hourly = tuple(from_row(HourlyMetrics, r) for r in rows)
        total = sum(h.total_outcomes for h in hourly)
        errors = sum(h.error_count for h in hourly)
        summary = PerformanceSummary(
            total_outcomes=total,
            avg_reliability=_weighted(hourly, "avg_reliability"),
            avg_execution_time_ms=_weighted(hourly, "avg_execution_time_ms"),
            total_cost=sum(h.total_cost for h in hourly),
            error_count=errors,
            error_rate=errors / total if total else 0.0,
            hours_with_data=len(hourly),
        )
        return SimulationPerformance(simulation_id, start, stop, hourly, summary)

    # -- 002 §6A
    async def performance_trends(
        self,
        start: datetime,
        end: datetime,
        *,
        simulation_ids: Sequence[uuid.UUID] | None = None,
    ) -> tuple[DailyPerformance, ...]:
        """Per UTC day: executions, reliability, duration, cost, errors (newest day first)."""
        simulation_ids = check_uuid_list(simulation_ids, "simulation_ids")
        lo, hi = bucket_window(start, end, DAY)
        if simulation_ids is not None:
            hourly_sql = await self.from_source(HOURLY, "AND simulation_id = ANY(:sims)")
            cells = f"""
                SELECT time_bucket(INTERVAL '1 day', hour) AS day, total_outcomes AS n,
                       avg_reliability * total_outcomes AS sum_reliability,
                       avg_execution_time * total_outcomes AS sum_time_ms,
                       total_cost::float8 AS sum_cost, error_count AS error_n
                FROM ({hourly_sql}) h
            """
        else:
            cells = await self.from_source(VERSION_DAILY)
        rows = await self.fetch(
            f"""
            SELECT day,
                   sum(n)::bigint AS total_executions,
                   sum(sum_reliability) / nullif(sum(n), 0) AS avg_reliability,
                   sum(sum_time_ms) / nullif(sum(n), 0) AS avg_duration_ms,
                   sum(sum_cost) AS daily_cost,
                   sum(error_n)::bigint AS error_count
            FROM ({cells}) h
            GROUP BY 1
            ORDER BY 1 DESC
            """,
            {"start": lo, "end": hi, "sims": list(simulation_ids or [])},
        )
        return tuple(
            from_row(
                DailyPerformance,
                r,
                error_rate_pct=pct(int(r.error_count), int(r.total_executions)),
            )
            for r in rows
        )

    # -- 002 §6B
    async def cost_breakdown(
        self, start: datetime, end: datetime, *, per_day: bool = True
    ) -> tuple[CostBreakdown, ...]:
        """Executions and cost by model and configuration (per UTC day, or for the window)."""
        lo, hi = bucket_window(start, end, DAY)
        daily_sql = await self.from_source(VERSION_DAILY)
        day_expr = "h.day" if per_day else "NULL::timestamptz"
        rows = await self.fetch(
            f"""
            SELECT {day_expr} AS day, cv.parsed_config ->> 'model' AS model,
                   cv.config_id, c.name AS config_name,
                   sum(h.n)::bigint AS executions,
                   sum(h.sum_cost) AS total_cost
            FROM ({daily_sql}) h
            JOIN config_versions cv ON cv.version_id = h.config_version_id
            JOIN configurations c ON c.config_id = cv.config_id
            GROUP BY 1, 2, 3, 4
            ORDER BY 1 DESC NULLS LAST, total_cost DESC, 3
            """,
            {"start": lo, "end": hi},
        )
        return tuple(
            from_row(
                CostBreakdown,
                r,
                avg_cost_per_execution=float(r.total_cost or 0.0) / int(r.executions)
                if r.executions
                else 0.0,
            )
            for r in rows
        )

    # -- 002 §5A v_llm_config_performance
    async def config_performance(
        self, start: datetime, end: datetime, *, config_id: uuid.UUID | None = None
    ) -> tuple[ConfigPerformance, ...]:
        """Per config version and UTC day: executions, reliability, time, cost, errors."""
        config_id = check_uuid(config_id, "config_id")
        lo, hi = bucket_window(start, end, DAY)
        daily_sql = await self.from_source(VERSION_DAILY)
        config_filter = "WHERE cv.config_id = :config_id" if config_id is not None else ""
        rows = await self.fetch(
            f"""
            SELECT cv.config_id, cv.version_id, cv.version_number,
                   cv.parsed_config ->> 'model' AS model,
                   h.day,
                   sum(h.n)::bigint AS total_executions,
                   sum(h.sum_reliability) / nullif(sum(h.n), 0) AS avg_reliability,
                   sum(h.sum_time_ms) / nullif(sum(h.n), 0) AS avg_execution_time_ms,
                   sum(h.sum_cost) AS daily_cost,
                   sum(h.error_n)::bigint AS error_count
            FROM ({daily_sql}) h
            JOIN config_versions cv ON cv.version_id = h.config_version_id
            {config_filter}
            GROUP BY 1, 2, 3, 4, 5
            ORDER BY day DESC, avg_reliability DESC NULLS LAST, 3
            """,
            {"start": lo, "end": hi, "config_id": config_id},
        )
        return tuple(from_row(ConfigPerformance, r) for r in rows)

    # -- failure_trends_daily / v_llm_failure_analysis
    async def failure_trends(
        self, start: datetime, end: datetime, *, category: str | None = None
    ) -> tuple[FailureTrend, ...]:
        """Per UTC day and category: failures, mean cluster confidence, distinct clusters."""
        category = check_choice(category, "category", FAILURE_CATEGORIES)
        lo, hi = bucket_window(start, end, DAY)
        category_filter = "AND failure_category = :category" if category is not None else ""
        sql = await self.from_source(FAILURES_HOURLY, category_filter)
        rows = await self.fetch(
            f"""
            SELECT time_bucket(INTERVAL '1 day', hour) AS day, failure_category,
                   sum(failure_count)::bigint AS failure_count,
                   sum(sum_confidence) / nullif(sum(confidence_n), 0) AS avg_confidence,
                   count(DISTINCT pattern_cluster_id) AS unique_patterns
            FROM ({sql}) f
            GROUP BY 1, 2
            ORDER BY day DESC, failure_count DESC, failure_category
            """,
            {"start": lo, "end": hi, "category": category},
        )
        return tuple(from_row(FailureTrend, r) for r in rows)

    # -- tool_performance_daily
    async def tool_performance(
        self,
        start: datetime,
        end: datetime,
        *,
        tool_names: Sequence[str] | None = None,
        per_day: bool = False,
    ) -> tuple[ToolPerformance, ...]:
        """Tool usage, success rate, duration and cost, over the window or per UTC day.

        Averages come from the hourly sums and counts: exactly the average over all rows.
        """
        tool_names = check_names(tool_names, "tool_names", text_limits(ToolUsage, "tool_name")[1])
        lo, hi = bucket_window(start, end, DAY)
        tool_filter = "AND tool_name = ANY(:tools)" if tool_names is not None else ""
        hourly_sql = await self.from_source(TOOLS_HOURLY, tool_filter)
        day_expr = "time_bucket(INTERVAL '1 day', hour)" if per_day else "NULL::timestamptz"
        rows = await self.fetch(
            f"""
            SELECT {day_expr} AS day, tool_name,
                   sum(usage_count)::bigint AS usage_count,
                   sum(sum_success_rate) / nullif(sum(usage_count), 0) AS avg_success_rate,
                   sum(sum_duration_ms) / nullif(sum(usage_count), 0) AS avg_duration_ms,
                   sum(total_cost) AS total_cost
            FROM ({hourly_sql}) t
            GROUP BY 1, 2
            ORDER BY 1 DESC NULLS LAST, usage_count DESC, tool_name
            """,
            {"start": lo, "end": hi, "tools": list(tool_names or [])},
        )
        return tuple(from_row(ToolPerformance, r) for r in rows)
