"""OTLP trace ingestion against the ingest API, measured in the same run.

Creates a scratch database and a running simulation of 20 scenarios, then ARC_BENCH_REPEATS
rounds (default 3), each with fresh traces (ids derive from the trace, so a trace is written
once) of ARC_BENCH_OTEL_TRACES agent runs (default 3,000; six spans each: an `invoke_agent`
span, two model calls with token usage, three tool calls, one of them failing):

- otlp: the traces as OTLP/HTTP protobuf requests of 512 spans (the SDK batch processor's
  default batch), posted over loopback to `arc-db serve` (a subprocess, ARC_OTEL_QUIET_S=0.2)
  from two concurrent senders; timed from the first request to the last outcome stored (so
  it includes decoding, assembly, the quiet period, the mapping and the writes of outcomes,
  tool usage and failure patterns);
- record_outcomes_batch: the same number of outcomes, as the mapping makes them (the same
  trajectories), through ArcDBClient.record_outcomes_batch in batches of 200 (the receiver's
  batch): outcomes only, the reference the issue names;
- write_bundle: the same outcomes with their tool usage and failure rows through
  ArcDBClient.write_bundle in batches of 200: exactly the writes the receiver makes, so the
  ratio to it is the cost of the HTTP, decoding and assembly layer.

Prints spans/s and outcomes/s of each, and the ratios of the otlp rate to the two others.
Options: --traces N.
"""

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from sqlalchemy import text

from arc.database.ingest.client import ArcDBClient
from arc.database.ops.provision import drop_database, ensure_database, with_database
from arc.database.otel import PriceTable, map_trace
from arc.database.otel.decode import spans_of
from arc.database.schema import migrate
from bench.results import figure, half_noise

SPANS_PER_REQUEST = 512
SPANS_PER_TRACE = 6
WRITE_BATCH = 200
SCENARIOS = [f"otel_bench_{i:02d}" for i in range(20)]
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _kv(key: str, value: Any) -> KeyValue:
    pair = KeyValue(key=key)
    if isinstance(value, bool):
        pair.value.bool_value = value
    elif isinstance(value, int):
        pair.value.int_value = value
    elif isinstance(value, float):
        pair.value.double_value = value
    else:
        pair.value.string_value = str(value)
    return pair


def _span(
    trace_id: bytes,
    parent: bytes,
    start: int,
    ms: float,
    name: str,
    attributes: dict[str, Any],
    error: str | None = None,
) -> Span:
    span = Span(
        trace_id=trace_id,
        span_id=os.urandom(8),
        parent_span_id=parent,
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start,
        end_time_unix_nano=start + int(ms * 1_000_000),
        attributes=[_kv(k, v) for k, v in attributes.items()],
    )
    if error is not None:
        span.status.code = Status.STATUS_CODE_ERROR
        span.status.message = error
        event = span.events.add(name="exception", time_unix_nano=start)
        event.attributes.extend(
            [_kv("exception.type", "TimeoutError"), _kv("exception.message", error)]
        )
    return span


def make_traces(simulation: uuid.UUID, count: int) -> list[list[Span]]:
    """`count` agent runs of six spans (module docstring), their times in the last hour."""
    now = time.time_ns() - 3600 * 10**9
    traces = []
    for i in range(count):
        trace_id, start = os.urandom(16), now + i * 1_000_000
        agent = _span(
            trace_id, b"", start, 1800.0, "invoke_agent bench-agent",
            {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "bench-agent",
             "gen_ai.request.model": "gpt-4o-mini", "arc.simulation_id": str(simulation),
             "arc.scenario_id": SCENARIOS[i % len(SCENARIOS)]},
        )  # fmt: skip
        parent = agent.span_id
        model = {"gen_ai.operation.name": "chat", "gen_ai.response.model": "gpt-4o-mini"}
        tool = {"gen_ai.operation.name": "execute_tool"}
        children = [
            _span(trace_id, parent, start + 10**6, 400.0, "chat gpt-4o-mini",
                  {**model, "gen_ai.usage.input_tokens": 900 + i % 50,
                   "gen_ai.usage.output_tokens": 150}),
            _span(trace_id, parent, start + 500 * 10**6, 120.0, "execute_tool weather_api",
                  {**tool, "gen_ai.tool.name": "weather_api",
                   "gen_ai.tool.call.arguments": '{"city": "Lisbon", "units": "metric"}'}),
            _span(trace_id, parent, start + 700 * 10**6, 80.0, "execute_tool geocode",
                  {**tool, "gen_ai.tool.name": "geocode"}, error="geocoder timed out"),
            _span(trace_id, parent, start + 800 * 10**6, 90.0, "execute_tool geocode",
                  {**tool, "gen_ai.tool.name": "geocode"}),
            _span(trace_id, parent, start + 1000 * 10**6, 700.0, "chat gpt-4o-mini",
                  {**model, "gen_ai.usage.input_tokens": 1400, "gen_ai.usage.output_tokens": 220}),
        ]  # fmt: skip
        traces.append([*children, agent])  # as a batch processor sends them: by end time
    return traces


