"""Copy an existing plain-PostgreSQL Arc-Eval database into the TimescaleDB schema (seed 002 §7A).

The target must already be migrated to head (`arc-db migrate`): this module copies data, the
schema comes from Alembic. The source has the seed schema (002 or 004): same table and column
names, no hypertables; columns the source lacks take the target's defaults (or NULL), and two
known differences are bridged: seed 004's `failure_patterns.similar_failures` is the target's
`similar_failures_count`, and when the source's failure_patterns / tool_usage have no
`execution_time` (seed 004) it is taken from their outcome.

How it runs
- Tables in foreign-key order (parents first). configurations are copied with
  latest_version_id unset and linked after config_versions (the key is circular).
- Every table is read from one REPEATABLE READ snapshot of the source through one cursor in key
  order (outcomes, failure_patterns and tool_usage by (execution_time, id), so hypertable
  chunks fill in time order): one sort on the source for the whole table, where keyset pages
  (`WHERE key > last ORDER BY key LIMIT n`) would sort the table again for every page when the
  source has no index on those keys. The cursor hands out pages of `batch_size` rows.
- Each page is written in one target transaction by binary COPY (asyncpg): straight into the
  table under a savepoint (the common case: rows the target does not have yet); if the target
  refuses (a key already there, a constraint), the page is COPYed into a temporary staging table
  and inserted with INSERT ... SELECT ... ON CONFLICT DO NOTHING. A rerun copies nothing twice;
  an interrupted run is resumed by running it again. `python -m bench migration` measures the
  rate against a raw COPY of the same rows (docs/benchmarks.md).
- Rollback: each page commits or rolls back as a whole, so a failure leaves the target
  consistent (whole pages only) and resumable. A page that violates a target constraint is
  retried row by row (savepoints): good rows are kept, each bad row is reported with its key
  and the database's reason. To undo a migration entirely, drop and recreate the target
  (`arc-db migrate` on an empty database); rows that existed before were never modified,
  except configurations.latest_version_id of migrated configurations.
- Progress: `progress(table, done, total)` after every page; `progress_bar()` is one that
  draws a bar with the rate and the time left on a terminal (a line per 10 % elsewhere).
- Checks (`verify_migration`): per table, rows in source and target and source rows missing
  from the target (by key); per simulation, the count of outcomes and the sum of cost_usd
  compared between source and target. Target rows beyond the source's (other data, audit
  rows written by the target's triggers) are allowed.
- structlog events: migration.started, migration.batch_copied, migration.row_rejected,
  migration.table_done, migration.verified, migration.finished.
- Checks read the source keys through one cursor too, and probe the target a page at a time.
"""

import math
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import asyncpg
import structlog
from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    func,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from arc.database.core.engine import build_engine, startup_settings
from arc.database.core.errors import ArcConfigurationError, ArcValidationError
from arc.database.core.settings import DatabaseSettings, url_wants_pgbouncer
from arc.database.models import Base

log = structlog.get_logger(__name__)

TABLE_ORDER: tuple[str, ...] = (
    "configurations",
    "config_versions",
    "config_diffs",
    "scenarios",
    "simulations",
    "simulations_scenarios",
    "outcomes",
    "failure_patterns",
    "tool_usage",
    "llm_recommendation_sessions",
    "recommendations",
    "audit_log",
)
KEYS: dict[str, tuple[str, ...]] = {
    "configurations": ("config_id",),
    "config_versions": ("version_id",),
    "config_diffs": ("diff_id",),
    "scenarios": ("scenario_id",),
    "simulations": ("simulation_id",),
    "simulations_scenarios": ("simulation_id", "scenario_id"),
    "outcomes": ("execution_time", "outcome_id"),
    "failure_patterns": ("execution_time", "pattern_id"),
    "tool_usage": ("execution_time", "usage_id"),
    "llm_recommendation_sessions": ("session_id",),
    "recommendations": ("recommendation_id",),
    "audit_log": ("log_id",),
}
# target column -> the source column that holds it under another name (seed 004)
RENAMED = {("failure_patterns", "similar_failures_count"): "similar_failures"}
# hypertables whose time column can be taken from the outcome (seed 004 lacks it)
TIME_FROM_OUTCOME = ("failure_patterns", "tool_usage")

