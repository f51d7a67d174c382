"""`arc-db serve` on a loopback port for the OTLP tests, traces made with the real OpenTelemetry
SDK, and the rows they become.

- `start(...)`: the service as a user runs it (a subprocess), with ARC_OTEL_* settings.
- `agent_trace(...)`: one agent run as a GenAI-instrumented framework emits it: an
  `invoke_agent` span with two model calls and three tool calls, one of which raises.
- `otlp_json(...)`: spans in the OTLP JSON encoding, built from the SDK's own protobuf
  encoder (opentelemetry-exporter-otlp-proto-common) with ids turned to hex, as the
  specification writes them.
"""

import asyncio
import base64
import json
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.ingest.client import ArcDBClient
from tests.support.faults import make_config_version, scenario
from tests.support.served import Served
from tests.support.served import start as start_service

FAST = {"ARC_OTEL_QUIET_S": "0.3", "ARC_OTEL_MAX_AGE_S": "30", "ARC_OTEL_RETRY_AFTER_S": "1"}


def start(tmp_path: Path, url: str, **otel: str) -> Served:
    """`arc-db serve --url URL` on a free port with ARC_OTEL_* = FAST | otel; returns once it
    answers."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ARC_SERVE", "ARC_OTEL", "ARC_DB_")) and k != "TIMESCALE_SERVICE_URL"
    }
    env.update({**FAST, **otel})
    return start_service(tmp_path, url, "--graceful-timeout", "10", env=env)


# ---------------------------------------------------------------------------- the database
SCENARIOS = ("otel_weather", "otel_flights", "otel_hotels")


async def open_simulation(url: str, scenarios: Sequence[str] = SCENARIOS) -> uuid.UUID:
    """A running simulation of `scenarios`, created through the ingest API."""
    client = ArcDBClient(url, pool_size=1, max_overflow=1)
    try:
        version = await make_config_version(client.engine)
        sid = await client.create_simulation(
            version, [scenario(s, i) for i, s in enumerate(scenarios)]
        )
    finally:
        await client.close()
    return uuid.UUID(sid)


async def outcome_row(engine: AsyncEngine, outcome_id: uuid.UUID) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT * FROM outcomes WHERE outcome_id = :o"), {"o": outcome_id}
            )
        ).first()
    return dict(row._mapping) if row else None


async def rows_of(engine: AsyncEngine, table: str, outcome_id: uuid.UUID) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text(f"SELECT * FROM {table} WHERE outcome_id = :o ORDER BY 1"), {"o": outcome_id}
        )
        return [dict(r._mapping) for r in result]


async def wait_for_outcomes(
    engine: AsyncEngine, outcome_ids: Sequence[uuid.UUID], timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        async with engine.connect() as conn:
            found = (
                await conn.execute(
                    text("SELECT count(*) FROM outcomes WHERE outcome_id = ANY(:ids)"),
                    {"ids": list(outcome_ids)},
                )
            ).scalar_one()
        if found == len(outcome_ids):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{found} of {len(outcome_ids)} outcomes after {timeout}s")
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------------------- the traces
@dataclass
class AgentTrace:
    trace_id: str  # hex
    spans: list[ReadableSpan]

    @property
    def agent(self) -> ReadableSpan:
        return next(s for s in self.spans if s.name.startswith("invoke_agent"))


def tracer_provider(resource: dict[str, Any]) -> tuple[TracerProvider, InMemorySpanExporter]:
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-test", **resource}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


def agent_trace(
    simulation_id: uuid.UUID | str,
    scenario_id: str,
    *,
    on_resource: bool = False,
    cost: float | None = None,
    fail_agent: bool = False,
    model: str = "gpt-4o-2024-08-06",
) -> AgentTrace:
    """One agent run (see the module docstring). The ids go on the agent span, or on the
    resource with `on_resource`."""
    ids = {"arc.simulation_id": str(simulation_id), "arc.scenario_id": scenario_id}
    provider, memory = tracer_provider(ids if on_resource else {})
    tracer = provider.get_tracer("arc.tests.otel")
    agent_attributes: dict[str, Any] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "travel-agent",
        "gen_ai.request.model": model,
        **({} if on_resource else ids),
    }
    if cost is not None:
        agent_attributes["arc.cost_usd"] = cost
    try:
        with tracer.start_as_current_span(
            "invoke_agent travel-agent", kind=SpanKind.INTERNAL, attributes=agent_attributes
        ) as agent:
            with tracer.start_as_current_span(
                f"chat {model}",
                kind=SpanKind.CLIENT,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": model,
                    "gen_ai.response.model": model,
                    "gen_ai.usage.input_tokens": 1200,
                    "gen_ai.usage.output_tokens": 300,
                },
            ):
                time.sleep(0.003)
            with tracer.start_as_current_span(
                "execute_tool weather_api",
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "weather_api",
                },
            ):
                time.sleep(0.002)
            try:
                with tracer.start_as_current_span(
                    "execute_tool geocode",
                    attributes={
                        "gen_ai.operation.name": "execute_tool",
                        "gen_ai.tool.name": "geocode",
                    },
                ):
                    raise TimeoutError("geocoder timed out after 5s")
            except TimeoutError:
                pass
            with tracer.start_as_current_span(
                "execute_tool geocode",
                attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "geocode"},
            ):
                time.sleep(0.001)
            with tracer.start_as_current_span(
                f"chat {model}",
                kind=SpanKind.CLIENT,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": model,
                    "gen_ai.usage.input_tokens": 800,
                    "gen_ai.usage.output_tokens": 200,
                },
            ):
                time.sleep(0.002)
            if fail_agent:
                agent.set_status(Status(StatusCode.ERROR, "the agent gave up"))
    finally:
        provider.shutdown()
    spans = list(memory.get_finished_spans())
    trace_id = format(spans[0].context.trace_id, "032x")
    return AgentTrace(trace_id, spans)


def otlp_protobuf(spans: Sequence[ReadableSpan]) -> bytes:
    return bytes(encode_spans(spans).SerializeToString())


def hex_ids(document: Any) -> Any:
    """protobuf's JSON mapping (base64 ids) -> OTLP JSON (hex ids)."""
    if isinstance(document, dict):
        converted = {}
        for key, value in document.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                converted[key] = base64.b64decode(value).hex()
            else:
                converted[key] = hex_ids(value)
        return converted
    if isinstance(document, list):
        return [hex_ids(v) for v in document]
    return document


def otlp_json(spans: Sequence[ReadableSpan]) -> bytes:
    document = json_format.MessageToDict(encode_spans(spans))
    return json.dumps(hex_ids(document)).encode()
