"""What every repository shares: the caller's connection, and idempotent batch inserts.

Repositories never commit: the caller owns the transaction (`async with engine.begin()`).

Batch inserts report, per call, which rows were new, which were duplicates (already stored:
a retried batch), and which the database rejected (with the typed reason). Two paths write
the same rows with the same guarantees:

- `insert_values`: the design card's Core `insert(...).values(rows)` with ON CONFLICT DO
  NOTHING on the (id, time) key and RETURNING the key, chunked below asyncpg's 32,767 bind
  parameters. Simple; used for small batches.
- `insert_copy`: binary COPY (asyncpg, on the same connection and transaction) into a
  per-connection temporary staging table, then one Core `insert(...).from_select(...)` with
  the same ON CONFLICT DO NOTHING ... RETURNING. Several times faster for large batches
  because nothing is compiled per row (see bench/ingest.py).

Rows the database refuses (e.g. a foreign key to an unknown simulation) and rows the driver
cannot encode (a number too large for its column) are isolated by bisecting the failing chunk
under savepoints, so every good row is stored. A key repeated inside one call is written once:
the later copies are reported as duplicates (or rejected with the first, if it was).
"""

import functools
import operator
import os
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from asyncpg.pgproto.pgproto import UUID as PgUUID
from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    Text,
    TypeDecorator,
    bindparam,
    cast,
    literal,
    select,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, REAL
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection

from arc.database.core.errors import ArcIntegrityError, is_transient, sqlstate_of, translate_error
from arc.database.core.jsonb import JsonText, json_dumps

log = structlog.get_logger(__name__)

# asyncpg refuses statements with more than 32,767 bind parameters.
MAX_BIND_PARAMETERS = 32_767
_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]

Key = tuple[Any, ...]
Row = dict[str, Any]


@dataclass
class InsertReport:
    """What one batch insert did. Indexes refer to the rows passed in."""

    inserted: list[Key] = field(default_factory=list)
    duplicates: list[Key] = field(default_factory=list)
    rejected: list[tuple[int, ArcIntegrityError]] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return len(self.inserted) + len(self.duplicates)

    def merge(self, other: "InsertReport", offset: int = 0) -> None:
        self.inserted.extend(other.inserted)
        self.duplicates.extend(other.duplicates)
        self.rejected.extend((i + offset, e) for i, e in other.rejected)


# SQLSTATE classes that describe one row: data exception, integrity constraint violation,
# program limit exceeded (a value too large for an index), raised by a PL/pgSQL trigger. Others
# (missing table, privileges, ...) are about the whole statement and propagate.
ROW_LEVEL_SQLSTATE_CLASSES = frozenset({"22", "23", "54", "P0"})


def row_rejection(exc: BaseException) -> ArcIntegrityError | None:
    """The typed error when `exc` is a row-level rejection; None when it must propagate."""
    if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError):
        # SQLAlchemy could not bind a value (e.g. JSON that does not serialise): this row's.
        cause = exc.orig
        return ArcIntegrityError(None, f"cannot be sent ({type(cause).__name__}: {cause})")
    if not isinstance(exc, DBAPIError | asyncpg.PostgresError) or is_transient(exc):
        return None
    code = sqlstate_of(exc)
    if code is not None and code[:2] not in ROW_LEVEL_SQLSTATE_CLASSES:
        return None
    translated = translate_error(exc)
    return translated if isinstance(translated, ArcIntegrityError) else None


def _copy_error(error: ArcIntegrityError) -> ArcIntegrityError:
    """A separate error object for another row (callers set `.index` on each)."""
    return ArcIntegrityError(
        error.field,
        error.rule,
        constraint=error.constraint,
        sqlstate=error.sqlstate,
        table=error.table,
    )


def _unencodable(exc: BaseException) -> bool:
    """asyncpg's binary COPY raises plain Python errors for a value it cannot encode."""
    return (
        isinstance(exc, TypeError | ValueError | OverflowError)
        and sqlstate_of(exc) is None
        and not is_transient(exc)
    )


def json_bindable(row: Row) -> Row:
    """Bind pre-serialised JSON (JsonText) as text cast to jsonb, so it is not encoded twice."""
    return {
        k: cast(literal(str(v), Text()), JSONB) if isinstance(v, JsonText) else v
        for k, v in row.items()
    }


class JsonTextType(TypeDecorator[Any]):
    """jsonb bound as text plus a SQL cast: JSON that validation already serialised is sent as
    is (JSONB's own bind processing would encode the string a second time)."""

    impl = Text
    cache_ok = True

    def bind_expression(self, bindvalue: Any) -> Any:
        return cast(bindvalue, JSONB)

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return json_dumps(value)


