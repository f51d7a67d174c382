"""The span as the OTLP receiver keeps it: what mapping needs, bounded in size.

A decoded OTLP span (opentelemetry.proto) becomes a `SpanRecord`: hex ids, nanosecond times,
its status, its attributes flattened to Python values (strings cut at MAX_TEXT characters, at
most MAX_ATTRIBUTES of them), its resource's attributes (one mapping shared by every span of
the resource) and its exception events. `size` estimates the bytes it holds, which the buffer
counts against its bound.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Semantic-convention keys the mapping reads (GenAI conventions, exceptions, arc's own).
OPERATION = "gen_ai.operation.name"
INVOKE_AGENT = "invoke_agent"
EXECUTE_TOOL = "execute_tool"
MODEL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
TOOL_NAME = "gen_ai.tool.name"
AGENT_NAME = "gen_ai.agent.name"
AGENT_ID = "gen_ai.agent.id"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
PROVIDER = "gen_ai.provider.name"
SYSTEM = "gen_ai.system"  # the older name of gen_ai.provider.name
ERROR_TYPE = "error.type"
SIMULATION_ID = "arc.simulation_id"
SCENARIO_ID = "arc.scenario_id"
COST_USD = "arc.cost_usd"
RELIABILITY = "arc.reliability_score"
STATUS = "arc.status"
MODAL_CALL_ID = "arc.modal_call_id"
SANDBOX_ID = "arc.sandbox_id"
SERVICE_NAME = "service.name"

# OTLP Status.code
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2

MAX_TEXT = 4096  # characters kept of a string attribute (prompts and outputs can be huge)
MAX_ATTRIBUTES = 128  # attributes kept per span or resource
MAX_EVENTS = 16  # exception events kept per span
MAX_DEPTH = 4  # nesting kept in array / key-value list attributes


@dataclass(frozen=True, slots=True)
class ExceptionEvent:
    """An `exception` span event (exception.type, exception.message)."""

    type: str
    message: str
    time_ns: int


@dataclass(frozen=True, slots=True)
class SpanRecord:
    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits
    parent_span_id: str | None  # None: a root span
    name: str
    kind: int
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    attributes: Mapping[str, Any]
    resource: Mapping[str, Any]
    exceptions: tuple[ExceptionEvent, ...] = ()
    size: int = 0

    def attr(self, key: str) -> Any:
        """The span's attribute, else its resource's (arc.simulation_id may be on either)."""
        value = self.attributes.get(key)
        return self.resource.get(key) if value is None else value

    @property
    def operation(self) -> str | None:
        value = self.attributes.get(OPERATION)
        return value if isinstance(value, str) else None

    @property
    def is_error(self) -> bool:
        return self.status_code == STATUS_ERROR

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)

    @property
    def arc_ids(self) -> tuple[Any, Any]:
        """(arc.simulation_id, arc.scenario_id) as given, from the span or its resource."""
        return self.attr(SIMULATION_ID), self.attr(SCENARIO_ID)

    @property
    def carries_arc_ids(self) -> bool:
        simulation, scenario = self.arc_ids
        return simulation is not None and scenario is not None

    @property
    def may_be_outcome(self) -> bool:
        """An agent invocation, or a root span, carrying both arc ids (docs/otel.md)."""
        return self.carries_arc_ids and (
            self.operation == INVOKE_AGENT or self.parent_span_id is None
        )


def text_size(value: Any) -> int:
    """Rough bytes a flattened attribute value holds (for the buffer's bound)."""
    if isinstance(value, str):
        return 49 + len(value)
    if isinstance(value, list | tuple):
        return 56 + sum(text_size(v) for v in value)
    if isinstance(value, dict):
        return 64 + sum(text_size(k) + text_size(v) for k, v in value.items())
    return 32


@dataclass(frozen=True, slots=True)
class Rejection:
    """A span the receiver did not take, and why (reported in the partial success)."""

    trace_id: str | None
    span_id: str | None
    reason: str

    def describe(self) -> str:
        where = f"span {self.span_id or '?'} of trace {self.trace_id or '?'}"
        return f"{where}: {self.reason}"
