"""Streaming bulk export: outcomes, tool usage, failure patterns and comparisons as CSV, JSONL or
Parquet, in constant memory, tenant-scoped under row-level security (docs/export.md).

`export_rows(engine, kind, fmt, output, ...)` is the library call; `arc-db export` the command.
"""

from arc.database.export.columns import FORMATS, KINDS, ExportColumn, columns_of
from arc.database.export.exporter import COPY_TIMEOUT_S, ExportResult, export_rows
from arc.database.export.request import ExportRequest, check_request
from arc.database.export.sinks import ExportOutputError

__all__ = [
    "COPY_TIMEOUT_S",
    "FORMATS",
    "KINDS",
    "ExportColumn",
    "ExportOutputError",
    "ExportRequest",
    "ExportResult",
    "check_request",
    "columns_of",
    "export_rows",
]
