"""Read-side analytics for dashboards and the recommendation engine, with typed results.

Freshness contract
------------------
Every method answers from one of two sources, chosen per server (`source="auto"`):

* Full edition (continuous aggregates present): the aggregates `simulation_performance_hourly`,
  `failure_trends_daily` and `tool_performance_daily`. They are real-time aggregates
  (`materialized_only = false`): buckets after the aggregate's watermark are computed from the
  hypertable at query time, so a row committed a moment ago is in the next answer. The refresh
  policy (every 30 minutes, window now-7 days .. now-1 hour) materialises older buckets and
  folds in late rows up to 7 days old. A row written or changed further back than that
  (a backfill, an import, a re-clustered failure pattern) is visible once that range is
  refreshed: `arc-db maintain --refresh-since ...` or `maintenance.refresh_aggregates(...)`.
* Apache edition: the plain fallback materialized views are only as fresh as the last
  `SELECT arc_refresh_fallback_aggregates()`, so analytics does not read them; it runs the
  aggregate's own `time_bucket` query on the raw hypertables instead, restricted to the
  requested window: always fresh, same columns, same numbers.

Both paths then apply the same outer query (roll-ups, joins), so they return the same results
for the same rows (up to float rounding). Windows are `[start, end)` widened to whole buckets:
an hourly answer covers every hour the window touches, a daily one every UTC day.
Active simulations, pending recommendations, scenario trends and per-scenario error rates have
no aggregate in the schema and always read the tables (indexed, small windows).
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.errors import ArcValidationError
from arc.database.timescale import TimescaleCapabilities, detect_async

log = structlog.get_logger(__name__)

Source = Literal["auto", "aggregate", "raw"]
AGGREGATES = ("simulation_performance_hourly", "failure_trends_daily", "tool_performance_daily")

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
# time_bucket's default origin for day/week buckets is Monday 2000-01-03 00:00 UTC.
_ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)

# ---------------------------------------------------------------------------- sources
# Each pair: the aggregate read and the identical aggregation on the hypertable. The raw
# form is the aggregate's definition (migrations/versions/0004) with the window pushed down.
_HOURLY = {
    "aggregate": """
        SELECT hour, simulation_id, total_outcomes, avg_reliability, avg_execution_time,
               total_cost, error_count
        FROM simulation_performance_hourly
        WHERE hour >= :start AND hour < :end {sim_filter}
    """,
    "raw": """
        SELECT time_bucket(INTERVAL '1 hour', execution_time) AS hour, simulation_id,
               count(*) AS total_outcomes, avg(reliability_score) AS avg_reliability,
               avg(execution_time_ms) AS avg_execution_time, sum(cost_usd) AS total_cost,
               sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS error_count
        FROM outcomes
        WHERE execution_time >= :start AND execution_time < :end {sim_filter}
        GROUP BY 1, 2
    """,
}
_FAILURES_DAILY = {
    "aggregate": """
        SELECT day, failure_category, failure_count, avg_confidence, unique_patterns
        FROM failure_trends_daily
        WHERE day >= :start AND day < :end {category_filter}
    """,
    "raw": """
        SELECT time_bucket(INTERVAL '1 day', execution_time) AS day, failure_category,
               count(*) AS failure_count, avg(cluster_confidence) AS avg_confidence,
               count(DISTINCT pattern_cluster_id) AS unique_patterns
        FROM failure_patterns
        WHERE execution_time >= :start AND execution_time < :end {category_filter}
        GROUP BY 1, 2
    """,
}
_TOOLS_DAILY = {
    "aggregate": """
        SELECT day, tool_name, avg_success_rate, avg_duration, daily_cost, usage_count
        FROM tool_performance_daily
        WHERE day >= :start AND day < :end {tool_filter}
    """,
    "raw": """
        SELECT time_bucket(INTERVAL '1 day', execution_time) AS day, tool_name,
               avg(success_rate) AS avg_success_rate, avg(avg_duration_ms) AS avg_duration,
               sum(total_cost_usd) AS daily_cost, count(*) AS usage_count
        FROM tool_usage
        WHERE execution_time >= :start AND execution_time < :end {tool_filter}
        GROUP BY 1, 2
    """,
}


# ---------------------------------------------------------------------------- results
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
class ScenarioErrorRate:
    """One (day, scenario) of v_error_rates (by execution_time)."""

    day: datetime
    scenario_id: str
    total_runs: int
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


@dataclass(frozen=True)
class ScenarioTrend:
    """One (scenario, week) of v_llm_scenario_trends."""

    scenario_id: str
    week: datetime
    executions: int
    avg_reliability: float | None
    reliability_stddev: float | None
    avg_duration_ms: float | None
    timeout_count: int


@dataclass(frozen=True)
class ActiveSimulation:
    simulation_id: uuid.UUID
    simulation_name: str | None
    status: str
    completed_scenarios: int
    total_scenarios: int
    progress_pct: float
    runtime_seconds: float | None
    modal_app_id: str | None
    model_name: str | None
    outcomes_recorded: int


@dataclass(frozen=True)
class PendingRecommendation:
    recommendation_id: uuid.UUID
    recommendation_type: str
    description: str
    confidence: float
    impact_estimate: dict[str, Any] | None
    suggested_yaml_changes: str | None
    generated_by_model: str | None
    data_window_start: datetime | None
    data_window_end: datetime | None
    created_at: datetime | None


@dataclass(frozen=True)
class RecentFailure:
    outcome_id: uuid.UUID
    execution_time: datetime
    simulation_id: uuid.UUID
    scenario_id: str
    status: str
    error_category: str | None
    error_code: str | None
    reliability_score: float


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard shows, for one window."""

    start: datetime
    end: datetime
    source: str
    performance: tuple[DailyPerformance, ...]
    cost: tuple[CostBreakdown, ...]
    tools: tuple[ToolPerformance, ...]
    failures: tuple[FailureTrend, ...]
    active: tuple[ActiveSimulation, ...]
    recommendations: tuple[PendingRecommendation, ...]


