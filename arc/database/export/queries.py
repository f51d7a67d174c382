"""The SELECTs of the table kinds: one statement per kind and format, with the filters as
positional parameters ($1, $2 ...) for asyncpg.

Tenant scoping is explicit here, whatever row-level security does: with a tenant, outcomes
are kept only when their simulation's version belongs to one of the tenant's configurations,
and tool usage and failure patterns only when their outcome (matched on the whole key,
outcome_id and execution_time, which is unique) is kept. So an export is tenant-safe whether
or not the database isolates these tables itself, and as the owner role, which policies do not
bind. `relations` names what is read in place of each hypertable: a role without the right to
read it (a tenant role from migration 0009 on) reads its tenant-safe view (TENANT_VIEWS).

Renderings per format:
- csv: the columns as stored; COPY prints each in its text form (a vector as `[1,2,3]`,
  which COPY FROM reads back into the same column);
- jsonl: `row_to_json` of the row, built by the server, vectors as real[] (JSON arrays),
  jsonb nested as JSON, timestamps as ISO 8601 with their microseconds;
- parquet: typed values for Arrow, with uuid and jsonb as text (cheaper to decode, and the
  form they take in the file) and vectors as real[].

Rows come in the order the server reads them (no ORDER BY: a sort of a whole hypertable would
cost the constant memory and much of the speed); sort by the key if order matters.
"""

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from arc.database.export.columns import TABLES, ExportColumn, Format, table_columns
from arc.database.export.request import ExportRequest

# 0009: tenant roles may not read the hypertables; they read these views (the same columns),
# which keep the rows of the simulations row-level security lets them see.
TENANT_VIEWS = {
    "outcomes": "v_outcomes",
    "tool_usage": "v_tool_usage",
    "failure_patterns": "v_failure_patterns",
}
Relations = Mapping[str, str]  # hypertable -> the relation read in its place
TABLES_THEMSELVES: Relations = {table: table for table in TENANT_VIEWS}


@dataclass(frozen=True)
class Query:
    sql: str
    args: tuple[Any, ...]


class _Params:
    """Positional parameters, each with an explicit cast (which `inlined` relies on)."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any, sql_type: str) -> str:
        self.values.append(value)
        return f"${len(self.values)}::{sql_type}"


_TENANT_SIMULATIONS = (
    "SELECT s.simulation_id FROM simulations s "
    "JOIN config_versions cv ON cv.version_id = s.config_version_id "
    "JOIN configurations c ON c.config_id = cv.config_id "
    "WHERE c.user_id = {tenant}"
)


def _conditions(request: ExportRequest, relations: Relations, params: _Params) -> list[str]:
    """The WHERE conditions on `t`, the kind's table."""
    since = params.add(request.since, "timestamptz") if request.since is not None else None
    until = params.add(request.until, "timestamptz") if request.until is not None else None
    simulation = (
        params.add(request.simulation_id, "uuid") if request.simulation_id is not None else None
    )
    version = (
        params.add(request.config_version_id, "uuid")
        if request.config_version_id is not None
        else None
    )
    tenant = params.add(request.tenant, "uuid") if request.tenant is not None else None

    def on_time(alias: str) -> list[str]:
        return [
            *([f"{alias}.execution_time >= {since}"] if since else []),
            *([f"{alias}.execution_time < {until}"] if until else []),
        ]

    def on_outcome(alias: str) -> list[str]:
        found = []
        if simulation:
            found.append(f"{alias}.simulation_id = {simulation}")
        if version:
            found.append(
                f"{alias}.simulation_id IN (SELECT s.simulation_id FROM simulations s "
                f"WHERE s.config_version_id = {version})"
            )
        if tenant:
            found.append(f"{alias}.simulation_id IN ({_TENANT_SIMULATIONS.format(tenant=tenant)})")
        return found

    if request.kind == "outcomes":
        return [*on_time("t"), *on_outcome("t")]
    conditions = on_time("t")
    outcome = on_outcome("o")
    if outcome:
        matched = [
            "o.outcome_id = t.outcome_id",
            "o.execution_time = t.execution_time",
            *on_time("o"),  # lets the planner skip the outcome chunks outside the window
            *outcome,
        ]
        source = relations["outcomes"]
        conditions.append(f"EXISTS (SELECT 1 FROM {source} o WHERE {' AND '.join(matched)})")
    return conditions


def _from_where(request: ExportRequest, relations: Relations) -> tuple[str, tuple[Any, ...]]:
    params = _Params()
    conditions = _conditions(request, relations, params)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f" FROM {relations[TABLES[request.kind]]} t{where}", tuple(params.values)


def _expression(column: ExportColumn, fmt: Format) -> str:
    ref = f't."{column.name}"'
    if fmt == "csv":
        return ref
    if column.type == "vector":
        return f'{ref}::real[] AS "{column.name}"'
    if fmt == "parquet" and column.type in ("uuid", "jsonb"):
        return f'{ref}::text AS "{column.name}"'
    return ref


def select_rows(request: ExportRequest, relations: Relations = TABLES_THEMSELVES) -> Query:
    """The rows of a table kind, rendered for the request's format (one text column of JSON
    per row for jsonl)."""
    columns = table_columns(request.kind)
    tail, args = _from_where(request, relations)
    sql = f"SELECT {', '.join(_expression(c, request.format) for c in columns)}{tail}"
    if request.format == "jsonl":
        sql = f"SELECT row_to_json(r)::text FROM ({sql}) r"
    return Query(sql, args)


def count_rows(request: ExportRequest, relations: Relations = TABLES_THEMSELVES) -> Query:
    """How many rows select_rows gives (for a progress bar; same snapshot, same number)."""
    tail, args = _from_where(request, relations)
    return Query(f"SELECT count(*){tail}", args)


def tenant_versions(tenant: uuid.UUID, version_ids: list[uuid.UUID]) -> Query:
    """Which of `version_ids` belong to a configuration of `tenant` (comparison exports)."""
    return Query(
        "SELECT cv.version_id FROM config_versions cv "
        "JOIN configurations c ON c.config_id = cv.config_id "
        "WHERE c.user_id = $1::uuid AND cv.version_id = ANY($2::uuid[])",
        (tenant, version_ids),
    )


_PARAMETER = re.compile(r"\$(\d+)\b")


def inlined(query: Query) -> str:
    """The statement with its parameters written in as literals, for COPY and the cursor's
    DECLARE (writers.py), which bind none.

    asyncpg's own ways (copy_from_query with arguments, Connection.cursor) prepare a statement
    under a name of its counter, which collides on a server connection PgBouncer shares between
    clients, and outlives the transaction there. The parameters here are only UUIDs and aware
    datetimes (checked), whose text holds no quote; each is followed by its cast in the
    statement.
    """

    def literal(match: re.Match[str]) -> str:
        value = query.args[int(match.group(1)) - 1]
        if isinstance(value, uuid.UUID):
            return f"'{value}'"
        if isinstance(value, datetime) and value.tzinfo is not None:
            return f"'{value.isoformat()}'"
        raise TypeError(f"cannot inline a parameter of type {type(value).__name__}")

    return _PARAMETER.sub(literal, query.sql)
