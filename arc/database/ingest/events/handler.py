"""ExecutionEventHandler: bounded queues, workers sharded by simulation, journal, replay."""

import asyncio
import json
import os
import random
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.core.errors import (
    ArcTransientError,
    ArcValidationError,
    is_transient,
    sqlstate_of,
    translate_error,
)
from arc.database.ingest.events.apply import apply_event
from arc.database.ingest.events.journal import Journal, journal_lines
from arc.database.ingest.events.model import (
    ExecutionCompleted,
    ExecutionEvent,
    ExecutionFailed,
    ExecutionStarted,
    ScenarioCompleted,
    ScenarioStarted,
    event_from_dict,
    parse_time,
)

log = structlog.get_logger("arc.database.ingest.events")


def _is_database_error(exc: BaseException) -> bool:
    """Driver and connection errors are translated; anything else (a bug) stays as it is."""
    return sqlstate_of(exc) is not None or is_transient(exc)


@dataclass
class EventMetrics:
    received: int = 0
    rejected: int = 0
    applied: int = 0
    noop: int = 0
    failed: int = 0
    retried: int = 0
    replayed: int = 0


@dataclass(frozen=True)
class ReplayReport:
    read: int
    selected: int
    applied: int
    noop: int
    failed: int
    corrupt_lines: int
    errors: tuple[str, ...] = ()


