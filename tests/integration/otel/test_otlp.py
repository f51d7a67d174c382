"""POST /v1/traces of `arc-db serve`, fed by the real OpenTelemetry SDK and its OTLP/HTTP
exporter over loopback, and by OTLP JSON built from the SDK's own spans; the rows checked in
the database.

- an agent trace becomes an outcome (id from the trace, status, duration, tokens, cost, the
  trajectory in order), tool usage per tool and a failure pattern with the exception;
- JSON (with gzip) gives the same; a trace split over several export batches, in any order,
  is assembled whole; an exporter's retry never duplicates a row;
- spans naming a missing or finished simulation, a scenario outside it, a malformed id, or
  that cannot be spans are rejected by name in the partial success, the rest is written;
- bad payloads get 400 / 413 / 415 with a reason and nothing of them is kept;
- a full buffer answers 429 with Retry-After; a database that cannot be reached answers 503
  with Retry-After, and the SDK's exporter retries and succeeds;
- a trace with no outcome span ends at the maximum age, and its late spans are named;
- buffered traces are written on shutdown; the whole path also works through PgBouncer.
"""

import asyncio
import gzip
import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.otel import outcome_id_of
from tests.integration.otel.served import (
    AgentTrace,
    Served,
    agent_trace,
    open_simulation,
    otlp_json,
    otlp_protobuf,
    outcome_row,
    rows_of,
    start,
    wait_for_outcomes,
)
from tests.support.faults import TcpProxy
from tests.support.scratch import scratch_engine, scratch_url
from tests.support.topology import on_database, pgbouncer_url

__all__ = ["pgbouncer_url", "scratch_engine", "scratch_url"]

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def served(scratch_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One service for the tests that need no settings of their own."""
    service = start(tmp_path_factory.mktemp("otel"), scratch_url)
    yield service
    assert service.stop() == 0, service.stderr()


@pytest.fixture
def stopped() -> Iterator[list[Served]]:
    """Services a test starts; each must exit 0 on SIGTERM."""
    started: list[Served] = []
    yield started
    for service in started:
        assert service.stop() == 0, service.stderr()


@pytest.fixture
async def simulation(scratch_url: str) -> uuid.UUID:
    return await open_simulation(scratch_url)


async def export(
    service: Served, spans: Sequence[ReadableSpan], **options: Any
) -> SpanExportResult:
    """The SDK's OTLP/HTTP exporter, sending `spans` once (in a thread: it blocks)."""
    exporter = OTLPSpanExporter(endpoint=service.traces_url, timeout=15, **options)
    try:
        return await asyncio.to_thread(exporter.export, spans)
    finally:
        exporter.shutdown()


async def first_outcome(engine: AsyncEngine, trace: AgentTrace) -> dict[str, Any]:
    oid = outcome_id_of(trace.trace_id)
    await wait_for_outcomes(engine, [oid])
    row = await outcome_row(engine, oid)
    assert row is not None
    return row


async def counts(engine: AsyncEngine, trace: AgentTrace) -> tuple[int, int, int]:
    oid = outcome_id_of(trace.trace_id)
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM outcomes WHERE outcome_id = :o), "
                    "(SELECT count(*) FROM tool_usage WHERE outcome_id = :o), "
                    "(SELECT count(*) FROM failure_patterns WHERE outcome_id = :o)"
                ),
                {"o": oid},
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


def _ms(span: ReadableSpan) -> float:
    assert span.end_time is not None
    assert span.start_time is not None
    return (span.end_time - span.start_time) / 1e6


