"""BatchExecutionRecorder (seed 002 §9A, issue #5): buffered, lossless, batched ingest.

Many concurrent producers call `record_outcome` (with the tool usage and failure patterns of
that outcome); background workers write a batch when `batch_size` entries are waiting or the
oldest has waited `flush_interval` seconds. The buffer is bounded: producers wait when it is
full (backpressure), nothing is dropped. While the database is down a batch stays in memory
and is retried with backoff (ids and times were fixed when the row was recorded, so retries
cannot duplicate). Invalid rows are reported (callback + dead letters) and never block the
valid ones. `close()` (or leaving `async with`) writes everything still buffered.
"""

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from arc.database.core.checks import check_uuid
from arc.database.core.errors import ArcDatabaseError, ArcTransientError, ArcValidationError
from arc.database.ingest.client import ArcDBClient
from arc.database.ingest.validation import (
    normalize_failure_pattern,
    normalize_outcome,
    normalize_tool_usage,
)

log = structlog.get_logger(__name__)

Row = dict[str, Any]


@dataclass
class RejectedRow:
    """A row that will never be written, and why."""

    kind: str  # "outcome", "tool_usage", "failure_pattern"
    data: Any
    error: ArcDatabaseError


@dataclass
class _Entry:
    outcome: Row | None
    tool_usage: list[Row] = field(default_factory=list)
    failures: list[Row] = field(default_factory=list)
    enqueued: float = field(default_factory=time.monotonic)


RejectCallback = Callable[[RejectedRow], Any]