# ---------------------------------------------------------------------------- helpers
def floor_time(value: datetime, width: timedelta) -> datetime:
    """The start of the time_bucket(width) holding `value` (UTC, default origin)."""
    utc = value.astimezone(UTC)
    if width == HOUR:
        return utc.replace(minute=0, second=0, microsecond=0)
    steps = (utc - _ORIGIN) // width
    return _ORIGIN + steps * width


def ceil_time(value: datetime, width: timedelta) -> datetime:
    floor = floor_time(value, width)
    return floor if floor == value.astimezone(UTC) else floor + width


def _window(start: datetime, end: datetime, width: timedelta) -> tuple[datetime, datetime]:
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ArcValidationError(name, "must be a timezone-aware datetime", value=value)
    if start >= end:
        raise ArcValidationError("start", "must be before end", value=start)
    return floor_time(start, width), ceil_time(end, width)


def _check_limit(limit: int, maximum: int = 10_000) -> None:
    if not 1 <= limit <= maximum:
        raise ArcValidationError("limit", f"must be between 1 and {maximum}", value=limit)


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def _pct(part: int, whole: int) -> float:
    return round(part / whole * 100, 2) if whole else 0.0


# ---------------------------------------------------------------------------- the API
class ArcAnalytics:
    """Typed read queries. Each method is one read-only transaction on the engine."""

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
        self._resolved: Literal["aggregate", "raw"] | None = None

    async def source(self) -> Literal["aggregate", "raw"]:
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

    async def _fetch(self, sql: str, params: dict[str, Any]) -> Sequence[Any]:
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).all()

    async def _hourly(self, sim_filter: str = "") -> str:
        return _HOURLY[await self.source()].format(sim_filter=sim_filter)

    # -- seed 000
    async def get_simulation_performance(
        self,
        simulation_id: uuid.UUID,
        time_range: timedelta = timedelta(hours=24),
        *,
        end: datetime | None = None,
    ) -> SimulationPerformance:
        """Hourly metrics of one simulation over the last `time_range` (ending at `end`)."""
        if time_range <= timedelta(0):
            raise ArcValidationError("time_range", "must be positive", value=time_range)
        stop = end or datetime.now(UTC)
        start, stop = _window(stop - time_range, stop, HOUR)
        hourly_sql = await self._hourly("AND simulation_id = :sim")
        rows = await self._fetch(
            f"SELECT * FROM ({hourly_sql}) h ORDER BY hour",
            {"start": start, "end": stop, "sim": simulation_id},
        )
        hourly = tuple(
            HourlyMetrics(
                hour=r.hour,
                total_outcomes=int(r.total_outcomes),
                avg_reliability=_f(r.avg_reliability),
                avg_execution_time_ms=_f(r.avg_execution_time),
                total_cost=float(r.total_cost or 0.0),
                error_count=int(r.error_count),
            )
            for r in rows
        )
        total = sum(h.total_outcomes for h in hourly)
        errors = sum(h.error_count for h in hourly)

        def weighted(attr: str) -> float | None:
            pairs = [(getattr(h, attr), h.total_outcomes) for h in hourly]
            known = [(v, n) for v, n in pairs if v is not None]
            weight = sum(n for _, n in known)
            return sum(v * n for v, n in known) / weight if weight else None

        summary = PerformanceSummary(
            total_outcomes=total,
            avg_reliability=weighted("avg_reliability"),
            avg_execution_time_ms=weighted("avg_execution_time_ms"),
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
        lo, hi = _window(start, end, DAY)
        sim_filter = "AND simulation_id = ANY(:sims)" if simulation_ids is not None else ""
        hourly_sql = await self._hourly(sim_filter)
        rows = await self._fetch(
            f"""
            SELECT time_bucket(INTERVAL '1 day', hour) AS day,
                   sum(total_outcomes)::bigint AS total,
                   sum(avg_reliability * total_outcomes) / nullif(sum(total_outcomes), 0)
                       AS avg_reliability,
                   sum(avg_execution_time * total_outcomes) / nullif(sum(total_outcomes), 0)
                       AS avg_duration,
                   sum(total_cost::float8) AS cost,
                   sum(error_count)::bigint AS errors
            FROM ({hourly_sql}) h
            GROUP BY 1
            ORDER BY 1 DESC
            """,
            {"start": lo, "end": hi, "sims": list(simulation_ids or [])},
        )
        return tuple(
            DailyPerformance(
                day=r.day,
                total_executions=int(r.total),
                avg_reliability=_f(r.avg_reliability),
                avg_duration_ms=_f(r.avg_duration),
                daily_cost=float(r.cost or 0.0),
                error_count=int(r.errors),
                error_rate_pct=_pct(int(r.errors), int(r.total)),
            )
            for r in rows
        )

    # -- 004 §4B v_error_rates
    async def error_rates(
        self,
        start: datetime,
        end: datetime,
        *,
        min_runs: int = 10,
        scenario_ids: Sequence[str] | None = None,
    ) -> tuple[ScenarioErrorRate, ...]:
        """Per (UTC day, scenario) error rates, scenarios with at least `min_runs` runs.

        The seed's view buckets by created_at; this uses execution_time, the hypertable's
        time column, so chunk exclusion applies and a backfilled run counts on its own day.
        """
        if min_runs < 1:
            raise ArcValidationError("min_runs", "must be at least 1", value=min_runs)
        lo, hi = _window(start, end, DAY)
        scenario_filter = "AND scenario_id = ANY(:scenarios)" if scenario_ids is not None else ""
        rows = await self._fetch(
            f"""
            SELECT time_bucket(INTERVAL '1 day', execution_time) AS day, scenario_id,
                   count(*) AS total_runs,
                   count(*) FILTER (WHERE status = 'error') AS error_count
            FROM outcomes
            WHERE execution_time >= :start AND execution_time < :end {scenario_filter}
            GROUP BY 1, 2
            HAVING count(*) >= :min_runs
            """,
            {"start": lo, "end": hi, "min_runs": min_runs, "scenarios": list(scenario_ids or [])},
        )
        result = [
            ScenarioErrorRate(
                day=r.day,
                scenario_id=r.scenario_id,
                total_runs=int(r.total_runs),
                error_count=int(r.error_count),
                error_rate_pct=_pct(int(r.error_count), int(r.total_runs)),
            )
            for r in rows
        ]
        result.sort(key=lambda e: (-e.day.timestamp(), -e.error_rate_pct, e.scenario_id))
        return tuple(result)

    # -- 002 §6B
    async def cost_breakdown(
        self, start: datetime, end: datetime, *, per_day: bool = True
    ) -> tuple[CostBreakdown, ...]:
        """Executions and cost by model and configuration (per UTC day, or for the window)."""
        lo, hi = _window(start, end, DAY)
        hourly_sql = await self._hourly()
        day_expr = "time_bucket(INTERVAL '1 day', h.hour)" if per_day else "NULL::timestamptz"
        rows = await self._fetch(
            f"""
            SELECT {day_expr} AS day, cv.parsed_config ->> 'model' AS model,
                   cv.config_id, c.name AS config_name,
                   sum(h.total_outcomes)::bigint AS executions,
                   sum(h.total_cost::float8) AS total_cost
            FROM ({hourly_sql}) h
            JOIN simulations s ON s.simulation_id = h.simulation_id
            JOIN config_versions cv ON cv.version_id = s.config_version_id
            JOIN configurations c ON c.config_id = cv.config_id
            GROUP BY 1, 2, 3, 4
            ORDER BY 1 DESC NULLS LAST, total_cost DESC, 3
            """,
            {"start": lo, "end": hi},
        )
        return tuple(
            CostBreakdown(
                day=r.day,
                model=r.model,
                config_id=r.config_id,
                config_name=r.config_name,
                executions=int(r.executions),
                total_cost=float(r.total_cost or 0.0),
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
        lo, hi = _window(start, end, DAY)
        hourly_sql = await self._hourly()
        config_filter = "WHERE cv.config_id = :config_id" if config_id is not None else ""
        rows = await self._fetch(
            f"""
            SELECT cv.config_id, cv.version_id, cv.version_number,
                   cv.parsed_config ->> 'model' AS model,
                   time_bucket(INTERVAL '1 day', h.hour) AS day,
                   sum(h.total_outcomes)::bigint AS total,
                   sum(h.avg_reliability * h.total_outcomes) / nullif(sum(h.total_outcomes), 0)
                       AS avg_reliability,
                   sum(h.avg_execution_time * h.total_outcomes)
                       / nullif(sum(h.total_outcomes), 0) AS avg_time,
                   sum(h.total_cost::float8) AS cost,
                   sum(h.error_count)::bigint AS errors
            FROM ({hourly_sql}) h
            JOIN simulations s ON s.simulation_id = h.simulation_id
            JOIN config_versions cv ON cv.version_id = s.config_version_id
            {config_filter}
            GROUP BY 1, 2, 3, 4, 5
            ORDER BY day DESC, avg_reliability DESC NULLS LAST, 3
            """,
            {"start": lo, "end": hi, "config_id": config_id},
        )
        return tuple(
            ConfigPerformance(
                config_id=r.config_id,
                version_id=r.version_id,
                version_number=int(r.version_number),
                model=r.model,
                day=r.day,
                total_executions=int(r.total),
                avg_reliability=_f(r.avg_reliability),
                avg_execution_time_ms=_f(r.avg_time),
                daily_cost=float(r.cost or 0.0),
                error_count=int(r.errors),
            )
            for r in rows
        )

    # -- failure_trends_daily / v_llm_failure_analysis
    async def failure_trends(
        self, start: datetime, end: datetime, *, category: str | None = None
    ) -> tuple[FailureTrend, ...]:
        """Per UTC day and category: failures, mean cluster confidence, distinct clusters."""
        lo, hi = _window(start, end, DAY)
        source = await self.source()
        category_filter = "AND failure_category = :category" if category is not None else ""
        sql = _FAILURES_DAILY[source].format(category_filter=category_filter)
        rows = await self._fetch(
            f"SELECT * FROM ({sql}) f ORDER BY day DESC, failure_count DESC, failure_category",
            {"start": lo, "end": hi, "category": category},
        )
        return tuple(
            FailureTrend(
                day=r.day,
                failure_category=r.failure_category,
                failure_count=int(r.failure_count),
                avg_confidence=_f(r.avg_confidence),
                unique_patterns=int(r.unique_patterns),
            )
            for r in rows
        )

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

        Over several days the daily averages are weighted by their usage counts, which gives
        exactly the average over all rows.
        """
        lo, hi = _window(start, end, DAY)
        source = await self.source()
        tool_filter = "AND tool_name = ANY(:tools)" if tool_names is not None else ""
        daily_sql = _TOOLS_DAILY[source].format(tool_filter=tool_filter)
        day_expr = "day" if per_day else "NULL::timestamptz"
        rows = await self._fetch(
            f"""
            SELECT {day_expr} AS day, tool_name,
                   sum(usage_count)::bigint AS usage_count,
                   sum(avg_success_rate * usage_count) / nullif(sum(usage_count), 0)
                       AS avg_success_rate,
                   sum(avg_duration * usage_count) / nullif(sum(usage_count), 0) AS avg_duration,
                   sum(daily_cost::float8) AS total_cost
            FROM ({daily_sql}) t
            GROUP BY 1, 2
            ORDER BY 1 DESC NULLS LAST, usage_count DESC, tool_name
            """,
            {"start": lo, "end": hi, "tools": list(tool_names or [])},
        )
        return tuple(
            ToolPerformance(
                day=r.day,
                tool_name=r.tool_name,
                usage_count=int(r.usage_count),
                avg_success_rate=_f(r.avg_success_rate),
                avg_duration_ms=_f(r.avg_duration),
                total_cost=float(r.total_cost or 0.0),
            )
            for r in rows
        )

    # -- 002 §5A v_llm_scenario_trends
    async def scenario_difficulty_trends(
        self,
        start: datetime,
        end: datetime,
        *,
        scenario_ids: Sequence[str] | None = None,
    ) -> tuple[ScenarioTrend, ...]:
        """Per scenario and week (Monday, UTC): reliability mean and spread, timeouts."""
        lo, hi = _window(start, end, WEEK)
        scenario_filter = "AND scenario_id = ANY(:scenarios)" if scenario_ids is not None else ""
        rows = await self._fetch(
            f"""
            SELECT scenario_id, time_bucket(INTERVAL '1 week', execution_time) AS week,
                   count(*) AS executions, avg(reliability_score) AS avg_reliability,
                   stddev_samp(reliability_score) AS reliability_stddev,
                   avg(execution_time_ms) AS avg_duration,
                   count(*) FILTER (WHERE status = 'timeout') AS timeout_count
            FROM outcomes
            WHERE execution_time >= :start AND execution_time < :end {scenario_filter}
            GROUP BY 1, 2
            ORDER BY week DESC, avg_reliability ASC, scenario_id
            """,
            {"start": lo, "end": hi, "scenarios": list(scenario_ids or [])},
        )
        return tuple(
            ScenarioTrend(
                scenario_id=r.scenario_id,
                week=r.week,
                executions=int(r.executions),
                avg_reliability=_f(r.avg_reliability),
                reliability_stddev=_f(r.reliability_stddev),
                avg_duration_ms=_f(r.avg_duration),
                timeout_count=int(r.timeout_count),
            )
            for r in rows
        )

    # -- 002 §6A v_dashboard_active_simulations
    async def active_simulations(self, *, limit: int = 50) -> tuple[ActiveSimulation, ...]:
        """Pending and running simulations with progress and outcomes recorded so far."""
        _check_limit(limit, 1000)
        rows = await self._fetch(
            """
            SELECT s.simulation_id, s.simulation_name, s.status, s.completed_scenarios,
                   s.total_scenarios, EXTRACT(EPOCH FROM now() - s.started_at) AS runtime,
                   s.modal_app_id, cv.parsed_config ->> 'model' AS model_name,
                   (SELECT count(*) FROM outcomes o WHERE o.simulation_id = s.simulation_id)
                       AS outcomes_recorded
            FROM simulations s
            JOIN config_versions cv ON cv.version_id = s.config_version_id
            WHERE s.status IN ('pending', 'running')
            ORDER BY s.created_at DESC
            LIMIT :limit
            """,
            {"limit": limit},
        )
        return tuple(
            ActiveSimulation(
                simulation_id=r.simulation_id,
                simulation_name=r.simulation_name,
                status=r.status,
                completed_scenarios=int(r.completed_scenarios or 0),
                total_scenarios=int(r.total_scenarios),
                progress_pct=_pct(int(r.completed_scenarios or 0), int(r.total_scenarios)),
                runtime_seconds=_f(r.runtime),
                modal_app_id=r.modal_app_id,
                model_name=r.model_name,
                outcomes_recorded=int(r.outcomes_recorded),
            )
            for r in rows
        )

    # -- 002 §6A v_dashboard_pending_recommendations
    async def pending_recommendations(
        self, *, min_confidence: float = 0.7, limit: int = 10
    ) -> tuple[PendingRecommendation, ...]:
        """Unapplied recommendations above `min_confidence`, most confident first.

        Recommendations carry no session id; like the migrated view, the latest LLM session
        whose analysis window covers the recommendation's creation names the model.
        """
        if not 0.0 <= min_confidence <= 1.0:
            raise ArcValidationError(
                "min_confidence", "must be between 0 and 1", value=min_confidence
            )
        _check_limit(limit, 1000)
        rows = await self._fetch(
            """
            SELECT r.recommendation_id, r.recommendation_type, r.description, r.confidence,
                   r.impact_estimate, r.suggested_yaml_changes,
                   lrs.llm_model AS generated_by_model, lrs.data_window_start,
                   lrs.data_window_end, r.created_at
            FROM recommendations r
            LEFT JOIN LATERAL (
                SELECT s.llm_model, s.data_window_start, s.data_window_end
                FROM llm_recommendation_sessions s
                WHERE r.created_at BETWEEN s.analysis_start_time AND s.analysis_end_time
                ORDER BY s.analysis_start_time DESC
                LIMIT 1
            ) lrs ON true
            WHERE r.applied = false AND r.confidence > :min_confidence
            ORDER BY r.confidence DESC, r.created_at DESC, r.recommendation_id
            LIMIT :limit
            """,
            {"min_confidence": min_confidence, "limit": limit},
        )
        return tuple(
            PendingRecommendation(
                recommendation_id=r.recommendation_id,
                recommendation_type=r.recommendation_type,
                description=r.description,
                confidence=float(r.confidence),
                impact_estimate=r.impact_estimate,
                suggested_yaml_changes=r.suggested_yaml_changes,
                generated_by_model=r.generated_by_model,
                data_window_start=r.data_window_start,
                data_window_end=r.data_window_end,
                created_at=r.created_at,
            )
            for r in rows
        )

    # -- seed 003 get_recent_failures
    async def recent_failures(
        self,
        *,
        limit: int = 100,
        since: datetime | None = None,
        simulation_id: uuid.UUID | None = None,
    ) -> tuple[RecentFailure, ...]:
        """Outcomes that did not succeed, newest first (idx_outcomes_time_status)."""
        _check_limit(limit)
        lo = since or datetime.now(UTC) - timedelta(days=7)
        if lo.tzinfo is None:
            raise ArcValidationError("since", "must be timezone-aware", value=lo)
        sim_filter = "AND simulation_id = :sim" if simulation_id is not None else ""
        rows = await self._fetch(
            f"""
            SELECT outcome_id, execution_time, simulation_id, scenario_id, status,
                   error_category, error_code, reliability_score
            FROM outcomes
            WHERE status <> 'success' AND execution_time >= :since {sim_filter}
            ORDER BY execution_time DESC
            LIMIT :limit
            """,
            {"since": lo, "limit": limit, "sim": simulation_id},
        )
        return tuple(
            RecentFailure(
                outcome_id=r.outcome_id,
                execution_time=r.execution_time,
                simulation_id=r.simulation_id,
                scenario_id=r.scenario_id,
                status=r.status,
                error_category=r.error_category,
                error_code=r.error_code,
                reliability_score=float(r.reliability_score),
            )
            for r in rows
        )

    async def dashboard(self, *, days: int = 30, end: datetime | None = None) -> Dashboard:
        """The dashboard's panels for the last `days` days."""
        if not 1 <= days <= 3660:
            raise ArcValidationError("days", "must be between 1 and 3660", value=days)
        stop = end or datetime.now(UTC)
        start = stop - timedelta(days=days)
        return Dashboard(
            start=start,
            end=stop,
            source=await self.source(),
            performance=await self.performance_trends(start, stop),
            cost=await self.cost_breakdown(start, stop, per_day=False),
            tools=await self.tool_performance(start, stop),
            failures=await self.failure_trends(start, stop),
            active=await self.active_simulations(),
            recommendations=await self.pending_recommendations(),
        )