# ------------------------------------------------------------------------------ the mapping
async def test_the_sdk_exporter_records_an_agent_run(
    served: Served, scratch_engine: AsyncEngine, simulation: uuid.UUID
) -> None:
    trace = agent_trace(simulation, "otel_weather")
    assert await export(served, trace.spans, compression=Compression.Gzip) == (
        SpanExportResult.SUCCESS
    )
    outcome = await first_outcome(scratch_engine, trace)
    agent = trace.agent
    assert outcome["outcome_id"] == uuid.uuid5(
        uuid.uuid5(uuid.NAMESPACE_URL, "urn:arc-eval-db:otlp:trace"), trace.trace_id
    )
    assert (outcome["simulation_id"], outcome["scenario_id"]) == (simulation, "otel_weather")
    assert outcome["status"] == "success"
    assert outcome["execution_time_ms"] == round(_ms(agent))
    assert outcome["execution_time"].timestamp() == pytest.approx((agent.end_time or 0) / 1e9)
    assert outcome["tokens_used"] == 2500
    assert outcome["cost_usd"] == pytest.approx(0.01)  # gpt-4o list prices
    children = sorted((s for s in trace.spans if s is not agent), key=lambda s: s.start_time or 0)
    steps = outcome["trajectory"]["steps"]
    assert [s["span_id"] for s in steps] == [format(c.context.span_id, "016x") for c in children]
    assert [s["name"] for s in steps] == [c.name for c in children]
    assert outcome["trajectory"]["agent"]["name"] == "travel-agent"
    tools = {
        r["tool_name"]: r
        for r in await rows_of(scratch_engine, "tool_usage", outcome["outcome_id"])
    }
    assert set(tools) == {"weather_api", "geocode"}
    assert (tools["geocode"]["call_count"], tools["geocode"]["success_rate"]) == (2, 0.5)
    assert tools["geocode"]["error_types"] == ["TimeoutError"]
    geocode = [s for s in trace.spans if s.name == "execute_tool geocode"]
    assert tools["geocode"]["avg_duration_ms"] == pytest.approx(
        sum(_ms(s) for s in geocode) / 2, abs=0.01
    )
    [failure] = await rows_of(scratch_engine, "failure_patterns", outcome["outcome_id"])
    assert failure["failure_type"] == "TimeoutError"
    assert failure["error_message"] == "geocoder timed out after 5s"
    assert failure["failure_category"] == "timeout"
    async with scratch_engine.connect() as conn:  # the scenario advanced like any outcome's
        status = (
            await conn.execute(
                text(
                    "SELECT status FROM simulations_scenarios "
                    "WHERE simulation_id = :s AND scenario_id = 'otel_weather'"
                ),
                {"s": simulation},
            )
        ).scalar_one()
    assert status == "completed"


