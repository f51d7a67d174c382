"""The three formats, each streamed into a Sink with memory bounded by one batch.

- CSV: the server's `COPY (SELECT ...) TO STDOUT WITH (FORMAT csv, HEADER)`, bytes passed on as
  they arrive (NULL is an unquoted empty field, an empty string is `""`).
- JSONL: a server-side cursor (DECLARE / FETCH) over `row_to_json` rows, `batch_rows` a fetch.
- Parquet: a server-side cursor over typed rows, turned into Arrow batches and written in row
  groups of at most ROW_GROUP_ROWS rows or ROW_GROUP_BYTES bytes (pyarrow, extra `export`).

The comparison kind is small (one row per scenario) and already in memory: `write_records`.
"""

import asyncio
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

from arc.database.core.extras import require
from arc.database.export.columns import ExportColumn, Format, LogicalType
from arc.database.export.queries import Query, inlined
from arc.database.export.sinks import Sink

Progress = Callable[[int, int], None]  # (rows done, rows in all)

ROW_GROUP_ROWS = 65_536
ROW_GROUP_BYTES = 64 << 20


class Tracker:
    """Rows written so far, reported to an optional progress callback."""

    def __init__(self, report: Progress | None, total: int = 0) -> None:
        self.report = report
        self.total = total
        self.done = 0

    def advance(self, rows: int) -> None:
        self.done += rows
        if self.report is not None:
            self.report(min(max(self.done, 0), self.total), self.total)

    def finish(self, rows: int) -> None:
        self.done = rows
        if self.report is not None:
            self.report(rows, max(rows, self.total))


def arrow_modules() -> tuple[Any, Any]:
    """(pyarrow, pyarrow.parquet), or ArcMissingExtraError naming the `export` extra."""
    feature = "Parquet exports"
    pa: ModuleType = require("pyarrow", extra="export", feature=feature)
    pq: ModuleType = require("pyarrow.parquet", extra="export", feature=feature)
    return pa, pq


def arrow_type(pa: Any, logical: LogicalType) -> Any:
    types: dict[LogicalType, Any] = {
        "uuid": pa.string(),
        "text": pa.string(),
        "jsonb": pa.string(),  # the JSON text; Arrow's JSON type needs pyarrow >= 19
        "timestamptz": pa.timestamp("us", tz="UTC"),
        "real": pa.float32(),
        "double": pa.float64(),
        "integer": pa.int32(),
        "bigint": pa.int64(),
        "boolean": pa.bool_(),
        "vector": pa.list_(pa.float32()),
        "text[]": pa.list_(pa.string()),
    }
    return types[logical]


def arrow_schema(columns: Sequence[ExportColumn]) -> Any:
    pa, _ = arrow_modules()
    return pa.schema([pa.field(c.name, arrow_type(pa, c.type)) for c in columns])


# ---------------------------------------------------------------------------- table kinds
async def copy_csv(
    driver: Any, query: Query, sink: Sink, tracker: Tracker, *, timeout: float
) -> int:
    """COPY TO STDOUT as CSV with a header; returns the rows the server reported."""
    tracker.done = -1  # the header line

    async def output(data: bytes) -> None:
        await sink.write(data)
        if tracker.report is not None:  # approximate: a text value may hold newlines
            tracker.advance(data.count(b"\n"))

    status: str = await driver.copy_from_query(
        inlined(query), output=output, format="csv", header=True, timeout=timeout
    )
    return int(status.split()[-1])  # "COPY <rows>"


