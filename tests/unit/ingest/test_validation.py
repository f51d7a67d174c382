"""Validation mirrors the database constraints; bad input never reaches a write."""

import json
import math
import re
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arc.database.core.errors import ArcValidationError
from arc.database.ingest.validation import (
    normalize_failure_pattern,
    normalize_outcome,
    normalize_scenario,
    normalize_simulation,
    normalize_tool_usage,
)

SLUG = re.compile(r"^[a-z0-9_]+$")


def outcome(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "simulation_id": str(uuid.uuid4()),
        "scenario_id": "weather_nyc",
        "status": "success",
        "reliability_score": 0.95,
        "execution_time_ms": 1500,
        "tokens_used": 250,
        "cost_usd": 0.02,
        "trajectory": {"start_time": "2025-01-01T00:00:00Z", "status": "completed"},
    }
    base.update(overrides)
    return base


def field_of(fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ArcValidationError) as exc:
        fn(*args, **kwargs)
    return exc.value.field


def test_valid_outcome_gets_ids_once() -> None:
    row = normalize_outcome(outcome())
    assert isinstance(row["outcome_id"], uuid.UUID)
    assert row["execution_time"].tzinfo is not None
    # Serialised once, as plain text (the batch write path takes text in jsonb as JSON).
    assert json.loads(row["trajectory"])["status"] == outcome()["trajectory"]["status"]
    assert type(row["trajectory"]) is str
    assert row["metrics"] == "{}"
    again = normalize_outcome({**outcome(), "outcome_id": row["outcome_id"]})
    assert again["outcome_id"] == row["outcome_id"]


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"status": "done"}, "status"),
        ({"reliability_score": 1.01}, "reliability_score"),
        ({"reliability_score": -0.1}, "reliability_score"),
        ({"reliability_score": True}, "reliability_score"),
        ({"execution_time_ms": -1}, "execution_time_ms"),
        ({"tokens_used": 1.5}, "tokens_used"),
        ({"tokens_used": 2**31}, "tokens_used"),
        ({"cost_usd": float("inf")}, "cost_usd"),
        ({"cost_usd": 1e39}, "cost_usd"),
        ({"scenario_id": "Has-Caps"}, "scenario_id"),
        ({"scenario_id": "a" * 101}, "scenario_id"),
        ({"simulation_id": "not-a-uuid"}, "simulation_id"),
        ({"trajectory": "text"}, "trajectory"),
        ({"trajectory": {"start_time": "x", "status": "y", "v": math.nan}}, "trajectory"),
        ({"trajectory": {"start_time": "x", "status": "y\x00"}}, "trajectory"),
        ({"metrics": [1, 2]}, "metrics"),
        ({"error_category": "disk_error"}, "error_category"),
        ({"modal_call_id": "a\x00b"}, "modal_call_id"),
        ({"sandbox_logs": "\ud800"}, "sandbox_logs"),
        ({"trajectory_embedding": [0.1] * 10}, "trajectory_embedding"),
        ({"trajectory_embedding": [0.1] * 1535 + [math.inf]}, "trajectory_embedding"),
        ({"execution_time": "yesterday"}, "execution_time"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_outcome_rules(override: dict[str, Any], field: str) -> None:
    assert field_of(normalize_outcome, outcome(**override)) == field


def test_required_trajectory_keys_without_fill() -> None:
    data = outcome(trajectory={"steps": []})
    assert field_of(normalize_outcome, data, fill_trajectory=False) == "trajectory"
    filled = normalize_outcome(data)
    assert '"start_time"' in filled["trajectory"]
    assert '"status":"success"' in filled["trajectory"]


def test_literal_backslash_u0000_text_is_not_a_nul() -> None:
    row = normalize_outcome(outcome(trajectory={"start_time": "x", "status": "\\u0000"}))
    assert "\\\\u0000" in row["trajectory"]


@settings(max_examples=60, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_reliability_score_accepted_iff_in_range(value: float) -> None:
    ok = math.isfinite(value) and 0 <= value <= 1
    if ok:
        assert normalize_outcome(outcome(reliability_score=value))["reliability_score"] == value
    else:
        assert field_of(normalize_outcome, outcome(reliability_score=value)) == "reliability_score"


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=120))
def test_scenario_id_accepted_iff_slug(value: str) -> None:
    if SLUG.match(value) and len(value) <= 100:
        assert normalize_outcome(outcome(scenario_id=value))["scenario_id"] == value
    else:
        assert field_of(normalize_outcome, outcome(scenario_id=value)) == "scenario_id"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


