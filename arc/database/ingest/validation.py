"""Input validation at the API boundary: every database constraint, checked before any write.

Each `normalize_*` function takes what a caller sends (a dict), checks it against the rules of
its table (ranges, enums, formats, lengths, vectors, JSON safety) and returns a complete row
for the insert: every column present, ids and times generated once here so that a retried
write reuses them (idempotency). JSON columns are serialised once, during validation, into
text, which the write path hands to the database without serialising again (`JsonText` for
the rows bound through SQLAlchemy, plain text for the batch write path's rows).
"""

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from arc.database.core.checks import (
    check_bool,
    check_choice,
    check_column_text,
    check_cost,
    check_datetime,
    check_duration_ms,
    check_embedding,
    check_int,
    check_json,
    check_json_text,
    check_mapping,
    check_number,
    check_scenario_id,
    check_text_list,
    check_uuid,
    invalid,
    now_utc,
    reject_unknown,
)
from arc.database.core.errors import ArcValidationError
from arc.database.core.jsonb import JsonText
from arc.database.models import FailurePattern, Outcome, Scenario, Simulation, ToolUsage
from arc.database.models.base import Base
from arc.database.models.failure_pattern import FAILURE_CATEGORIES
from arc.database.models.outcome import ERROR_CATEGORIES, OUTCOME_STATUSES
from arc.database.models.scenario import DIFFICULTY_LEVELS
from arc.database.models.simulation import SIMULATION_STATUSES
from arc.database.repositories.base import Row, new_id


def _columns(model: type[Base]) -> frozenset[str]:
    """The fields a row of `model` may carry: exactly its table's columns."""
    return frozenset(column.name for column in model.__table__.columns)


# ----------------------------------------------------------------------------- outcomes

# The columns of the model, plus "metadata": seed 002 §10D's name for execution_metadata.
OUTCOME_FIELDS = _columns(Outcome) | {"metadata"}


def normalize_outcome(data: Any, index: int | None = None, *, fill_trajectory: bool = True) -> Row:
    """A complete, checked outcomes row. Generates outcome_id and execution_time if absent.

    With `fill_trajectory`, a trajectory lacking `start_time`/`status` (required by the
    valid_trajectory constraint) gets them from execution_time and the outcome status.
    """
    d = check_mapping(data, "outcome", index)
    reject_unknown(d, OUTCOME_FIELDS, index)
    status = check_choice(d.get("status"), "status", OUTCOME_STATUSES, index, required=True)
    now = now_utc()
    execution_time = check_datetime(d.get("execution_time"), "execution_time", index) or now
    trajectory = d.get("trajectory")
    if not isinstance(trajectory, JsonText):
        if not isinstance(trajectory, Mapping):
            raise invalid(
                "trajectory",
                "is required and must be a JSON object",
                type(trajectory).__name__,
                index,
            )
        if fill_trajectory and ("start_time" not in trajectory or "status" not in trajectory):
            trajectory = dict(trajectory)
            trajectory.setdefault("start_time", execution_time.isoformat())
            trajectory.setdefault("status", status)
        if "start_time" not in trajectory or "status" not in trajectory:
            raise invalid(
                "trajectory",
                "must contain the keys start_time and status",
                sorted(str(k) for k in trajectory)[:20],
                index,
            )
    metadata = d.get("execution_metadata", d.get("metadata"))
    return {
        "outcome_id": check_uuid(d.get("outcome_id"), "outcome_id", index) or new_id(),
        "execution_time": execution_time,
        "simulation_id": check_uuid(d.get("simulation_id"), "simulation_id", index, required=True),
        "scenario_id": check_scenario_id(d.get("scenario_id"), "scenario_id", index),
        "status": status,
        "reliability_score": check_number(
            d.get("reliability_score"),
            "reliability_score",
            index,
            required=True,
            minimum=0,
            maximum=1,
        ),
        "execution_time_ms": check_duration_ms(
            d.get("execution_time_ms"), "execution_time_ms", index, required=True
        ),
        "tokens_used": check_int(
            d.get("tokens_used"), "tokens_used", index, required=True, minimum=0
        ),
        "cost_usd": check_cost(d.get("cost_usd"), "cost_usd", index, required=True),
        "trajectory": check_json_text(trajectory, "trajectory", index, required=True, kind=Mapping),
        "trajectory_embedding": check_embedding(
            d.get("trajectory_embedding"), "trajectory_embedding", index
        ),
        "metrics": check_json_text(d.get("metrics"), "metrics", index, kind=Mapping) or "{}",
        "execution_metadata": check_json_text(metadata, "execution_metadata", index, kind=Mapping)
        or "{}",
        "modal_call_id": check_column_text(d.get("modal_call_id"), Outcome, "modal_call_id", index),
        "sandbox_id": check_column_text(d.get("sandbox_id"), Outcome, "sandbox_id", index),
        "sandbox_logs": check_column_text(d.get("sandbox_logs"), Outcome, "sandbox_logs", index),
        "retry_count": check_int(d.get("retry_count"), "retry_count", index, minimum=0) or 0,
        "error_code": check_column_text(d.get("error_code"), Outcome, "error_code", index),
        "error_category": check_choice(
            d.get("error_category"), "error_category", ERROR_CATEGORIES, index
        ),
        "created_at": check_datetime(d.get("created_at"), "created_at", index) or now,
    }


