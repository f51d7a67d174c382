"""Seed 003's scenario results turned into validated rows.

One outcome per scenario result (status, score, time, tokens and cost read from the result and
its trajectory), tool usage aggregated per tool from the trajectory's tool calls, and a failure
pattern for every scenario that did not succeed.
"""

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from arc.database.core.checks import (
    MAX_COST_USD,
    MAX_DURATION_MS,
    check_choice,
    check_duration_ms,
    check_int,
    check_json,
    check_number,
    invalid,
    now_utc,
)
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


def _text(value: Any, field: str, index: int | None) -> str:
    """A value the evaluator reports as text (an error, a name, a status): a string as it is,
    any other JSON value as its JSON text; what JSON cannot hold is refused, typed."""
    if isinstance(value, str):
        return value
    text = check_json(value, field, index, required=True)
    return str(text)


def _error_text(
    result: Mapping[str, Any], trajectory: Mapping[str, Any], index: int | None = None
) -> str | None:
    for source, prefix in ((trajectory, "trajectory."), (result, "")):
        for key in ("error", "error_message", "exception"):
            value = source.get(key)
            if value:
                return _text(value, prefix + key, index)
    return None


def _mentions_timeout(error: str) -> bool:
    return "timeout" in error or "timed out" in error


def outcome_status(
    result: Mapping[str, Any], trajectory: Mapping[str, Any], index: int | None
) -> str:
    """success/error/timeout/cancelled: what the caller said (seed 003's status); only a
    missing status is inferred, from the error text. A timeout reported as `error` stays
    `error` and is classified by error_category."""
    raw = trajectory.get("status") or result.get("status") or ""
    if not isinstance(raw, str):
        raise invalid("trajectory.status", "must be a string", type(raw).__name__, index)
    raw = raw.strip().lower()
    error = (_error_text(result, trajectory, index) or "").lower()
    if raw in _TIMEOUT or (raw == "" and _mentions_timeout(error)):
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


def _tool_calls(trajectory: Mapping[str, Any], index: int | None = None) -> list[dict[str, Any]]:
    """Tool calls in `full_trajectory`, in call order, as {name, ok, duration_ms, cost, error}."""
    steps = trajectory.get("full_trajectory") or []
    calls: list[dict[str, Any]] = []
    if not isinstance(steps, list):
        return calls
    for i, step in enumerate(steps):
        if not isinstance(step, Mapping):
            continue
        where = f"trajectory.full_trajectory[{i}]"
        nested = step.get("tool_calls")
        if isinstance(nested, list):  # OpenAI-style assistant message
            for j, call in enumerate(nested):
                if isinstance(call, Mapping):
                    fn = call.get("function")
                    name = fn.get("name") if isinstance(fn, Mapping) else call.get("name")
                    if name:
                        calls.append(_call(call, name, f"{where}.tool_calls[{j}]", index))
            continue
        name = step.get("tool_name") or step.get("tool")
        if name is None and step.get("type") in _TOOL_CALL_TYPES:
            name = step.get("name")
        if name:
            calls.append(_call(step, name, where, index))
    return calls


# Keys of a step that hold its duration, with their unit in milliseconds.
_DURATION_KEYS = (
    ("duration_ms", 1.0),
    ("latency_ms", 1.0),
    ("execution_time_ms", 1.0),
    ("duration_seconds", 1000.0),
    ("execution_time_seconds", 1000.0),
    ("duration", 1000.0),  # seconds, as the evaluator reports execution_time_seconds
)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bounded(value: Any, high: float, field: str, index: int | None) -> float:
    """`value` when 0 <= value <= high; otherwise check_number raises the typed error (a
    comparison first: this runs for every call of every trajectory)."""
    if not 0 <= value <= high:  # NaN fails too
        check_number(value, field, index, minimum=0, maximum=high)
    return float(value)


def _call(step: Mapping[str, Any], name: Any, where: str, index: int | None) -> dict[str, Any]:
    """One call; a duration or cost that is a number must be a valid one (typed error)."""
    error = step.get("error")
    status = _text(step.get("status") or "", f"{where}.status", index).lower()
    ok = step.get("success")
    if not isinstance(ok, bool):
        ok = not error and status not in _ERROR and status not in _TIMEOUT
    duration = 0.0
    for key, scale in _DURATION_KEYS:
        value = step.get(key)
        if _is_number(value):
            duration = _bounded(value, MAX_DURATION_MS / scale, f"{where}.{key}", index) * scale
            break
    key = "cost_usd" if "cost_usd" in step else "cost"
    cost = step.get(key)
    return {
        "name": _text(name, f"{where}.name", index)[:100],
        "ok": ok,
        "duration_ms": duration,
        "cost": _bounded(cost, MAX_COST_USD, f"{where}.{key}", index) if _is_number(cost) else 0.0,
        "error": (_text(error, f"{where}.error", index)[:200] if error else None),
    }


def tool_usage_rows(
    trajectory: Mapping[str, Any],
    outcome_id: uuid.UUID,
    execution_time: datetime,
    index: int | None = None,
) -> list[dict[str, Any]]:
    """One row per tool: call count, average duration, success rate, positions, error types."""
    return _tool_rows(_tool_calls(trajectory, index), outcome_id, execution_time)


def _tool_rows(
    tool_calls: list[dict[str, Any]], outcome_id: uuid.UUID, execution_time: datetime
) -> list[dict[str, Any]]:
    per_tool: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for position, call in enumerate(tool_calls):
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


def _tokens(usage: Mapping[str, Any], index: int | None) -> int:
    """total_tokens, else prompt_tokens + completion_tokens; each a count the column holds."""
    field = "trajectory.token_usage."
    total = check_int(usage.get("total_tokens"), field + "total_tokens", index, minimum=0)
    if total is not None:
        return total
    parts = [
        check_int(usage.get(key) or 0, field + key, index, minimum=0) or 0
        for key in ("prompt_tokens", "completion_tokens")
    ]
    return sum(parts)


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
    if status == "timeout" or _mentions_timeout(
        (_error_text(result, trajectory, index) or "").lower()
    ):
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
        duration_ms = check_duration_ms(result["execution_time_ms"], "execution_time_ms", index)
    else:
        secs = check_number(
            seconds,
            "trajectory.execution_time_seconds",
            index,
            minimum=0,
            maximum=MAX_DURATION_MS / 1000,
        )
        duration_ms = (secs or 0.0) * 1000.0
    usage = trajectory_in.get("token_usage") or {}
    if not isinstance(usage, Mapping):
        raise ArcValidationError("trajectory.token_usage", "must be a dict", index=index)
    tokens = _tokens(usage, index)
    cost = usage.get("total_cost", usage.get("cost_usd", result.get("cost_usd", 0.0)))
    score, metrics = _scores(result, status, index)
    calls = _tool_calls(trajectory_in, index)
    error = _error_text(result, trajectory_in, index)

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
    tools = [normalize_tool_usage(row, index) for row in _tool_rows(calls, oid, when)]
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
