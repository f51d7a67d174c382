"""What each kind of export holds: its columns, in order, and the logical type of each.

The three table kinds export every column of their table, read from the models, so an export
follows the schema (a new column is exported without a change here, and a column of a type
this module does not know fails loudly in `table_columns`). The comparison kind exports the
rows of `Comparison.scenarios` (`ScenarioComparison.as_dict`). The logical type decides how a
value is rendered in each format (see writers.py and docs/export.md).
"""

from dataclasses import dataclass
from typing import Literal, get_args

from pgvector.sqlalchemy import Vector
from sqlalchemy import ARRAY, REAL, Boolean, Column, DateTime, Integer, Text, Uuid
from sqlalchemy.dialects.postgresql import JSONB

from arc.database.models import Base

Kind = Literal["outcomes", "tool_usage", "failures", "comparison"]
Format = Literal["csv", "jsonl", "parquet"]
KINDS: tuple[Kind, ...] = get_args(Kind)
FORMATS: tuple[Format, ...] = get_args(Format)

# kind -> the table it reads (the comparison kind reads the statistics views, not a table)
TABLES: dict[Kind, str] = {
    "outcomes": "outcomes",
    "tool_usage": "tool_usage",
    "failures": "failure_patterns",
}

LogicalType = Literal[
    "uuid", "text", "timestamptz", "real", "double", "integer", "bigint", "boolean", "jsonb",
    "vector", "text[]",
]  # fmt: skip


@dataclass(frozen=True)
class ExportColumn:
    name: str
    type: LogicalType


def logical_type(column: Column[object]) -> LogicalType:
    """The logical type of a model column; TypeError for a type exports do not handle yet."""
    kind = column.type
    if isinstance(kind, Vector):
        return "vector"
    if isinstance(kind, JSONB):
        return "jsonb"
    if isinstance(kind, ARRAY) and isinstance(kind.item_type, Text):
        return "text[]"
    if isinstance(kind, Uuid):
        return "uuid"
    if isinstance(kind, DateTime) and kind.timezone:
        return "timestamptz"
    if isinstance(kind, REAL):
        return "real"
    if isinstance(kind, Integer):
        return "integer"
    if isinstance(kind, Boolean):
        return "boolean"
    if isinstance(kind, Text):
        return "text"
    raise TypeError(f"{column.table.name}.{column.name}: no export rendering for {kind!r}")


def table_columns(kind: Kind) -> tuple[ExportColumn, ...]:
    """Every column of the kind's table, in table order."""
    table = Base.metadata.tables[TABLES[kind]]
    return tuple(ExportColumn(c.name, logical_type(c)) for c in table.columns)


# ScenarioComparison.as_dict(), in its order (tests/unit/export checks they stay equal).
COMPARISON_COLUMNS: tuple[ExportColumn, ...] = (
    ExportColumn("scenario_id", "text"),
    ExportColumn("baseline_n", "bigint"),
    ExportColumn("candidate_n", "bigint"),
    ExportColumn("baseline_mean", "double"),
    ExportColumn("candidate_mean", "double"),
    ExportColumn("baseline_std", "double"),
    ExportColumn("candidate_std", "double"),
    ExportColumn("delta", "double"),
    ExportColumn("ci_low", "double"),
    ExportColumn("ci_high", "double"),
    ExportColumn("p_value", "double"),
    ExportColumn("q_value", "double"),
    ExportColumn("verdict", "text"),
)


def columns_of(kind: Kind) -> tuple[ExportColumn, ...]:
    return COMPARISON_COLUMNS if kind == "comparison" else table_columns(kind)