# ----------------------------------------------------------------------------- tool usage

TOOL_USAGE_FIELDS = _columns(ToolUsage)


def normalize_tool_usage(
    data: Any, index: int | None = None, *, execution_time: datetime | None = None
) -> Row:
    """A checked tool_usage row; execution_time is the outcome's (it may be passed in)."""
    d = check_mapping(data, "tool_usage", index)
    reject_unknown(d, TOOL_USAGE_FIELDS, index)
    when = check_datetime(d.get("execution_time"), "execution_time", index) or execution_time
    if when is None:
        raise invalid("execution_time", "is required (the outcome's execution_time)", None, index)
    return {
        "usage_id": check_uuid(d.get("usage_id"), "usage_id", index) or new_id(),
        "execution_time": when,
        "outcome_id": check_uuid(d.get("outcome_id"), "outcome_id", index, required=True),
        "tool_name": check_column_text(
            d.get("tool_name"), ToolUsage, "tool_name", index, required=True, min_length=1
        ),
        "call_count": check_int(d.get("call_count"), "call_count", index, required=True, minimum=1),
        "avg_duration_ms": check_duration_ms(
            d.get("avg_duration_ms"), "avg_duration_ms", index, required=True
        ),
        "success_rate": check_number(
            d.get("success_rate"), "success_rate", index, required=True, minimum=0, maximum=1
        ),
        "tool_sequence": check_json_text(
            d.get("tool_sequence"), "tool_sequence", index, kind=(list, tuple)
        ),
        "total_cost_usd": check_cost(d.get("total_cost_usd"), "total_cost_usd", index) or 0.0,
        "error_types": check_text_list(d.get("error_types"), "error_types", index),
        "modal_function_calls": check_json_text(
            d.get("modal_function_calls"), "modal_function_calls", index, kind=(Mapping, list)
        ),
        "sandbox_tool_logs": check_column_text(
            d.get("sandbox_tool_logs"), ToolUsage, "sandbox_tool_logs", index
        ),
        "created_at": check_datetime(d.get("created_at"), "created_at", index) or now_utc(),
    }


# ----------------------------------------------------------------------------- failure patterns

FAILURE_PATTERN_FIELDS = _columns(FailurePattern)


def normalize_failure_pattern(
    data: Any, index: int | None = None, *, execution_time: datetime | None = None
) -> Row:
    d = check_mapping(data, "failure_pattern", index)
    reject_unknown(d, FAILURE_PATTERN_FIELDS, index)
    when = check_datetime(d.get("execution_time"), "execution_time", index) or execution_time
    if when is None:
        raise invalid("execution_time", "is required (the outcome's execution_time)", None, index)
    attempted = check_bool(d.get("recovery_attempted"), "recovery_attempted", index) or False
    successful = check_bool(d.get("recovery_successful"), "recovery_successful", index) or False
    if successful and not attempted:
        raise invalid(
            "recovery_successful", "requires recovery_attempted to be true", successful, index
        )
    return {
        "pattern_id": check_uuid(d.get("pattern_id"), "pattern_id", index) or new_id(),
        "execution_time": when,
        "outcome_id": check_uuid(d.get("outcome_id"), "outcome_id", index, required=True),
        "failure_type": check_column_text(
            d.get("failure_type"), FailurePattern, "failure_type", index, required=True
        ),
        "failure_category": check_choice(
            d.get("failure_category"), "failure_category", FAILURE_CATEGORIES, index, required=True
        ),
        "error_message": check_column_text(
            d.get("error_message"), FailurePattern, "error_message", index
        ),
        "error_embedding": check_embedding(d.get("error_embedding"), "error_embedding", index),
        "pattern_cluster_id": check_uuid(d.get("pattern_cluster_id"), "pattern_cluster_id", index),
        "cluster_confidence": check_number(
            d.get("cluster_confidence"), "cluster_confidence", index, minimum=0, maximum=1
        ),
        "similar_failures_count": check_int(
            d.get("similar_failures_count"), "similar_failures_count", index, minimum=0
        )
        or 0,
        "recovery_attempted": attempted,
        "recovery_successful": successful,
        "resolution_steps": check_column_text(
            d.get("resolution_steps"), FailurePattern, "resolution_steps", index
        ),
        "llm_analysis": check_json_text(d.get("llm_analysis"), "llm_analysis", index),
        "created_at": check_datetime(d.get("created_at"), "created_at", index) or now_utc(),
    }


# ----------------------------------------------------------------------------- scenarios

