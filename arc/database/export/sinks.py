"""Where an export's bytes go: a file, written atomically, or a binary stream the caller owns.

A file is checked when the sink opens, before any query runs: an output that cannot be
written (missing directory, a directory, no permission) is ArcValidationError("output").
Rows go to a temporary file next to it (`.<name>.<random>.partial`, mode 0600: exports
hold tenant data) that replaces the target only when the export succeeded, so a failed or
interrupted export never leaves a truncated file that looks complete.

Writes are gathered into blocks of BLOCK_BYTES and written by a worker thread, so a slow disk
or pipe never stalls the event loop. A failure to write (disk full, closed pipe) is
ExportOutputError, a runtime error.
"""

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol

from arc.database.core.errors import ArcDatabaseError, ArcValidationError

BLOCK_BYTES = 1 << 20


class ExportOutputError(ArcDatabaseError):
    """The output could not be written (disk full, a closed pipe ...): nothing was committed."""

    def __init__(self, output: str, reason: str) -> None:
        self.output = output
        self.reason = reason
        super().__init__(f"cannot write the export to {output}: {reason}")


class Writable(Protocol):
    def write(self, data: bytes, /) -> int | None: ...


class _CountingFile:
    """The sink's stream for writers that write synchronously (pyarrow): counts the bytes and
    leaves closing to the sink."""

    def __init__(self, sink: "Sink") -> None:
        self._sink = sink
        self.closed = False

    def write(self, data: bytes) -> int:
        self._sink.write_now(data)
        return len(data)

    def flush(self) -> None:
        self._sink.flush_now()

    def close(self) -> None:
        self.closed = True


class Sink:
    """A caller's binary stream: bytes gathered into blocks, written from a worker thread."""

    def __init__(self, stream: Writable, name: str) -> None:
        self._stream = stream
        self.name = name
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self.bytes_written = 0

    # ------------------------------------------------------------------ writing
    async def write(self, data: bytes) -> None:
        if not data:
            return
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= BLOCK_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if self._pending:
            block = b"".join(self._pending)
            self._pending.clear()
            self._pending_bytes = 0
            await asyncio.to_thread(self.write_now, block)

    def write_now(self, data: bytes) -> None:
        """Synchronous write (in a worker thread, or from a synchronous writer)."""
        try:
            self._stream.write(data)
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed
            raise ExportOutputError(self.name, str(exc) or type(exc).__name__) from exc
        self.bytes_written += len(data)

    def flush_now(self) -> None:
        flush = getattr(self._stream, "flush", None)
        if flush is not None:
            try:
                flush()
            except (OSError, ValueError) as exc:
                raise ExportOutputError(self.name, str(exc) or type(exc).__name__) from exc

    def file(self) -> _CountingFile:
        """A synchronous file object over this sink (for pyarrow's writer)."""
        return _CountingFile(self)

    # ------------------------------------------------------------------ ending
    async def commit(self) -> None:
        """Everything was written: flush it (a caller's stream stays open)."""
        await self.flush()
        await asyncio.to_thread(self.flush_now)

    async def abort(self) -> None:
        """The export failed: drop what is pending."""
        self._pending.clear()
        self._pending_bytes = 0


class FileSink(Sink):
    """A file written through a temporary copy that replaces it on commit."""

    def __init__(self, stream: BinaryIO, temporary: Path, target: Path) -> None:
        super().__init__(stream, str(target))
        self._file = stream
        self.temporary = temporary
        self.target = target

    async def commit(self) -> None:
        await self.flush()
        try:
            await asyncio.to_thread(self._sync_and_close)
            os.replace(self.temporary, self.target)
        except OSError as exc:
            self.temporary.unlink(missing_ok=True)
            raise ExportOutputError(self.name, str(exc)) from exc

    async def abort(self) -> None:
        await super().abort()
        try:
            with contextlib.suppress(OSError):  # the export's own error is the one to report
                self._file.close()
        finally:
            self.temporary.unlink(missing_ok=True)

    def _sync_and_close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()


def open_sink(output: "str | os.PathLike[str] | Writable") -> Sink:
    """A sink over a path (checked now, written atomically) or over a writable binary stream."""
    if not isinstance(output, str | os.PathLike):
        if not callable(getattr(output, "write", None)):
            raise ArcValidationError(
                "output", "must be a path or a writable binary stream", value=type(output).__name__
            )
        return Sink(output, str(getattr(output, "name", "<stream>")))
    if not str(output) or str(output) == "-":
        raise ArcValidationError(
            "output", "must name a file (the CLI maps '-' to standard output)", value=output
        )
    target = Path(output)
    if target.is_dir():
        raise ArcValidationError("output", "is a directory", value=str(target))
    if not target.parent.is_dir():
        raise ArcValidationError(
            "output", "is in a directory that does not exist", value=str(target)
        )
    if target.exists() and not os.access(target, os.W_OK):
        raise ArcValidationError("output", "exists and is not writable", value=str(target))
    try:
        fd, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".partial"
        )
    except OSError as exc:
        raise ArcValidationError(
            "output", f"cannot be written ({exc.strerror or exc})", value=str(target)
        ) from None
    return FileSink(os.fdopen(fd, "wb"), Path(temporary), target)