Progress = Callable[[str, int, int], None]


@dataclass
class TableReport:
    table: str
    source_rows: int = 0
    target_rows: int = 0
    copied: int = 0
    already_present: int = 0
    missing_in_target: int = 0
    rejected: int = 0
    absent_in_source: bool = False
    defaulted_columns: list[str] = field(default_factory=list)


@dataclass
class RejectedRow:
    table: str
    key: dict[str, str]
    reason: str


@dataclass
class VerificationReport:
    tables: dict[str, TableReport]
    simulation_mismatches: list[dict[str, Any]]
    mismatches: list[str]

    @property
    def ok(self) -> bool:
        return not self.mismatches


@dataclass
class MigrationReport:
    tables: dict[str, TableReport]
    rejected_rows: list[RejectedRow]
    verification: VerificationReport | None
    duration_s: float
    batch_size: int

    @property
    def copied(self) -> int:
        return sum(t.copied for t in self.tables.values())

    @property
    def mismatches(self) -> list[str]:
        return self.verification.mismatches if self.verification else []

    @property
    def ok(self) -> bool:
        return not self.rejected_rows and (self.verification is None or self.verification.ok)


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


async def _source_columns(conn: AsyncConnection, table: str) -> set[str]:
    result = await conn.execute(
        text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = :t"
        ),
        {"t": table},
    )
    return {row[0] for row in result}


async def _check_target(conn: AsyncConnection) -> None:
    exists = await conn.execute(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
    if not exists.scalar_one():
        raise ArcConfigurationError("target_url", "has no schema: run `arc-db migrate` first")
    missing = [
        name
        for name in TABLE_ORDER
        if not (await conn.execute(text("SELECT to_regclass(:n)"), {"n": name})).scalar_one()
    ]
    if missing:
        raise ArcConfigurationError("target_url", f"lacks tables {missing}: migrate it to head")


@dataclass(frozen=True)
class _Plan:
    table: str
    columns: list[str]  # target columns written
    select_columns: list[ColumnElement[Any]]  # in the same order, read from the source
    keys: list[ColumnElement[Any]]  # keyset order on the source
    from_clause: Any
    defaulted: list[str]


def _plan(table: str, source_cols: set[str], outcome_cols: set[str]) -> _Plan:
    target = _table(table)
    src = target.alias("src")
    from_clause: Any = src
    columns: list[str] = []
    select_columns: list[ColumnElement[Any]] = []
    defaulted: list[str] = []
    time_from_outcome = (
        table in TIME_FROM_OUTCOME
        and "execution_time" not in source_cols
        and "execution_time" in outcome_cols
    )
    outcome = _table("outcomes").alias("o")
    if time_from_outcome:
        from_clause = src.join(outcome, outcome.c.outcome_id == src.c.outcome_id)
    for column in target.columns:
        name = column.name
        if table == "configurations" and name == "latest_version_id":
            continue  # linked after config_versions (circular key)
        if name in source_cols:
            columns.append(name)
            select_columns.append(src.c[name])
        elif (table, name) in RENAMED and RENAMED[(table, name)] in source_cols:
            columns.append(name)
            select_columns.append(
                literal_column(f"src.{RENAMED[(table, name)]}", column.type).label(name)
            )
        elif name == "execution_time" and time_from_outcome:
            columns.append(name)
            select_columns.append(outcome.c.execution_time.label(name))
        else:
            defaulted.append(name)
    key_names = KEYS[table]
    keys: list[ColumnElement[Any]] = []
    for key in key_names:
        if key == "execution_time" and time_from_outcome:
            keys.append(outcome.c.execution_time)
        else:
            keys.append(src.c[key])
    required = [c.name for c in target.columns if not c.nullable and c.server_default is None]
    lacking = [c for c in required if c not in columns and c != "latest_version_id"]
    if lacking:
        raise ArcValidationError(
            f"{table}.{lacking[0]}", "is required by the target and absent in the source"
        )
    return _Plan(table, columns, select_columns, keys, from_clause, defaulted)


def _key_of(plan: _Plan, row: dict[str, Any]) -> dict[str, str]:
    return {k: str(row.get(k)) for k in KEYS[plan.table]}


_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]
# SQLSTATE classes that describe one row (data exception, integrity constraint violation,
# program limit exceeded, raised by a trigger): the page is retried row by row.
_ROW_LEVEL = frozenset({"22", "23", "54", "P0"})