async def test_json_with_gzip_gives_the_same_rows(
    served: Served, scratch_engine: AsyncEngine, simulation: uuid.UUID
) -> None:
    trace = agent_trace(simulation, "otel_flights", on_resource=True, fail_agent=True, cost=0.5)
    answer = served.post(
        gzip.compress(otlp_json(trace.spans)), **JSON, **{"Content-Encoding": "gzip"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {}  # a full success: no partial_success
    outcome = await first_outcome(scratch_engine, trace)
    assert (outcome["simulation_id"], outcome["scenario_id"]) == (simulation, "otel_flights")
    assert outcome["status"] == "error"
    assert outcome["reliability_score"] == 0.0
    assert outcome["cost_usd"] == 0.5  # arc.cost_usd wins over the price table
    assert outcome["tokens_used"] == 2500
    assert len(outcome["trajectory"]["steps"]) == 5
    failures = await rows_of(scratch_engine, "failure_patterns", outcome["outcome_id"])
    assert sorted(f["failure_type"] for f in failures) == ["TimeoutError", "span_error"]


# ------------------------------------------------------------------------------ assembly
class CountingExporter(OTLPSpanExporter):
    """The real exporter, counting the requests it makes."""

    calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        return super().export(spans)


async def test_a_trace_split_over_several_batches_is_assembled_whole(
    served: Served, scratch_engine: AsyncEngine, simulation: uuid.UUID
) -> None:
    # the SDK's batch processor, two spans per request
    trace = agent_trace(simulation, "otel_hotels")
    exporter = CountingExporter(endpoint=served.traces_url, timeout=15)
    processor = BatchSpanProcessor(exporter, max_export_batch_size=2, schedule_delay_millis=50)

    def feed() -> None:
        for span in trace.spans:
            processor.on_end(span)
        assert processor.force_flush()
        processor.shutdown()

    await asyncio.to_thread(feed)
    assert exporter.calls >= 3
    outcome = await first_outcome(scratch_engine, trace)
    assert len(outcome["trajectory"]["steps"]) == 5
    assert await counts(scratch_engine, trace) == (1, 2, 1)
    # out of order: the agent span first, then its children in reverse, one request each
    late = agent_trace(simulation, "otel_weather")
    assert await export(served, [late.agent]) == SpanExportResult.SUCCESS
    for span in reversed([s for s in late.spans if s is not late.agent]):
        assert await export(served, [span]) == SpanExportResult.SUCCESS
    outcome = await first_outcome(scratch_engine, late)
    assert len(outcome["trajectory"]["steps"]) == 5
    assert await counts(scratch_engine, late) == (1, 2, 1)


async def test_an_exporters_retry_never_duplicates_rows(
    served: Served, scratch_engine: AsyncEngine, simulation: uuid.UUID
) -> None:
    trace = agent_trace(simulation, "otel_weather")
    body = otlp_protobuf(trace.spans)
    for _ in range(2):  # sent twice before the trace completes
        assert served.post(body, **PROTOBUF).status_code == 200
    await first_outcome(scratch_engine, trace)
    answer = served.post(body, **PROTOBUF)  # and again after it was written
    assert answer.status_code == 200
    assert ExportTraceServiceResponse.FromString(answer.content).partial_success.rejected_spans == 0
    assert await export(served, trace.spans) == SpanExportResult.SUCCESS
    await asyncio.sleep(1.0)  # a quiet period and more: nothing new is written
    assert await counts(scratch_engine, trace) == (1, 2, 1)


# ------------------------------------------------------------------------------ rejections
async def test_rejected_spans_are_named_in_the_partial_success(
    served: Served, scratch_engine: AsyncEngine, simulation: uuid.UUID, scratch_url: str
) -> None:
    finished = await open_simulation(scratch_url)
    async with scratch_engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE simulations SET status = 'completed', completed_at = now() "
                "WHERE simulation_id = :s"
            ),
            {"s": finished},
        )
    good = agent_trace(simulation, "otel_weather")
    bad = {
        "does not exist": agent_trace(uuid.uuid4(), "otel_weather"),
        "is completed": agent_trace(finished, "otel_weather"),
        "is not in the scenario set": agent_trace(simulation, "otel_unknown"),
        "must be a UUID": agent_trace("sim-42", "otel_weather"),
    }
    message = ExportTraceServiceRequest()
    for trace in (good, *bad.values()):
        message.MergeFromString(otlp_protobuf(trace.spans))
    broken = message.resource_spans[0].scope_spans[0].spans.add()
    broken.CopyFrom(message.resource_spans[0].scope_spans[0].spans[0])
    broken.span_id = b"\x00" * 8  # cannot be a span
    answer = served.post(message.SerializeToString(), **PROTOBUF)
    assert answer.status_code == 200, answer.content
    partial = ExportTraceServiceResponse.FromString(answer.content).partial_success
    # the agent spans of the bad traces carry the ids: their whole traces are refused
    assert partial.rejected_spans == sum(len(t.spans) for t in bad.values()) + 1
    for reason, trace in bad.items():
        entry = next(e for e in partial.error_message.split("; ") if trace.trace_id in e)
        named = {format(s.context.span_id, "016x") for s in trace.spans}
        assert all(span_id in entry for span_id in named), entry
        assert reason in entry
    assert "spanId must be 8 bytes, not all zero" in partial.error_message
    await first_outcome(scratch_engine, good)
    await asyncio.sleep(0.8)
    for trace in bad.values():
        assert await counts(scratch_engine, trace) == (0, 0, 0)
    # a later span of a refused trace is refused with the same reason
    missing = bad["does not exist"]
    again = served.post(otlp_protobuf(missing.spans[:1]), **PROTOBUF)
    assert (
        "does not exist"
        in ExportTraceServiceResponse.FromString(again.content).partial_success.error_message
    )


