"""Applying one event inside the caller's transaction. Every statement is idempotent."""

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from arc.database.core.errors import ArcNotFoundError, ArcValidationError
from arc.database.core.jsonb import json_dumps
from arc.database.ingest.events.model import (
    ExecutionCompleted,
    ExecutionEvent,
    ExecutionFailed,
    ExecutionStarted,
    ScenarioCompleted,
    ScenarioStarted,
)

_TERMINAL_SCENARIO = "('completed', 'failed', 'skipped')"

_SQL_START_SIMULATION = text(
    """
    INSERT INTO simulations (
        simulation_id, config_version_id, scenario_set, simulation_name, status,
        total_scenarios, modal_app_id, modal_environment, sandbox_instances, priority,
        metadata, created_at, started_at)
    VALUES (
        :simulation_id, :config_version_id, :scenario_set, :simulation_name, 'running',
        :total_scenarios, :modal_app_id, COALESCE(:modal_environment, 'production'),
        COALESCE(:sandbox_instances, 1), :priority, CAST(:metadata AS jsonb), :ts, :ts)
    ON CONFLICT (simulation_id) DO UPDATE SET
        status = 'running',
        started_at = COALESCE(simulations.started_at,
                              GREATEST(EXCLUDED.started_at, simulations.created_at)),
        modal_app_id = COALESCE(simulations.modal_app_id, EXCLUDED.modal_app_id)
    WHERE simulations.status = 'pending'
    """
)
_SQL_ADD_SCENARIOS = text(
    """
    INSERT INTO simulations_scenarios (simulation_id, scenario_id, execution_order)
    SELECT :simulation_id, s.scenario_id, s.ord
    FROM unnest(CAST(:scenario_set AS text[])) WITH ORDINALITY AS s(scenario_id, ord)
    ON CONFLICT (simulation_id, scenario_id) DO NOTHING
    """
)
_SQL_START_SCENARIO = text(
    """
    INSERT INTO simulations_scenarios (
        simulation_id, scenario_id, execution_order, status, started_at, modal_call_id)
    VALUES (
        :simulation_id, :scenario_id,
        (SELECT COALESCE(max(execution_order), 0) + 1 FROM simulations_scenarios
         WHERE simulation_id = :simulation_id),
        'running', :ts, :modal_call_id)
    ON CONFLICT (simulation_id, scenario_id) DO UPDATE SET
        status = 'running',
        started_at = COALESCE(simulations_scenarios.started_at, EXCLUDED.started_at),
        modal_call_id = COALESCE(EXCLUDED.modal_call_id, simulations_scenarios.modal_call_id)
    WHERE simulations_scenarios.status = 'pending'
    """
)
_SQL_INSERT_OUTCOME = text(
    """
    INSERT INTO outcomes (
        outcome_id, execution_time, simulation_id, scenario_id, status, reliability_score,
        execution_time_ms, tokens_used, cost_usd, trajectory, metrics, modal_call_id,
        sandbox_id, sandbox_logs, retry_count, error_code, error_category)
    VALUES (
        :outcome_id, :ts, :simulation_id, :scenario_id, :status, :reliability_score,
        :execution_time_ms, :tokens_used, :cost_usd, CAST(:trajectory AS jsonb),
        CAST(:metrics AS jsonb), :modal_call_id, :sandbox_id, :logs, :retry_count,
        :error_code, :error_category)
    ON CONFLICT (outcome_id, execution_time) DO NOTHING
    RETURNING outcome_id
    """
)
_SQL_ADD_COST = text(
    """
    UPDATE simulations SET total_cost_usd = COALESCE(total_cost_usd, 0) + :cost_usd
    WHERE simulation_id = :simulation_id
    """
)
# The newest outcome of a scenario decides its state (a retry that succeeds wins), whatever
# order the events arrive or are replayed in.
_SQL_FINISH_SCENARIO = text(
    """
    INSERT INTO simulations_scenarios (
        simulation_id, scenario_id, execution_order, status, started_at, completed_at,
        modal_call_id)
    VALUES (
        :simulation_id, :scenario_id,
        (SELECT COALESCE(max(execution_order), 0) + 1 FROM simulations_scenarios
         WHERE simulation_id = :simulation_id),
        :scenario_status, :ts, :ts, :modal_call_id)
    ON CONFLICT (simulation_id, scenario_id) DO UPDATE SET
        status = EXCLUDED.status,
        started_at = COALESCE(simulations_scenarios.started_at, EXCLUDED.started_at),
        completed_at = EXCLUDED.completed_at,
        modal_call_id = COALESCE(EXCLUDED.modal_call_id, simulations_scenarios.modal_call_id)
    WHERE simulations_scenarios.completed_at IS NULL
       OR simulations_scenarios.completed_at <= EXCLUDED.completed_at
    """
)
_SQL_PROGRESS = text(
    f"""
    UPDATE simulations s SET
        completed_scenarios = LEAST(s.total_scenarios, (
            SELECT count(*) FROM simulations_scenarios ss
            WHERE ss.simulation_id = s.simulation_id AND ss.status IN {_TERMINAL_SCENARIO})),
        status = CASE WHEN s.status = 'pending' THEN 'running' ELSE s.status END,
        started_at = COALESCE(s.started_at, GREATEST(CAST(:ts AS timestamptz), s.created_at))
    WHERE s.simulation_id = :simulation_id
    RETURNING s.simulation_id
    """
)
_SQL_COMPLETE = text(
    """
    UPDATE simulations s SET
        status = 'completed',
        completed_at = :ts,
        overall_score = COALESCE(CAST(:overall_score AS real), s.overall_score,
            (SELECT avg(o.reliability_score) FROM outcomes o
             WHERE o.simulation_id = s.simulation_id)),
        execution_time_ms = COALESCE(CAST(:execution_time_ms AS integer), s.execution_time_ms,
            CASE WHEN s.started_at IS NOT NULL THEN GREATEST(0,
                (EXTRACT(EPOCH FROM CAST(:ts AS timestamptz) - s.started_at) * 1000)::integer)
            END),
        total_cost_usd = COALESCE(CAST(:total_cost_usd AS real), s.total_cost_usd)
    WHERE s.simulation_id = :simulation_id AND s.status IN ('pending', 'running')
    RETURNING s.simulation_id
    """
)
_SQL_FAIL = text(
    """
    UPDATE simulations s SET
        status = 'failed',
        completed_at = :ts,
        metadata = COALESCE(s.metadata, '{}'::jsonb) || jsonb_build_object('error',
            jsonb_build_object('message', CAST(:error_message AS text),
                               'category', CAST(:error_category AS text)))
    WHERE s.simulation_id = :simulation_id AND s.status IN ('pending', 'running')
    RETURNING s.simulation_id
    """
)
_SQL_EXISTS = text("SELECT 1 FROM simulations WHERE simulation_id = :simulation_id")


