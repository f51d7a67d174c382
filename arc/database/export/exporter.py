"""`export_rows`: outcomes, tool usage, failure patterns or a comparison, streamed to a file or a
stream as CSV, JSONL or Parquet.

    result = await export_rows(engine, "outcomes", "csv", "outcomes.csv",
                               since=datetime(2026, 1, 1), tenant=user_id)

How it runs
- The request is checked first (ArcValidationError naming the field), then the Parquet extra
  (ArcMissingExtraError naming `export`), then the output (ArcValidationError("output")):
  bad input never opens a connection nor writes a byte.
- One read-only REPEATABLE READ transaction: the row count of the progress bar and the rows
  come from the same snapshot. Times are rendered in UTC and reals with the digits that read
  back to the same value (`extra_float_digits = 1`), whatever the server's defaults.
- With a tenant: the transaction acts as the tenant (core.tenancy.acting_as, transaction-local)
  and, when the connecting role may, reads as `app_user` (else `app_readonly`; SET LOCAL
  ROLE), so row-level security and the tenant-safe views of migration 0009 apply: a
  hypertable the role may not read is read through its `v_*` view. The queries also filter
  by the tenant explicitly (queries.py), so the export is tenant-safe without those, and for
  roles nothing binds; a role that may not read who owns what (the ingest worker) gets a
  typed error for a tenant's export, never rows.
- A statement the server refuses (a privilege, a bad value) is a typed error
  (core.errors.translate_error); time-outs and the output's errors are raised as they are.
- Memory stays bounded by one batch (writers.py); the output is replaced only on success
  (sinks.py).
"""

import os
import time
import uuid
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from arc.database.comparison import VersionComparator
from arc.database.core.errors import (
    ArcDatabaseError,
    ArcNotFoundError,
    ArcValidationError,
    sqlstate_of,
    translate_error,
)
from arc.database.core.tenancy import acting_as
from arc.database.export.columns import COMPARISON_COLUMNS, table_columns
from arc.database.export.queries import (
    TENANT_VIEWS,
    Relations,
    count_rows,
    select_rows,
    tenant_versions,
)
from arc.database.export.request import DEFAULT_BATCH_ROWS, ExportRequest, check_request
from arc.database.export.sinks import Sink, Writable, open_sink
from arc.database.export.writers import (
    Progress,
    Tracker,
    arrow_modules,
    copy_csv,
    cursor_jsonl,
    cursor_parquet,
    write_records,
)

log = structlog.get_logger(__name__)

# The engine's command_timeout (60 s by default) bounds single statements; a COPY of a whole
# hypertable may take longer, so it gets its own budget. Cursor fetches keep the engine's.
COPY_TIMEOUT_S = 24 * 3600.0
# The tenant roles (docs/security.md), in the order tried: row-level security binds both, and
# a login that holds only the read-only one (a dashboard's) still exports under it.
TENANT_ROLES = ("app_user", "app_readonly")

_SESSION = text(
    "SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true), "
    "set_config('extra_float_digits', '1', true)"
)
_MAY_ACT_AS_TENANT_ROLE = text(
    "SELECT CASE WHEN to_regrole(:role) IS NULL THEN false "
    "ELSE pg_has_role(current_user, :role, 'MEMBER') END"
)
_READER = text(
    "SELECT current_user AS role, "
    + ", ".join(f"has_table_privilege('public.{t}', 'SELECT') AS {t}" for t in TENANT_VIEWS)
)


@dataclass(frozen=True)
class ExportResult:
    kind: str
    format: str
    rows: int
    bytes: int
    seconds: float
    output: str
    tenant: uuid.UUID | None
    role: str  # the role the rows were read as (a tenant role for a tenant, when allowed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "format": self.format,
            "rows": self.rows,
            "bytes": self.bytes,
            "seconds": self.seconds,
            "output": self.output,
            "tenant": str(self.tenant) if self.tenant else None,
            "role": self.role,
        }


