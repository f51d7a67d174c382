"""A trace's spans -> an outcome, tool usage rows and failure patterns, without a database:
which span is the outcome, status, duration, tokens, cost (given or priced), the trajectory in
time order, tools per name, failures with their exception (a propagated one once), ids
derived from the trace."""

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from arc.database.core.errors import ArcConfigurationError, ArcValidationError
from arc.database.otel import OUTCOME_NAMESPACE, PriceTable, map_trace, outcome_id_of
from arc.database.otel.decode import parse, spans_of
from arc.database.otel.mapping import outcome_span
from arc.database.otel.prices import DEFAULT_PRICES, Price, load_prices
from arc.database.otel.spans import ExceptionEvent, SpanRecord
from tests.integration.otel.served import agent_trace, otlp_protobuf

SIM = "7b0a3c1e-9f50-4a43-9d7e-2f4f6d1c8a11"
TRACE = "0af7651916cd43dd8448eb211c80319c"
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
MS = 1_000_000
PRICES = PriceTable(DEFAULT_PRICES)


def span(
    span_id: str,
    parent: str | None,
    start_ms: float,
    end_ms: float,
    name: str = "step",
    *,
    error: tuple[str, str] | None = None,
    resource: dict[str, Any] | None = None,
    **attributes: Any,
) -> SpanRecord:
    return SpanRecord(
        trace_id=TRACE,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=1,
        start_ns=T0 + int(start_ms * MS),
        end_ns=T0 + int(end_ms * MS),
        status_code=2 if error else 0,
        status_message=error[1] if error else "",
        attributes={k.replace("__", "."): v for k, v in attributes.items()},
        resource=resource or {},
        exceptions=(ExceptionEvent(error[0], error[1], T0),) if error else (),
        size=500,
    )


def agent(span_id: str = "a" * 16, parent: str | None = None, **extra: Any) -> SpanRecord:
    attributes = {
        "gen_ai__operation__name": "invoke_agent",
        "arc__simulation_id": SIM,
        "arc__scenario_id": "otel_weather",
        **extra,
    }
    return span(span_id, parent, 0, 1500, "invoke_agent planner", **attributes)


def trace_of(*spans: SpanRecord) -> dict[str, SpanRecord]:
    return {s.span_id: s for s in spans}


def tool(
    span_id: str,
    start: float,
    end: float,
    name: str,
    error: tuple[str, str] | None = None,
    parent: str = "a" * 16,
) -> SpanRecord:
    return span(
        span_id,
        parent,
        start,
        end,
        f"execute_tool {name}",
        error=error,
        gen_ai__operation__name="execute_tool",
        gen_ai__tool__name=name,
    )


def chat(span_id: str, start: float, model: str, tokens_in: int, tokens_out: int) -> SpanRecord:
    return span(
        span_id,
        "a" * 16,
        start,
        start + 100,
        f"chat {model}",
        gen_ai__operation__name="chat",
        gen_ai__response__model=model,
        gen_ai__usage__input_tokens=tokens_in,
        gen_ai__usage__output_tokens=tokens_out,
    )


