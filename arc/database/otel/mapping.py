"""A trace's spans -> one outcome, its tool usage rows and its failure patterns (docs/otel.md).

The outcome span is the outermost span of the trace that carries `arc.simulation_id` and
`arc.scenario_id` (on the span or its resource) and is either an agent invocation
(`gen_ai.operation.name = invoke_agent`) or the trace's root; a root is preferred, then the
earliest. Its subtree is what it did: every span of the trace when it is the root, otherwise
its descendants plus spans whose parent never arrived that ran within it.

- outcome_id: UUIDv5(OUTCOME_NAMESPACE, trace id in hex); execution_time: the span's end;
  execution_time_ms: its duration; status: `arc.status` when given, else ERROR -> `timeout`
  (when the error type says so) or `error`, OK / UNSET -> `success`; reliability_score:
  `arc.reliability_score`, else 1 for a success and 0 otherwise.
- tokens: the span's gen_ai.usage.input_tokens + output_tokens, else the sum over the model
  calls of its subtree (spans with usage that are neither agent invocations nor tool calls).
- cost_usd: `arc.cost_usd` on the span, else the price table over the model calls (each with
  its gen_ai.response.model or request model), else over the span's own tokens and model.
- trajectory: the subtree's spans in start order (name, operation, offsets, durations,
  status, tool, model, tokens, error), at most MAX_STEPS.
- tool usage: one row per tool (`gen_ai.tool.name`, else the span name after
  `execute_tool `) of the `execute_tool` spans: calls, average duration, success rate.
- failure patterns: one per error span of the subtree, with the exception's type and message
  (else `error.type` and the status message); an error that only repeats one a descendant
  already reported (the same type and message, propagated upwards) is not reported again.

Every row goes through the ingest validation (normalize_*), so what is written obeys the same
rules as any other writer's rows. Ids are derived from the trace, so a trace written twice is
a duplicate, never a second row.
"""

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from arc.database.core.checks import MAX_COST_USD, text_limits
from arc.database.ingest.validation import (
    normalize_failure_pattern,
    normalize_outcome,
    normalize_tool_usage,
)
from arc.database.models import FailurePattern, Outcome, ToolUsage
from arc.database.models.outcome import OUTCOME_STATUSES
from arc.database.otel.prices import PriceTable
from arc.database.otel.spans import (
    AGENT_ID,
    AGENT_NAME,
    COST_USD,
    ERROR_TYPE,
    EXECUTE_TOOL,
    INPUT_TOKENS,
    INVOKE_AGENT,
    MODAL_CALL_ID,
    MODEL_OPERATIONS,
    OUTPUT_TOKENS,
    PROVIDER,
    RELIABILITY,
    REQUEST_MODEL,
    RESPONSE_MODEL,
    SANDBOX_ID,
    SERVICE_NAME,
    STATUS,
    STATUS_ERROR,
    STATUS_OK,
    SYSTEM,
    TOOL_NAME,
    SpanRecord,
)

# uuid5(NAMESPACE_URL, "urn:arc-eval-db:otlp:trace"): outcome_id = uuid5(this, trace id hex)
OUTCOME_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:arc-eval-db:otlp:trace")
MAX_STEPS = 500  # trajectory steps kept (the first ones, in start order)
MAX_STEP_TEXT = 512  # characters of a name or error message in a step
MAX_SEQUENCE = 100  # calls listed in a tool row's tool_sequence
MAX_FAILURES = 100  # failure patterns per trace
_SPAN_STATUS = {STATUS_OK: "ok", STATUS_ERROR: "error"}


def outcome_id_of(trace_id: str) -> uuid.UUID:
    return uuid.uuid5(OUTCOME_NAMESPACE, trace_id.lower())


@dataclass
class TraceRows:
    """The rows of one trace, validated, ready for ArcDBClient.write_bundle."""

    trace_id: str
    outcome: dict[str, Any]
    tool_usage: list[dict[str, Any]] = field(default_factory=list)
    failure_patterns: list[dict[str, Any]] = field(default_factory=list)


# ---------------------------------------------------------------------------- the tree
def _ancestors(span: SpanRecord, spans: Mapping[str, SpanRecord]) -> Iterable[SpanRecord]:
    seen = {span.span_id}
    parent = spans.get(span.parent_span_id) if span.parent_span_id else None
    while parent is not None and parent.span_id not in seen:
        yield parent
        seen.add(parent.span_id)
        parent = spans.get(parent.parent_span_id) if parent.parent_span_id else None


def outcome_span(spans: Mapping[str, SpanRecord]) -> SpanRecord | None:
    """The span that becomes the trace's outcome (module docstring), or None."""
    candidates = [s for s in spans.values() if s.may_be_outcome]
    outer = [s for s in candidates if not any(a.may_be_outcome for a in _ancestors(s, spans))]
    if not outer:
        return None
    return min(outer, key=lambda s: (s.parent_span_id is not None, s.start_ns, s.span_id))