def requests_of(traces: list[list[Span]]) -> list[bytes]:
    spans = [span for trace in traces for span in trace]
    bodies = []
    for start in range(0, len(spans), SPANS_PER_REQUEST):
        message = ExportTraceServiceRequest(
            resource_spans=[
                ResourceSpans(
                    scope_spans=[ScopeSpans(spans=spans[start : start + SPANS_PER_REQUEST])]
                )
            ]
        )
        message.resource_spans[0].resource.attributes.append(_kv("service.name", "otel-bench"))
        bodies.append(message.SerializeToString())
    return bodies


def rows_of(traces: list[list[Span]]) -> list[Any]:
    """The rows the receiver makes of these traces (for the two references)."""
    prices = PriceTable.from_file(None)
    by_trace: dict[str, dict[str, Any]] = {}
    for body in requests_of(traces):  # a trace may straddle two requests
        spans, _ = spans_of(ExportTraceServiceRequest.FromString(body))
        for span in spans:
            by_trace.setdefault(span.trace_id, {})[span.span_id] = span
    rows = [map_trace(held, prices) for held in by_trace.values()]
    assert all(row is not None for row in rows)
    return rows


async def _stored(client: ArcDBClient, simulation: uuid.UUID) -> int:
    async with client.engine.connect() as conn:
        count = await conn.execute(
            text("SELECT count(*) FROM outcomes WHERE simulation_id = :s"), {"s": simulation}
        )
        return int(count.scalar_one())


async def _otlp(base: str, client: ArcDBClient, simulation: uuid.UUID, traces: Any) -> float:
    bodies = requests_of(traces)
    before = await _stored(client, simulation)
    queue = list(bodies)

    async def sender(http: httpx.AsyncClient) -> None:
        while queue:
            body = queue.pop(0)
            while True:
                answer = await http.post(f"{base}/v1/traces", content=body, headers=PROTOBUF)
                if answer.status_code == 200:
                    break
                assert answer.status_code in (429, 503), answer.text
                await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))

    started = time.perf_counter()
    async with httpx.AsyncClient(trust_env=False, timeout=60) as http:
        await asyncio.gather(sender(http), sender(http))
    while await _stored(client, simulation) < before + len(traces):
        await asyncio.sleep(0.05)
    return time.perf_counter() - started


async def _reference(client: ArcDBClient, rows: list[Any], *, bundle: bool) -> float:
    started = time.perf_counter()
    for start in range(0, len(rows), WRITE_BATCH):
        chunk = rows[start : start + WRITE_BATCH]
        if bundle:
            await client.write_bundle(
                [r.outcome for r in chunk],
                [t for r in chunk for t in r.tool_usage],
                [f for r in chunk for f in r.failure_patterns],
                on_invalid="skip",
            )
        else:
            await client.record_outcomes_batch([r.outcome for r in chunk])
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`arc-db serve` on a free loopback port, a quiet period of 0.2 s and room to spare."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARC_OTEL", "ARC_SERVE"))}
    env.update(
        {
            "ARC_OTEL_QUIET_S": "0.2",
            "ARC_OTEL_MAX_SPANS": "200000",
            "ARC_OTEL_MAX_BUFFER_BYTES": str(512 << 20),
            "ARC_OTEL_RETRY_AFTER_S": "1",
        }
    )
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "arc.database.cli", "--url", url, "--log-level", "WARNING",
             "serve", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=sink,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1, trust_env=False).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"arc-db serve did not start: {log.read_text()[-2000:]}")