def _row_level(exc: BaseException) -> bool:
    """A rejection of some row of the page (as opposed to a lost connection, missing rights)."""
    code = getattr(exc, "sqlstate", None)
    if isinstance(code, str):
        return code[:2] in _ROW_LEVEL
    # asyncpg's binary COPY raises plain Python errors for a value it cannot encode
    return isinstance(exc, TypeError | ValueError | OverflowError)


async def _raw_connection(url: str) -> asyncpg.Connection:
    """A driver connection with the engine's settings (TLS, session parameters, PgBouncer)."""
    settings = DatabaseSettings(url=url)
    u = settings.async_url
    pgbouncer = url_wants_pgbouncer(url)
    conn: asyncpg.Connection = await asyncpg.connect(
        user=u.username,
        password=u.password,
        host=u.host,
        port=u.port,
        database=u.database,
        ssl=settings.ssl_argument,
        timeout=10,
        statement_cache_size=0 if pgbouncer else 100,
        server_settings=startup_settings(None, "arc-eval-db-migration", pgbouncer),
    )
    has_vector = await conn.fetchval("SELECT to_regtype('vector') IS NOT NULL")
    if has_vector:
        from pgvector.asyncpg import register_vector

        await register_vector(conn)
    return conn


class _PageWriter:
    """Writes pages of one table into the target, one transaction each (see module doc)."""

    def __init__(self, conn: asyncpg.Connection, plan: _Plan) -> None:
        self.conn = conn
        self.plan = plan
        table = _table(plan.table)
        self.stage = f"arc_migrate_{plan.table}"
        types = ", ".join(
            f'"{c}" {table.c[c].type.compile(dialect=_DIALECT)}' for c in plan.columns
        )
        self.create_stage = (
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.stage} ({types}) ON COMMIT DELETE ROWS"
        )
        names = ", ".join(f'"{c}"' for c in plan.columns)
        self.from_stage = (
            f"INSERT INTO {plan.table} ({names}) SELECT {names} FROM {self.stage} "
            "ON CONFLICT DO NOTHING RETURNING 1"
        )
        params = ", ".join(f"${i + 1}" for i in range(len(plan.columns)))
        self.one_row = (
            f"INSERT INTO {plan.table} ({names}) VALUES ({params}) "
            "ON CONFLICT DO NOTHING RETURNING 1"
        )

    async def write(
        self, records: list[tuple[Any, ...]], rejected: list[RejectedRow]
    ) -> tuple[int, int]:
        """One page, one transaction. Returns (inserted, rejected)."""
        columns = self.plan.columns
        async with self.conn.transaction():
            try:
                async with self.conn.transaction():  # savepoint: a refusal undoes the COPY
                    await self.conn.copy_records_to_table(
                        self.plan.table, records=records, columns=columns
                    )
                return len(records), 0
            except Exception as exc:
                if not _row_level(exc):
                    raise
            # A key already there (a rerun) or a refused row: through the staging table.
            await self.conn.execute(self.create_stage)
            try:
                async with self.conn.transaction():
                    await self.conn.copy_records_to_table(
                        self.stage, records=records, columns=columns
                    )
                    inserted = len(await self.conn.fetch(self.from_stage))
                    await self.conn.execute(f"TRUNCATE {self.stage}")
                return inserted, 0
            except Exception as exc:
                if not _row_level(exc):
                    raise
            log.warning("migration.page_retried_by_row", table=self.plan.table, rows=len(records))
            inserted = bad = 0
            for record in records:
                try:
                    async with self.conn.transaction():
                        inserted += len(await self.conn.fetch(self.one_row, *record))
                except Exception as exc:
                    if not _row_level(exc):
                        raise
                    bad += 1
                    reason = str(exc).splitlines()[0][:300] or type(exc).__name__
                    row = dict(zip(columns, record, strict=True))
                    rejected.append(RejectedRow(self.plan.table, _key_of(self.plan, row), reason))
                    log.warning("migration.row_rejected", table=self.plan.table, reason=reason)
            return inserted, bad