@functools.cache
def _shadow_table(table: Table) -> Table:
    """`table` with its jsonb columns typed JsonTextType (same name, same columns)."""
    return Table(
        table.name,
        MetaData(),
        *[
            Column(
                c.name,
                JsonTextType() if isinstance(c.type, JSONB) else c.type,
                primary_key=c.primary_key,
            )
            for c in table.columns
        ],
    )


class BaseRepository:
    """Holds the caller's connection; subclasses add methods named after the domain."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn


class BatchInserter:
    """Idempotent chunked batch insert into one table keyed by (id, time)."""

    def __init__(self, conn: AsyncConnection, table: Table, key: Sequence[str]) -> None:
        self.conn = conn
        self.table = table
        self.key = tuple(key)
        self._key_of = _key_getter(self.key)
        self.columns = [c.name for c in table.columns]
        self._json_columns = {c.name for c in table.columns if isinstance(c.type, JSONB)}
        self._stage = _staging_table(table)
        self._shadow = _shadow_table(table)
        self.isolate = True  # bisect failing chunks under savepoints
        self._executemany = False
        self.optimistic = True  # try a direct COPY first (see _copy_direct)
        self._vector_columns = {c.name for c in table.columns if isinstance(c.type, Vector)}

    # ------------------------------------------------------------------ values path

    def chunk_size(self) -> int:
        return max(1, (MAX_BIND_PARAMETERS - 10) // len(self.columns))

    async def insert_values(
        self, rows: Sequence[Row], chunk_size: int | None = None, *, executemany: bool = False
    ) -> InsertReport:
        """Core insert().values() per chunk; ON CONFLICT DO NOTHING; RETURNING the key.

        `executemany=True` sends the chunk as parameter sets of one cached statement
        (SQLAlchemy's insertmanyvalues) instead of one multi-row VALUES compiled per call.
        """
        unique, copies = self._unique(rows)
        self._executemany = executemany
        report = InsertReport()
        size = min(chunk_size or self.chunk_size(), self.chunk_size())
        for start in range(0, len(unique), size):
            chunk = unique[start : start + size]
            report.merge(await self._isolate(chunk, self._values_once), offset=start)
        return self._with_copies(report, unique, copies)

    async def _values_once(self, chunk: Sequence[Row]) -> list[Key]:
        key_cols = [self._shadow.c[k] for k in self.key]
        if len(chunk) == 1 or self._executemany:
            # Plain bind parameters: the statement is compiled once and cached.
            stmt = (
                pg_insert(self._shadow)
                .on_conflict_do_nothing(index_elements=key_cols)
                .returning(*key_cols)
            )
            params = [{n: row.get(n) for n in self.columns} for row in chunk]
            result = await self.conn.execute(stmt, params[0] if len(params) == 1 else params)
        else:
            # The design card's multi-row INSERT ... VALUES (compiled per call: see bench).
            stmt = (
                pg_insert(self._shadow)
                .values([{n: row.get(n) for n in self.columns} for row in chunk])
                .on_conflict_do_nothing(index_elements=key_cols)
                .returning(*key_cols)
            )
            result = await self.conn.execute(stmt)
        return [tuple(r) for r in result.all()]

    # ------------------------------------------------------------------ COPY path

    async def insert_copy(self, rows: Sequence[Row]) -> InsertReport:
        """Binary COPY into a staging temp table, then INSERT ... SELECT ... ON CONFLICT.

        A value the driver cannot encode fails the whole COPY; those rows then take the
        VALUES path, which isolates the row that cannot be sent.
        """
        unique, copies = self._unique(rows)
        if not unique:
            return InsertReport()
        report = await self._copy(unique)
        if report is None:
            report = await self.insert_values(unique, executemany=True)
        return self._with_copies(report, unique, copies)

    async def _copy(self, rows: Sequence[Row]) -> InsertReport | None:
        if self.optimistic and not any(
            row.get(c) is not None for row in rows for c in self._vector_columns
        ):
            direct = await self._copy_direct(rows)
            if direct is not None:
                return direct if direct is not _UNENCODABLE else None
        stage = self._stage
        await self.conn.execute(text(stage.create_sql))  # also opens the driver transaction
        batch = random.randint(1, 2_000_000_000)
        raw = await self.conn.get_raw_connection()
        driver: Any = raw.driver_connection
        if not driver.is_in_transaction():  # pragma: no cover - guards the atomicity claim
            raise RuntimeError("COPY must run inside the caller's transaction")
        try:
            async with self.conn.begin_nested():
                records = self._records(rows, self.columns, batch)
                await driver.copy_records_to_table(
                    stage.name, records=records, columns=["arc_batch", "arc_row", *self.columns]
                )
        except Exception as exc:
            if _unencodable(exc):
                return None
            raise

        async def run(chunk_range: tuple[int, int]) -> list[Key]:
            lo, hi = chunk_range
            result = await self.conn.execute(stage.insert_stmt, {"b": batch, "lo": lo, "hi": hi})
            return [tuple(r) for r in result.all()]

        return await self._isolate_range(rows, 0, len(rows) - 1, run)

    async def _copy_direct(self, rows: Sequence[Row]) -> InsertReport | None:
        """Fast path: COPY straight into the table under a savepoint.

        Succeeds only when every row is new and valid (then all are reported inserted); any
        conflict or rejection rolls the savepoint back and returns None, and the caller takes
        the staging path, which sorts out duplicates and bad rows (`_UNENCODABLE`: a value the
        driver cannot encode, which the staging COPY would meet too). Same guarantees, and the
        common case (a first delivery of good rows) skips the staging table and the
        speculative insertion of ON CONFLICT.
        """
        columns = [c for c in self.columns if c not in self._vector_columns]
        raw = await self.conn.get_raw_connection()
        driver: Any = raw.driver_connection
        if not driver.is_in_transaction():  # SQLAlchemy begins it with the first statement
            await self.conn.execute(text("SELECT 1"))
        try:
            async with self.conn.begin_nested():
                records = self._records(rows, columns)
                await driver.copy_records_to_table(
                    self.table.name, records=records, columns=columns
                )
        except DBAPIError as exc:
            if row_rejection(exc) is None:
                raise
            return None
        except Exception as exc:  # asyncpg raises its own classes from copy_records_to_table
            if _unencodable(exc):
                return _UNENCODABLE
            if is_transient(exc) or sqlstate_of(exc) is None:
                raise
            return None
        return InsertReport(inserted=[self._key_of(row) for row in rows])

    def _records(
        self, rows: Sequence[Row], columns: Sequence[str], batch: int | None = None
    ) -> list[tuple[Any, ...]]:
        """COPY records of `columns` (jsonb values not yet serialised are serialised here);
        with `batch`, prefixed by (batch, position) for the staging table. One itemgetter
        call per row: a per-value call cost more than the values."""
        json_at = [i for i, c in enumerate(columns) if c in self._json_columns]
        values_of = operator.itemgetter(*columns)
        records = []
        for position, row in enumerate(rows):
            try:
                values: tuple[Any, ...] = values_of(row)  # a validated row has every column
            except KeyError:
                values = tuple(row.get(c) for c in columns)
            for i in json_at:
                if values[i] is not None and not isinstance(values[i], str):
                    values = _json_serialised(values, json_at)  # not validated: serialise here
                    break
            records.append(values if batch is None else (batch, position, *values))
        return records

    # ------------------------------------------------------------------ repeated keys

    def _unique(self, rows: Sequence[Row]) -> tuple[Sequence[Row], list[tuple[int, int]]]:
        """The rows with each key once, and (position, position of its first copy in the
        unique rows) for every later copy. One INSERT ... ON CONFLICT DO NOTHING writes a
        repeated key once but RETURNS it once: without this both copies read as inserted."""
        keys = list(map(self._key_of, rows))
        if len(set(keys)) == len(keys):
            return rows, []  # the common case, decided in C
        first: dict[Key, int] = {}
        unique: list[Row] = []
        copies: list[tuple[int, int]] = []
        for position, (row, key) in enumerate(zip(rows, keys, strict=True)):
            at = first.setdefault(key, len(unique))
            if at == len(unique):
                unique.append(row)
            else:
                copies.append((position, at))
        return (rows, copies) if not copies else (unique, copies)

    def _with_copies(
        self, report: InsertReport, unique: Sequence[Row], copies: list[tuple[int, int]]
    ) -> InsertReport:
        """`report` (of the unique rows) in positions of the rows passed in."""
        if not copies:
            return report
        copied = {position for position, _ in copies}
        positions = [p for p in range(len(unique) + len(copies)) if p not in copied]
        rejected = {i: error for i, error in report.rejected}
        result = InsertReport(report.inserted, report.duplicates)
        result.rejected = [(positions[i], error) for i, error in report.rejected]
        for position, at in copies:
            if at in rejected:
                result.rejected.append((position, _copy_error(rejected[at])))
            else:
                result.duplicates.append(self._key_of(unique[at]))
        result.rejected.sort(key=lambda item: item[0])
        return result

    # ------------------------------------------------------------------ isolation

    def _classify(self, rows: Sequence[Row], returned: list[Key]) -> InsertReport:
        new = set(returned)
        report = InsertReport()
        for row in rows:
            key = self._key_of(row)
            (report.inserted if key in new else report.duplicates).append(key)
        return report

    async def _isolate(self, chunk: Sequence[Row], once: Any, top: bool = True) -> InsertReport:
        """Insert `chunk` under a savepoint; on a row-level rejection, bisect to find it."""
        if not self.isolate and top and len(chunk) == 1:
            # One row and the caller rolls back on any rejection: no savepoint needed.
            try:
                return self._classify(chunk, await once(chunk))
            except DBAPIError as exc:
                error = row_rejection(exc)
                if error is None:
                    raise
                return InsertReport(rejected=[(0, error)])
        try:
            async with self.conn.begin_nested():
                returned = await once(chunk)
        except DBAPIError as exc:
            error = row_rejection(exc)
            if error is None:
                raise
            if len(chunk) == 1:
                return InsertReport(rejected=[(0, error)])
            mid = len(chunk) // 2
            # Inside the bisection every row needs its savepoint: a bare failure would abort
            # the transaction under the rows still to try.
            report = await self._isolate(chunk[:mid], once, top=False)
            report.merge(await self._isolate(chunk[mid:], once, top=False), offset=mid)
            return report
        return self._classify(chunk, returned)

    async def _isolate_range(self, rows: Sequence[Row], lo: int, hi: int, run: Any) -> InsertReport:
        try:
            async with self.conn.begin_nested():
                returned = await run((lo, hi))
        except DBAPIError as exc:
            error = row_rejection(exc)
            if error is None:
                raise
            if lo == hi:
                return InsertReport(rejected=[(lo, error)])
            mid = (lo + hi) // 2
            report = await self._isolate_range(rows, lo, mid, run)
            report.merge(await self._isolate_range(rows, mid + 1, hi, run))
            return report
        return self._classify(rows[lo : hi + 1], returned)


def _json_serialised(values: tuple[Any, ...], json_at: Sequence[int]) -> tuple[Any, ...]:
    """`values` with the jsonb values at `json_at` serialised (text is taken as JSON)."""
    serialised = list(values)
    for i in json_at:
        if serialised[i] is not None and not isinstance(serialised[i], str):
            serialised[i] = json_dumps(serialised[i])
    return tuple(serialised)


def _key_getter(key: Sequence[str]) -> Callable[[Row], Key]:
    """row -> the tuple of its `key` columns (itemgetter, in C: this runs for every row)."""
    if len(key) == 1:
        only = key[0]
        return lambda row: (row[only],)
    getter: Callable[[Row], Key] = operator.itemgetter(*key)
    return getter


@dataclass(frozen=True)
class _Stage:
    name: str
    create_sql: str
    insert_stmt: Any


@functools.cache
def _staging_table(table: Table) -> _Stage:
    """A temp table mirroring `table` (vectors staged as real[]), plus batch/row numbers."""
    name = f"arc_stage_{table.name}"
    md = MetaData()
    stage_cols: list[Column[Any]] = [Column("arc_batch", Integer), Column("arc_row", Integer)]
    ddl = ["arc_batch integer", "arc_row integer"]
    for col in table.columns:
        if isinstance(col.type, Vector):
            stage_cols.append(Column(col.name, ARRAY(REAL)))
            ddl.append(f"{col.name} real[]")
        else:
            stage_cols.append(Column(col.name, col.type))
            ddl.append(f"{col.name} {col.type.compile(_DIALECT)}")
    stage = Table(name, md, *stage_cols)
    create_sql = f"CREATE TEMP TABLE IF NOT EXISTS {name} ({', '.join(ddl)}) ON COMMIT DELETE ROWS"
    selected = [
        cast(stage.c[c.name], c.type) if isinstance(c.type, Vector) else stage.c[c.name]
        for c in table.columns
    ]
    key_cols = [c for c in table.primary_key.columns]
    insert_stmt = (
        pg_insert(table)
        .from_select(
            [c.name for c in table.columns],
            select(*selected).where(
                stage.c.arc_batch == bindparam("b"),
                stage.c.arc_row.between(bindparam("lo"), bindparam("hi")),
            ),
        )
        .on_conflict_do_nothing(index_elements=key_cols)
        .returning(*key_cols)
    )
    return _Stage(name=name, create_sql=create_sql, insert_stmt=insert_stmt)


_UNENCODABLE = InsertReport()  # marker: the driver could not encode a value of these rows


_VERSION_4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_VERSION_4_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant


def new_id() -> uuid.UUID:
    """A random version 4 UUID (as uuid.uuid4(): 16 bytes of os.urandom), made as asyncpg's
    C UUID, a uuid.UUID subclass the driver also returns for uuid columns. Every row gets one
    and is keyed by it: made in 0.9 us instead of 1.7, hashed in 0.05 us instead of 0.13,
    printed in 0.06 us instead of 0.7 (P25)."""
    bits = int.from_bytes(os.urandom(16)) & _VERSION_4_CLEAR | _VERSION_4_SET
    made: uuid.UUID = PgUUID(bits.to_bytes(16))
    return made
