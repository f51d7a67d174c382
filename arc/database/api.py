"""ArcAPI: the seed 003 integration surface over ArcDBClient.

It speaks the evaluator's structures (scenario dicts, scenario results with trajectory,
reliability_score and detailed_trajectory) and turns them into validated rows: one outcome per
scenario result, tool usage aggregated per tool from the trajectory's tool calls, and a failure
pattern for every failed scenario. Everything for one call is written in one transaction.
"""

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from arc.database.client import ArcDBClient
from arc.database.errors import ArcNotFoundError, ArcValidationError
from arc.database.models.outcome import ERROR_CATEGORIES
from arc.database.repositories import OutcomeRepository, SimulationRepository
from arc.database.repositories.base import Row
from arc.database.validation import (
    check_choice,
    check_number,
    check_uuid,
    normalize_failure_pattern,
    normalize_outcome,
    normalize_tool_usage,
    now_utc,
)

log = structlog.get_logger(__name__)

_SUCCESS = {"success", "succeeded", "completed", "passed", "ok"}
_ERROR = {"error", "failed", "failure", "exception"}
_TIMEOUT = {"timeout", "timed_out", "time_out"}
_CANCELLED = {"cancelled", "canceled"}
_TOOL_CALL_TYPES = {"tool_call", "tool_use", "function_call", "tool"}


# ----------------------------------------------------------------------------- extraction


def _error_text(result: Mapping[str, Any], trajectory: Mapping[str, Any]) -> str | None:
    for source in (trajectory, result):
        for key in ("error", "error_message", "exception"):
            value = source.get(key)
            if value:
                return value if isinstance(value, str) else str(value)
    return None


def outcome_status(
    result: Mapping[str, Any], trajectory: Mapping[str, Any], index: int | None
) -> str:
    """success/error/timeout/cancelled from the trajectory status (and the error text)."""
    raw = str(trajectory.get("status") or result.get("status") or "").strip().lower()
    error = (_error_text(result, trajectory) or "").lower()
    if raw in _TIMEOUT or (raw not in _SUCCESS and ("timeout" in error or "timed out" in error)):
        return "timeout"
    if raw in _SUCCESS:
        return "success"
    if raw in _CANCELLED:
        return "cancelled"
    if raw in _ERROR:
        return "error"
    if raw == "":
        return "error" if error else "success"
    raise ArcValidationError(
        "trajectory.status",
        "must be success, error, timeout or cancelled (or completed/failed)",
        value=raw,
        index=index,
    )