def subtree(top: SpanRecord, spans: Mapping[str, SpanRecord]) -> list[SpanRecord]:
    """The spans under `top` (not `top` itself), in start order."""
    if top.parent_span_id is None:
        under = [s for s in spans.values() if s.span_id != top.span_id]
    else:
        under = []
        for span in spans.values():
            if span.span_id == top.span_id:
                continue
            if any(a.span_id == top.span_id for a in _ancestors(span, spans)):
                under.append(span)
                continue
            root = span
            for root in _ancestors(span, spans):  # noqa: B007 - the last one is wanted
                pass
            orphan = root.parent_span_id is not None and root.parent_span_id not in spans
            if orphan and root.span_id != top.span_id and _within(span, top):
                under.append(span)
    return sorted(under, key=lambda s: (s.start_ns, s.span_id))


def _within(span: SpanRecord, top: SpanRecord) -> bool:
    return top.start_ns <= span.start_ns and span.end_ns <= top.end_ns


def _depths(top: SpanRecord, under: list[SpanRecord]) -> dict[str, int | None]:
    by_id = {s.span_id: s for s in under}
    by_id[top.span_id] = top
    depths: dict[str, int | None] = {top.span_id: 0}

    def depth(span: SpanRecord) -> int | None:
        if span.span_id in depths:
            return depths[span.span_id]
        depths[span.span_id] = None  # a cycle, or a parent outside: no depth
        parent = by_id.get(span.parent_span_id) if span.parent_span_id else None
        found = depth(parent) if parent is not None else None
        depths[span.span_id] = None if found is None else found + 1
        return depths[span.span_id]

    for span in under:
        depth(span)
    return depths


# ---------------------------------------------------------------------------- values
def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and value >= 0 and value == value:
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    return str(value)[:limit]


def _cut(value: str | None, model: Any, column: str) -> str | None:
    return None if value is None else value[: text_limits(model, column)[1]]


def _time(ns: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)


def _ms(ns: int) -> float:
    return round(ns / 1_000_000, 3)


def _tokens(span: SpanRecord) -> tuple[int, int] | None:
    given = _count(span.attributes.get(INPUT_TOKENS)), _count(span.attributes.get(OUTPUT_TOKENS))
    if given == (None, None):
        return None
    return given[0] or 0, given[1] or 0


def _model(span: SpanRecord) -> str | None:
    value = span.attributes.get(RESPONSE_MODEL) or span.attributes.get(REQUEST_MODEL)
    return str(value) if value else None


def _is_model_call(span: SpanRecord) -> bool:
    op = span.operation
    if op in (INVOKE_AGENT, EXECUTE_TOOL):
        return False
    return op in MODEL_OPERATIONS or _tokens(span) is not None


def _error(span: SpanRecord) -> tuple[str, str] | None:
    """(type, message) of an error span: its first exception event, else error.type and the
    status message."""
    if not span.is_error:
        return None
    if span.exceptions:
        first = span.exceptions[0]
        return first.type or str(span.attributes.get(ERROR_TYPE) or "error"), (
            first.message or span.status_message
        )
    kind = span.attributes.get(ERROR_TYPE)
    return (str(kind) if kind else "span_error"), span.status_message


def _looks_like_timeout(kind: str, message: str) -> bool:
    return "timeout" in kind.lower() or "timed out" in message.lower()


def _tool_name(span: SpanRecord) -> str:
    named = span.attributes.get(TOOL_NAME)
    if named:
        return str(named)
    prefix = f"{EXECUTE_TOOL} "
    return span.name[len(prefix) :] if span.name.startswith(prefix) else span.name


def _category(span: SpanRecord, kind: str, message: str) -> str:
    if _looks_like_timeout(kind, message):
        return "timeout"
    if span.operation == EXECUTE_TOOL:
        return "tool_error"
    if span.operation in MODEL_OPERATIONS:
        return "model_error"
    return "unknown"


# ---------------------------------------------------------------------------- the rows
def _status(top: SpanRecord) -> str:
    explicit = top.attributes.get(STATUS)
    if explicit in OUTCOME_STATUSES:
        return str(explicit)
    error = _error(top)
    if error is None:
        return "success"
    return "timeout" if _looks_like_timeout(*error) else "error"


