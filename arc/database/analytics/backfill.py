"""Fill NULL embeddings in batches: one loop, one description per embedded column."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import ColumnElement, Select, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import InstrumentedAttribute

from arc.database.analytics.clustering import DEFAULT_CLUSTER_THRESHOLD, cluster_unclustered
from arc.database.analytics.embeddings import (
    EmbeddingProvider,
    trajectory_text,
    validate_embedding,
)
from arc.database.models import EMBEDDING_DIMENSIONS, ConfigVersion, Outcome, Scenario

_VECTOR = Vector(EMBEDDING_DIMENSIONS)


@dataclass(frozen=True)
class EmbeddedColumn:
    """A vector column, its row key, what it is embedded from, and the batch order."""

    model: type[Any]
    vector: InstrumentedAttribute[Any]
    keys: tuple[InstrumentedAttribute[Any], ...]
    sources: tuple[InstrumentedAttribute[Any], ...]
    text: Callable[[Any], str]
    order_by: tuple[InstrumentedAttribute[Any], ...] = ()

    def pending(self, limit: int) -> Select[Any]:
        return (
            select(*self.keys, *self.sources)
            .where(self.vector.is_(None))
            .order_by(*self.order_by)
            .limit(limit)
        )

    def writer(self) -> Any:
        conds: list[ColumnElement[bool]] = [k == bindparam(f"k_{k.key}") for k in self.keys]
        return (
            update(self.model)
            .where(*conds)
            .values({self.vector.key: bindparam("b_vec", type_=_VECTOR)})
        )


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
    while max_rows is None or done < max_rows:
        async with engine.begin() as conn:
            rows = (await conn.execute(column.pending(batch_size))).all()
            if not rows:
                break
            vectors = await provider.embed([column.text(r) for r in rows])
            await conn.execute(
                column.writer(),
                [
                    {
                        **{f"k_{k.key}": getattr(r, k.key) for k in column.keys},
                        "b_vec": validate_embedding(v),
                    }
                    for r, v in zip(rows, vectors, strict=True)
                ],
            )
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
    """Cluster every failure pattern that has no cluster yet, one transaction per batch."""
    done = 0
    while max_rows is None or done < max_rows:
        async with engine.begin() as conn:
            n = await cluster_unclustered(conn, provider, limit=batch_size, threshold=threshold)
        if not n:
            break
        done += n
    return done
