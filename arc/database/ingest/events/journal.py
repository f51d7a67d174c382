"""The append-only JSON-lines journal: written before an event is applied, read by replay."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from arc.database.core.jsonb import json_dumps
from arc.database.ingest.events.model import ExecutionEvent


def journal_line(event: ExecutionEvent) -> str:
    """The journal's form of an event: one JSON object and a newline."""
    return json_dumps(event.to_dict()) + "\n"


def journal_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every non-empty line; undecodable bytes are replaced."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            stripped = line.strip()
            if stripped:
                yield number, stripped


class Journal:
    """One open journal file. `append` hands the line to the OS (survives a crash of this
    process); `sync` makes it durable (survives a crash of the machine)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    @property
    def is_open(self) -> bool:
        return self._file is not None

    def open(self) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def append(self, event: ExecutionEvent) -> None:
        if self._file is None:
            return
        self._file.write(journal_line(event))
        self._file.flush()

    def sync(self) -> None:
        if self._file is not None:
            os.fsync(self._file.fileno())

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
