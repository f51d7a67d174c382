"""BatchExecutionRecorder (seed 002 §9A, issues #5 and #12): buffered, batched, lossless ingest.

Producers call `record_outcome` (with that outcome's tool usage and failure patterns); workers
write a batch when `batch_size` bundles wait or the oldest has waited `flush_interval` seconds.
Ids and times are fixed when a row is recorded, so a batch can be retried without duplicates.
The buffer is bounded: producers wait when it is full (backpressure).

Every recorded row ends in exactly one of three places, never dropped silently:

- stored: written (or found already stored: counted in `duplicates`);
- dead-lettered with a reason: invalid input, a row the database refuses, an outcome of a
  finished simulation (`dead_letters`, `on_reject`, a `recorder.rejected` log line); one bad
  row never takes its batch with it: a batch that fails for a reason that is not the
  database's availability is split until the row is found;
- returned to the caller: `pending()` lists the bundles not yet written (outcome, tool usage,
  failure patterns), e.g. after `close()` gave up.

Shutdown contract:

- `await close()` (or leaving `async with`) writes what is buffered. It gives up after
  `close_timeout` seconds (default CLOSE_TIMEOUT) while the database is unreachable and raises
  ArcTransientError; the rows stay in `pending()` (and in the spool); `close()` may be called
  again. `close(timeout=None)` waits without limit.
- Workers that are cancelled (by a task group, a stray `cancel()`) are started again; when the
  whole event loop is being cancelled (asyncio.run ending) they are not, and the exit hook
  below takes over.
- Exit without `close()` (returning from asyncio.run, sys.exit, SIGTERM): an atexit hook and,
  when SIGTERM still has its default action, a SIGTERM handler log `recorder.unwritten_at_exit`
  at error level with the number of bundles left (the process then ends as it would have).
- `spool_path` (optional, a directory): every bundle is appended to a write-ahead file there
  before `record_*` returns and marked done once written; it survives exit without close,
  SIGTERM and SIGKILL (the OS has the data; it is fsynced at close, exit and compaction). The
  next recorder started on that directory writes what was left, first. One recorder owns a
  spool at a time (a lock file).
"""

import asyncio
import atexit
import contextlib
import fcntl
import json
import os
import signal
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import EllipsisType, FrameType
from typing import IO, Any

import structlog

from arc.database.core.checks import check_datetime, check_uuid
from arc.database.core.errors import (
    ArcConfigurationError,
    ArcDatabaseError,
    ArcTransientError,
    ArcValidationError,
)
from arc.database.core.jsonb import JsonText, json_default
from arc.database.ingest.bundle import JSON_COLUMNS, BundleResult, typed_errors
from arc.database.ingest.client import ArcDBClient
from arc.database.ingest.validation import (
    normalize_failure_pattern,
    normalize_outcome,
    normalize_tool_usage,
)
from arc.database.repositories.base import ROW_LEVEL_SQLSTATE_CLASSES

log = structlog.get_logger(__name__)

Row = dict[str, Any]

CLOSE_TIMEOUT = 30.0  # seconds close() keeps trying by default (a typical termination grace)
SPOOL_FILE = "recorder.spool.jsonl"
SPOOL_LOCK = "recorder.lock"
SPOOL_COMPACT_BYTES = 64 * 1024 * 1024  # rewrite the spool with what is left beyond this size
CHILDREN = ("tool_usage", "failure_patterns")


@dataclass
class RejectedRow:
    """A row that will never be written, and why."""

    kind: str  # "outcome", "tool_usage", "failure_pattern"
    data: Any
    error: ArcDatabaseError


@dataclass
class PendingBundle:
    """An outcome (None for rows recorded after their outcome was written) with its tool
    usage and failure patterns, not yet written: validated rows, ready for write_bundle."""

    outcome: Row | None
    tool_usage: list[Row]
    failure_patterns: list[Row]


