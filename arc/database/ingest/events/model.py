"""The five lifecycle events a sandbox emits; each validates itself when constructed."""

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, TypeAlias

from arc.database.core.checks import (
    check_choice,
    check_column_text,
    check_cost,
    check_datetime,
    check_duration_ms,
    check_int,
    check_json,
    check_number,
    check_scenario_id,
    check_text,
    check_uuid,
    field_name,
)
from arc.database.core.errors import ArcValidationError
from arc.database.models import Outcome, Simulation
from arc.database.models.outcome import ERROR_CATEGORIES, OUTCOME_STATUSES


def _uuid(value: Any, name: str) -> uuid.UUID:
    checked = check_uuid(value, name, required=True)
    assert checked is not None
    return checked


def parse_time(value: Any, name: str = "timestamp") -> datetime:
    checked = check_datetime(value, name, required=True)
    assert checked is not None
    return checked


def _mapping(value: Any, name: str) -> dict[str, Any]:
    """A JSON object as jsonb will store it (checked by check_json: finite, no NUL...)."""
    if value is None:
        return {}
    text = check_json(value, name, kind=Mapping)
    return dict(json.loads(str(text)))


@dataclass(frozen=True, kw_only=True)
class ExecutionEvent:
    """Fields every event has. Subclasses validate and normalise in __post_init__."""

    event_type: ClassVar[str] = ""
    simulation_id: uuid.UUID
    timestamp: datetime
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)

    def __post_init__(self) -> None:
        object.__setattr__(self, "simulation_id", _uuid(self.simulation_id, "simulation_id"))
        object.__setattr__(self, "timestamp", parse_time(self.timestamp))
        object.__setattr__(self, "event_id", _uuid(self.event_id, "event_id"))

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["event_type"] = self.event_type
        return data


@dataclass(frozen=True, kw_only=True)
class ExecutionStarted(ExecutionEvent):
    """A simulation starts: creates it (status running) with its scenario list."""

    event_type: ClassVar[str] = "execution_started"
    config_version_id: uuid.UUID
    scenario_set: tuple[str, ...]
    modal_app_id: str | None = None
    simulation_name: str | None = None
    modal_environment: str | None = None
    sandbox_instances: int | None = None
    priority: int = 5
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set("config_version_id", _uuid(self.config_version_id, "config_version_id"))
        if isinstance(self.scenario_set, str) or not isinstance(self.scenario_set, Sequence):
            raise ArcValidationError("scenario_set", "must be a list of scenario ids")
        scenarios = tuple(
            str(check_scenario_id(s, "scenario_set", i)) for i, s in enumerate(self.scenario_set)
        )
        if not scenarios:
            raise ArcValidationError("scenario_set", "must not be empty")
        if len(set(scenarios)) != len(scenarios):
            raise ArcValidationError("scenario_set", "must not repeat a scenario")
        self._set("scenario_set", scenarios)
        check_column_text(self.modal_app_id, Simulation, "modal_app_id")
        check_column_text(self.simulation_name, Simulation, "simulation_name")
        check_column_text(self.modal_environment, Simulation, "modal_environment")
        self._set(
            "sandbox_instances", check_int(self.sandbox_instances, "sandbox_instances", minimum=1)
        )
        self._set(
            "priority", check_int(self.priority, "priority", required=True, minimum=1, maximum=10)
        )
        self._set("metadata", _mapping(self.metadata, "metadata"))


@dataclass(frozen=True, kw_only=True)
class ScenarioStarted(ExecutionEvent):
    event_type: ClassVar[str] = "scenario_started"
    scenario_id: str
    modal_call_id: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set("scenario_id", check_scenario_id(self.scenario_id, "scenario_id"))
        check_column_text(self.modal_call_id, Outcome, "modal_call_id")