def _tool_calls(trajectory: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Tool calls in `full_trajectory`, in call order, as {name, ok, duration_ms, cost, error}."""
    steps = trajectory.get("full_trajectory") or []
    calls: list[dict[str, Any]] = []
    if not isinstance(steps, list):
        return calls
    for step in steps:
        if not isinstance(step, Mapping):
            continue
        nested = step.get("tool_calls")
        if isinstance(nested, list):  # OpenAI-style assistant message
            for call in nested:
                if isinstance(call, Mapping):
                    fn = call.get("function")
                    name = fn.get("name") if isinstance(fn, Mapping) else call.get("name")
                    if name:
                        calls.append(_call(call, str(name)))
            continue
        name = step.get("tool_name") or step.get("tool")
        if name is None and step.get("type") in _TOOL_CALL_TYPES:
            name = step.get("name")
        if name:
            calls.append(_call(step, str(name)))
    return calls


def _call(step: Mapping[str, Any], name: str) -> dict[str, Any]:
    error = step.get("error")
    status = str(step.get("status") or "").lower()
    ok = step.get("success")
    if not isinstance(ok, bool):
        ok = not error and status not in _ERROR and status not in _TIMEOUT
    duration = 0.0
    for key, scale in (
        ("duration_ms", 1.0),
        ("latency_ms", 1.0),
        ("execution_time_ms", 1.0),
        ("duration_seconds", 1000.0),
        ("execution_time_seconds", 1000.0),
        ("duration", 1000.0),  # seconds, as the evaluator reports execution_time_seconds
    ):
        value = step.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            duration = float(value) * scale
            break
    cost = step.get("cost_usd", step.get("cost", 0.0))
    if not isinstance(cost, int | float) or isinstance(cost, bool) or cost < 0:
        cost = 0.0
    return {
        "name": name[:100],
        "ok": ok,
        "duration_ms": duration,
        "cost": float(cost),
        "error": (str(error)[:200] if error else None),
    }


def tool_usage_rows(
    trajectory: Mapping[str, Any], outcome_id: uuid.UUID, execution_time: datetime
) -> list[dict[str, Any]]:
    """One row per tool: call count, average duration, success rate, positions, error types."""
    per_tool: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for position, call in enumerate(_tool_calls(trajectory)):
        per_tool.setdefault(call["name"], []).append((position, call))
    rows = []
    for name, calls in sorted(per_tool.items()):
        count = len(calls)
        errors = sorted({c["error"] for _, c in calls if c["error"]})
        rows.append(
            {
                "outcome_id": outcome_id,
                "execution_time": execution_time,
                "tool_name": name,
                "call_count": count,
                "avg_duration_ms": sum(c["duration_ms"] for _, c in calls) / count,
                "success_rate": sum(1 for _, c in calls if c["ok"]) / count,
                "tool_sequence": [p for p, _ in calls],
                "total_cost_usd": sum(c["cost"] for _, c in calls),
                "error_types": errors or None,
            }
        )
    return rows


def _scores(
    result: Mapping[str, Any], status: str, index: int | None
) -> tuple[float, dict[str, Any]]:
    raw = result.get("reliability_score")
    metrics: dict[str, Any] = {}
    if isinstance(raw, Mapping):
        overall = raw.get("overall_score")
        for key in ("grade", "dimension_scores"):
            if raw.get(key) is not None:
                metrics[key] = raw[key]
        for key, value in raw.items():
            if key not in ("overall_score", "grade", "dimension_scores"):
                metrics.setdefault("reliability_details", {})[key] = value
    else:
        overall = raw
    if overall is None:
        if status == "success":
            raise ArcValidationError(
                "reliability_score.overall_score",
                "is required for a successful scenario",
                index=index,
            )
        overall = 0.0  # a failed run without a score scored nothing
    score = check_number(
        overall, "reliability_score.overall_score", index, required=True, minimum=0, maximum=1
    )
    assert score is not None
    dims = metrics.get("dimension_scores")
    if dims is not None:
        if not isinstance(dims, Mapping):
            raise ArcValidationError(
                "reliability_score.dimension_scores", "must be a dict of scores", index=index
            )
        for name, value in dims.items():
            check_number(
                value, f"reliability_score.dimension_scores.{name}", index, minimum=0, maximum=1
            )
    metrics["overall_score"] = score
    return score, metrics


def _error_category(
    result: Mapping[str, Any],
    trajectory: Mapping[str, Any],
    status: str,
    calls: list[dict[str, Any]],
    index: int | None,
) -> str | None:
    if status == "success":
        return None
    explicit = trajectory.get("error_category", result.get("error_category"))
    if explicit is not None:
        checked = check_choice(explicit, "error_category", ERROR_CATEGORIES, index)
        return checked
    if status == "timeout":
        return "timeout"
    if status == "cancelled":
        return "system_error"
    if any(not c["ok"] for c in calls):
        return "tool_error"
    return "system_error"


def build_outcome(
    simulation_id: Any,
    result: Any,
    *,
    modal_call_id: str | None = None,
    sandbox_id: str | None = None,
    index: int | None = None,
) -> tuple[Row, list[Row], list[Row]]:
    """(outcome row, tool usage rows, failure pattern rows) from one seed 003 scenario result."""
    if not isinstance(result, Mapping):
        raise ArcValidationError("scenario_result", "must be a dict", index=index)
    scenario = result.get("scenario")
    if not isinstance(scenario, Mapping):
        raise ArcValidationError("scenario", "is required and must be a dict", index=index)
    scenario_id = scenario.get("id", scenario.get("scenario_id"))
    trajectory_in = result.get("trajectory")
    if trajectory_in is None:
        trajectory_in = {}
    if not isinstance(trajectory_in, Mapping):
        raise ArcValidationError("trajectory", "must be a dict", index=index)
    status = outcome_status(result, trajectory_in, index)
    execution_time = now_utc()
    seconds = trajectory_in.get("execution_time_seconds", result.get("execution_time_seconds"))
    if seconds is None and result.get("execution_time_ms") is not None:
        duration_ms = check_number(
            result["execution_time_ms"], "execution_time_ms", index, minimum=0
        )
    else:
        secs = check_number(seconds, "trajectory.execution_time_seconds", index, minimum=0)
        duration_ms = (secs or 0.0) * 1000.0
    assert duration_ms is not None or seconds is None
    usage = trajectory_in.get("token_usage") or {}
    if not isinstance(usage, Mapping):
        raise ArcValidationError("trajectory.token_usage", "must be a dict", index=index)
    tokens = usage.get("total_tokens")
    if tokens is None:
        tokens = int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0)
    cost = usage.get("total_cost", usage.get("cost_usd", result.get("cost_usd", 0.0)))
    score, metrics = _scores(result, status, index)
    calls = _tool_calls(trajectory_in)
    error = _error_text(result, trajectory_in)

    trajectory = dict(trajectory_in)
    detailed = result.get("detailed_trajectory")
    if isinstance(detailed, Mapping) and detailed:
        trajectory.setdefault("detailed_trajectory", dict(detailed))
    start = trajectory.get("start_time")
    if start is None and isinstance(detailed, Mapping):
        start = detailed.get("start_time")
    if start is None:
        start = (execution_time - timedelta(milliseconds=duration_ms or 0.0)).isoformat()
    trajectory["start_time"] = start
    trajectory.setdefault("status", trajectory_in.get("status") or status)

    error_code = trajectory_in.get("error_code", result.get("error_code"))
    category = _error_category(result, trajectory_in, status, calls, index)
    if status != "success" and not error_code:
        error_code = result.get("error_type") or (
            "timeout"
            if status == "timeout"
            else "cancelled"
            if status == "cancelled"
            else "tool_failure"
            if category == "tool_error"
            else "execution_error"
        )
    outcome = normalize_outcome(
        {
            "simulation_id": simulation_id,
            "scenario_id": scenario_id,
            "execution_time": execution_time,
            "status": status,
            "reliability_score": score,
            "execution_time_ms": duration_ms or 0.0,
            "tokens_used": tokens,
            "cost_usd": cost,
            "trajectory": trajectory,
            "metrics": metrics,
            "modal_call_id": modal_call_id,
            "sandbox_id": sandbox_id,
            "error_code": error_code,
            "error_category": category,
        },
        index,
    )
    oid, when = outcome["outcome_id"], outcome["execution_time"]
    tools = [normalize_tool_usage(row, index) for row in tool_usage_rows(trajectory_in, oid, when)]
    failures: list[Row] = []
    if status != "success":
        failures.append(
            normalize_failure_pattern(
                {
                    "outcome_id": oid,
                    "execution_time": when,
                    # Derived values are cut to the column limits (the caller did not choose them).
                    "failure_type": str(error_code)[:100],
                    "failure_category": category or "unknown",
                    "error_message": error[:10000] if error else None,
                },
                index,
            )
        )
    return outcome, tools, failures


# ----------------------------------------------------------------------------- the API


class ArcAPI:
    """Seed 003's API. `db` is the ArcDBClient (seed 003 uses db.engine, db.get_metrics...)."""

    def __init__(self, db: ArcDBClient) -> None:
        self.db = db

    async def __aenter__(self) -> "ArcAPI":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.db.close()

    async def start_simulation(
        self,
        config_version_id: Any,
        scenarios: Sequence[Any],
        simulation_name: str | None = None,
        modal_app_id: str | None = None,
        modal_environment: str | None = "production",
        sandbox_instances: int | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Register unknown scenarios, create the running simulation and its scenario rows."""
        if isinstance(scenarios, str | bytes) or not isinstance(scenarios, Sequence):
            raise ArcValidationError("scenarios", "must be a list of scenario dicts or ids")
        simulation_id = await self.db.create_simulation(
            config_version_id,
            list(scenarios),
            simulation_name=simulation_name,
            modal_app_id=modal_app_id,
            modal_environment=modal_environment or "production",
            sandbox_instances=sandbox_instances or max(1, len(scenarios)),
            metadata=metadata,
        )
        ids = [
            (s.get("id", s.get("scenario_id")) if isinstance(s, Mapping) else s) for s in scenarios
        ]
        return {
            "simulation_id": simulation_id,
            "status": "running",
            "total_scenarios": len(ids),
            "scenario_ids": ids,
            "simulation_name": simulation_name,
        }

    async def record_batch_outcomes(
        self,
        simulation_id: Any,
        scenario_results: Sequence[Any],
        modal_call_ids: Sequence[str | None] | None = None,
    ) -> list[str]:
        """Record every scenario result in one transaction; returns the outcome ids."""
        if isinstance(scenario_results, Mapping) or not isinstance(scenario_results, Sequence):
            raise ArcValidationError("scenario_results", "must be a list of scenario results")
        if modal_call_ids is not None and len(modal_call_ids) != len(scenario_results):
            raise ArcValidationError(
                "modal_call_ids",
                "must have one entry per scenario result",
                value=len(modal_call_ids),
            )
        sid = check_uuid(simulation_id, "simulation_id", required=True)
        outcomes: list[Row] = []
        tools: list[Row] = []
        failures: list[Row] = []
        for i, result in enumerate(scenario_results):
            call_id = modal_call_ids[i] if modal_call_ids is not None else None
            outcome, tool_rows, failure_rows = build_outcome(
                sid, result, modal_call_id=call_id, index=i
            )
            outcomes.append(outcome)
            tools.extend(tool_rows)
            failures.extend(failure_rows)
        if not outcomes:
            return []
        written = await self.db.write_bundle(
            outcomes, tools, failures, operation="api.record_batch_outcomes"
        )
        return written.outcome_ids

    async def record_scenario_outcome(
        self,
        simulation_id: Any,
        scenario_result: Any,
        modal_call_id: str | None = None,
        sandbox_id: str | None = None,
    ) -> str:
        """Record one result as it completes and advance the simulation's progress counters."""
        sid = check_uuid(simulation_id, "simulation_id", required=True)
        outcome, tools, failures = build_outcome(
            sid, scenario_result, modal_call_id=modal_call_id, sandbox_id=sandbox_id
        )
        written = await self.db.write_bundle(
            [outcome], tools, failures, method="values", operation="api.record_scenario_outcome"
        )
        return written.outcome_ids[0]

    async def complete_simulation(
        self, simulation_id: Any, suite_result: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Mark completed; score, cost and time come from the suite result or the outcomes."""
        sid = check_uuid(simulation_id, "simulation_id", required=True)
        assert sid is not None
        suite = suite_result or {}
        if not isinstance(suite, Mapping):
            raise ArcValidationError("suite_result", "must be a dict")
        summary = suite.get("summary") if isinstance(suite.get("summary"), Mapping) else {}
        assert isinstance(summary, Mapping)

        def pick(*keys: str) -> Any:
            for key in keys:
                for source in (suite, summary):
                    if source.get(key) is not None:
                        return source[key]
            return None

        score = check_number(
            pick("overall_score", "average_score", "avg_reliability_score"),
            "suite_result.overall_score",
            minimum=0,
            maximum=1,
        )
        cost = check_number(
            pick("total_cost_usd", "total_cost"), "suite_result.total_cost", minimum=0
        )
        elapsed_ms = check_number(
            pick("execution_time_ms"), "suite_result.execution_time_ms", minimum=0
        )
        if elapsed_ms is None:
            seconds = check_number(
                pick("total_execution_time", "execution_time_seconds", "execution_time"),
                "suite_result.execution_time",
                minimum=0,
            )
            elapsed_ms = seconds * 1000 if seconds is not None else None
        if elapsed_ms is not None and elapsed_ms > 2_147_483_647:
            raise ArcValidationError("suite_result.execution_time", "is out of range")

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            sims = SimulationRepository(conn)
            changed = await sims.complete(
                sid,
                overall_score=score,
                total_cost_usd=cost,
                execution_time_ms=round(elapsed_ms) if elapsed_ms is not None else None,
            )
            row = await sims.get(sid)
            if row is None:
                raise ArcNotFoundError("simulation", str(sid))
            if not changed and row["status"] != "completed":
                raise ArcValidationError(
                    "status",
                    f"cannot complete a simulation that is {row['status']}",
                    value=row["status"],
                )
            return row

        row = await self.db.run("simulations.complete", work)
        log.info(
            "simulations.completed", simulation_id=str(sid), overall_score=row["overall_score"]
        )
        return {
            "simulation_id": str(sid),
            "status": row["status"],
            "overall_score": row["overall_score"],
            "execution_time_ms": row["execution_time_ms"],
            "total_cost_usd": row["total_cost_usd"],
            "completed_scenarios": row["completed_scenarios"],
            "total_scenarios": row["total_scenarios"],
            "completed_at": row["completed_at"],
        }

    async def fail_simulation(self, simulation_id: Any, reason: str) -> dict[str, Any]:
        """Mark failed (completed_at set, allowed on failed) with the reason in metadata."""
        sid = check_uuid(simulation_id, "simulation_id", required=True)
        assert sid is not None
        if not isinstance(reason, str) or "\x00" in reason:
            raise ArcValidationError("reason", "must be a string without NUL characters")

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            sims = SimulationRepository(conn)
            await sims.fail(sid, reason)
            row = await sims.get(sid)
            if row is None:
                raise ArcNotFoundError("simulation", str(sid))
            return row

        row = await self.db.run("simulations.fail", work)
        log.info("simulations.failed", simulation_id=str(sid), status=row["status"])
        return {
            "simulation_id": str(sid),
            "status": row["status"],
            "completed_at": row["completed_at"],
            "reason": (row["metadata"] or {}).get("failure_reason", reason),
        }

    async def get_simulation_status(self, simulation_id: Any) -> dict[str, Any]:
        sid = check_uuid(simulation_id, "simulation_id", required=True)
        assert sid is not None

        async def work(
            conn: AsyncConnection,
        ) -> tuple[dict[str, Any] | None, dict[str, Any], dict[str, int]]:
            sims = SimulationRepository(conn)
            row = await sims.get(sid)
            totals = await OutcomeRepository(conn).simulation_totals(sid) if row else {}
            statuses = await sims.scenario_statuses(sid) if row else {}
            return row, totals, statuses

        row, totals, statuses = await self.db.run("simulations.status", work, write=False)
        if row is None:
            raise ArcNotFoundError("simulation", str(sid))
        total = int(row["total_scenarios"])
        done = int(row["completed_scenarios"] or 0)
        return {
            "simulation_id": str(sid),
            "simulation_name": row["simulation_name"],
            "status": row["status"],
            "total_scenarios": total,
            "completed_scenarios": done,
            "progress_percentage": 100.0 * done / total if total else 0.0,
            "total_outcomes": int(totals["total_outcomes"]),
            "successful_outcomes": int(totals["successful_outcomes"]),
            "failed_outcomes": int(totals["failed_outcomes"]),
            "scenario_statuses": statuses,
            "average_reliability": totals["avg_reliability"],
            "total_cost_usd": float(totals["total_cost_usd"]),
            "total_tokens": int(totals["total_tokens"]),
            "overall_score": row["overall_score"],
            "created_at": row["created_at"],
            "started_at": row["started_at"],
            "completed_at": row["completed_at"],
        }

    async def get_scenario_outcomes(
        self,
        simulation_id: Any,
        status_filter: str | None = None,
        scenario_id: str | None = None,
    ) -> list[dict[str, Any]]:
        sid = check_uuid(simulation_id, "simulation_id", required=True)
        assert sid is not None
        from arc.database.models.outcome import OUTCOME_STATUSES

        status = check_choice(status_filter, "status_filter", OUTCOME_STATUSES)

        async def work(conn: AsyncConnection) -> list[dict[str, Any]]:
            return await OutcomeRepository(conn).list_for_simulation(
                sid, status=status, scenario_id=scenario_id
            )

        rows = await self.db.run("outcomes.list", work, write=False)
        for row in rows:
            row["outcome_id"] = str(row["outcome_id"])
            row["simulation_id"] = str(row["simulation_id"])
        return rows


async def create_arc_api(connection_string: str | None = None, **client_options: Any) -> ArcAPI:
    """An initialized ArcAPI on TIMESCALE_SERVICE_URL (or `connection_string`)."""
    client = ArcDBClient(connection_string, **client_options)
    try:
        await client.initialize()
    except BaseException:
        await client.close()
        raise
    return ArcAPI(client)


__all__ = ["ArcAPI", "build_outcome", "create_arc_api", "tool_usage_rows"]
