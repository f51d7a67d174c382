"""What every `arc-db` command shares: exit codes, one-line errors, the URL, a progress bar."""

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn, TextIO

from arc.database.core.errors import (
    ArcConfigurationError,
    ArcDatabaseError,
    ArcMissingExtraError,
)
from arc.database.core.logging import redact_text
from arc.database.core.settings import DatabaseSettings, redact_url

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_RUNTIME = 3


class CliError(Exception):
    """A failure to report as one line plus a hint."""

    def __init__(self, message: str, hint: str = "", code: int = EXIT_RUNTIME) -> None:
        super().__init__(message)
        self.hint = hint
        self.code = code


# --------------------------------------------------------------------------- progress
class ProgressBar:
    """A dependency-free text bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, label: str, *, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = self.stream.isatty()
        self._last = 0.0

    def __call__(self, done: int, total: int, note: str = "") -> None:
        self.update(done, total, note)

    def update(self, done: int, total: int, note: str = "") -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        share = 0.0 if total <= 0 else min(1.0, done / total)
        filled = int(share * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        text = f"\r{self.label} [{bar}] {share * 100:5.1f}% {note[:40]:<40}"
        self.stream.write(text)
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


# --------------------------------------------------------------------------- helpers
def iso_time(value: str) -> datetime:
    """An ISO-8601 time for argparse (a naive one is UTC, like everywhere in arc-db)."""
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {value!r}") from None


def uuid_arg(value: str) -> uuid.UUID:
    """A UUID for argparse."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {value!r}") from None


def database_url(args: argparse.Namespace) -> str:
    url: str | None = args.url or os.environ.get("TIMESCALE_SERVICE_URL")
    if not url:
        raise CliError(
            "no database URL",
            "pass --url postgresql://user:pass@host:port/db or export TIMESCALE_SERVICE_URL",
            EXIT_USAGE,
        )
    _ = DatabaseSettings(url=url).async_url  # validates the URL early, with a typed error
    return url


def explain(exc: BaseException, url: str | None) -> CliError:
    """Turn any failure into one redacted line and a hint."""
    if isinstance(exc, CliError):
        return exc
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if url:
        text = text.replace(url, redact_url(url))
    text = redact_text(text)
    where = f" ({redact_url(url)})" if url else ""
    lowered = text.lower()
    if isinstance(exc, ArcMissingExtraError):
        return CliError(text, "install the extra the message names", 2)
    if isinstance(exc, ArcConfigurationError):
        return CliError(text, "check --url / TIMESCALE_SERVICE_URL and ARC_DB_* settings", 2)
    if isinstance(exc, OSError | TimeoutError) or "connect" in lowered or "refused" in lowered:
        return CliError(
            f"cannot connect to the database{where}: {text}",
            "is the server running? (`make db` starts the embedded one)",
        )
    if "does not exist" in lowered and "database" in lowered:
        return CliError(
            f"{text}{where}", "create it first, or run `arc-db demo` which creates arc_demo"
        )
    if "password authentication failed" in lowered:
        return CliError(f"authentication failed{where}", "check the user and password in the URL")
    if isinstance(exc, ArcDatabaseError):
        return CliError(text, "see the field and rule named above")
    return CliError(f"{type(exc).__name__}: {text}", "rerun with --debug for the full traceback")


def fail(err: CliError) -> NoReturn:
    print(f"arc-db: error: {err}", file=sys.stderr)
    if err.hint:
        print(f"hint: {err.hint}", file=sys.stderr)
    raise SystemExit(err.code)


async def engine_run(
    url: str, work: Callable[[Any], Any], *, reads: bool = False, **engine_kw: Any
) -> Any:
    """`work(engine)` on an engine made for this command. `reads=True`: on the replica of
    ARC_DB_READ_URL when one is set (the primary while it cannot be reached)."""
    from arc.database.core.engine import build_engine

    read_url = os.environ.get("ARC_DB_READ_URL") if reads else None
    if read_url:
        engine = build_engine(url=read_url, fallback_url=url, **engine_kw)
    else:
        engine = build_engine(url=url, **engine_kw)
    try:
        return await work(engine)
    finally:
        await engine.dispose()