class BatchExecutionRecorder:
    def __init__(
        self,
        client: ArcDBClient,
        batch_size: int = 100,
        flush_interval: float = 30.0,
        *,
        max_buffered: int | None = None,
        max_concurrent_flushes: int = 2,
        on_reject: RejectCallback | None = None,
        retry_delay: float = 0.5,
        max_retry_delay: float = 10.0,
    ) -> None:
        if batch_size < 1 or flush_interval <= 0:
            raise ValueError("batch_size must be >= 1 and flush_interval > 0")
        self.client = client
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_buffered = max_buffered or 10 * batch_size
        self.max_concurrent_flushes = max(1, max_concurrent_flushes)
        self.on_reject = on_reject
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.dead_letters: list[RejectedRow] = []
        self.flushed = 0  # outcome rows stored (new or already there)
        self.flushed_tool_usage = 0
        self.flushed_failure_patterns = 0
        self.batches = 0
        self.retried = 0  # batch write attempts that failed transiently and were retried
        self.rejected = 0
        self._buffer: deque[_Entry] = deque()
        self._pending_by_outcome: dict[Any, _Entry] = {}
        self._times: dict[Any, datetime] = {}  # outcome_id -> execution_time (recent)
        self._in_flight = 0
        self._cond = asyncio.Condition()
        self._workers: list[asyncio.Task[None]] = []
        self._closing = False
        self._flush_requested = 0

    # ------------------------------------------------------------------ counts

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def stats(self) -> dict[str, int]:
        return {
            "buffered": self.buffered,
            "in_flight": self._in_flight,
            "flushed": self.flushed,
            "flushed_tool_usage": self.flushed_tool_usage,
            "flushed_failure_patterns": self.flushed_failure_patterns,
            "batches": self.batches,
            "retried": self.retried,
            "rejected": self.rejected,
        }

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> "BatchExecutionRecorder":
        self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def start(self) -> None:
        if self._workers or self._closing:
            return
        self._workers = [
            asyncio.create_task(self._worker(), name=f"arc-recorder-{i}")
            for i in range(self.max_concurrent_flushes)
        ]

    async def flush(self) -> None:
        """Write everything buffered now (and wait until written)."""
        self.start()
        async with self._cond:
            self._flush_requested += 1
            self._cond.notify_all()
            try:
                while self._buffer or self._in_flight:
                    await self._cond.wait()
            finally:
                self._flush_requested -= 1

    async def close(self, timeout: float | None = None) -> None:
        """Write everything still buffered, then stop the workers.

        With `timeout`, gives up after that many seconds (database still down) and raises
        ArcTransientError; the unwritten rows stay available through `pending()`.
        """
        self.start()
        async with self._cond:
            self._closing = True
            self._cond.notify_all()
        workers = list(self._workers)
        if not workers:
            return
        done, not_done = await asyncio.wait(workers, timeout=timeout)
        for task in not_done:
            task.cancel()
        if not_done:
            await asyncio.gather(*not_done, return_exceptions=True)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        log.info("recorder.closed", **self.stats())
        if self._buffer:
            raise ArcTransientError(
                f"recorder closed with {len(self._buffer)} unwritten entries (database unreachable)"
            )

    def pending(self) -> list[Row]:
        """Outcome rows not yet written (after a close that timed out)."""
        return [e.outcome for e in self._buffer if e.outcome is not None]

    # ------------------------------------------------------------------ producers

    async def record_outcome(
        self,
        outcome: Mapping[str, Any],
        *,
        tool_usage: Sequence[Mapping[str, Any]] = (),
        failure_patterns: Sequence[Mapping[str, Any]] = (),
    ) -> str | None:
        """Buffer one outcome with its tool usage and failure patterns; returns its id.

        The outcome_id and execution_time are fixed now. Invalid input is reported through
        `on_reject`/`dead_letters` (nothing of that outcome is written) and None is returned.
        """
        try:
            row = normalize_outcome(outcome)
            oid, when = row["outcome_id"], row["execution_time"]
            tools = [
                normalize_tool_usage({"outcome_id": oid, **t}, i, execution_time=when)
                for i, t in enumerate(tool_usage)
            ]
            failures = [
                normalize_failure_pattern({"outcome_id": oid, **f}, i, execution_time=when)
                for i, f in enumerate(failure_patterns)
            ]
        except ArcValidationError as exc:
            self._reject(RejectedRow("outcome", outcome, exc))
            return None
        entry = _Entry(row, tools, failures)
        await self._put(entry)
        return str(oid)

    async def record_tool_usage(self, tool_events: Sequence[Mapping[str, Any]]) -> int:
        """Buffer tool usage rows; they are written with or after their outcome."""
        accepted = 0
        for i, event in enumerate(tool_events):
            try:
                when = self._time_of(event)
                row = normalize_tool_usage(event, i, execution_time=when)
            except ArcValidationError as exc:
                self._reject(RejectedRow("tool_usage", event, exc))
                continue
            await self._attach(row, "tool_usage")
            accepted += 1
        return accepted

    async def record_failure_pattern(self, failure: Mapping[str, Any]) -> str | None:
        try:
            when = self._time_of(failure)
            row = normalize_failure_pattern(failure, execution_time=when)
        except ArcValidationError as exc:
            self._reject(RejectedRow("failure_pattern", failure, exc))
            return None
        await self._attach(row, "failures")
        return str(row["pattern_id"])

    def _time_of(self, data: Any) -> datetime | None:
        if isinstance(data, Mapping) and data.get("execution_time") is None:
            oid = check_uuid(data.get("outcome_id"), "outcome_id", required=True)
            return self._times.get(oid)
        return None

    async def _attach(self, row: Row, kind: str) -> None:
        async with self._cond:
            entry = self._pending_by_outcome.get(row["outcome_id"])
            if entry is not None:  # outcome still buffered: travel with it
                getattr(entry, kind).append(row)
                return
        # Outcome already written (or recorded elsewhere): a standalone entry, after it.
        standalone = _Entry(None)
        getattr(standalone, kind).append(row)
        await self._put(standalone)

    async def _put(self, entry: _Entry) -> None:
        self.start()
        async with self._cond:
            while len(self._buffer) + self._in_flight >= self.max_buffered:
                await self._cond.wait()  # backpressure: wait for a flush to make room
            self._buffer.append(entry)
            if entry.outcome is not None:
                oid = entry.outcome["outcome_id"]
                self._pending_by_outcome[oid] = entry
                self._times[oid] = entry.outcome["execution_time"]
                if len(self._times) > 100_000:
                    self._times.pop(next(iter(self._times)))
            if len(self._buffer) >= self.batch_size:
                self._cond.notify_all()

    def _reject(self, rejected: RejectedRow) -> None:
        self.rejected += 1
        self.dead_letters.append(rejected)
        log.warning(
            "recorder.rejected",
            kind=rejected.kind,
            field=getattr(rejected.error, "field", None),
            rule=getattr(rejected.error, "rule", str(rejected.error)),
        )
        if self.on_reject is not None:
            try:
                self.on_reject(rejected)
            except Exception:  # a faulty callback must not stop ingest
                log.exception("recorder.reject_callback_failed")

    # ------------------------------------------------------------------ workers

    def _due(self) -> bool:
        if not self._buffer:
            return False
        if self._closing or self._flush_requested or len(self._buffer) >= self.batch_size:
            return True
        return time.monotonic() - self._buffer[0].enqueued >= self.flush_interval

    async def _worker(self) -> None:
        while True:
            async with self._cond:
                while not self._due():
                    if self._closing and not self._buffer:
                        return
                    timeout = None
                    if self._buffer:
                        age = time.monotonic() - self._buffer[0].enqueued
                        timeout = max(0.0, self.flush_interval - age)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._cond.wait(), timeout)
                batch = [
                    self._buffer.popleft() for _ in range(min(self.batch_size, len(self._buffer)))
                ]
                for entry in batch:
                    if entry.outcome is not None:
                        self._pending_by_outcome.pop(entry.outcome["outcome_id"], None)
                self._in_flight += len(batch)
            try:
                await self._write(batch)
            except BaseException:
                async with self._cond:  # not written (cancelled): keep the rows, in order
                    self._buffer.extendleft(reversed(batch))
                    self._in_flight -= len(batch)
                    self._cond.notify_all()
                raise
            async with self._cond:
                self._in_flight -= len(batch)
                self._cond.notify_all()

    async def _write(self, batch: list[_Entry]) -> None:
        outcomes = [e.outcome for e in batch if e.outcome is not None]
        tools = [t for e in batch for t in e.tool_usage]
        failures = [f for e in batch for f in e.failures]
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                result = await self.client.write_bundle(
                    outcomes, tools, failures, on_invalid="skip", operation="recorder.flush"
                )
            except ArcTransientError as exc:
                attempt += 1
                self.retried += 1
                breaker_wait = self.client.circuit_breaker.seconds_until_probe()
                delay = max(
                    breaker_wait,
                    min(self.max_retry_delay, self.retry_delay * 2 ** min(attempt - 1, 10)),
                )
                log.warning(
                    "recorder.retry",
                    attempt=attempt,
                    rows=len(outcomes),
                    delay_s=round(delay, 2),
                    error=str(exc),
                )
                await asyncio.sleep(delay)
                continue
            except ArcDatabaseError as exc:
                # Not row-level and not transient: nothing of this batch can be written.
                for row in outcomes:
                    self._reject(RejectedRow("outcome", row, exc))
                return
            break
        for error in result.rejected:
            index = getattr(error, "index", None)
            table = getattr(error, "table", None)
            if table in ("tool_usage", "failure_patterns") or index is None:
                kind = "tool_usage" if table == "tool_usage" else "failure_pattern"
                self._reject(RejectedRow(kind, None, error))
            else:
                self._reject(RejectedRow("outcome", outcomes[index], error))
        self.batches += 1
        self.flushed += result.inserted + result.duplicates
        self.flushed_tool_usage += len(result.tool_usage_ids)
        self.flushed_failure_patterns += len(result.failure_pattern_ids)
        log.info(
            "recorder.flushed",
            rows=len(outcomes),
            inserted=result.inserted,
            duplicates=result.duplicates,
            rejected=len(result.rejected),
            tool_usage=len(tools),
            failure_patterns=len(failures),
            attempts=attempt + 1,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