def _usage_and_cost(
    top: SpanRecord, under: list[SpanRecord], prices: PriceTable
) -> tuple[int, int, float, dict[str, Any]]:
    calls = [(s, t) for s in under if _is_model_call(s) and (t := _tokens(s)) is not None]
    own = _tokens(top)
    if own is not None:
        input_tokens, output_tokens = own
    else:
        input_tokens = sum(t[0] for _, t in calls)
        output_tokens = sum(t[1] for _, t in calls)
    notes: dict[str, Any] = {}
    given = _number(top.attributes.get(COST_USD))
    if given is not None and given >= 0:
        notes["cost_source"] = COST_USD
        return input_tokens, output_tokens, min(given, MAX_COST_USD), notes
    priced = calls or ([(top, own)] if own is not None else [])
    cost, priced_any, unpriced = 0.0, False, set()
    for span, (tokens_in, tokens_out) in priced:
        model = _model(span) or _model(top)
        price = prices.price_of(model)
        if price is None:
            unpriced.add(model or "<no model>")
        else:
            priced_any = True
            cost += price.cost(tokens_in, tokens_out)
    notes["cost_source"] = "price_table" if priced_any else "none"
    if unpriced:
        notes["unpriced_models"] = sorted(unpriced)
    return input_tokens, output_tokens, min(cost, MAX_COST_USD), notes


def _step(span: SpanRecord, top: SpanRecord, depth: int | None) -> dict[str, Any]:
    step: dict[str, Any] = {
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name[:MAX_STEP_TEXT],
        "operation": span.operation,
        "depth": depth,
        "start_offset_ms": _ms(span.start_ns - top.start_ns),
        "duration_ms": _ms(span.duration_ns),
        "status": _SPAN_STATUS.get(span.status_code, "unset"),
    }
    if span.operation == EXECUTE_TOOL:
        step["tool"] = _tool_name(span)[:MAX_STEP_TEXT]
    model = _model(span)
    if model:
        step["model"] = model[:MAX_STEP_TEXT]
    tokens = _tokens(span)
    if tokens is not None:
        step["input_tokens"], step["output_tokens"] = tokens
    error = _error(span)
    if error is not None:
        step["error"] = {"type": error[0][:MAX_STEP_TEXT], "message": error[1][:MAX_STEP_TEXT]}
    return step