class ExecutionEventHandler:
    """Bounded queues, N workers (sharded by simulation), a JSON-lines journal, idempotent apply.

    Use as `async with handler:` or call start()/stop(). Without a journal_path, events are
    not persisted (replay impossible) — fine for tests, not for production.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        journal_path: str | os.PathLike[str] | None = None,
        queue_size: int = 1000,
        workers: int = 1,
        batch_size: int = 100,
        max_attempts: int = 5,
        retry_base_delay: float = 0.2,
    ) -> None:
        if workers < 1 or queue_size < 1 or batch_size < 1 or max_attempts < 1:
            raise ArcValidationError(
                "workers", "workers, queue_size, batch_size, max_attempts must be >= 1"
            )
        self._engine = engine
        self.journal_path = Path(journal_path) if journal_path is not None else None
        self._journal = Journal(self.journal_path) if self.journal_path is not None else None
        self._queues: list[asyncio.Queue[ExecutionEvent]] = [
            asyncio.Queue(maxsize=queue_size) for _ in range(workers)
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._retry_base_delay = retry_base_delay
        self._counters = EventMetrics()

    # lifecycle
    async def start(self) -> None:
        if self._tasks:
            return
        if self._journal is not None:
            self._journal.open()
        self._tasks = [
            asyncio.create_task(self._worker(i, q), name=f"arc-events-{i}")
            for i, q in enumerate(self._queues)
        ]
        log.info("events.handler_started", workers=len(self._tasks), journal=str(self.journal_path))

    async def stop(self, *, drain: bool = True) -> None:
        """Stop the workers; with drain, after every queued event was applied (or failed)."""
        if drain:
            for q in self._queues:
                await q.join()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._journal is not None:
            self._journal.close()
        log.info("events.handler_stopped", **self.metrics())

    async def __aenter__(self) -> "ExecutionEventHandler":
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop(drain=exc is None)

    # intake
    async def submit(self, event: ExecutionEvent | Mapping[str, Any]) -> ExecutionEvent:
        """Validate, journal, enqueue. Waits when the queue is full."""
        try:
            typed = event if isinstance(event, ExecutionEvent) else event_from_dict(event)
        except ArcValidationError as exc:
            self._counters.rejected += 1
            log.warning("events.rejected", field=exc.field, rule=exc.rule)
            raise
        if not self._tasks:
            await self.start()
        self._write_journal(typed)
        self._counters.received += 1
        log.debug("events.received", event_type=typed.event_type, event_id=str(typed.event_id))
        await self._queue_for(typed.simulation_id).put(typed)
        return typed

    emit = submit

    def _queue_for(self, simulation_id: uuid.UUID) -> "asyncio.Queue[ExecutionEvent]":
        return self._queues[zlib.crc32(simulation_id.bytes) % len(self._queues)]

    def _write_journal(self, event: ExecutionEvent) -> None:
        if self._journal is not None:
            self._journal.append(event)

    # seed 002 §8B names: apply directly (journaled first), bypassing the queue
    async def handle_execution_started(self, event: ExecutionStarted | Mapping[str, Any]) -> str:
        return await self._handle_now(event)

    async def handle_scenario_started(self, event: ScenarioStarted | Mapping[str, Any]) -> str:
        return await self._handle_now(event)

    async def handle_scenario_completed(self, event: ScenarioCompleted | Mapping[str, Any]) -> str:
        return await self._handle_now(event)

    async def handle_execution_completed(
        self, event: ExecutionCompleted | Mapping[str, Any]
    ) -> str:
        return await self._handle_now(event)

    async def handle_execution_failed(self, event: ExecutionFailed | Mapping[str, Any]) -> str:
        return await self._handle_now(event)

    async def _handle_now(self, event: ExecutionEvent | Mapping[str, Any]) -> str:
        typed = event if isinstance(event, ExecutionEvent) else event_from_dict(event)
        if self._journal is not None:
            self._journal.open()
            self._journal.append(typed)
            self._journal.sync()
        self._counters.received += 1
        return await self._apply_with_retry(typed, raise_errors=True)

    # processing
    async def _worker(self, index: int, queue: "asyncio.Queue[ExecutionEvent]") -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < self._batch_size and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                if self._journal is not None and self._journal.is_open:
                    await asyncio.to_thread(self._journal.sync)
                for event in batch:
                    await self._apply_with_retry(event, raise_errors=False)
            finally:
                for _ in batch:
                    queue.task_done()

    async def _apply_with_retry(self, event: ExecutionEvent, *, raise_errors: bool) -> str:
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._engine.begin() as conn:
                    outcome = await apply_event(conn, event)
            except Exception as exc:  # classified below; nothing is swallowed silently
                error = translate_error(exc) if _is_database_error(exc) else exc
                if isinstance(error, ArcTransientError) and attempt < self._max_attempts:
                    self._counters.retried += 1
                    delay = self._retry_base_delay * 2 ** (attempt - 1)
                    await asyncio.sleep(delay * (0.5 + random.random()))
                    continue
                self._counters.failed += 1
                log.error(
                    "events.failed",
                    event_type=event.event_type,
                    event_id=str(event.event_id),
                    simulation_id=str(event.simulation_id),
                    attempts=attempt,
                    error=f"{type(error).__name__}: {error}"[:500],
                )
                if raise_errors:
                    raise error from exc
                return "failed"
            if outcome == "applied":
                self._counters.applied += 1
            else:
                self._counters.noop += 1
            log.info(
                "events.applied",
                event_type=event.event_type,
                event_id=str(event.event_id),
                simulation_id=str(event.simulation_id),
                result=outcome,
            )
            return outcome

    # replay
    async def replay(
        self,
        journal_path: str | os.PathLike[str] | None = None,
        since: datetime | None = None,
        simulation_id: uuid.UUID | None = None,
    ) -> ReplayReport:
        """Re-apply journaled events in journal order. Idempotent: safe to run any number of
        times. A torn last line (crash while writing) is skipped and counted."""
        path = Path(journal_path) if journal_path is not None else self.journal_path
        if path is None:
            raise ArcValidationError("journal_path", "is required (the handler has no journal)")
        if self._journal is not None:
            self._journal.flush()
        since_utc = parse_time(since, "since") if since is not None else None
        read = selected = applied = noop = failed = corrupt = 0
        errors: list[str] = []
        for line_no, raw in journal_lines(path):
            read += 1
            try:
                event = event_from_dict(json.loads(raw))
            except (ValueError, ArcValidationError) as exc:
                corrupt += 1
                errors.append(f"line {line_no}: {exc}"[:300])
                log.warning("events.journal_line_skipped", line=line_no, error=str(exc)[:300])
                continue
            if since_utc is not None and event.timestamp < since_utc:
                continue
            if simulation_id is not None and event.simulation_id != simulation_id:
                continue
            selected += 1
            result = await self._apply_with_retry(event, raise_errors=False)
            self._counters.replayed += 1
            log.debug("events.replayed", event_id=str(event.event_id), result=result)
            if result == "applied":
                applied += 1
            elif result == "noop":
                noop += 1
            else:
                failed += 1
                errors.append(f"line {line_no}: {event.event_type} {event.event_id} failed")
        report = ReplayReport(read, selected, applied, noop, failed, corrupt, tuple(errors[:50]))
        log.info(
            "events.replay_finished",
            journal=str(path),
            read=read,
            selected=selected,
            applied=applied,
            noop=noop,
            failed=failed,
            corrupt_lines=corrupt,
        )
        return report

    # monitoring
    def metrics(self) -> dict[str, int]:
        data = asdict(self._counters)
        data["queue_depth"] = sum(q.qsize() for q in self._queues)
        return data