BAD_REQUESTS: list[tuple[dict[str, str], bytes, int, str]] = [
    (PROTOBUF, b"\x0a\xff\xff\xff\xff garbage", 400, "not a protobuf ExportTraceServiceRequest"),
    (JSON, b"{not json", 400, "is not JSON"),
    ({**PROTOBUF, "Content-Encoding": "gzip"}, b"not gzip", 400, "not valid gzip"),
    ({**PROTOBUF, "Content-Encoding": "br"}, b"x", 415, "Content-Encoding"),
    ({"Content-Type": "text/plain"}, b"x", 415, "Content-Type"),
]


@pytest.mark.parametrize(("headers", "body", "status", "needle"), BAD_REQUESTS)
def test_bad_payloads_get_a_status_and_a_reason(
    served: Served, headers: dict[str, str], body: bytes, status: int, needle: str
) -> None:
    answer = served.post(body, **headers)
    assert answer.status_code == status
    if answer.headers["content-type"] == "application/json":
        reason = json_format.Parse(answer.content, Status())
    else:
        reason = Status.FromString(answer.content)
    assert needle in reason.message
    assert "Retry-After" not in answer.headers  # not to be sent again as it is


async def test_a_bad_payload_keeps_nothing_of_itself(
    served: Served, scratch_engine: AsyncEngine, simulation: uuid.UUID
) -> None:
    trace = agent_trace(simulation, "otel_weather")
    document = json.loads(otlp_json(trace.spans))
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append({**spans[0], "spanId": "not-hex!"})  # every other span is fine
    answer = served.post(json.dumps(document).encode(), **JSON)
    assert answer.status_code == 400
    assert "spanId: must be a hex string" in answer.json()["message"]
    await asyncio.sleep(1.0)
    assert await counts(scratch_engine, trace) == (0, 0, 0)
    assert served.post(otlp_json(trace.spans), **JSON).status_code == 200
    await first_outcome(scratch_engine, trace)


def test_a_body_over_the_limit_is_413(
    tmp_path: Path, scratch_url: str, stopped: list[Served]
) -> None:
    service = start(tmp_path, scratch_url, ARC_OTEL_MAX_BODY_BYTES="1000")
    stopped.append(service)
    answer = service.post(b"\0" * 5000, **PROTOBUF)
    assert answer.status_code == 413
    assert "at most 1000 bytes" in Status.FromString(answer.content).message
    bomb = gzip.compress(b"\0" * 1_000_000)
    assert len(bomb) < 2000
    answer = service.post(bomb[:1000], **PROTOBUF, **{"Content-Encoding": "gzip"})
    assert answer.status_code in (400, 413)


# ------------------------------------------------------------------------------ backpressure
async def test_a_full_buffer_answers_429_with_retry_after(
    tmp_path: Path, scratch_url: str, stopped: list[Served], simulation: uuid.UUID
) -> None:
    service = start(tmp_path, scratch_url, ARC_OTEL_MAX_SPANS="6", ARC_OTEL_QUIET_S="30")
    stopped.append(service)
    one, two = agent_trace(simulation, "otel_weather"), agent_trace(simulation, "otel_flights")
    first = service.post(otlp_protobuf(one.spans), **PROTOBUF)
    assert first.status_code == 200
    full = service.post(otlp_protobuf(two.spans), **PROTOBUF)
    assert full.status_code == 429
    assert full.headers["Retry-After"] == "1"
    status = Status.FromString(full.content)
    assert status.code == 8
    assert "buffer is full" in status.message
    assert "nothing was taken" in status.message
    # what is already held needs no room: an exporter's retry of it is accepted
    assert service.post(otlp_protobuf(one.spans), **PROTOBUF).status_code == 200