def _tool_rows(
    outcome: dict[str, Any], top: SpanRecord, under: list[SpanRecord]
) -> list[dict[str, Any]]:
    calls: dict[str, list[SpanRecord]] = {}
    for span in under:
        if span.operation == EXECUTE_TOOL:
            calls.setdefault(_cut(_tool_name(span), ToolUsage, "tool_name") or "", []).append(span)
    rows = []
    for name, spans in sorted(calls.items()):
        if not name:
            continue
        failed = [s for s in spans if s.is_error]
        cost = sum(max(0.0, _number(s.attributes.get(COST_USD)) or 0.0) for s in spans)
        rows.append(
            normalize_tool_usage(
                {
                    "usage_id": uuid.uuid5(outcome["outcome_id"], f"tool:{name}"),
                    "outcome_id": outcome["outcome_id"],
                    "execution_time": outcome["execution_time"],
                    "tool_name": name,
                    "call_count": len(spans),
                    "avg_duration_ms": _ms(sum(s.duration_ns for s in spans) // len(spans)),
                    "success_rate": (len(spans) - len(failed)) / len(spans),
                    "total_cost_usd": min(cost, MAX_COST_USD),
                    "tool_sequence": [
                        {
                            "span_id": s.span_id,
                            "start_offset_ms": _ms(s.start_ns - top.start_ns),
                            "duration_ms": _ms(s.duration_ns),
                            "ok": not s.is_error,
                        }
                        for s in spans[:MAX_SEQUENCE]
                    ],
                    "error_types": sorted(
                        {
                            (_cut(e[0], FailurePattern, "failure_type") or "")
                            for s in failed
                            if (e := _error(s)) is not None
                        }
                    )
                    or None,
                }
            )
        )
    return rows


def _failure_rows(
    outcome: dict[str, Any],
    top: SpanRecord,
    under: list[SpanRecord],
    spans: Mapping[str, SpanRecord],
) -> list[dict[str, Any]]:
    errors = [s for s in [*under, top] if s.is_error]
    # deepest first, so that a propagated error is reported where it started
    depth = {s.span_id: sum(1 for _ in _ancestors(s, spans)) for s in errors}
    errors.sort(key=lambda s: (-depth[s.span_id], s.start_ns, s.span_id))
    reported: dict[tuple[str, str], list[SpanRecord]] = {}
    rows: list[dict[str, Any]] = []
    for span in errors:
        error = _error(span)
        assert error is not None
        below = reported.get(error, [])
        if any(span.span_id in {a.span_id for a in _ancestors(b, spans)} for b in below):
            continue  # the same error, propagated from a descendant
        reported.setdefault(error, []).append(span)
        if len(rows) >= MAX_FAILURES:
            continue
        kind, message = error
        later = [
            s
            for s in under
            if s.operation == EXECUTE_TOOL
            and span.operation == EXECUTE_TOOL
            and _tool_name(s) == _tool_name(span)
            and s.start_ns > span.start_ns
        ]
        rows.append(
            normalize_failure_pattern(
                {
                    "pattern_id": uuid.uuid5(outcome["outcome_id"], f"span:{span.span_id}"),
                    "outcome_id": outcome["outcome_id"],
                    "execution_time": outcome["execution_time"],
                    "failure_type": _cut(kind, FailurePattern, "failure_type") or "span_error",
                    "failure_category": _category(span, kind, message),
                    "error_message": _cut(message, FailurePattern, "error_message") or None,
                    "recovery_attempted": bool(later),
                    "recovery_successful": any(not s.is_error for s in later),
                }
            )
        )
    return rows


def map_trace(
    spans: Mapping[str, SpanRecord],
    prices: PriceTable,
    *,
    completion: str = "quiet",
    top: SpanRecord | None = None,
) -> TraceRows | None:
    """The rows of a trace, or None when it has no outcome span. Raises ArcValidationError
    when a value breaks an ingest rule (the trace cannot be recorded as it is)."""
    top = top or outcome_span(spans)
    if top is None:
        return None
    under = subtree(top, spans)
    depths = _depths(top, under)
    simulation_id, scenario_id = top.arc_ids
    status = _status(top)
    input_tokens, output_tokens, cost, notes = _usage_and_cost(top, under, prices)
    reliability = _number(top.attributes.get(RELIABILITY))
    if reliability is None or not 0 <= reliability <= 1:
        reliability = 1.0 if status == "success" else 0.0
    first_error = next(
        (s for s in sorted([top, *under], key=lambda s: (s.start_ns, s.span_id)) if s.is_error),
        None,
    )
    # a success keeps no error code, even when a tool call failed along the way
    error = _error(first_error) if first_error is not None and status != "success" else None
    if error is None and status in ("error", "timeout"):
        error = (status, top.status_message)
    category = None
    if error is not None:
        category = "timeout" if status == "timeout" else _outcome_category(first_error, error)
    steps = [_step(s, top, depths.get(s.span_id)) for s in under[:MAX_STEPS]]
    trajectory: dict[str, Any] = {
        "start_time": _time(top.start_ns).isoformat(),
        "status": status,
        "source": "otlp",
        "trace_id": top.trace_id,
        "span_id": top.span_id,
        "name": top.name[:MAX_STEP_TEXT],
        "agent": {
            "name": _text(top.attributes.get(AGENT_NAME), MAX_STEP_TEXT),
            "id": _text(top.attributes.get(AGENT_ID), MAX_STEP_TEXT),
        },
        "steps": steps,
    }
    if len(under) > MAX_STEPS:
        trajectory["steps_omitted"] = len(under) - MAX_STEPS
    model_calls = sum(1 for s in under if _is_model_call(s))
    tool_calls = sum(1 for s in under if s.operation == EXECUTE_TOOL)
    outcome_id = outcome_id_of(top.trace_id)
    outcome = normalize_outcome(
        {
            "outcome_id": outcome_id,
            "execution_time": _time(top.end_ns),
            "simulation_id": simulation_id,
            "scenario_id": scenario_id,
            "status": status,
            "reliability_score": reliability,
            "execution_time_ms": round(top.duration_ns / 1_000_000),
            "tokens_used": input_tokens + output_tokens,
            "cost_usd": cost,
            "trajectory": trajectory,
            "metrics": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "model_calls": model_calls,
                "tool_calls": tool_calls,
                "spans": len(under) + 1,
            },
            "execution_metadata": {
                "source": "otlp",
                "trace_id": top.trace_id,
                "outcome_span_id": top.span_id,
                "completion": completion,
                "service_name": _text(top.attr(SERVICE_NAME), MAX_STEP_TEXT),
                "provider": _text(top.attr(PROVIDER) or top.attr(SYSTEM), MAX_STEP_TEXT),
                "model": _text(_model(top), MAX_STEP_TEXT),
                **notes,
            },
            "modal_call_id": _cut(_text(top.attr(MODAL_CALL_ID), 10_000), Outcome, "modal_call_id"),
            "sandbox_id": _cut(_text(top.attr(SANDBOX_ID), 10_000), Outcome, "sandbox_id"),
            "error_code": _cut(error[0], Outcome, "error_code") if error else None,
            "error_category": category,
        }
    )
    return TraceRows(
        trace_id=top.trace_id,
        outcome=outcome,
        tool_usage=_tool_rows(outcome, top, under),
        failure_patterns=_failure_rows(outcome, top, under, spans),
    )


def _outcome_category(span: SpanRecord | None, error: tuple[str, str]) -> str:
    """The outcome's error_category (a narrower list than the failure categories)."""
    if span is None:
        return "system_error"
    category = _category(span, *error)
    return "system_error" if category == "unknown" else category
