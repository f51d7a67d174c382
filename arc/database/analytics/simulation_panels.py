"""Panels with no aggregate behind them, read from the tables (indexed, small windows):
per-scenario error rates and difficulty, active simulations, recent failures."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from arc.database.analytics.rows import from_row, pct
from arc.database.analytics.sources import PanelBase
from arc.database.analytics.windows import DAY, WEEK, bucket_window, check_limit
from arc.database.core.errors import ArcValidationError


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
        if isinstance(min_runs, bool) or not isinstance(min_runs, int) or min_runs < 1:
            raise ArcValidationError("min_runs", "must be an integer of at least 1", value=min_runs)
        lo, hi = bucket_window(start, end, DAY)
        scenario_filter = "AND scenario_id = ANY(:scenarios)" if scenario_ids is not None else ""
        rows = await self.fetch(
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
        lo, hi = bucket_window(start, end, WEEK)
        scenario_filter = "AND scenario_id = ANY(:scenarios)" if scenario_ids is not None else ""
        rows = await self.fetch(
            f"""
            SELECT scenario_id, time_bucket(INTERVAL '1 week', execution_time) AS week,
                   count(*) AS executions, avg(reliability_score) AS avg_reliability,
                   stddev_samp(reliability_score) AS reliability_stddev,
                   avg(execution_time_ms) AS avg_duration_ms,
                   count(*) FILTER (WHERE status = 'timeout') AS timeout_count
            FROM outcomes
            WHERE execution_time >= :start AND execution_time < :end {scenario_filter}
            GROUP BY 1, 2
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
        lo = since or datetime.now(UTC) - timedelta(days=7)
        if not isinstance(lo, datetime) or lo.tzinfo is None:
            raise ArcValidationError("since", "must be a timezone-aware datetime", value=lo)
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
