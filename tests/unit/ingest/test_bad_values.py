"""Values that used to escape validation as ValueError, OverflowError, RecursionError or a
database error: each is now an ArcValidationError naming the field (as the caller wrote it)
and the rule, raised before any row exists."""

import math
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from arc.database.core.checks import MAX_DURATION_MS, MAX_JSON_DEPTH
from arc.database.core.errors import ArcValidationError
from arc.database.ingest.events.model import (
    ExecutionCompleted,
    ExecutionStarted,
    ScenarioCompleted,
    ScenarioStarted,
    event_from_dict,
)
from arc.database.ingest.outcome_builder import build_outcome
from arc.database.ingest.validation import (
    normalize_failure_pattern,
    normalize_outcome,
    normalize_scenario,
    normalize_simulation,
    normalize_tool_usage,
)


def refused(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> ArcValidationError:
    with pytest.raises(ArcValidationError) as info:
        fn(*args, **kwargs)
    return info.value


def result(**trajectory: Any) -> dict[str, Any]:
    """A seed 003 scenario result; `trajectory` keys override (None removes)."""
    traj: dict[str, Any] = {
        "status": "success",
        "execution_time_seconds": 1.5,
        "token_usage": {"total_tokens": 10, "total_cost": 0.01},
        "full_trajectory": [{"type": "tool_call", "tool_name": "search", "duration_ms": 5}],
    }
    traj.update(trajectory)
    return {
        "scenario": {"id": "weather_nyc"},
        "trajectory": {k: v for k, v in traj.items() if v is not None},
        "reliability_score": {"overall_score": 0.9},
    }


def usage(**counts: Any) -> dict[str, Any]:
    return result(token_usage=counts)


def deep(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("scenario_result", "field", "rule"),
    [
        (usage(total_tokens="abc"), "trajectory.token_usage.total_tokens", "must be an integer"),
        (usage(total_tokens=math.nan), "trajectory.token_usage.total_tokens", "must be an"),
        (usage(prompt_tokens="abc"), "trajectory.token_usage.prompt_tokens", "must be an"),
        (usage(prompt_tokens=math.nan), "trajectory.token_usage.prompt_tokens", "must be an"),
        (usage(completion_tokens=math.inf), "trajectory.token_usage.completion_tokens", "must"),
        (usage(prompt_tokens=2**40), "trajectory.token_usage.prompt_tokens", "is out of range"),
        (usage(prompt_tokens=2**31 - 1, completion_tokens=5), "tokens_used", "is out of range"),
        (result(execution_time_seconds=1e11), "trajectory.execution_time_seconds", "must be"),
        (result(execution_time_seconds=math.inf), "trajectory.execution_time_seconds", "must"),
        (result(execution_time_seconds=10**400), "trajectory.execution_time_seconds", "must"),
        (result(status=["error"]), "trajectory.status", "must be a string"),
        (result(status="failed", error=deep(5000)), "trajectory.error", "must not nest deeper"),
        (
            result(full_trajectory=[{"tool_name": "t", "duration_ms": math.inf}]),
            "trajectory.full_trajectory[0].duration_ms",
            "must be a finite number",
        ),
        (
            result(full_trajectory=[{"tool_name": "t", "duration_seconds": 1e300}]),
            "trajectory.full_trajectory[0].duration_seconds",
            "must be between",
        ),
        (
            result(full_trajectory=[{"tool_name": "t", "cost": -1}]),
            "trajectory.full_trajectory[0].cost",
            "must be between",
        ),
        (
            result(full_trajectory=[{"tool_calls": [{"name": {"n": math.nan}}]}]),
            "trajectory.full_trajectory[0].tool_calls[0].name",
            "must not contain NaN",
        ),
        (result(full_trajectory=[{"tool_name": "t", "status": "\x00"}]), "trajectory", "must"),
    ],
)
def test_scenario_results_name_the_field_they_broke(
    scenario_result: dict[str, Any], field: str, rule: str
) -> None:
    error = refused(build_outcome, uuid.uuid4(), scenario_result, index=3)
    assert (error.field, error.index) == (field, 3)
    assert error.rule.startswith(rule), error.rule


def test_execution_time_ms_that_would_overflow_a_datetime_is_refused() -> None:
    r = result(execution_time_seconds=None)
    r["execution_time_ms"] = 1e14  # 3,170 years: start_time = now - that overflowed later
    error = refused(build_outcome, uuid.uuid4(), r)
    assert error.field == "execution_time_ms"
    assert error.rule == f"must be between 0 and {MAX_DURATION_MS:g}"
    r["execution_time_ms"] = MAX_DURATION_MS
    outcome, _, _ = build_outcome(uuid.uuid4(), r)
    assert outcome["execution_time_ms"] == MAX_DURATION_MS


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


@pytest.mark.parametrize(
    ("override", "field", "rule"),
    [
        ({"execution_time": datetime(1, 1, 1, tzinfo=UTC)}, "execution_time", "must be between"),
        ({"execution_time": "9999-12-31T23:00:00"}, "execution_time", "must be between"),
        ({"created_at": "0001-01-01T00:00:00"}, "created_at", "must be between the years"),
        ({"execution_time_ms": 1e14}, "execution_time_ms", "must be between"),
        ({"execution_time_ms": 10**400}, "execution_time_ms", "must be a finite number"),
        ({"cost_usd": 1e30}, "cost_usd", "must be between"),
        ({"modal_call_id": "x" * 40_000}, "modal_call_id", "must be at most 500 characters"),
        ({"sandbox_logs": "x" * (2**20 + 1)}, "sandbox_logs", "must be at most"),
        ({"metrics": {"a": deep(MAX_JSON_DEPTH + 1)}}, "metrics", "must not nest deeper"),
        ({"trajectory": {"start_time": 1, "status": 1, "k": deep(300)}}, "trajectory", "must"),
        ({"trajectory": {1: "a", "b": 2}}, "trajectory", "must contain the keys"),
        ({"outcome_id": "x" * 10**6}, "outcome_id", "must be a UUID"),
        ({"retry_count": 10**100}, "retry_count", "is out of range"),
    ],
)
def test_outcome_values_the_database_would_refuse(
    override: dict[str, Any], field: str, rule: str
) -> None:
    error = refused(normalize_outcome, outcome(**override), fill_trajectory=False)
    assert error.field == field
    assert error.rule.startswith(rule), error.rule


def test_unknown_keys_of_mixed_types_are_named_not_raised() -> None:
    assert refused(normalize_outcome, {**outcome(), 1: "x", ("a",): 2}).field in {"1", "('a',)"}


def test_tool_failure_scenario_and_simulation_limits_follow_the_models() -> None:
    oid, when = uuid.uuid4(), datetime(2025, 1, 1, tzinfo=UTC)
    tool = {"outcome_id": oid, "tool_name": "t", "call_count": 1, "avg_duration_ms": 1.0,
            "success_rate": 1.0, "execution_time": when}  # fmt: skip
    assert refused(normalize_tool_usage, {**tool, "avg_duration_ms": 1e12}).field == (
        "avg_duration_ms"
    )
    assert refused(normalize_tool_usage, {**tool, "total_cost_usd": 1e7}).field == (
        "total_cost_usd"
    )
    failure = {"outcome_id": oid, "failure_type": "E", "failure_category": "unknown",
               "execution_time": when}  # fmt: skip
    assert refused(normalize_failure_pattern, {**failure, "failure_type": "e" * 101}).field == (
        "failure_type"
    )
    scenario = {"id": "s", "name": "Name", "task_prompt": "x" * 149_801}
    assert refused(normalize_scenario, scenario).field == "scenario.task_prompt"
    assert normalize_scenario({**scenario, "task_prompt": "x" * 149_800})["task_prompt"]
    ok = {"config_version_id": uuid.uuid4(), "scenario_set": ["a"]}
    assert refused(normalize_simulation, **ok, modal_app_id="m" * 501).field == "modal_app_id"


def test_many_repeated_scenario_ids_are_reported_quickly() -> None:
    ids = [f"s{i}" for i in range(50_000)] + ["s1"]
    started = time.perf_counter()
    error = refused(normalize_simulation, config_version_id=uuid.uuid4(), scenario_set=ids)
    assert time.perf_counter() - started < 1  # list.count per id took minutes
    assert (error.field, error.value) == ("scenario_set", ["s1"])


NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (lambda: ScenarioStarted(simulation_id=uuid.uuid4(), timestamp=datetime(1, 1, 1),
                                 scenario_id="s"), "timestamp"),
        (lambda: ScenarioStarted(simulation_id=uuid.uuid4(), timestamp=NOW, scenario_id="s",
                                 modal_call_id="c" * 40_000), "modal_call_id"),
        (lambda: ExecutionStarted(simulation_id=uuid.uuid4(), timestamp=NOW,
                                  config_version_id=uuid.uuid4(), scenario_set=("s",),
                                  metadata={"x": math.nan}), "metadata"),
        (lambda: ExecutionStarted(simulation_id=uuid.uuid4(), timestamp=NOW,
                                  config_version_id=uuid.uuid4(), scenario_set=("s",),
                                  modal_app_id="a" * 501), "modal_app_id"),
        (lambda: ScenarioCompleted(simulation_id=uuid.uuid4(), timestamp=NOW, scenario_id="s",
                                   outcome_id=uuid.uuid4(), status="success",
                                   reliability_score=1, execution_time_ms=1e14, tokens_used=1,
                                   cost_usd=0, trajectory={"start_time": 1, "status": 1}),
         "execution_time_ms"),
        (lambda: ScenarioCompleted(simulation_id=uuid.uuid4(), timestamp=NOW, scenario_id="s",
                                   outcome_id=uuid.uuid4(), status="success",
                                   reliability_score=1, execution_time_ms=1, tokens_used=1,
                                   cost_usd=0, trajectory={"start_time": 1, "status": "a\x00"}),
         "trajectory"),
        (lambda: ExecutionCompleted(simulation_id=uuid.uuid4(), timestamp=NOW,
                                    execution_time_ms=2**40), "execution_time_ms"),
        (lambda: event_from_dict({"event_type": "scenario_started", 1: 2, "x": 3}), "1"),
        (lambda: event_from_dict({"event_type": ["scenario_started"]}), "event_type"),
    ],
)  # fmt: skip
def test_events_refuse_what_their_rows_could_not_hold(event: Callable[[], Any], field: str) -> None:
    assert refused(event).field == field


def test_events_keep_normalised_numbers() -> None:
    started = ExecutionStarted(
        simulation_id=uuid.uuid4(),
        timestamp=NOW - timedelta(days=1),
        config_version_id=uuid.uuid4(),
        scenario_set=("s",),
        priority=3.0,
    )
    assert started.priority == 3
    assert isinstance(started.priority, int)
