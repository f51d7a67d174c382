"""Fill NULL embeddings in batches: one loop, one description per embedded column.

Each batch is one transaction: the rows without a vector (walked by key, so a batch never
rescans the rows done before it), their texts embedded together, and the vectors written at
once: binary COPY of (key, vector) into a temporary table, then one UPDATE ... FROM it
(`write_vectors`). Before, every row had its own UPDATE and every vector went through
pgvector's text form.
"""

import io
import struct
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select, text, tuple_
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import InstrumentedAttribute

from arc.database.analytics.clustering import (
    DEFAULT_CLUSTER_THRESHOLD,
    cluster_unclustered,
    refresh_cluster_counts,
)
from arc.database.analytics.embeddings import (
    EmbeddingProvider,
    trajectory_text,
    validate_embedding,
)
from arc.database.models import ConfigVersion, Outcome, Scenario

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class EmbeddedColumn:
    """A vector column, its row key, what it is embedded from, and the batch order."""

    model: type[Any]
    vector: InstrumentedAttribute[Any]
    keys: tuple[InstrumentedAttribute[Any], ...]
    sources: tuple[InstrumentedAttribute[Any], ...]
    text: Callable[[Any], str]
    order_by: tuple[InstrumentedAttribute[Any], ...] = ()

    @property
    def walk(self) -> tuple[InstrumentedAttribute[Any], ...]:
        """The order rows are embedded in: `order_by`, then the key (unique, for keyset)."""
        return (*self.order_by, *(k for k in self.keys if k not in self.order_by))

    def pending(self, limit: int, after: tuple[Any, ...] | None = None) -> Select[Any]:
        query = select(*self.keys, *self.sources, *self.walk).where(self.vector.is_(None))
        if after is not None:
            query = query.where(tuple_(*self.walk) > tuple_(*after))
        return query.order_by(*self.walk).limit(limit)


# Binary COPY of the staging rows, built here: asyncpg's encoder checks each element of an
# array (a vector as real[]) through the abc machinery, about a microsecond an element, and
# Python's repr of 1,536 floats for pgvector's text form costs 0.7 ms a vector; numpy packs a
# vector in pgvector's binary form (dimensions, 0, big-endian float32s) in microseconds.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_NULL = struct.pack("!i", -1)