@dataclass
class _Entry:
    seq: int
    outcome: Row | None
    # () until a row comes: most outcomes have none, and each list is one more object for the
    # garbage collector to walk while the entry waits in the buffer (P25).
    tool_usage: Sequence[Row] = ()
    failure_patterns: Sequence[Row] = ()
    enqueued: float = field(default_factory=time.monotonic)
    time_generated: bool = False  # the caller gave the outcome id but not its time

    def add(self, kind: str, row: Row) -> None:
        """Attach a tool usage or failure row ("tool_usage" or "failure_patterns")."""
        rows = getattr(self, kind)
        if not isinstance(rows, list):
            rows = [*rows]
            setattr(self, kind, rows)
        rows.append(row)


RejectCallback = Callable[[RejectedRow], Any]
_KIND = {"tool_usage": "tool_usage", "failure_patterns": "failure_pattern"}


# ----------------------------------------------------------------------------- spool


def _line(entry: _Entry) -> str:
    item = {
        "seq": entry.seq,
        "outcome": entry.outcome,
        "tool_usage": entry.tool_usage,
        "failure_patterns": entry.failure_patterns,
        "time_generated": entry.time_generated,
    }
    return json.dumps(item, default=json_default, separators=(",", ":")) + "\n"


class _Spool:
    """The write-ahead file of bundles not yet written: JSON lines `{"seq", "outcome",
    "tool_usage", "failure_patterns"}`, `{"seq", "attach", "rows"}`, `{"done": [seq...]}`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / SPOOL_FILE
        self.size = 0
        self._file: IO[str] | None = None
        self._lock: int | None = None

    def open(self) -> list[dict[str, Any]]:
        """Take the lock and return the bundles left by an earlier process."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / SPOOL_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ArcConfigurationError(
                "spool_path", f"{self.directory} is in use by another recorder"
            ) from None
        self._lock = fd
        return self._read()

    def _read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        bundles: dict[int, dict[str, Any]] = {}
        torn = 0
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    item = json.loads(line)
                except ValueError:
                    torn += 1  # a line cut by a crash: it was never acknowledged
                    continue
                if "done" in item:
                    for seq in item["done"]:
                        bundles.pop(seq, None)
                elif "attach" in item:
                    if item["seq"] in bundles:
                        bundles[item["seq"]][item["attach"]].extend(item["rows"])
                else:
                    bundles[item["seq"]] = item
        if torn:
            log.warning("recorder.spool_torn_lines", lines=torn, spool=str(self.directory))
        return list(bundles.values())

    def rewrite(self, entries: Iterable[_Entry]) -> None:
        """Atomically replace the file with these bundles (after replay, and to compact)."""
        if self._file is not None:
            self._file.close()
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # rows are private
        with open(fd, "w", encoding="utf-8") as fh:
            for entry in entries:
                fh.write(_line(entry))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
        self.size = self.path.stat().st_size

    def add(self, entry: _Entry) -> None:
        self._write(_line(entry))

    def attach(self, seq: int, kind: str, row: Row) -> None:
        item = {"seq": seq, "attach": kind, "rows": [row]}
        self._write(json.dumps(item, default=json_default, separators=(",", ":")) + "\n")

    def done(self, seqs: list[int]) -> None:
        self._write(json.dumps({"done": seqs}) + "\n")

    def truncate(self) -> None:
        """Everything written: the file starts over."""
        if self._file is not None and self.size:
            self._file.truncate(0)
            self.size = 0

    def _write(self, line: str) -> None:
        if self._file is None:
            raise ArcConfigurationError("spool_path", "is not open")
        self._file.write(line)
        self._file.flush()  # handed to the OS: survives the end of this process
        self.size += len(line)

    def sync(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self.sync()
            self._file.close()
            self._file = None
        if self._lock is not None:
            os.close(self._lock)  # releases the flock
            self._lock = None


def _from_spool(item: Mapping[str, Any]) -> _Entry:
    """A spooled bundle, validated again (JSON columns come back as JSON text)."""

    def row(data: Mapping[str, Any], table: str) -> dict[str, Any]:
        back = dict(data)
        for name in JSON_COLUMNS[table]:
            if isinstance(back.get(name), str):
                back[name] = JsonText(back[name])
        return back

    with typed_errors("spool"):
        outcome = item.get("outcome")
        return _Entry(
            0,
            normalize_outcome(row(outcome, "outcomes")) if outcome is not None else None,
            [
                normalize_tool_usage(row(t, "tool_usage"), i)
                for i, t in enumerate(item["tool_usage"])
            ],
            [
                normalize_failure_pattern(row(f, "failure_patterns"), i)
                for i, f in enumerate(item["failure_patterns"])
            ],
            enqueued=0.0,  # due at once
            time_generated=bool(item.get("time_generated")),
        )


# ----------------------------------------------------------------------------- exit hooks

# Open recorders (strong references: a recorder with unwritten rows must outlive its loop
# until the exit hook has spoken).
_OPEN: set["BatchExecutionRecorder"] = set()
_hooks_installed = False


def _install_exit_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_report_unwritten)
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _on_sigterm)