def test_an_agent_run_becomes_an_outcome_with_its_tools_and_failures() -> None:
    spans = trace_of(
        agent(),
        chat("c1" * 8, 10, "gpt-4o-mini-2024-07-18", 1000, 200),
        tool("d1" * 8, 300, 340, "search"),
        tool("d2" * 8, 200, 260, "search", error=("HTTPError", "503 from upstream")),
        tool("d3" * 8, 400, 410, "calculator"),
        chat("c2" * 8, 500, "claude-3-5-sonnet-20241022", 500, 100),
    )
    rows = map_trace(spans, PRICES)
    assert rows is not None
    outcome = rows.outcome
    assert outcome["outcome_id"] == uuid.uuid5(OUTCOME_NAMESPACE, TRACE) == outcome_id_of(TRACE)
    assert outcome["execution_time"] == datetime(2026, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)
    assert outcome["execution_time_ms"] == 1500
    assert (outcome["status"], outcome["reliability_score"]) == ("success", 1.0)
    assert outcome["error_code"] is None  # a failed tool call does not fail the run
    assert outcome["tokens_used"] == 1800
    expected = (1000 * 0.15 + 200 * 0.60 + 500 * 3.00 + 100 * 15.00) / 1e6
    assert outcome["cost_usd"] == pytest.approx(expected)
    trajectory = json.loads(outcome["trajectory"])
    assert trajectory["start_time"] == "2026-01-01T00:00:00+00:00"
    assert [s["span_id"] for s in trajectory["steps"]] == [
        "c1" * 8,
        "d2" * 8,
        "d1" * 8,
        "d3" * 8,
        "c2" * 8,
    ]  # start order, not arrival order
    assert trajectory["steps"][1]["error"] == {"type": "HTTPError", "message": "503 from upstream"}
    assert trajectory["steps"][1]["start_offset_ms"] == 200.0
    assert json.loads(outcome["metrics"])["tool_calls"] == 3
    metadata = json.loads(outcome["execution_metadata"])
    assert metadata["cost_source"] == "price_table"
    tools = {row["tool_name"]: row for row in rows.tool_usage}
    assert set(tools) == {"search", "calculator"}
    assert tools["search"]["call_count"] == 2
    assert tools["search"]["avg_duration_ms"] == pytest.approx(50.0)
    assert tools["search"]["success_rate"] == 0.5
    assert tools["search"]["error_types"] == ["HTTPError"]
    assert tools["calculator"]["success_rate"] == 1.0
    assert all(row["outcome_id"] == outcome["outcome_id"] for row in rows.tool_usage)
    assert all(row["execution_time"] == outcome["execution_time"] for row in rows.tool_usage)
    [failure] = rows.failure_patterns
    assert failure["failure_type"] == "HTTPError"
    assert failure["error_message"] == "503 from upstream"
    assert failure["failure_category"] == "tool_error"
    # the same tool was called again later, and that call succeeded
    assert failure["recovery_attempted"]
    assert failure["recovery_successful"]
    again = map_trace(spans, PRICES)
    assert again is not None
    assert [r["usage_id"] for r in again.tool_usage] == [r["usage_id"] for r in rows.tool_usage]
    assert again.failure_patterns[0]["pattern_id"] == failure["pattern_id"]


def test_an_error_propagated_upwards_is_one_failure_and_fails_the_outcome() -> None:
    boom = ("TimeoutError", "weather api timed out")
    spans = trace_of(
        agent(),
        span("b" * 16, "a" * 16, 10, 900, "handoff", error=boom),
        tool("d1" * 8, 20, 800, "weather", error=boom, parent="b" * 16),
    )
    spans["a" * 16] = span(
        "a" * 16,
        None,
        0,
        1000,
        "invoke_agent planner",
        error=boom,
        gen_ai__operation__name="invoke_agent",
        arc__simulation_id=SIM,
        arc__scenario_id="otel_weather",
    )
    rows = map_trace(spans, PRICES)
    assert rows is not None
    assert rows.outcome["status"] == "timeout"
    assert rows.outcome["reliability_score"] == 0.0
    assert (rows.outcome["error_code"], rows.outcome["error_category"]) == (
        "TimeoutError",
        "timeout",
    )
    assert [f["pattern_id"] for f in rows.failure_patterns] == [
        uuid.uuid5(rows.outcome["outcome_id"], f"span:{'d1' * 8}")
    ]


def test_explicit_cost_status_score_and_agent_tokens_win() -> None:
    spans = trace_of(
        agent(
            arc__cost_usd=0.125,
            arc__status="cancelled",
            arc__reliability_score=0.4,
            gen_ai__usage__input_tokens=10,
            gen_ai__usage__output_tokens=5,
        ),
        chat("c1" * 8, 10, "gpt-4o", 1000, 200),
    )
    rows = map_trace(spans, PRICES)
    assert rows is not None
    assert rows.outcome["cost_usd"] == 0.125
    assert rows.outcome["status"] == "cancelled"
    assert rows.outcome["reliability_score"] == 0.4
    assert rows.outcome["tokens_used"] == 15
    assert json.loads(rows.outcome["execution_metadata"])["cost_source"] == "arc.cost_usd"


def test_an_unknown_model_costs_nothing_and_is_named() -> None:
    rows = map_trace(trace_of(agent(), chat("c1" * 8, 10, "house-model-7b", 100, 100)), PRICES)
    assert rows is not None
    assert rows.outcome["cost_usd"] == 0.0
    metadata = json.loads(rows.outcome["execution_metadata"])
    assert metadata["unpriced_models"] == ["house-model-7b"]
    assert metadata["cost_source"] == "none"