async def _batches(driver: Any, query: Query, batch_rows: int) -> AsyncIterator[list[Any]]:
    """The rows of `query`, `batch_rows` at a time, from a server-side cursor of the open
    transaction.

    The cursor is SQL's own (DECLARE ... CURSOR, FETCH), not a named prepared statement: the
    statements are sent as the connection sends any other (through PgBouncer in transaction
    mode the engine's connections prepare only unnamed statements), and nothing outlives the
    transaction on the server connection, which PgBouncer then hands to other clients. The
    parameters are written in (`inlined`: UUIDs and aware times only). The cursor's name is
    new for every export, so a FETCH statement cached by the driver never serves a cursor of
    another shape.
    """
    cursor = f'"arc_export_{uuid.uuid4().hex}"'
    await driver.execute(f"DECLARE {cursor} NO SCROLL CURSOR FOR {inlined(query)}")
    fetch = f"FETCH FORWARD {int(batch_rows)} FROM {cursor}"
    while batch := await driver.fetch(fetch):
        yield batch
    await driver.execute(f"CLOSE {cursor}")


async def cursor_jsonl(
    driver: Any, query: Query, sink: Sink, tracker: Tracker, *, batch_rows: int
) -> int:
    """One JSON object per line, as the server rendered it."""
    rows = 0
    async for batch in _batches(driver, query, batch_rows):
        await sink.write(("\n".join(r[0] for r in batch) + "\n").encode())
        rows += len(batch)
        tracker.advance(len(batch))
    return rows


async def cursor_parquet(
    driver: Any,
    query: Query,
    columns: Sequence[ExportColumn],
    sink: Sink,
    tracker: Tracker,
    *,
    batch_rows: int,
) -> int:
    """Typed rows into Parquet row groups; encoding and compression run in a worker thread."""
    pa, pq = arrow_modules()
    schema = arrow_schema(columns)
    writer = pq.ParquetWriter(sink.file(), schema)
    pending: list[Any] = []
    pending_rows = pending_bytes = rows = 0
    try:
        async for batch in _batches(driver, query, batch_rows):
            values = list(zip(*batch, strict=True))
            arrays = [pa.array(v, type=f.type) for v, f in zip(values, schema, strict=True)]
            record_batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
            pending.append(record_batch)
            pending_rows += len(batch)
            pending_bytes += record_batch.nbytes
            rows += len(batch)
            if pending_rows >= ROW_GROUP_ROWS or pending_bytes >= ROW_GROUP_BYTES:
                table = pa.Table.from_batches(pending, schema=schema)
                pending, pending_rows, pending_bytes = [], 0, 0
                await asyncio.to_thread(writer.write_table, table, row_group_size=ROW_GROUP_ROWS)
            tracker.advance(len(batch))
        if pending:
            table = pa.Table.from_batches(pending, schema=schema)
            await asyncio.to_thread(writer.write_table, table, row_group_size=ROW_GROUP_ROWS)
    finally:
        await asyncio.to_thread(writer.close)
    return rows


# ---------------------------------------------------------------------------- comparison
def _csv_records(rows: Sequence[Mapping[str, Any]], columns: Sequence[ExportColumn]) -> bytes:
    text = io.StringIO()
    out = csv.writer(text, lineterminator="\n")
    out.writerow([c.name for c in columns])
    for row in rows:
        out.writerow(["" if row[c.name] is None else row[c.name] for c in columns])
    return text.getvalue().encode()


def _jsonl_records(rows: Sequence[Mapping[str, Any]], columns: Sequence[ExportColumn]) -> bytes:
    lines = (
        json.dumps({c.name: row[c.name] for c in columns}, ensure_ascii=False, allow_nan=False)
        for row in rows
    )
    return "".join(f"{line}\n" for line in lines).encode()


async def write_records(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[ExportColumn], fmt: Format, sink: Sink
) -> int:
    """Rows already in memory (a comparison), in any of the three formats."""
    if fmt == "csv":
        await sink.write(_csv_records(rows, columns))
    elif fmt == "jsonl":
        await sink.write(_jsonl_records(rows, columns))
    else:
        pa, pq = arrow_modules()
        schema = arrow_schema(columns)
        table = pa.Table.from_pylist([{c.name: r[c.name] for c in columns} for r in rows], schema)
        await asyncio.to_thread(pq.write_table, table, sink.file())
    return len(rows)