def _report_unwritten() -> None:
    for recorder in list(_OPEN):
        recorder._report_unwritten()


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    """Speak (and sync the spools), then die of SIGTERM as the process would have."""
    _report_unwritten()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _loop_is_ending(loop: asyncio.AbstractEventLoop, own: Iterable[asyncio.Task[Any]]) -> bool:
    """Every other task is being cancelled: asyncio.run is ending the program."""
    mine = set(own)
    return all(t.cancelling() for t in asyncio.all_tasks(loop) if t not in mine)


def _keep_and_retry(exc: BaseException) -> bool:
    """Errors about the database, not the rows: keep the batch and try again later."""
    if isinstance(exc, ArcTransientError | ArcConfigurationError):
        return True
    code = getattr(exc, "sqlstate", None)
    return isinstance(code, str) and code[:2] not in ROW_LEVEL_SQLSTATE_CLASSES


def _items(value: Any, name: str) -> list[Mapping[str, Any]]:
    """A list of dicts from `value` (None means none)."""
    if value is None:
        return []
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ArcValidationError(
            name, "must be a list of dicts (or None)", value=type(value).__name__
        )
    items = list(value)
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ArcValidationError(f"{name}[{i}]", "must be a dict", value=type(item).__name__)
    return items


def _child(
    normalize: Callable[..., Row], where: str, item: Mapping[str, Any], oid: Any, when: datetime
) -> Row:
    """A tool usage / failure row of the outcome `oid`: it takes the outcome's id and time
    (given ones must match); errors name the field as `tool_usage[i].field`."""
    try:
        with typed_errors("value"):
            given = item.get("outcome_id")
            if given is not None and check_uuid(given, "outcome_id") != oid:
                raise ArcValidationError("outcome_id", "must be the outcome's id (or absent)")
            given = item.get("execution_time")
            if given is not None and check_datetime(given, "execution_time") != when:
                raise ArcValidationError(
                    "execution_time", "must be the outcome's execution_time (or absent)"
                )
            return normalize({**item, "outcome_id": oid, "execution_time": when})
    except ArcValidationError as exc:
        raise ArcValidationError(f"{where}.{exc.field}", exc.rule, value=exc.value) from exc