async def apply_event(conn: AsyncConnection, event: ExecutionEvent) -> str:
    """Apply one event inside the caller's transaction. Returns what happened ('applied',
    'noop'). Safe to call again with the same event."""
    p: dict[str, Any] = {"simulation_id": event.simulation_id, "ts": event.timestamp}
    if isinstance(event, ExecutionStarted):
        result = await conn.execute(
            _SQL_START_SIMULATION,
            {
                **p,
                "config_version_id": event.config_version_id,
                "scenario_set": list(event.scenario_set),
                "simulation_name": event.simulation_name,
                "total_scenarios": len(event.scenario_set),
                "modal_app_id": event.modal_app_id,
                "modal_environment": event.modal_environment,
                "sandbox_instances": event.sandbox_instances,
                "priority": event.priority,
                "metadata": json_dumps(event.metadata),
            },
        )
        await conn.execute(_SQL_ADD_SCENARIOS, {**p, "scenario_set": list(event.scenario_set)})
        return "applied" if result.rowcount else "noop"
    if isinstance(event, ScenarioStarted):
        await _require_simulation(conn, event.simulation_id)
        result = await conn.execute(
            _SQL_START_SCENARIO,
            {**p, "scenario_id": event.scenario_id, "modal_call_id": event.modal_call_id},
        )
        await conn.execute(_SQL_PROGRESS, p)
        return "applied" if result.rowcount else "noop"
    if isinstance(event, ScenarioCompleted):
        await _require_simulation(conn, event.simulation_id)
        inserted = await conn.execute(
            _SQL_INSERT_OUTCOME,
            {
                **p,
                "outcome_id": event.outcome_id,
                "scenario_id": event.scenario_id,
                "status": event.status,
                "reliability_score": event.reliability_score,
                "execution_time_ms": event.execution_time_ms,
                "tokens_used": event.tokens_used,
                "cost_usd": event.cost_usd,
                "trajectory": json_dumps(event.trajectory),
                "metrics": json_dumps(event.metrics),
                "modal_call_id": event.modal_call_id,
                "sandbox_id": event.sandbox_id,
                "logs": event.logs,
                "retry_count": event.retry_count,
                "error_code": event.error_code,
                "error_category": event.error_category,
            },
        )
        new = inserted.scalar_one_or_none() is not None
        if new:
            await conn.execute(_SQL_ADD_COST, {**p, "cost_usd": event.cost_usd})
        await conn.execute(
            _SQL_FINISH_SCENARIO,
            {
                **p,
                "scenario_id": event.scenario_id,
                "scenario_status": "completed" if event.status == "success" else "failed",
                "modal_call_id": event.modal_call_id,
            },
        )
        await conn.execute(_SQL_PROGRESS, p)
        return "applied" if new else "noop"
    if isinstance(event, ExecutionCompleted):
        result = await conn.execute(
            _SQL_COMPLETE,
            {
                **p,
                "overall_score": event.overall_score,
                "execution_time_ms": event.execution_time_ms,
                "total_cost_usd": event.total_cost_usd,
            },
        )
        if result.scalar_one_or_none() is None:
            await _require_simulation(conn, event.simulation_id)
            return "noop"
        return "applied"
    if isinstance(event, ExecutionFailed):
        result = await conn.execute(
            _SQL_FAIL,
            {**p, "error_message": event.error_message, "error_category": event.error_category},
        )
        if result.scalar_one_or_none() is None:
            await _require_simulation(conn, event.simulation_id)
            return "noop"
        return "applied"
    raise ArcValidationError("event_type", "is not handled", value=type(event).__name__)


async def _require_simulation(conn: AsyncConnection, simulation_id: uuid.UUID) -> None:
    if (await conn.execute(_SQL_EXISTS, {"simulation_id": simulation_id})).first() is None:
        raise ArcNotFoundError("simulation", simulation_id)