def _sql(query: Any) -> str:
    """A Core statement as plain SQL for the driver (it has no parameters)."""
    return str(query.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True}))


async def _copy_table(
    source: AsyncConnection,
    target: asyncpg.Connection,
    plan: _Plan,
    *,
    batch_size: int,
    report: TableReport,
    rejected: list[RejectedRow],
    progress: Progress | None,
) -> None:
    total: int = (
        await source.execute(select(func.count()).select_from(plan.from_clause))
    ).scalar_one()
    report.source_rows = int(total)
    query = select(*plan.select_columns).select_from(plan.from_clause).order_by(*plan.keys)
    driver = await _driver(source)
    cursor = await driver.cursor(_sql(query))
    writer = _PageWriter(target, plan)
    done = 0
    while True:
        page = await cursor.fetch(batch_size)
        if not page:
            break
        records = [tuple(r) for r in page]
        inserted, bad = await writer.write(records, rejected)
        report.copied += inserted
        report.rejected += bad
        report.already_present += len(records) - inserted - bad
        done += len(records)
        log.info(
            "migration.batch_copied",
            table=plan.table,
            rows=len(records),
            inserted=inserted,
            done=done,
        )
        if progress is not None:
            progress(plan.table, done, report.source_rows)
        if len(page) < batch_size:
            break