def test_which_span_is_the_outcome() -> None:
    plain_root = span("r" * 16, None, 0, 2000, "workflow")
    inner = agent("a" * 16, "r" * 16)
    nested = agent("b" * 16, "a" * 16)
    assert outcome_span(trace_of(plain_root, inner, nested)) == inner  # outermost agent
    ids = {"arc.simulation_id": SIM, "arc.scenario_id": "otel_weather"}
    root_with_ids = span("r" * 16, None, 0, 2000, "workflow", resource=ids)
    assert outcome_span(trace_of(root_with_ids, inner)) == root_with_ids  # the root first
    no_ids = span("e" * 16, None, 0, 10, "invoke_agent x", gen_ai__operation__name="invoke_agent")
    assert outcome_span(trace_of(no_ids)) is None
    assert map_trace(trace_of(no_ids, plain_root), PRICES) is None


def test_spans_whose_parent_never_arrived_count_when_they_ran_within_the_agent() -> None:
    inner = agent("a" * 16, "f" * 16)  # its parent is in another service
    lost_parent = span("c" * 16, "9" * 16, 100, 200, "late tool")
    outside = span("d" * 16, "9" * 16, 5000, 6000, "later")
    rows = map_trace(trace_of(inner, lost_parent, outside), PRICES)
    assert rows is not None
    steps = json.loads(rows.outcome["trajectory"])["steps"]
    assert [s["span_id"] for s in steps] == ["c" * 16]
    assert steps[0]["depth"] is None


def test_values_the_ingest_rules_refuse_are_a_typed_error() -> None:
    bad = agent(arc__scenario_id="Not A Scenario Id")
    with pytest.raises(ArcValidationError) as caught:
        map_trace(trace_of(bad), PRICES)
    assert caught.value.field == "scenario_id"


def test_the_sdk_trace_maps_from_decoded_spans() -> None:
    trace = agent_trace(SIM, "otel_weather", on_resource=True)
    spans, _ = spans_of(parse(otlp_protobuf(trace.spans), "protobuf"))
    rows = map_trace({s.span_id: s for s in spans}, PRICES)
    assert rows is not None
    assert rows.outcome["outcome_id"] == outcome_id_of(trace.trace_id)
    assert rows.outcome["tokens_used"] == 2500
    # gpt-4o-2024-08-06 priced as gpt-4o: 2000 in at 2.50, 500 out at 10.00 per million
    assert rows.outcome["cost_usd"] == pytest.approx(0.01)
    geocode = next(r for r in rows.tool_usage if r["tool_name"] == "geocode")
    assert (geocode["call_count"], geocode["success_rate"]) == (2, 0.5)
    [failure] = rows.failure_patterns
    assert (failure["failure_type"], failure["failure_category"]) == ("TimeoutError", "timeout")


def test_the_price_table_matches_the_longest_prefix_and_loads_files(tmp_path: Path) -> None:
    assert PRICES.price_of("gpt-4o-mini-2024-07-18") == DEFAULT_PRICES["gpt-4o-mini"]
    assert PRICES.price_of("GPT-4o-2024-05-13") == DEFAULT_PRICES["gpt-4o"]
    assert PRICES.price_of("unknown") is None
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"house-model": {"input": 1, "output": 2}, "gpt-4o": {
        "input": 5, "output": 20}}))  # fmt: skip
    table = PriceTable.from_file(str(path))
    assert table.price_of("house-model-7b") == Price(1.0, 2.0)
    assert table.price_of("gpt-4o") == Price(5.0, 20.0)
    assert table.price_of("claude-3-haiku-20240307") == DEFAULT_PRICES["claude-3-haiku"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{", "is not JSON"),
        ("[]", "must hold a JSON object"),
        ('{"m": {"input": 1}}', "ARC_OTEL_PRICES['m']"),
        ('{"m": {"input": -1, "output": 1}}', "must not be negative"),
        ('{"m": {"input": "1", "output": 1}}', "must be a number"),
    ],
)
def test_a_bad_price_file_is_a_configuration_error(
    tmp_path: Path, content: str, needle: str
) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(ArcConfigurationError) as caught:
        load_prices(str(path))
    assert needle in str(caught.value)
    with pytest.raises(ArcConfigurationError):
        load_prices(str(tmp_path / "missing.json"))