def _field(kind: str, value: Any) -> bytes:
    if value is None:
        return _NULL
    if kind == "uuid":
        data = value.bytes if isinstance(value, uuid.UUID) else uuid.UUID(str(value)).bytes
    elif kind == "timestamptz":
        delta = value - _PG_EPOCH
        data = struct.pack(
            "!q", (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
        )
    elif kind == "real":
        data = struct.pack("!f", value)
    elif kind == "vector":
        data = _vector_bytes(value)
    else:  # text
        data = str(value).encode()
    return struct.pack("!i", len(data)) + data


def _vector_bytes(vector: Sequence[float]) -> bytes:
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy comes with the `analysis` extra
        return struct.pack(f"!hh{len(vector)}f", len(vector), 0, *vector)
    return struct.pack("!hh", len(vector), 0) + numpy.asarray(vector, dtype=">f4").tobytes()


def _copy_payload(kinds: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    count = struct.pack("!h", len(kinds))
    parts = [_COPY_HEADER]
    for row in rows:
        parts.append(count)
        parts.extend(_field(kind, value) for kind, value in zip(kinds, row, strict=True))
    parts.append(struct.pack("!h", -1))
    return b"".join(parts)


def _kind(sql_type: str) -> str:
    lowered = sql_type.lower()
    if lowered == "uuid":
        return "uuid"
    if lowered.startswith("timestamp") and "with time zone" in lowered:
        return "timestamptz"
    if lowered in ("real", "float4"):
        return "real"
    if lowered.startswith("vector"):
        return "vector"
    if lowered in ("text", "varchar") or lowered.startswith("varchar"):
        return "text"
    raise ValueError(f"no binary COPY encoding here for {sql_type}")


async def write_vectors(
    conn: AsyncConnection,
    table: Any,
    vector_column: str,
    key_columns: Sequence[Any],
    rows: Sequence[tuple[Any, ...]],
    extra: Sequence[tuple[str, str]] = (),
) -> int:
    """Set `vector_column` (and `extra` columns: (name, SQL type)) of the rows with these keys,
    in the caller's transaction: binary COPY of (keys..., vector, extras...) into a temporary
    table, one UPDATE ... FROM it. `rows` hold the vector as a sequence of floats. Returns the
    number of rows updated."""
    if not rows:
        return 0
    name = table.name
    stage = f"arc_vectors_{name}"
    key_types = [(k.key, k.type.compile(dialect=_DIALECT)) for k in key_columns]
    columns = [*key_types, ("vector", "vector"), *extra]
    await conn.execute(
        text(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} "
            f"({', '.join(f'{c} {t}' for c, t in columns)}) ON COMMIT DELETE ROWS"
        )
    )
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    payload = _copy_payload([_kind(t) for _, t in columns], rows)
    await driver.copy_to_table(
        stage, source=io.BytesIO(payload), columns=[c for c, _ in columns], format="binary"
    )
    sets = ", ".join([f"{vector_column} = s.vector", *(f"{c} = s.{c}" for c, _ in extra)])
    match = " AND ".join(f"t.{k} = s.{k}" for k, _ in key_types)
    result = await conn.execute(text(f"UPDATE {name} t SET {sets} FROM {stage} s WHERE {match}"))
    await conn.execute(text(f"TRUNCATE {stage}"))
    return int(result.rowcount)


CONFIG_VERSIONS = EmbeddedColumn(
    ConfigVersion,
    ConfigVersion.embedding,
    (ConfigVersion.version_id,),
    (ConfigVersion.raw_yaml,),
    lambda r: str(r.raw_yaml),
)
SCENARIOS = EmbeddedColumn(
    Scenario,
    Scenario.scenario_embedding,
    (Scenario.scenario_id,),
    (Scenario.name, Scenario.task_prompt),
    lambda r: f"{r.name}\n{r.task_prompt}",
)
TRAJECTORIES = EmbeddedColumn(
    Outcome,
    Outcome.trajectory_embedding,
    (Outcome.outcome_id, Outcome.execution_time),
    (Outcome.trajectory,),
    lambda r: trajectory_text(r.trajectory),
    order_by=(Outcome.execution_time,),
)


async def embed_column(
    engine: AsyncEngine,
    provider: EmbeddingProvider,
    column: EmbeddedColumn,
    *,
    batch_size: int,
    max_rows: int | None,
) -> int:
    """Embed the rows of `column` that have no vector, one transaction per batch."""
    done = 0
    after: tuple[Any, ...] | None = None
    while max_rows is None or done < max_rows:
        limit = batch_size if max_rows is None else min(batch_size, max_rows - done)
        async with engine.begin() as conn:
            rows = (await conn.execute(column.pending(limit, after))).all()
            if not rows:
                break
            vectors = await provider.embed([column.text(r) for r in rows])
            await write_vectors(
                conn,
                column.model.__table__,
                column.vector.key,
                [k.expression for k in column.keys],
                [
                    (*(getattr(r, k.key) for k in column.keys), validate_embedding(v))
                    for r, v in zip(rows, vectors, strict=True)
                ],
            )
        after = tuple(getattr(rows[-1], c.key) for c in column.walk)
        done += len(rows)
    return done


async def cluster_failures(
    engine: AsyncEngine,
    provider: EmbeddingProvider,
    *,
    batch_size: int,
    max_rows: int | None,
    threshold: float = DEFAULT_CLUSTER_THRESHOLD,
) -> int:
    """Cluster every failure pattern that has no cluster yet, one transaction per batch, then
    set the sizes of the clusters that grew (one more transaction: each member's count is
    rewritten once, not once per batch; a run cut short before it leaves those counts behind
    until a later run touches the same clusters)."""
    done = 0
    touched: list[uuid.UUID] = []
    while max_rows is None or done < max_rows:
        limit = batch_size if max_rows is None else min(batch_size, max_rows - done)
        async with engine.begin() as conn:
            n = await cluster_unclustered(
                conn, provider, limit=limit, threshold=threshold, touched=touched
            )
        if not n:
            break
        done += n
    if touched:
        async with engine.begin() as conn:
            await refresh_cluster_counts(conn, touched)
    return done