def _bad_json(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, str):
        return "\x00" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return any(_bad_json(v) for v in value)
    if isinstance(value, dict):
        return any(_bad_json(k) or _bad_json(v) for k, v in value.items())
    return False


@settings(max_examples=80, deadline=None)
@given(json_values)
def test_metrics_json_rejected_iff_nan_inf_nul_or_surrogate(value: Any) -> None:
    data = outcome(metrics={"v": value})
    if _bad_json(value):
        assert field_of(normalize_outcome, data) == "metrics"
    else:
        assert json.loads(normalize_outcome(data)["metrics"]).keys() == {"v"}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(width=32), max_size=8), st.integers(min_value=1500, max_value=1540))
def test_embedding_of_1536_finite_floats(patch: list[float], length: int) -> None:
    values = (patch + [0.5] * length)[:length]
    data = outcome(trajectory_embedding=values)
    if length == 1536 and all(math.isfinite(v) for v in values):
        assert len(normalize_outcome(data)["trajectory_embedding"]) == 1536
    else:
        assert field_of(normalize_outcome, data) == "trajectory_embedding"


def test_scenario_rules_reject_instead_of_repairing() -> None:
    good = {"id": "weather_nyc", "name": "Weather", "task_prompt": "What's the weather?"}
    assert normalize_scenario(good)["scenario_id"] == "weather_nyc"
    assert field_of(normalize_scenario, {**good, "id": "Weather NYC"}) == "scenario.id"
    assert field_of(normalize_scenario, {**good, "name": "ab"}) == "scenario.name"
    assert field_of(normalize_scenario, {**good, "task_prompt": "short"}) == "scenario.task_prompt"
    assert field_of(normalize_scenario, {**good, "tags": ["t"] * 21}) == "scenario.tags"
    assert (
        field_of(normalize_scenario, {**good, "difficulty_level": "x"})
        == "scenario.difficulty_level"
    )


def test_simulation_rules() -> None:
    ok = {"config_version_id": uuid.uuid4(), "scenario_set": ["a", "b"]}
    assert normalize_simulation(**ok)["total_scenarios"] == 2
    assert field_of(normalize_simulation, **{**ok, "scenario_set": []}) == "scenario_set"
    assert field_of(normalize_simulation, **{**ok, "scenario_set": ["a", "a"]}) == "scenario_set"
    assert (
        field_of(normalize_simulation, **{**ok, "simulation_name": "x" * 201}) == "simulation_name"
    )
    assert field_of(normalize_simulation, **{**ok, "priority": 11}) == "priority"
    assert field_of(normalize_simulation, **{**ok, "status": "completed"}) == "status"


def test_tool_usage_and_failure_rules() -> None:
    oid = uuid.uuid4()
    tool = {"outcome_id": oid, "tool_name": "search", "call_count": 1, "avg_duration_ms": 1.0,
            "success_rate": 1.0, "execution_time": "2025-01-01T00:00:00+00:00"}  # fmt: skip
    assert normalize_tool_usage(tool)["tool_name"] == "search"
    assert field_of(normalize_tool_usage, {**tool, "call_count": 0}) == "call_count"
    assert field_of(normalize_tool_usage, {**tool, "success_rate": 2}) == "success_rate"
    assert field_of(normalize_tool_usage, {**tool, "tool_name": "t" * 101}) == "tool_name"
    no_time = {k: v for k, v in tool.items() if k != "execution_time"}
    assert field_of(normalize_tool_usage, no_time) == "execution_time"
    fail = {"outcome_id": oid, "failure_type": "E", "failure_category": "tool_error",
            "execution_time": "2025-01-01T00:00:00+00:00"}  # fmt: skip
    assert normalize_failure_pattern(fail)["failure_category"] == "tool_error"
    assert (
        field_of(normalize_failure_pattern, {**fail, "failure_category": "x"}) == "failure_category"
    )
    assert (
        field_of(normalize_failure_pattern, {**fail, "error_message": "e" * 10001})
        == "error_message"
    )
    assert (
        field_of(normalize_failure_pattern, {**fail, "recovery_successful": True})
        == "recovery_successful"
    )
