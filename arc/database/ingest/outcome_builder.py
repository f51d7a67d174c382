"""Seed 003's scenario results turned into validated rows.

One outcome per scenario result (status, score, time, tokens and cost read from the result and
its trajectory), tool usage aggregated per tool from the trajectory's tool calls, and a failure
pattern for every scenario that did not succeed.
"""

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from arc.database.core.checks import check_choice, check_number, now_utc
from arc.database.core.errors import ArcValidationError
from arc.database.ingest.validation import (
    normalize_failure_pattern,
    normalize_outcome,
    normalize_tool_usage,
)
from arc.database.models.outcome import ERROR_CATEGORIES
from arc.database.repositories.base import Row

_SUCCESS = {"success", "succeeded", "completed", "passed", "ok"}
_ERROR = {"error", "failed", "failure", "exception"}
_TIMEOUT = {"timeout", "timed_out", "time_out"}
_CANCELLED = {"cancelled", "canceled"}
_TOOL_CALL_TYPES = {"tool_call", "tool_use", "function_call", "tool"}


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