@dataclass(frozen=True, kw_only=True)
class ScenarioCompleted(ExecutionEvent):
    """One scenario finished: records its outcome (timestamp = the outcome's execution_time)."""

    event_type: ClassVar[str] = "scenario_completed"
    scenario_id: str
    outcome_id: uuid.UUID
    status: str
    reliability_score: float
    execution_time_ms: float
    tokens_used: int
    cost_usd: float
    trajectory: Mapping[str, Any]
    metrics: Mapping[str, Any] = field(default_factory=dict)
    modal_call_id: str | None = None
    sandbox_id: str | None = None
    logs: str | None = None
    retry_count: int = 0
    error_code: str | None = None
    error_category: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set("scenario_id", check_scenario_id(self.scenario_id, "scenario_id"))
        self._set("outcome_id", _uuid(self.outcome_id, "outcome_id"))
        check_choice(self.status, "status", OUTCOME_STATUSES, required=True)
        self._set(
            "reliability_score",
            check_number(
                self.reliability_score, "reliability_score", required=True, minimum=0, maximum=1
            ),
        )
        self._set(
            "execution_time_ms",
            check_duration_ms(self.execution_time_ms, "execution_time_ms", required=True),
        )
        self._set(
            "tokens_used", check_int(self.tokens_used, "tokens_used", required=True, minimum=0)
        )
        self._set("cost_usd", check_cost(self.cost_usd, "cost_usd", required=True))
        trajectory = _mapping(self.trajectory, "trajectory")
        if "start_time" not in trajectory or "status" not in trajectory:
            raise ArcValidationError("trajectory", "must contain the keys start_time and status")
        self._set("trajectory", trajectory)
        self._set("metrics", _mapping(self.metrics, "metrics"))
        check_column_text(self.modal_call_id, Outcome, "modal_call_id")
        check_column_text(self.sandbox_id, Outcome, "sandbox_id")
        check_column_text(self.logs, Outcome, "sandbox_logs", field="logs")
        self._set(
            "retry_count", check_int(self.retry_count, "retry_count", required=True, minimum=0)
        )
        check_column_text(self.error_code, Outcome, "error_code")
        check_choice(self.error_category, "error_category", ERROR_CATEGORIES)


@dataclass(frozen=True, kw_only=True)
class ExecutionCompleted(ExecutionEvent):
    """The simulation finished. Without overall_score, the mean reliability of its outcomes."""

    event_type: ClassVar[str] = "execution_completed"
    overall_score: float | None = None
    execution_time_ms: int | None = None
    total_cost_usd: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set(
            "overall_score", check_number(self.overall_score, "overall_score", minimum=0, maximum=1)
        )
        self._set(
            "execution_time_ms", check_int(self.execution_time_ms, "execution_time_ms", minimum=0)
        )
        self._set("total_cost_usd", check_number(self.total_cost_usd, "total_cost_usd", minimum=0))


@dataclass(frozen=True, kw_only=True)
class ExecutionFailed(ExecutionEvent):
    event_type: ClassVar[str] = "execution_failed"
    error_message: str
    error_category: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_text(self.error_message, "error_message", required=True, max_length=10000)
        check_text(self.error_category, "error_category", max_length=100)


AnyEvent: TypeAlias = (
    ExecutionStarted | ScenarioStarted | ScenarioCompleted | ExecutionCompleted | ExecutionFailed
)
EVENT_TYPES: dict[str, type[ExecutionEvent]] = {
    cls.event_type: cls
    for cls in (
        ExecutionStarted,
        ScenarioStarted,
        ScenarioCompleted,
        ExecutionCompleted,
        ExecutionFailed,
    )
}


def event_from_dict(data: Mapping[str, Any]) -> ExecutionEvent:
    """Build a typed event from JSON; unknown types and unknown fields are refused."""
    if not isinstance(data, Mapping):
        raise ArcValidationError("event", "must be a JSON object")
    kind = data.get("event_type")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ArcValidationError(
            "event_type", f"must be one of {', '.join(EVENT_TYPES)}", value=kind
        )
    names = {f.name for f in fields(cls)}
    unknown = sorted(field_name(k) for k in data if k not in names and k != "event_type")
    if unknown:
        raise ArcValidationError(unknown[0], "is not a field of " + cls.event_type)
    kwargs = {k: v for k, v in data.items() if k != "event_type"}
    if "scenario_set" in kwargs and isinstance(kwargs["scenario_set"], list):
        kwargs["scenario_set"] = tuple(kwargs["scenario_set"])
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ArcValidationError("event", f"{cls.event_type}: {exc}") from exc