# ----------------------------------------------------------------------------- recorder


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
        close_timeout: float | None = CLOSE_TIMEOUT,
        spool_path: str | os.PathLike[str] | None = None,
        exit_hooks: bool = True,
    ) -> None:
        if batch_size < 1 or flush_interval <= 0:
            raise ValueError("batch_size must be >= 1 and flush_interval > 0")
        self.client = client
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_concurrent_flushes = max(1, max_concurrent_flushes)
        # A batch in flight per flush worker and two waiting: rows buffered beyond that add no
        # throughput, only objects for the garbage collector to walk (P28: ten batches wrote
        # 0.78-0.84x of the 8-connection COPY, four 0.82-0.91x, in the same rounds).
        self.max_buffered = max_buffered or (self.max_concurrent_flushes + 2) * batch_size
        self.on_reject = on_reject
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.close_timeout = close_timeout
        self.spool_path = Path(spool_path) if spool_path is not None else None
        self.exit_hooks = exit_hooks
        self.dead_letters: list[RejectedRow] = []
        self.flushed = 0  # outcome rows stored (inserted + duplicates)
        self.inserted = 0
        self.duplicates = 0  # already stored, or repeated in a batch
        self.redelivered = 0  # tool usage / failure rows of a duplicate outcome: not written
        self.flushed_tool_usage = 0
        self.flushed_failure_patterns = 0
        self.batches = 0
        self.retried = 0  # batch write attempts that failed (database unavailable) and were retried
        self.rejected = 0
        self.replayed = 0  # bundles read back from the spool at start
        self._spool = _Spool(self.spool_path) if self.spool_path is not None else None
        self._buffer: deque[_Entry] = deque()
        self._flying: dict[int, _Entry] = {}  # seq -> bundle being written
        self._pending_by_outcome: dict[Any, _Entry] = {}
        self._times: OrderedDict[Any, datetime] = OrderedDict()  # outcome_id -> its time (recent)
        self._changed = asyncio.Event()
        self._workers: list[asyncio.Task[None] | None] = [None] * self.max_concurrent_flushes
        self._loop: asyncio.AbstractEventLoop | None = None
        self._seq = 0
        self._started = False
        self._closing = False
        self._stopping = False  # close() is cancelling the workers: do not restart them
        self._closed = False
        self._flush_requested = 0

    # ------------------------------------------------------------------ counts

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def in_flight(self) -> int:
        return len(self._flying)

    def stats(self) -> dict[str, int]:
        return {
            "buffered": self.buffered,
            "in_flight": self.in_flight,
            "flushed": self.flushed,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "redelivered": self.redelivered,
            "flushed_tool_usage": self.flushed_tool_usage,
            "flushed_failure_patterns": self.flushed_failure_patterns,
            "batches": self.batches,
            "retried": self.retried,
            "rejected": self.rejected,
            "replayed": self.replayed,
        }

    def pending(self) -> list[PendingBundle]:
        """The bundles not known to be written (buffered or being written), oldest first."""
        entries = sorted([*self._flying.values(), *self._buffer], key=lambda e: e.seq)
        return [
            PendingBundle(e.outcome, list(e.tool_usage), list(e.failure_patterns)) for e in entries
        ]

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> "BatchExecutionRecorder":
        self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def start(self) -> None:
        """Start the workers (and replay the spool, the first time). Safe to call again."""
        if self._closed:
            raise RuntimeError("the recorder is closed")
        if not self._started:
            self._loop = asyncio.get_running_loop()
            if self._spool is not None:
                self._replay(self._spool)
            self._started = True
            if self.exit_hooks:
                _OPEN.add(self)
                _install_exit_hooks()
        self._ensure_workers()

    async def flush(self, timeout: float | None = None) -> None:
        """Write everything buffered now and wait until written (at most `timeout` seconds,
        then ArcTransientError)."""
        self.start()
        self._flush_requested += 1
        self._wake()
        try:
            await asyncio.wait_for(self._drained(), timeout)
        except TimeoutError:
            raise ArcTransientError(
                f"flush: {len(self.pending())} bundles still unwritten after {timeout}s"
            ) from None
        finally:
            self._flush_requested -= 1

    async def close(self, timeout: float | EllipsisType | None = ...) -> None:
        """Write everything still buffered, then stop the workers.

        Gives up after `timeout` seconds (default: `close_timeout`; None: no limit) and raises
        ArcTransientError; the unwritten bundles stay in `pending()` (and the spool), and
        close() may be called again.
        """
        limit = self.close_timeout if isinstance(timeout, EllipsisType) else timeout
        if self._closed:
            return
        if not self._started:
            if not self._buffer:
                self._closed = True
                return
            self.start()
        self._closing = True
        self._ensure_workers()
        self._wake()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained(), limit)
        self._stopping = True
        try:
            workers = [t for t in self._workers if t is not None]
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        finally:
            self._stopping = False
        left = len(self._buffer) + len(self._flying)
        if left:
            if self._spool is not None:
                self._spool.sync()
            log.error("recorder.close_gave_up", unwritten=left, timeout_s=limit, **self.stats())
            raise ArcTransientError(
                f"recorder closed with {left} bundles unwritten after {limit}s (database "
                "unreachable): see pending()"
                + (f"; kept in the spool {self.spool_path}" if self._spool is not None else "")
            )
        self._closed = True
        _OPEN.discard(self)
        if self._spool is not None:
            self._spool.truncate()
            self._spool.close()
        log.info("recorder.closed", **self.stats())

    def _report_unwritten(self) -> None:
        left = len(self._buffer) + len(self._flying)
        if not left:
            return
        if self._spool is not None:
            self._spool.sync()
        log.error(
            "recorder.unwritten_at_exit",
            rows=left,
            spool=str(self.spool_path) if self.spool_path is not None else None,
            action=(
                "kept in the spool: the next recorder started on it writes them"
                if self._spool is not None
                else "lost: call `await recorder.close()` before the event loop ends, "
                "or give the recorder a spool_path"
            ),
        )

    def _replay(self, spool: _Spool) -> None:
        entries: list[_Entry] = []
        for item in spool.open():
            try:
                entries.append(_from_spool(item))
            except ArcValidationError as exc:
                self._reject(RejectedRow("outcome", item.get("outcome"), exc))
        for entry in entries:
            self._seq += 1
            entry.seq = self._seq
            self._enqueue(entry)
        spool.rewrite(entries)
        self.replayed = len(entries)
        if entries:
            log.warning("recorder.replaying", rows=len(entries), spool=str(spool.directory))

    # ------------------------------------------------------------------ workers

    def _ensure_workers(self) -> None:
        """(Re)start missing workers: a cancelled worker comes back."""
        if self._closed or self._loop is None or self._loop.is_closed():
            return
        for i, task in enumerate(self._workers):
            if task is None or task.done():
                new = self._loop.create_task(self._worker(), name=f"arc-recorder-{i}")
                new.add_done_callback(self._worker_done)
                self._workers[i] = new

    def _worker_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("recorder.worker_failed", error=repr(task.exception()))
        loop = self._loop
        if self._closed or self._stopping or loop is None or loop.is_closed():
            return
        if not task.cancelled() and self._closing and not self._buffer:
            return  # finished its work
        if _loop_is_ending(loop, (t for t in self._workers if t is not None)):
            return  # asyncio.run is cancelling everything: the exit hook takes over
        log.warning("recorder.worker_restarted", worker=task.get_name())
        self._ensure_workers()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _next_change(self, timeout: float | None = None) -> None:
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def _drained(self) -> None:
        while self._buffer or self._flying:
            await self._next_change()

    def _due(self) -> bool:
        if not self._buffer:
            return False
        if self._closing or self._flush_requested or len(self._buffer) >= self.batch_size:
            return True
        return time.monotonic() - self._buffer[0].enqueued >= self.flush_interval

    async def _worker(self) -> None:
        while True:
            while not self._due():
                if self._closing and not self._buffer:
                    return
                wait = None
                if self._buffer:
                    age = time.monotonic() - self._buffer[0].enqueued
                    wait = max(0.0, self.flush_interval - age)
                await self._next_change(wait)
            batch = [self._buffer.popleft() for _ in range(min(self.batch_size, len(self._buffer)))]
            for entry in batch:
                self._flying[entry.seq] = entry
                if entry.outcome is not None:
                    oid = entry.outcome["outcome_id"]
                    if self._pending_by_outcome.get(oid) is entry:
                        del self._pending_by_outcome[oid]
            try:
                await self._write(batch)
            except BaseException:
                # Cancelled mid-write: what is not settled goes back, in order. (It may have
                # been committed: writing it again finds it stored.)
                back = [e for e in batch if e.seq in self._flying]
                for entry in back:
                    del self._flying[entry.seq]
                    if entry.outcome is not None:
                        self._pending_by_outcome.setdefault(entry.outcome["outcome_id"], entry)
                self._buffer.extendleft(reversed(back))
                self._wake()
                raise

    async def _write(self, entries: list[_Entry]) -> None:
        """Write these bundles: retry while the database is unavailable; on any other failure
        split the batch until the bundle at fault is found, and dead-letter it."""
        attempt = 0
        while True:
            started = time.perf_counter()
            outcomes, owners, tools, failures, dropped = self._rows(entries)
            try:
                result = await self.client.write_bundle(
                    outcomes,
                    tools,
                    failures,
                    on_invalid="skip",
                    operation="recorder.flush",
                    normalized=True,
                    resolve_times={
                        e.outcome["outcome_id"]
                        for e in entries
                        if e.outcome is not None and e.time_generated
                    },
                )
            except Exception as exc:
                if _keep_and_retry(exc):
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
                if len(entries) > 1:
                    middle = len(entries) // 2
                    await self._write(entries[:middle])
                    await self._write(entries[middle:])
                    return
                error = (
                    exc
                    if isinstance(exc, ArcDatabaseError)
                    else ArcValidationError(
                        "outcome", f"could not be written ({type(exc).__name__}: {exc})"
                    )
                )
                self._dead_letter(entries[0], error)
                self._settle(entries)
                return
            self._account(result, owners, tools, failures, dropped)
            self._settle(entries)
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
            return

    @staticmethod
    def _rows(
        entries: list[_Entry],
    ) -> tuple[list[Row], list[_Entry], list[Row], list[Row], int]:
        """The bundle to write. An outcome repeated in the batch is sent again (it is counted
        as a duplicate) but not its tool usage and failures: they describe the same run."""
        outcomes: list[Row] = []
        owners: list[_Entry] = []
        tools: list[Row] = []
        failures: list[Row] = []
        seen: set[Any] = set()
        dropped = 0
        for entry in entries:
            if entry.outcome is not None:
                outcomes.append(entry.outcome)
                owners.append(entry)
                oid = entry.outcome["outcome_id"]
                if oid in seen:
                    dropped += len(entry.tool_usage) + len(entry.failure_patterns)
                    continue
                seen.add(oid)
            tools.extend(entry.tool_usage)
            failures.extend(entry.failure_patterns)
        return outcomes, owners, tools, failures, dropped

    def _account(
        self,
        result: BundleResult,
        owners: list[_Entry],
        tools: list[Row],
        failures: list[Row],
        dropped: int,
    ) -> None:
        rows_of = {"tool_usage": tools, "failure_patterns": failures}
        for error in result.rejected:
            table = getattr(error, "table", None)
            index = getattr(error, "index", None)
            if table in rows_of and isinstance(index, int):
                self._reject(RejectedRow(_KIND[table], rows_of[table][index], error))
            elif isinstance(index, int):
                self._reject(RejectedRow("outcome", owners[index].outcome, error))
        self.batches += 1
        self.inserted += result.inserted
        self.duplicates += result.duplicates
        self.flushed += result.inserted + result.duplicates
        self.redelivered += result.redelivered + dropped
        self.flushed_tool_usage += len(result.tool_usage_ids)
        self.flushed_failure_patterns += len(result.failure_pattern_ids)

    def _settle(self, entries: list[_Entry]) -> None:
        """These bundles are stored or dead-lettered: off the books (and the spool)."""
        for entry in entries:
            self._flying.pop(entry.seq, None)
        spool = self._spool
        if spool is not None:
            if not self._buffer and not self._flying:
                spool.truncate()
            else:
                spool.done([e.seq for e in entries])
                if spool.size > SPOOL_COMPACT_BYTES:
                    spool.rewrite(
                        sorted([*self._flying.values(), *self._buffer], key=lambda e: e.seq)
                    )
        self._wake()

    def _dead_letter(self, entry: _Entry, error: ArcDatabaseError) -> None:
        if entry.outcome is not None:
            self._reject(RejectedRow("outcome", entry.outcome, error))
            return
        for kind in CHILDREN:
            for row in getattr(entry, kind):
                self._reject(RejectedRow(_KIND[kind], row, error))

    # ------------------------------------------------------------------ producers

    async def record_outcome(
        self,
        outcome: Mapping[str, Any],
        *,
        tool_usage: Iterable[Mapping[str, Any]] | None = (),
        failure_patterns: Iterable[Mapping[str, Any]] | None = (),
    ) -> str | None:
        """Buffer one outcome with its tool usage and failure patterns; returns its id.

        The outcome_id and execution_time are fixed now (tool usage and failure rows take the
        outcome's). Invalid input (any part of it) is reported through `on_reject` /
        `dead_letters`, nothing of that outcome is written, and None is returned.
        """
        try:
            entry = self._bundle(outcome, tool_usage, failure_patterns)
        except ArcValidationError as exc:
            self._reject(RejectedRow("outcome", outcome, exc))
            return None
        await self._put(entry)
        assert entry.outcome is not None
        return str(entry.outcome["outcome_id"])

    @staticmethod
    def _bundle(outcome: Any, tool_usage: Any, failure_patterns: Any) -> _Entry:
        with typed_errors("outcome"):
            row = normalize_outcome(outcome)
        oid, when = row["outcome_id"], row["execution_time"]
        time_generated = (
            outcome.get("outcome_id") is not None and outcome.get("execution_time") is None
        )
        if tool_usage == () and failure_patterns == ():  # the defaults: no children
            return _Entry(0, row, time_generated=time_generated)
        tools = [
            _child(normalize_tool_usage, f"tool_usage[{i}]", item, oid, when)
            for i, item in enumerate(_items(tool_usage, "tool_usage"))
        ]
        failures = [
            _child(normalize_failure_pattern, f"failure_patterns[{i}]", item, oid, when)
            for i, item in enumerate(_items(failure_patterns, "failure_patterns"))
        ]
        return _Entry(0, row, tools or (), failures or (), time_generated=time_generated)

    async def record_tool_usage(self, tool_events: Iterable[Mapping[str, Any]] | None) -> int:
        """Buffer tool usage rows of recorded outcomes; written with or after their outcome.
        Returns how many were accepted (the others are dead-lettered)."""
        accepted = 0
        for i, event in enumerate(_items(tool_events, "tool_events")):
            try:
                with typed_errors("tool_usage", i):
                    row = normalize_tool_usage(event, i, execution_time=self._time_of(event))
            except ArcValidationError as exc:
                self._reject(RejectedRow("tool_usage", event, exc))
                continue
            await self._attach(row, "tool_usage")
            accepted += 1
        return accepted

    async def record_failure_pattern(self, failure: Mapping[str, Any]) -> str | None:
        try:
            with typed_errors("failure_pattern"):
                row = normalize_failure_pattern(failure, execution_time=self._time_of(failure))
        except ArcValidationError as exc:
            self._reject(RejectedRow("failure_pattern", failure, exc))
            return None
        await self._attach(row, "failure_patterns")
        return str(row["pattern_id"])

    def _time_of(self, data: Mapping[str, Any]) -> datetime | None:
        if data.get("execution_time") is None:
            oid = check_uuid(data.get("outcome_id"), "outcome_id", required=True)
            return self._times.get(oid)
        return None

    async def _attach(self, row: Row, kind: str) -> None:
        entry = self._pending_by_outcome.get(row["outcome_id"])
        if entry is not None:  # outcome still buffered: travel with it
            entry.add(kind, row)
            if self._spool is not None:
                self._spool.attach(entry.seq, kind, row)
            return
        # Outcome already written (or recorded elsewhere): a standalone entry, after it.
        standalone = _Entry(0, None)
        standalone.add(kind, row)
        await self._put(standalone)

    async def _put(self, entry: _Entry) -> None:
        self.start()
        while len(self._buffer) + len(self._flying) >= self.max_buffered:
            await self._next_change()  # backpressure: wait for a flush to make room
            self.start()
        self._seq += 1
        entry.seq = self._seq
        entry.enqueued = time.monotonic()
        if self._spool is not None:
            self._spool.add(entry)  # before the caller hears "accepted"
        self._enqueue(entry)
        if len(self._buffer) in (1, self.batch_size):
            self._wake()  # the first row starts the flush_interval clock; a full batch is due

    def _enqueue(self, entry: _Entry) -> None:
        self._buffer.append(entry)
        if entry.outcome is not None:
            oid = entry.outcome["outcome_id"]
            self._pending_by_outcome[oid] = entry
            self._times[oid] = entry.outcome["execution_time"]
            if len(self._times) > 100_000:
                self._times.popitem(last=False)  # O(1); a dict's next(iter()) walks the holes

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


__all__ = ["CLOSE_TIMEOUT", "BatchExecutionRecorder", "PendingBundle", "RejectedRow"]