async def test_the_exporter_retries_after_a_503_and_succeeds(
    tmp_path: Path,
    scratch_url: str,
    scratch_engine: AsyncEngine,
    stopped: list[Served],
    simulation: uuid.UUID,
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = make_url(scratch_url)
    proxy = await TcpProxy(target.host or "127.0.0.1", target.port or 5432).start()
    try:
        through = target.set(host="127.0.0.1", port=proxy.port)
        service = start(tmp_path, through.render_as_string(hide_password=False))
        stopped.append(service)
        proxy.refuse = True  # the database cannot be reached
        proxy.cut()
        trace = agent_trace(simulation, "otel_weather")
        loop = asyncio.get_running_loop()
        loop.call_later(0.5, setattr, proxy, "refuse", False)  # back before the retry
        with caplog.at_level(logging.WARNING, logger="opentelemetry.exporter.otlp"):
            result = await export(service, trace.spans)
        assert result == SpanExportResult.SUCCESS
        retried = [r.getMessage() for r in caplog.records if "Transient error" in r.getMessage()]
        assert retried, [r.getMessage() for r in caplog.records]
        assert "Service Unavailable" in retried[0]
        assert "retrying in 1.00s" in retried[0]  # the server's Retry-After
        await first_outcome(scratch_engine, trace)
        assert await counts(scratch_engine, trace) == (1, 2, 1)
        assert "otel.request_refused" in service.stderr()
    finally:
        await proxy.stop()


# ------------------------------------------------------------------------------ completion
async def test_max_age_ends_a_trace_without_an_outcome_span_and_names_late_spans(
    tmp_path: Path,
    scratch_url: str,
    scratch_engine: AsyncEngine,
    stopped: list[Served],
    simulation: uuid.UUID,
) -> None:
    service = start(tmp_path, scratch_url, ARC_OTEL_MAX_AGE_S="1")
    stopped.append(service)
    trace = agent_trace(simulation, "otel_weather")
    children = [s for s in trace.spans if s is not trace.agent]
    assert service.post(otlp_protobuf(children), **PROTOBUF).status_code == 200
    await asyncio.sleep(2.0)  # past the maximum age: dropped, no outcome span had come
    answer = service.post(otlp_protobuf([trace.agent]), **PROTOBUF)
    partial = ExportTraceServiceResponse.FromString(answer.content).partial_success
    assert partial.rejected_spans == 1
    assert "arrived after its trace was complete" in partial.error_message
    assert await counts(scratch_engine, trace) == (0, 0, 0)
    assert "otel.trace_dropped" in service.stderr()


async def test_buffered_traces_are_written_on_shutdown(
    tmp_path: Path, scratch_url: str, scratch_engine: AsyncEngine, simulation: uuid.UUID
) -> None:
    service = start(tmp_path, scratch_url, ARC_OTEL_QUIET_S="120", ARC_OTEL_MAX_AGE_S="600")
    trace = agent_trace(simulation, "otel_weather")
    try:
        assert await export(service, trace.spans) == SpanExportResult.SUCCESS
        await asyncio.sleep(0.5)
        assert await counts(scratch_engine, trace) == (0, 0, 0)  # complete in two minutes
    finally:
        assert service.stop() == 0, service.stderr()
    outcome = await first_outcome(scratch_engine, trace)
    assert outcome["execution_metadata"]["completion"] == "shutdown"
    assert await counts(scratch_engine, trace) == (1, 2, 1)


async def test_through_pgbouncer(
    tmp_path: Path,
    pgbouncer_url: str,
    scratch_url: str,
    scratch_engine: AsyncEngine,
    stopped: list[Served],
) -> None:
    pooled = on_database(pgbouncer_url, scratch_url)
    service = start(tmp_path, pooled)
    stopped.append(service)
    simulation = await open_simulation(pooled)
    traces = [agent_trace(simulation, s) for s in ("otel_weather", "otel_flights", "otel_hotels")]
    spans = [s for t in traces for s in t.spans]
    assert await export(service, spans) == SpanExportResult.SUCCESS
    for trace in traces:
        await first_outcome(scratch_engine, trace)
        assert await counts(scratch_engine, trace) == (1, 2, 1)
