"""Per-scenario panels (error rates, difficulty), read from the per-version, per-scenario daily
statistics (0007; today rolled up from quarter-hour ones: 0010) or their raw equivalent, and
panels read from the tables through their indexes: active simulations, recent failures."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from arc.database.analytics.rows import from_row, pct
from arc.database.analytics.sources import SCENARIO_DAILY, SCENARIO_WEEKS, PanelBase
from arc.database.analytics.windows import (
    DAY,
    WEEK,
    bucket_window,
    check_limit,
    check_moment,
    check_names,
)
from arc.database.core.checks import check_int, check_uuid, text_limits
from arc.database.models import Scenario


@dataclass(frozen=True)
class ScenarioErrorRate:
    """One (day, scenario) of v_error_rates (by execution_time)."""

    day: datetime
    scenario_id: str
    total_runs: int
    error_count: int
    error_rate_pct: float


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
class RecentFailure:
    outcome_id: uuid.UUID
    execution_time: datetime
    simulation_id: uuid.UUID
    scenario_id: str
    status: str
    error_category: str | None
    error_code: str | None
    reliability_score: float


_SCENARIO_ID_CHARS = text_limits(Scenario, "scenario_id")[1]


class SimulationPanels(PanelBase):
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
        check_int(min_runs, "min_runs", required=True, minimum=1)
        scenario_ids = check_names(scenario_ids, "scenario_ids", _SCENARIO_ID_CHARS)
        lo, hi = bucket_window(start, end, DAY)
        scenario_filter = "AND scenario_id = ANY(:scenarios)" if scenario_ids is not None else ""
        daily_sql = await self.from_source(SCENARIO_DAILY, scenario_filter)
        rows = await self.fetch(
            f"""
            SELECT day, scenario_id, sum(n)::bigint AS total_runs,
                   sum(error_n)::bigint AS error_count
            FROM ({daily_sql}) d
            GROUP BY 1, 2
            HAVING sum(n) >= :min_runs
            """,
            {"start": lo, "end": hi, "min_runs": min_runs, "scenarios": list(scenario_ids or [])},
        )
        result = [
            from_row(
                ScenarioErrorRate, r, error_rate_pct=pct(int(r.error_count), int(r.total_runs))
            )
            for r in rows
        ]
        result.sort(key=lambda e: (-e.day.timestamp(), -e.error_rate_pct, e.scenario_id))
        return tuple(result)

    # -- 002 §5A v_llm_scenario_trends
    async def scenario_difficulty_trends(
        self,
        start: datetime,
        end: datetime,
        *,
        scenario_ids: Sequence[str] | None = None,
    ) -> tuple[ScenarioTrend, ...]:
        """Per scenario and week (Monday, UTC): reliability mean and spread, timeouts."""
        scenario_ids = check_names(scenario_ids, "scenario_ids", _SCENARIO_ID_CHARS)
        lo, hi = bucket_window(start, end, WEEK)
        scenario_filter = "AND scenario_id = ANY(:scenarios)" if scenario_ids is not None else ""
        cells_sql = await self.from_source(SCENARIO_WEEKS, scenario_filter)
        # Cells (one per version and week, or day) combine into weeks in one hash aggregation: the
        # mean from the sums; SS = sum(ss_i) + (sum(s_i^2 / n_i) - S^2 / N), where the cells'
        # own SS (exact, from the aggregate) is added to the spread of the cell means, whose
        # rounding (relative 1e-16) is cut to 0 below 1e-12 of its terms, so a week of equal
        # scores has a spread of exactly 0. A window for the week's mean sorted the cells twice.
        rows = await self.fetch(
            f"""
            SELECT scenario_id, week, n::bigint AS executions, s / n AS avg_reliability,
                   CASE WHEN n > 1 THEN sqrt((ss + CASE
                       WHEN between_terms - s * s / n <= 1e-12 * between_terms THEN 0
                       ELSE between_terms - s * s / n END) / (n - 1)) END
                       AS reliability_stddev,
                   time_ms / n AS avg_duration_ms, timeouts::bigint AS timeout_count
            FROM (
                SELECT scenario_id, time_bucket(INTERVAL '1 week', day) AS week,
                       sum(n) AS n, sum(sum_reliability) AS s, sum(ss_reliability) AS ss,
                       sum(sum_reliability * sum_reliability / n) AS between_terms,
                       sum(sum_time_ms) AS time_ms, sum(timeout_n) AS timeouts
                FROM ({cells_sql}) d
                GROUP BY 1, 2
            ) weeks
            ORDER BY week DESC, avg_reliability ASC, scenario_id
            """,
            {"start": lo, "end": hi, "scenarios": list(scenario_ids or [])},
        )
        return tuple(from_row(ScenarioTrend, r) for r in rows)

    # -- 002 §6A v_dashboard_active_simulations
    async def active_simulations(self, *, limit: int = 50) -> tuple[ActiveSimulation, ...]:
        """Pending and running simulations with progress and outcomes recorded so far."""
        check_limit(limit, 1000)
        rows = await self.fetch(
            """
            SELECT s.simulation_id, s.simulation_name, s.status, s.completed_scenarios,
                   s.total_scenarios, EXTRACT(EPOCH FROM now() - s.started_at) AS runtime_seconds,
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
            from_row(
                ActiveSimulation,
                r,
                progress_pct=pct(int(r.completed_scenarios or 0), int(r.total_scenarios)),
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
        check_limit(limit)
        lo = (
            datetime.now(UTC) - timedelta(days=7) if since is None else check_moment(since, "since")
        )
        simulation_id = check_uuid(simulation_id, "simulation_id")
        sim_filter = "AND simulation_id = :sim" if simulation_id is not None else ""
        rows = await self.fetch(
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
        return tuple(from_row(RecentFailure, r) for r in rows)