async def export_rows(
    engine: AsyncEngine,
    kind: Any,
    fmt: Any,
    output: "str | os.PathLike[str] | Writable",
    *,
    since: Any = None,
    until: Any = None,
    simulation_id: Any = None,
    config_version_id: Any = None,
    tenant: Any = None,
    baseline: Any = None,
    candidate: Any = None,
    metric: Any = None,
    progress: Progress | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    timeout: float = COPY_TIMEOUT_S,
) -> ExportResult:
    """Stream the rows of `kind` ("outcomes", "tool_usage", "failures", "comparison") as `fmt`
    ("csv", "jsonl", "parquet") to `output` (a path, replaced on success, or a binary stream).

    Filters: execution_time in [since, until), one simulation, one configuration version, one
    tenant (configurations.user_id). A comparison takes `baseline` and `candidate` version ids
    (and `metric`, `since`, `until`, `tenant`). `progress(done, total)` is called as rows go
    out (it costs one count(*) first).
    """
    request = check_request(
        kind,
        fmt,
        since=since,
        until=until,
        simulation_id=simulation_id,
        config_version_id=config_version_id,
        tenant=tenant,
        baseline=baseline,
        candidate=candidate,
        metric=metric,
        batch_rows=batch_rows,
    )
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ArcValidationError("timeout", "must be a positive number of seconds", value=timeout)
    if request.format == "parquet":
        arrow_modules()
    sink = open_sink(output)
    started = time.monotonic()
    log.info(
        "export.started",
        kind=request.kind,
        format=request.format,
        output=sink.name,
        tenant=str(request.tenant) if request.tenant else None,
    )
    try:
        async with engine.connect() as conn:
            snapshot = await conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            async with _transaction(snapshot, request.tenant):
                await snapshot.execute(_SESSION)
                if request.tenant is not None:
                    await _tenant_role(snapshot)
                role, relations = await _reader(snapshot)
                rows = await _export(snapshot, request, relations, sink, progress, timeout)
        await sink.commit()
    except BaseException as exc:
        await sink.abort()
        refused = isinstance(exc, Exception) and not isinstance(exc, ArcDatabaseError)
        if refused and sqlstate_of(exc) is not None:  # the server refused: say why, typed
            raise translate_error(exc, operation="export") from exc
        raise
    result = ExportResult(
        kind=request.kind,
        format=request.format,
        rows=rows,
        bytes=sink.bytes_written,
        seconds=round(time.monotonic() - started, 3),
        output=sink.name,
        tenant=request.tenant,
        role=role,
    )
    log.info("export.finished", **result.as_dict())
    return result


def _transaction(
    conn: AsyncConnection, tenant: uuid.UUID | None
) -> AbstractAsyncContextManager[object]:
    """The export's one transaction (begun with the connection's snapshot options), acting as
    `tenant` from its start when there is one."""
    return conn.begin() if tenant is None else acting_as(conn, tenant)


async def _tenant_role(conn: AsyncConnection) -> None:
    """Read as a tenant role for the rest of the transaction, the first of TENANT_ROLES the
    connecting role may become."""
    for role in TENANT_ROLES:
        if (await conn.execute(_MAY_ACT_AS_TENANT_ROLE, {"role": role})).scalar_one():
            await conn.execute(text(f"SET LOCAL ROLE {role}"))
            return
    log.warning(
        "export.tenant_filter_only",
        reason=f"the connecting role may not act as {' or '.join(TENANT_ROLES)}: the explicit "
        "tenant filter applies, row-level security does not",
    )


async def _reader(conn: AsyncConnection) -> tuple[str, Relations]:
    """The role reading, and what it reads for each hypertable: the table when it may, else
    the table's tenant-safe view."""
    row = (await conn.execute(_READER)).one()._mapping
    relations = {table: table if row[table] else view for table, view in TENANT_VIEWS.items()}
    return str(row["role"]), relations


async def _driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under `conn`, inside its open transaction."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    if not driver.is_in_transaction():  # pragma: no cover - guards the snapshot and tenant claim
        raise RuntimeError("an export must run inside its transaction")
    return driver


async def _export(
    conn: AsyncConnection,
    request: ExportRequest,
    relations: Relations,
    sink: Sink,
    progress: Progress | None,
    timeout: float,
) -> int:
    if request.kind == "comparison":
        records = await _comparison_rows(conn, request)
        written = await write_records(records, COMPARISON_COLUMNS, request.format, sink)
        Tracker(progress).finish(written)
        return written
    driver = await _driver(conn)
    tracker = Tracker(progress)
    if progress is not None:
        counted = count_rows(request, relations)
        tracker.total = int(await driver.fetchval(counted.sql, *counted.args))
        tracker.advance(0)
    query = select_rows(request, relations)
    if request.format == "csv":
        rows = await copy_csv(driver, query, sink, tracker, timeout=timeout)
    elif request.format == "jsonl":
        rows = await cursor_jsonl(driver, query, sink, tracker, batch_rows=request.batch_rows)
    else:
        columns = table_columns(request.kind)
        rows = await cursor_parquet(
            driver, query, columns, sink, tracker, batch_rows=request.batch_rows
        )
    tracker.finish(rows)
    return rows


async def _comparison_rows(
    conn: AsyncConnection, request: ExportRequest
) -> list[Mapping[str, Any]]:
    assert request.baseline is not None  # check_request made sure of both
    assert request.candidate is not None
    if request.tenant is not None:
        # Explicit, as for the tables: a version of another tenant is not found, even for a
        # role that row-level security does not bind.
        driver = await _driver(conn)
        owned = tenant_versions(request.tenant, [request.baseline, request.candidate])
        found = {str(row[0]) for row in await driver.fetch(owned.sql, *owned.args)}
        for field, version in (("baseline", request.baseline), ("candidate", request.candidate)):
            if str(version) not in found:
                raise ArcNotFoundError("config_version", field)
    comparison = await VersionComparator(conn).compare_versions(
        request.baseline,
        request.candidate,
        metric=request.metric,
        since=request.since,
        until=request.until,
    )
    return [row.as_dict() for row in comparison.scenarios]
