"""Seed 003 scenario results turned into rows: status, scores, tools, failures."""

import uuid
from typing import Any

import pytest

from arc.database.core.errors import ArcValidationError
from arc.database.ingest.outcome_builder import build_outcome, outcome_status, tool_usage_rows


@pytest.mark.parametrize(
    ("status", "extra", "expected"),
    [
        ("success", {}, "success"),
        ("error", {}, "error"),
        # The caller's word stands (seed 003): the timeout goes to error_category.
        ("error", {"error": "Execution timed out after 300s"}, "error"),
        ("", {"error": "Execution timed out after 300s"}, "timeout"),
        ("failed", {}, "error"),
        ("cancelled", {}, "cancelled"),
    ],
)
def test_status_mapping(status: str, extra: dict[str, Any], expected: str) -> None:
    r = _result(status, **extra)
    assert outcome_status(r, r["trajectory"], None) == expected


def test_a_timeout_reported_as_error_keeps_its_status_and_is_classified() -> None:
    r = _result("error", error="Execution timed out after 300s")
    outcome, _, _ = build_outcome(uuid.uuid4(), r)
    assert (outcome["status"], outcome["error_category"]) == ("error", "timeout")


def test_unknown_status_rejected() -> None:
    r = _result("exploded")
    with pytest.raises(ArcValidationError) as exc:
        outcome_status(r, r["trajectory"], 3)
    assert exc.value.field == "trajectory.status"
    assert exc.value.index == 3


def _result(status: str, **traj: Any) -> dict[str, Any]:
    return {
        "scenario": {"id": "weather_nyc", "name": "Weather", "task_prompt": "What's the weather?"},
        "trajectory": {"status": status, "execution_time_seconds": 1.5,
                       "token_usage": {"total_tokens": 10, "total_cost": 0.01}, **traj},
        "reliability_score": {"overall_score": 0.7, "dimension_scores": {"performance": 0.9}},
    }  # fmt: skip


def test_build_outcome_extracts_everything() -> None:
    steps = [
        {"type": "tool_call", "tool_name": "search", "duration_ms": 10, "success": True},
        {"role": "assistant", "tool_calls": [{"function": {"name": "calc"}}]},
        {"tool": "search", "duration_ms": 30, "error": "HTTP 500"},
    ]
    r = _result("error", full_trajectory=steps, error="search failed")
    outcome, tools, failures = build_outcome(uuid.uuid4(), r, modal_call_id="c1")
    assert outcome["status"] == "error"
    assert outcome["tokens_used"] == 10
    assert outcome["execution_time_ms"] == 1500.0
    assert outcome["error_category"] == "tool_error"
    assert '"dimension_scores"' in outcome["metrics"]
    assert '"start_time"' in outcome["trajectory"]
    by_tool = {t["tool_name"]: t for t in tools}
    assert by_tool["search"]["call_count"] == 2
    assert by_tool["search"]["success_rate"] == 0.5
    assert by_tool["search"]["avg_duration_ms"] == 20.0
    assert by_tool["calc"]["call_count"] == 1
    assert len(failures) == 1
    assert failures[0]["error_message"] == "search failed"
    assert tool_usage_rows({}, uuid.uuid4(), outcome["execution_time"]) == []


def test_build_outcome_requires_a_score_for_success() -> None:
    r = _result("success")
    r["reliability_score"] = {"grade": "A"}
    with pytest.raises(ArcValidationError) as exc:
        build_outcome(uuid.uuid4(), r)
    assert exc.value.field == "reliability_score.overall_score"