async def _simulation(client: ArcDBClient) -> uuid.UUID:
    """A running simulation of the 20 scenarios (a configuration and version of its own)."""
    config_id, version_id = uuid.uuid4(), uuid.uuid4()
    async with client.engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO configurations (config_id, name, user_id) VALUES (:c, 'otel', :u)"),
            {"c": config_id, "u": uuid.uuid4()},
        )
        await conn.execute(
            text(
                "INSERT INTO config_versions (version_id, config_id, version_number, raw_yaml,"
                " parsed_config, config_hash) VALUES (:v, :c, 1, 'model: m',"
                " CAST(:p AS jsonb), :h)"
            ),
            {
                "v": version_id,
                "c": config_id,
                "p": '{"model":"m","temperature":0.2}',
                "h": "c" * 64,
            },
        )
    scenarios = [
        {"id": s, "name": f"OTLP bench scenario {i}", "task_prompt": "A benchmark task."}
        for i, s in enumerate(SCENARIOS)
    ]
    return uuid.UUID(await client.create_simulation(version_id, scenarios))


async def run(server_url: str, args: Sequence[str] = ()) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench otel")
    parser.add_argument("--traces", type=int, default=None, help="agent runs per round")
    options = parser.parse_args(list(args))
    count = options.traces or int(os.environ.get("ARC_BENCH_OTEL_TRACES", "3000"))
    repeats = int(os.environ.get("ARC_BENCH_REPEATS", "3"))
    url = with_database(server_url, f"arc_bench_otel_{uuid.uuid4().hex[:8]}")
    await ensure_database(url)
    times: dict[str, list[float]] = {"otlp": [], "record_outcomes_batch": [], "write_bundle": []}
    log = Path(tempfile.mkdtemp()) / "serve.log"
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        client = ArcDBClient(url, pool_size=2, max_overflow=2, log_level="WARNING")
        process, base = _serve(url, log)
        try:
            simulation = await _simulation(client)
            # warm up every path (imports, plans, the server's pools)
            await _otlp(base, client, simulation, make_traces(simulation, 50))
            await _reference(client, rows_of(make_traces(simulation, 50)), bundle=True)
            await _reference(client, rows_of(make_traces(simulation, 50)), bundle=False)
            print(
                f"{count:,} traces of {SPANS_PER_TRACE} spans per round, {repeats} rounds, "
                f"requests of {SPANS_PER_REQUEST} spans, writes of {WRITE_BATCH} outcomes"
            )
            for _ in range(repeats):
                traces = make_traces(simulation, count)
                times["otlp"].append(await _otlp(base, client, simulation, traces))
                rows = rows_of(make_traces(simulation, count))
                times["record_outcomes_batch"].append(await _reference(client, rows, bundle=False))
                rows = rows_of(make_traces(simulation, count))
                times["write_bundle"].append(await _reference(client, rows, bundle=True))
        finally:
            process.terminate()
            process.wait(timeout=60)
            await client.close()
    finally:
        await drop_database(url)
    medians = {name: statistics.median(spent) for name, spent in times.items()}
    print(f"{'path':<24} {'median s':>9} {'outcomes/s':>11} {'spans/s':>9}")
    for name, median in medians.items():
        spans = f"{count * SPANS_PER_TRACE / median:>9,.0f}" if name == "otlp" else f"{'':>9}"
        print(f"{name:<24} {median:>9.2f} {count / median:>11,.0f} {spans}")
    ratios = {
        name: medians[name] / medians["otlp"] for name in ("record_outcomes_batch", "write_bundle")
    }
    for name, ratio in ratios.items():
        print(f"otlp outcomes/s as a ratio to {name}: {ratio:.2f}")
    return {
        "traces": count,
        "repeats": repeats,
        "median_s": {k: round(v, 3) for k, v in medians.items()},
        "figures": {
            "otlp_spans_per_s": figure(
                count * SPANS_PER_TRACE / medians["otlp"], "rows/s", "higher"
            ),
            "otlp_outcomes_per_s": figure(count / medians["otlp"], "rows/s", "higher"),
            **{
                f"ratio_to_{name}": figure(
                    ratio,
                    "ratio",
                    "higher",
                    half_noise(
                        [b / a for a, b in zip(times["otlp"], times[name], strict=True)],
                        statistics.median,
                    ),
                )
                for name, ratio in ratios.items()
            },
        },
    }
