"""OtlpReceiver: OTLP/HTTP trace requests in, outcomes with their tool usage and failure
patterns out, through the ingest write path (docs/otel.md).

A request is handled whole or not at all:
1. decoded (decode.py; 400 / 413 / 415 with the reason, nothing kept);
2. the spans that can be an outcome are checked against the simulations they name
   (simulations.py; a refused trace's spans are rejected in the partial success; 503 when
   the database cannot answer);
3. taken into the bounded buffer (buffer.py), or, without room, refused whole: 429 while the
   database keeps up (the exporter sends faster than traces complete and are written), 503
   while writes are failing; both with Retry-After.
The answer comes once the spans are buffered. A writer task takes the complete traces
(assembly.py) every `tick`, maps them (mapping.py) and writes `batch_traces` of them per
transaction with ArcDBClient.write_bundle, so an outcome, its tool usage and its failures
land together and a trace written twice is a duplicate. When writes fail transiently the
traces stay buffered and are tried again; `close` writes everything still buffered.

Spans are held in memory until written: a process that dies loses them (the exporter, having
had its 200, does not send them again). Bound that with ARC_OTEL_QUIET_S / ARC_OTEL_MAX_AGE_S.
"""

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass

import structlog

from arc.database.core.checks import check_scenario_id, check_uuid
from arc.database.core.errors import ArcDatabaseError, ArcTransientError, ArcValidationError
from arc.database.core.logging import redact_text
from arc.database.core.settings import DatabaseSettings
from arc.database.ingest.client import ArcDBClient
from arc.database.otel.assembly import CompletionRule, TraceAssembly
from arc.database.otel.buffer import TraceBuffer
from arc.database.otel.decode import (
    OtlpRequestError,
    PayloadTooLarge,
    encoding_of,
    inflate,
    parse,
    spans_of,
)
from arc.database.otel.mapping import TraceRows, map_trace
from arc.database.otel.prices import PriceTable
from arc.database.otel.replies import Reply, accepted, refused
from arc.database.otel.settings import OtelSettings
from arc.database.otel.simulations import Simulations
from arc.database.otel.spans import SpanRecord

log = structlog.get_logger("arc.database.otel")

DECODE_IN_THREAD_BYTES = 256 << 10  # larger bodies are decoded off the event loop
RETRY_WRITES_AFTER_S = 1.0  # first pause after a failed write; doubles up to the next one
MAX_RETRY_PAUSE_S = 30.0