SCENARIO_FIELDS = frozenset(
    {
        "scenario_id",
        "id",
        "name",
        "task_prompt",
        "ground_truth",
        "difficulty_level",
        "tags",
        "scenario_embedding",
        "expected_tools",
        "modal_function_name",
        "is_active",
        "estimated_duration_ms",
    }
)


def normalize_scenario(data: Any, index: int | None = None) -> Row:
    """A checked scenarios row from a scenario dict (`id` or `scenario_id`).

    Keys outside the table are ignored: scenario dicts carry the evaluator's own fields.
    Nothing is invented: an id outside ^[a-z0-9_]+$ or a too-short name/prompt is rejected.
    """
    d = check_mapping(data, "scenario", index)
    raw_id = d.get("scenario_id", d.get("id"))
    return {
        "scenario_id": check_scenario_id(raw_id, "scenario.id", index),
        "name": check_column_text(
            d.get("name"), Scenario, "name", index, field="scenario.name", required=True
        ),
        "task_prompt": check_column_text(
            d.get("task_prompt"),
            Scenario,
            "task_prompt",
            index,
            field="scenario.task_prompt",
            required=True,
        ),
        "ground_truth": check_json(d.get("ground_truth"), "scenario.ground_truth", index),
        "difficulty_level": check_choice(
            d.get("difficulty_level"), "scenario.difficulty_level", DIFFICULTY_LEVELS, index
        )
        or "medium",
        "tags": check_text_list(d.get("tags"), "scenario.tags", index, max_items=20),
        "scenario_embedding": check_embedding(
            d.get("scenario_embedding"), "scenario.scenario_embedding", index
        ),
        "expected_tools": check_json(d.get("expected_tools"), "scenario.expected_tools", index),
        "modal_function_name": check_column_text(
            d.get("modal_function_name"),
            Scenario,
            "modal_function_name",
            index,
            field="scenario.modal_function_name",
        ),
        "is_active": True
        if d.get("is_active") is None
        else check_bool(d.get("is_active"), "scenario.is_active", index),
        "estimated_duration_ms": check_int(
            d.get("estimated_duration_ms"), "scenario.estimated_duration_ms", index, minimum=1
        ),
    }


# ----------------------------------------------------------------------------- simulations


def normalize_simulation(
    *,
    config_version_id: Any,
    scenario_set: Any,
    simulation_name: Any = None,
    status: Any = "running",
    modal_app_id: Any = None,
    modal_environment: Any = "production",
    sandbox_instances: Any = 1,
    metadata: Any = None,
    timeout_ms: Any = None,
    max_retries: Any = None,
    priority: Any = None,
    simulation_id: Any = None,
) -> Row:
    """A checked simulations row (without the server-side timestamps)."""
    if isinstance(scenario_set, str) or not isinstance(scenario_set, list | tuple):
        raise invalid(
            "scenario_set", "must be a non-empty list of scenario ids", scenario_set, None
        )
    if not scenario_set:
        raise invalid("scenario_set", "must contain at least one scenario", scenario_set, None)
    ids = [check_scenario_id(s, f"scenario_set[{i}]") for i, s in enumerate(scenario_set)]
    if len(set(ids)) != len(ids):
        dupes = sorted(s for s, n in Counter(ids).items() if n > 1)
        raise invalid("scenario_set", "must not repeat a scenario id", dupes, None)
    chosen_status = check_choice(status, "status", ("pending", "running"), required=True)
    assert chosen_status in SIMULATION_STATUSES
    return {
        "simulation_id": check_uuid(simulation_id, "simulation_id") or uuid.uuid4(),
        "config_version_id": check_uuid(config_version_id, "config_version_id", required=True),
        "scenario_set": ids,
        "simulation_name": check_column_text(simulation_name, Simulation, "simulation_name"),
        "status": chosen_status,
        "total_scenarios": len(ids),
        "metadata": check_json(metadata, "metadata", kind=Mapping) or JsonText("{}"),
        "modal_app_id": check_column_text(modal_app_id, Simulation, "modal_app_id"),
        "modal_environment": check_column_text(modal_environment, Simulation, "modal_environment")
        or "production",
        "sandbox_instances": check_int(sandbox_instances, "sandbox_instances", minimum=1) or 1,
        "timeout_ms": check_int(timeout_ms, "timeout_ms", minimum=0) or 300000,
        "max_retries": check_int(max_retries, "max_retries", minimum=0)
        if max_retries is not None
        else 3,
        "priority": check_int(priority, "priority", minimum=1, maximum=10) or 5,
    }


def split_valid(
    items: Sequence[Any], normalize: Any
) -> tuple[list[tuple[int, Row]], list[ArcValidationError]]:
    """Normalize every item; return (index, row) of the valid ones and the errors of the rest."""
    valid: list[tuple[int, Row]] = []
    errors: list[ArcValidationError] = []
    for i, item in enumerate(items):
        try:
            valid.append((i, normalize(item, i)))
        except ArcValidationError as exc:
            errors.append(exc)
    return valid, errors