async def _driver(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under `conn` (inside its open transaction)."""
    raw = await conn.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    return driver


class ProgressBar:
    """A `progress` callback that draws one bar per table: rows done, rate, time left.

    On a terminal the bar is redrawn in place; elsewhere (a log file, CI) a line is written at
    every 10 % and at the end.
    """

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._table: str | None = None
        self._first = (0.0, 0)  # (time, rows) of the table's first page
        self._shown = -1

    def __call__(self, table: str, done: int, total: int) -> None:
        now = time.monotonic()
        if table != self._table:
            self._table, self._first, self._shown = table, (now, done), -1
        fraction = min(1.0, done / total) if total else 1.0
        tenth = int(fraction * 10)
        if not self.tty and tenth == self._shown and done < total:
            return
        self._shown = tenth
        # The rate from the first page on (the first page's own time is not known here).
        began, first = self._first
        rate = (done - first) / (now - began) if now > began and done > first else None
        speed = f"{rate:,.0f} rows/s" if rate else "- rows/s"
        left = f"{(total - done) / rate:,.0f}s left" if rate else "- left"
        filled = int(fraction * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        line = f"{table:<28} [{bar}] {fraction:>4.0%} {done:,}/{total:,} rows {speed}, {left}"
        end = "\n" if done >= total or not self.tty else ""
        self.stream.write(("\r" if self.tty else "") + line + end)
        self.stream.flush()


def progress_bar(stream: TextIO | None = None) -> ProgressBar:
    """The progress callback to pass as `migrate_from_postgres(..., progress=progress_bar())`."""
    return ProgressBar(stream)


async def _link_latest_versions(
    source: AsyncConnection, target: AsyncEngine, batch_size: int
) -> int:
    """configurations.latest_version_id, set once the versions are in the target."""
    src = _table("configurations").alias("src")
    linked = 0
    last: uuid.UUID | None = None
    tgt = _table("configurations")
    stmt = (
        update(tgt)
        .where(tgt.c.config_id == bindparam("b_config_id"))
        .where(tgt.c.latest_version_id.is_distinct_from(bindparam("b_latest")))
        .values(latest_version_id=bindparam("b_latest"))
    )
    while True:
        query = select(src.c.config_id, src.c.latest_version_id).where(
            src.c.latest_version_id.is_not(None)
        )
        if last is not None:
            query = query.where(src.c.config_id > last)
        page = (await source.execute(query.order_by(src.c.config_id).limit(batch_size))).all()
        if not page:
            return linked
        last = page[-1][0]
        async with target.begin() as conn:
            exists = await conn.execute(
                text(
                    "SELECT version_id FROM config_versions "
                    "WHERE version_id = ANY(CAST(:ids AS uuid[]))"
                ),
                {"ids": [str(r[1]) for r in page]},
            )
            present = {row[0] for row in exists}
            params = [{"b_config_id": r[0], "b_latest": r[1]} for r in page if r[1] in present]
            if params:
                await conn.execute(stmt, params)
                linked += len(params)


async def migrate_from_postgres(
    source_url: str,
    target_url: str,
    *,
    batch_size: int = 5000,
    tables: Sequence[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> MigrationReport:
    """Copy the twelve tables (or `tables`, kept in FK order) and verify the result."""
    if batch_size < 1:
        raise ArcValidationError("batch_size", "must be >= 1", value=batch_size)
    unknown = [t for t in (tables or ()) if t not in TABLE_ORDER]
    if unknown:
        raise ArcValidationError("tables", f"unknown tables {unknown}", value=list(tables or ()))
    selected = [t for t in TABLE_ORDER if tables is None or t in tables]
    started = time.monotonic()
    source_engine = build_engine(url=source_url, pool_size=2, max_overflow=0)
    target_engine = build_engine(url=target_url, pool_size=2, max_overflow=2)
    target: asyncpg.Connection | None = None
    reports: dict[str, TableReport] = {}
    rejected: list[RejectedRow] = []
    log.info("migration.started", tables=selected, batch_size=batch_size)
    try:
        async with target_engine.connect() as conn:
            await _check_target(conn)
        target = await _raw_connection(target_url)
        async with source_engine.connect() as source:
            # One snapshot for the whole copy, so children never reference unseen parents.
            await source.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            await source.begin()
            # Rows go from the source cursor to the target's COPY as the driver reads them:
            # JSON stays text (this engine is private to the migration, so its connection's
            # codecs may change), vectors binary.
            source_driver = await _driver(source)
            for json_type in ("json", "jsonb"):
                await source_driver.set_type_codec(
                    json_type, schema="pg_catalog", encoder=str, decoder=str, format="text"
                )
            if await source_driver.fetchval("SELECT to_regtype('vector') IS NOT NULL"):
                from pgvector.asyncpg import register_vector

                await register_vector(source_driver)
            outcome_cols = await _source_columns(source, "outcomes")
            for table in selected:
                report = TableReport(table)
                reports[table] = report
                source_cols = await _source_columns(source, table)
                if not source_cols:
                    report.absent_in_source = True
                    log.warning("migration.table_absent_in_source", table=table)
                    continue
                plan = _plan(table, source_cols, outcome_cols)
                report.defaulted_columns = plan.defaulted
                await _copy_table(
                    source,
                    target,
                    plan,
                    batch_size=batch_size,
                    report=report,
                    rejected=rejected,
                    progress=progress,
                )
                if table == "config_versions" and "configurations" in selected:
                    linked = await _link_latest_versions(source, target_engine, batch_size)
                    log.info("migration.latest_versions_linked", configurations=linked)
                log.info(
                    "migration.table_done",
                    table=table,
                    source_rows=report.source_rows,
                    copied=report.copied,
                    already_present=report.already_present,
                    rejected=report.rejected,
                )
            await source.rollback()
    finally:
        if target is not None:
            await target.close()
        await source_engine.dispose()
        await target_engine.dispose()
    verification = await verify_migration(source_url, target_url, tables=selected)
    for name, checked in verification.tables.items():
        if name in reports:
            reports[name].target_rows = checked.target_rows
            reports[name].missing_in_target = checked.missing_in_target
    result = MigrationReport(
        reports, rejected, verification, round(time.monotonic() - started, 3), batch_size
    )
    log.info(
        "migration.finished",
        copied=result.copied,
        rejected=len(rejected),
        mismatches=len(result.mismatches),
        duration_s=result.duration_s,
    )
    return result


_ARRAY_TYPES = {"execution_time": "timestamptz[]", "scenario_id": "text[]"}


async def _missing_keys(
    source: AsyncConnection, target: AsyncConnection, table: str, batch_size: int
) -> int:
    """Source rows whose key is absent in the target (keyset pages of source keys)."""
    keys = list(KEYS[table])
    source_cols = await _source_columns(source, table)
    if not set(keys) <= source_cols:  # seed 004 time tables: compare by id only
        keys = [k for k in keys if k != "execution_time"]
    src = _table(table).alias("src")
    key_cols = [src.c[k] for k in keys]
    missing = 0
    join_on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    unnest = ", ".join(f"CAST(:{k} AS {_ARRAY_TYPES.get(k, 'uuid[]')})" for k in keys)
    probe = text(
        f"SELECT count(*) FROM unnest({unnest}) AS s({', '.join(keys)}) "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {join_on})"
    )
    # One cursor over the source keys (one sort), probed against the target a page at a time.
    await source.execute(text("SELECT 1"))  # the cursor needs the open transaction
    cursor = await (await _driver(source)).cursor(_sql(select(*key_cols).order_by(*key_cols)))
    while True:
        page = await cursor.fetch(batch_size)
        if not page:
            return missing
        params = {
            k: [row[i] if k == "execution_time" else str(row[i]) for row in page]
            for i, k in enumerate(keys)
        }
        missing += int((await target.execute(probe, params)).scalar_one())


_SIM_TOTALS = text(
    "SELECT simulation_id, count(*) AS n, coalesce(sum(CAST(cost_usd AS float8)), 0) AS cost "
    "FROM outcomes GROUP BY simulation_id"
)
_SIM_TOTALS_TARGET = text(
    "SELECT simulation_id, count(*) AS n, coalesce(sum(CAST(cost_usd AS float8)), 0) AS cost "
    "FROM outcomes WHERE simulation_id = ANY(CAST(:ids AS uuid[])) GROUP BY simulation_id"
)


async def verify_migration(
    source_url: str,
    target_url: str,
    *,
    tables: Sequence[str] | None = None,
    batch_size: int = 5000,
) -> VerificationReport:
    """Row counts, missing keys per table, outcome count and cost per simulation."""
    selected = [t for t in TABLE_ORDER if tables is None or t in tables]
    source_engine = build_engine(url=source_url, pool_size=1, max_overflow=0)
    target_engine = build_engine(url=target_url, pool_size=1, max_overflow=0)
    reports: dict[str, TableReport] = {}
    mismatches: list[str] = []
    sim_mismatches: list[dict[str, Any]] = []
    try:
        async with source_engine.connect() as source, target_engine.connect() as target:
            for table in selected:
                report = TableReport(table)
                reports[table] = report
                if not await _source_columns(source, table):
                    report.absent_in_source = True
                    continue
                count = f"SELECT count(*) FROM {table}"
                report.source_rows = int((await source.execute(text(count))).scalar_one())
                report.target_rows = int((await target.execute(text(count))).scalar_one())
                report.missing_in_target = await _missing_keys(source, target, table, batch_size)
                if report.missing_in_target:
                    mismatches.append(
                        f"{table}: {report.missing_in_target} of {report.source_rows} "
                        "source rows are missing in the target"
                    )
            if "outcomes" in selected and await _source_columns(source, "outcomes"):
                src_totals = {
                    row.simulation_id: (row.n, row.cost)
                    for row in await source.execute(_SIM_TOTALS)
                }
                ids = list(src_totals)
                tgt_totals: dict[Any, tuple[int, float]] = {}
                for i in range(0, len(ids), batch_size):
                    chunk = [str(x) for x in ids[i : i + batch_size]]
                    for row in await target.execute(_SIM_TOTALS_TARGET, {"ids": chunk}):
                        tgt_totals[row.simulation_id] = (row.n, row.cost)
                for sim, (n, cost) in src_totals.items():
                    t_n, t_cost = tgt_totals.get(sim, (0, 0.0))
                    if n != t_n or not math.isclose(cost, t_cost, rel_tol=1e-9, abs_tol=1e-6):
                        sim_mismatches.append(
                            {
                                "simulation_id": str(sim),
                                "source_outcomes": n,
                                "target_outcomes": t_n,
                                "source_cost_usd": cost,
                                "target_cost_usd": t_cost,
                            }
                        )
                if sim_mismatches:
                    mismatches.append(
                        f"outcomes: {len(sim_mismatches)} simulations differ in outcome count "
                        "or total cost_usd"
                    )
    finally:
        await source_engine.dispose()
        await target_engine.dispose()
    result = VerificationReport(reports, sim_mismatches, mismatches)
    log.info("migration.verified", ok=result.ok, mismatches=mismatches)
    return result