@dataclass
class ReceiverStats:
    requests: int = 0
    spans_received: int = 0
    spans_accepted: int = 0
    spans_rejected: int = 0
    refused_400: int = 0  # 400, 413, 415
    refused_429: int = 0
    refused_503: int = 0
    traces_written: int = 0
    outcomes_inserted: int = 0
    outcomes_duplicate: int = 0
    traces_without_outcome: int = 0  # complete, but no span could be the outcome: dropped
    traces_rejected: int = 0  # the write path refused the outcome (logged)
    write_failures: int = 0  # transient: the traces were kept and written later

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class OtlpReceiver:
    def __init__(
        self,
        client: ArcDBClient,
        settings: OtelSettings | None = None,
        *,
        prices: PriceTable | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.settings = settings = settings or OtelSettings()
        self.prices = prices or PriceTable.from_file(settings.prices)
        self.clock = clock
        self.buffer = TraceBuffer(
            rule=CompletionRule(settings.quiet_s, settings.max_age_s),
            max_spans=settings.max_spans,
            max_bytes=settings.max_buffer_bytes,
            max_trace_spans=settings.max_trace_spans,
            remember=settings.remember_traces,
        )
        self.simulations = Simulations(
            client.engine, ttl=settings.simulation_cache_s, timeout=settings.lookup_timeout_s
        )
        self.stats = ReceiverStats()
        self.tick = min(1.0, max(0.25, settings.quiet_s / 4))
        self.writes_failing = False
        self.closing = False
        self._retry: list[tuple[TraceAssembly, str]] = []  # failed transiently, to write again
        self._retry_at = 0.0
        self._pause = RETRY_WRITES_AFTER_S
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_database(
        cls, database: DatabaseSettings, settings: OtelSettings | None = None
    ) -> "OtlpReceiver":
        """A receiver with a client (and a small pool) of its own on `database`."""
        settings = settings or OtelSettings.from_env()
        prices = PriceTable.from_file(settings.prices)  # a bad price file fails at startup
        client = ArcDBClient(
            database.url,
            pool_size=settings.pool_size,
            max_overflow=settings.pool_size,
            pool_timeout=database.pool_timeout,
            pool_recycle=database.pool_recycle,
            command_timeout=database.command_timeout,
            connect_timeout=database.connect_timeout,
            pgbouncer=database.pgbouncer,
            read_url=None,
            application_name=f"{database.application_name}-otel",
            server_settings=database.server_settings,
        )
        return cls(client, settings, prices=prices)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="otel-writer")

    async def close(self) -> None:
        """Refuse new requests (503), write every buffered trace, close the client."""
        self.closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush(force=True)
        finally:
            lost = self.buffer.spans
            if lost:
                log.error(
                    "otel.shutdown_lost",
                    spans=lost,
                    traces=len(self.buffer.writing) + len(self.buffer.open),
                    reason="the database could not be written before shutdown",
                )
            log.info("otel.stopped", **self.stats.as_dict())
            await self.client.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                await self.flush()
            except Exception as exc:  # the writer must outlive any one bad trace or batch
                log.error("otel.writer_error", error=redact_text(f"{type(exc).__name__}: {exc}"))

    # ------------------------------------------------------------------ requests
    def too_large(self, content_type: str | None, size: int) -> Reply:
        limit = self.settings.max_body_bytes
        return self._refuse(
            content_type,
            PayloadTooLarge("body", f"must be at most {limit} bytes (ARC_OTEL_MAX_BODY_BYTES)"),
            size=size,
        )

    def _refuse(self, content_type: str | None, exc: OtlpRequestError, **context: object) -> Reply:
        self.stats.refused_400 += 1
        log.info("otel.request_refused", status=exc.status, reason=str(exc), **context)
        try:
            encoding = encoding_of(content_type)
        except OtlpRequestError:
            encoding = "json"
        return refused(encoding, exc.status, str(exc))

    async def receive(
        self, body: bytes, content_type: str | None, content_encoding: str | None
    ) -> Reply:
        """Handle one POST /v1/traces (the module docstring)."""
        self.stats.requests += 1
        try:
            encoding = encoding_of(content_type)
            data = inflate(body, content_encoding, self.settings.max_body_bytes)
            if len(data) > DECODE_IN_THREAD_BYTES:
                message = await asyncio.to_thread(parse, data, encoding)
            else:
                message = parse(data, encoding)
            spans, rejected = spans_of(message)
        except OtlpRequestError as exc:
            return self._refuse(content_type, exc)
        retry_after = self.settings.retry_after_s
        if self.closing:
            self.stats.refused_503 += 1
            return refused(encoding, 503, "the receiver is shutting down", retry_after=retry_after)
        try:
            refusals = await self._check(spans)
        except ArcTransientError as exc:
            self.stats.refused_503 += 1
            log.warning("otel.request_refused", status=503, reason=str(exc))
            return refused(
                encoding,
                503,
                "the database cannot be reached to check the simulations the spans name; "
                "nothing was taken",
                retry_after=retry_after,
            )
        except ArcDatabaseError as exc:  # e.g. the service's role may not read simulations
            log.error("otel.check_failed", error=redact_text(str(exc))[:500])
            return refused(encoding, 500, f"the simulations could not be checked: {exc}")
        for trace_id, reason in refusals.items():
            self.buffer.refuse(trace_id, reason)
        taken = self.buffer.offer(spans, self.clock())
        if taken is None:
            held = f"{self.buffer.spans} spans, {self.buffer.bytes} bytes held"
            if self.writes_failing:
                status = 503
                reason = f"the trace buffer is full ({held}) while writes are failing"
                self.stats.refused_503 += 1
            else:
                status = 429
                reason = f"the trace buffer is full ({held}): traces arrive faster than they "
                reason += "complete and are written"
                self.stats.refused_429 += 1
            log.warning("otel.request_refused", status=status, reason=reason)
            return refused(
                encoding, status, f"{reason}; nothing was taken", retry_after=retry_after
            )
        self.stats.spans_received += len(spans) + len(rejected)
        self.stats.spans_accepted += len(spans) - len(taken)
        rejected.extend(taken)
        self.stats.spans_rejected += len(rejected)
        if rejected:
            log.info("otel.spans_rejected", rejected=len(rejected), first=rejected[0].describe())
        return accepted(encoding, rejected)

    async def _check(self, spans: list[SpanRecord]) -> dict[str, str]:
        """trace id -> why no outcome can come of it, for the traces whose outcome-capable
        spans name a malformed id, a missing or finished simulation, or a scenario outside it."""
        refusals: dict[str, str] = {}
        wanted: list[tuple[SpanRecord, uuid.UUID, str]] = []
        for span in spans:
            if not span.may_be_outcome or span.trace_id in refusals:
                continue
            simulation, scenario = span.arc_ids
            try:
                sid = check_uuid(simulation, "arc.simulation_id", required=True)
                scenario_id = check_scenario_id(scenario, "arc.scenario_id")
            except ArcValidationError as exc:
                refusals[span.trace_id] = str(exc)
                continue
            assert sid is not None
            wanted.append((span, sid, scenario_id))
        if not wanted:
            return refusals
        found = await self.simulations.lookup(sid for _, sid, _ in wanted)
        for span, sid, scenario_id in wanted:
            if span.trace_id in refusals:
                continue
            info = found.get(sid)
            if info is None:
                refusals[span.trace_id] = f"arc.simulation_id: simulation {sid} does not exist"
            elif (problem := info.problem_with(scenario_id)) is not None:
                refusals[span.trace_id] = problem
        return refusals

    # ------------------------------------------------------------------ writing
    async def flush(self, *, force: bool = False) -> None:
        """Write the complete traces (every buffered one when `force`)."""
        async with self._flush_lock:
            now = self.clock()
            ready = self.buffer.due(now, force=force)
            if self._retry and (force or now >= self._retry_at):
                ready = self._retry + ready
                self._retry = []
            batch = self.settings.batch_traces
            for start in range(0, len(ready), batch):
                if not await self._write(ready[start : start + batch]):
                    self._retry.extend(ready[start + batch :])
                    break

    def _rows(self, held: TraceAssembly, why: str) -> TraceRows | None:
        try:
            rows = map_trace(held.spans, self.prices, completion=why)
        except Exception as exc:  # a rule broken (typed), or anything else: never stuck here
            self.stats.traces_rejected += 1
            log.warning(
                "otel.trace_rejected",
                trace_id=held.trace_id,
                reason=str(exc) if isinstance(exc, ArcValidationError) else repr(exc)[:500],
            )
            self.buffer.done(held)
            return None
        if rows is None:
            self.stats.traces_without_outcome += 1
            log.warning(
                "otel.trace_dropped",
                trace_id=held.trace_id,
                spans=len(held.spans),
                completion=why,
                reason="no span of the trace can be its outcome (an agent invocation or the "
                "root, carrying arc.simulation_id and arc.scenario_id)",
            )
            self.buffer.done(held)
        return rows

    async def _write(self, chunk: list[tuple[TraceAssembly, str]]) -> bool:
        """Write one batch of traces; False (and the batch kept for later) when the database
        failed transiently."""
        mapped = [(held, why, rows) for held, why in chunk if (rows := self._rows(held, why))]
        if not mapped:
            return True
        outcomes = [rows.outcome for _, _, rows in mapped]
        tools = [row for _, _, rows in mapped for row in rows.tool_usage]
        failures = [row for _, _, rows in mapped for row in rows.failure_patterns]
        try:
            result = await self.client.write_bundle(
                outcomes, tools, failures, on_invalid="skip", operation="otel.write"
            )
        except ArcTransientError as exc:
            self.stats.write_failures += 1
            self.writes_failing = True
            self._retry.extend((held, why) for held, why, _ in mapped)
            self._retry_at = self.clock() + self._pause
            log.warning(
                "otel.write_failed",
                traces=len(mapped),
                retry_in_s=self._pause,
                error=redact_text(str(exc)),
            )
            self._pause = min(MAX_RETRY_PAUSE_S, self._pause * 2)
            return False
        except ArcDatabaseError as exc:  # not transient: these traces cannot be written
            self.stats.traces_rejected += len(mapped)
            log.error("otel.batch_rejected", traces=len(mapped), error=redact_text(str(exc))[:500])
            for held, _, _ in mapped:
                self.buffer.done(held)
            return True
        self.writes_failing = False
        self._pause = RETRY_WRITES_AFTER_S
        refused_outcomes: dict[int, str] = {}
        for error in result.rejected:
            table, index = getattr(error, "table", None), getattr(error, "index", None)
            if table == "outcomes" and isinstance(index, int):
                refused_outcomes[index] = str(error)
            else:
                log.warning("otel.row_rejected", table=table, index=index, reason=str(error))
        for i, (held, _, _) in enumerate(mapped):
            if i in refused_outcomes:
                self.stats.traces_rejected += 1
                log.warning(
                    "otel.trace_rejected", trace_id=held.trace_id, reason=refused_outcomes[i]
                )
            else:
                self.stats.traces_written += 1
            self.buffer.done(held)
        self.stats.outcomes_inserted += result.inserted
        self.stats.outcomes_duplicate += result.duplicates
        log.info(
            "otel.batch_written",
            traces=len(mapped),
            inserted=result.inserted,
            duplicates=result.duplicates,
            tool_usage=len(result.tool_usage_ids),
            failure_patterns=len(result.failure_pattern_ids),
            rejected=len(result.rejected),
        )
        return True
