"""Failure-pattern clustering over their error embeddings.

Every cluster is represented by the pattern that opened it (its id is that pattern's id:
`pattern_cluster_id = pattern_id`). A new pattern joins the cluster of the nearest
representative within `threshold` cosine distance, else it opens a new cluster;
`cluster_confidence = 1 - distance` (1.0 for a representative) and `similar_failures_count` is
the cluster's size minus one on every member. Comparing with representatives, not with every
member, keeps clusters from drifting by chaining. The search is exact (a sequential pass over
the representatives): approximate HNSW search misses neighbours among many identical error
vectors, which is exactly what repeated failures produce. Assignments take a
transaction-scoped advisory lock so that two writers cannot open two clusters at once.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from arc.database.analytics.embeddings import EmbeddingProvider, validate_embedding
from arc.database.core.errors import ArcNotFoundError
from arc.database.models import FailurePattern

log = structlog.get_logger("arc.database.analytics")

DEFAULT_CLUSTER_THRESHOLD = 0.35
# Key of the advisory lock that serialises cluster assignment (arbitrary, fixed).
CLUSTER_LOCK_KEY = 0x4152_4346  # "ARCF"


@dataclass(frozen=True)
class ClusterAssignment:
    pattern_id: uuid.UUID
    cluster_id: uuid.UUID
    confidence: float
    new_cluster: bool
    cluster_size: int


def failure_text(failure_type: str, error_message: str | None) -> str:
    """What a failure is embedded from: its type and its message."""
    return f"{failure_type}\n{error_message or ''}".strip()


async def assign_cluster(
    conn: AsyncConnection,
    pattern_id: uuid.UUID,
    execution_time: datetime,
    vector: list[float],
    *,
    threshold: float = DEFAULT_CLUSTER_THRESHOLD,
    update_counts: bool = True,
) -> ClusterAssignment:
    """Store the pattern's embedding and put it into a cluster. Runs in the caller's transaction.

    The nearest cluster representative (other than this pattern) decides: within `threshold`
    the pattern joins its cluster with confidence 1 - distance, otherwise it opens a new
    cluster named by its own id, with confidence 1. Every member's similar_failures_count
    becomes the cluster size minus one.
    """
    fp = FailurePattern
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLUSTER_LOCK_KEY})
    # "+ 0.0" keeps the planner off the HNSW index: this search must be exact (see module doc).
    distance = fp.error_embedding.cosine_distance(vector) + literal(0.0)
    nearest = (
        await conn.execute(
            select(fp.pattern_cluster_id, distance.label("distance"))
            .where(
                fp.pattern_cluster_id == fp.pattern_id,
                fp.error_embedding.is_not(None),
                fp.pattern_id != pattern_id,
            )
            .order_by(distance)
            .limit(1)
        )
    ).first()
    if nearest is not None and float(nearest.distance) <= threshold:
        cluster_id: uuid.UUID = nearest.pattern_cluster_id
        confidence = min(1.0, max(0.0, 1.0 - float(nearest.distance)))
        new_cluster = False
    else:
        cluster_id = pattern_id
        confidence = 1.0
        new_cluster = True
    result = await conn.execute(
        update(fp)
        .where(fp.pattern_id == pattern_id, fp.execution_time == execution_time)
        .values(
            error_embedding=vector, pattern_cluster_id=cluster_id, cluster_confidence=confidence
        )
    )
    if result.rowcount == 0:
        raise ArcNotFoundError("failure_pattern", pattern_id)
    size = 1
    if update_counts:
        size = (await refresh_cluster_counts(conn, [cluster_id])).get(cluster_id, 1)
    log.debug(
        "failures.clustered",
        pattern_id=str(pattern_id),
        cluster_id=str(cluster_id),
        new_cluster=new_cluster,
        confidence=round(confidence, 4),
        cluster_size=size,
    )
    return ClusterAssignment(pattern_id, cluster_id, confidence, new_cluster, int(size))


async def refresh_cluster_counts(
    conn: AsyncConnection, cluster_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Set similar_failures_count = size - 1 on the members of these clusters (only on rows
    whose count is wrong, so a row is rewritten once). Returns each cluster's size."""
    if not cluster_ids:
        return {}
    ids = list(set(cluster_ids))
    rows = (
        await conn.execute(
            text(
                """
                WITH sizes AS (
                    SELECT pattern_cluster_id, count(*) AS size
                    FROM failure_patterns
                    WHERE pattern_cluster_id = ANY(:ids)
                    GROUP BY pattern_cluster_id
                ), fixed AS (
                    UPDATE failure_patterns fp
                    SET similar_failures_count = sizes.size - 1
                    FROM sizes
                    WHERE fp.pattern_cluster_id = sizes.pattern_cluster_id
                      AND fp.similar_failures_count IS DISTINCT FROM sizes.size - 1
                    RETURNING fp.pattern_id
                )
                SELECT pattern_cluster_id, size, (SELECT count(*) FROM fixed) AS fixed
                FROM sizes
                """
            ),
            {"ids": ids},
        )
    ).all()
    return {r.pattern_cluster_id: int(r.size) for r in rows}


async def cluster_unclustered(
    conn: AsyncConnection,
    provider: EmbeddingProvider,
    *,
    limit: int,
    threshold: float = DEFAULT_CLUSTER_THRESHOLD,
    touched: list[uuid.UUID] | None = None,
) -> int:
    """Embed (where missing) and cluster up to `limit` unclustered patterns, oldest first, in
    the caller's transaction; cluster sizes are updated once for the batch, or, when `touched`
    is given, left to the caller, who gets the clusters to refresh appended to it (a run of
    many batches then rewrites each member's count once, not once per batch). Returns the
    count."""
    rows = (
        await conn.execute(
            select(
                FailurePattern.pattern_id,
                FailurePattern.execution_time,
                FailurePattern.failure_type,
                FailurePattern.error_message,
                FailurePattern.error_embedding,
            )
            .where(FailurePattern.pattern_cluster_id.is_(None))
            .order_by(FailurePattern.execution_time, FailurePattern.pattern_id)
            .limit(limit)
        )
    ).all()
    missing = [r for r in rows if r.error_embedding is None]
    fresh = await provider.embed([failure_text(r.failure_type, r.error_message) for r in missing])
    vectors = {r.pattern_id: v for r, v in zip(missing, fresh, strict=True)}
    np = _numpy()
    if np is not None and rows:
        return await _cluster_in_memory(conn, rows, vectors, threshold, np, touched)
    clusters: list[uuid.UUID] = []
    for r in rows:
        vector = vectors.get(r.pattern_id)
        if vector is None:
            vector = list(r.error_embedding)
        assignment = await assign_cluster(
            conn,
            r.pattern_id,
            r.execution_time,
            validate_embedding(vector, field="error_embedding"),
            threshold=threshold,
            update_counts=False,
        )
        clusters.append(assignment.cluster_id)
    if touched is None:
        await refresh_cluster_counts(conn, clusters)
    else:
        touched.extend(clusters)
    return len(rows)


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy comes with the `analysis` extra
        return None
    return numpy


async def _cluster_in_memory(
    conn: AsyncConnection,
    rows: Sequence[Any],
    vectors: dict[uuid.UUID, list[float]],
    threshold: float,
    np: Any,
    touched: list[uuid.UUID] | None,
) -> int:
    """cluster_unclustered's batch: representatives read once, assignments in memory, one
    write. The same assignments as assign_cluster one pattern at a time (see module doc)."""
    from arc.database.analytics.backfill import write_vectors

    fp = FailurePattern
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLUSTER_LOCK_KEY})
    reps = (
        await conn.execute(
            text(
                "SELECT pattern_id, error_embedding::real[] AS v FROM failure_patterns "
                "WHERE pattern_cluster_id = pattern_id AND error_embedding IS NOT NULL"
            )
        )
    ).all()
    ids: list[uuid.UUID] = [r.pattern_id for r in reps]
    matrix = np.zeros(
        (max(len(reps), 16), len(rows[0].error_embedding or vectors[rows[0].pattern_id]))
    )
    for i, r in enumerate(reps):
        matrix[i] = r.v
    norms = np.zeros(len(matrix))
    norms[: len(reps)] = np.linalg.norm(matrix[: len(reps)], axis=1)
    count = len(reps)
    writes: list[tuple[Any, ...]] = []
    clusters: list[uuid.UUID] = []
    for r in rows:
        raw = vectors.get(r.pattern_id)
        vector = validate_embedding(
            raw if raw is not None else list(r.error_embedding), field="error_embedding"
        )
        # pgvector keeps single precision: compare what the one-row path would compare
        v = np.asarray(vector, dtype=np.float32).astype(np.float64)
        norm = float(np.linalg.norm(v))
        cluster_id, confidence = r.pattern_id, 1.0
        if count:
            similarity = matrix[:count] @ v / np.maximum(norms[:count] * norm, 1e-300)
            best = int(np.argmax(similarity))
            distance = 1.0 - float(similarity[best])
            if distance <= threshold:
                cluster_id = ids[best]
                confidence = min(1.0, max(0.0, 1.0 - distance))
        if cluster_id == r.pattern_id:  # a new cluster: this pattern is its representative
            if count == len(matrix):
                matrix = np.vstack([matrix, np.zeros_like(matrix)])
                norms = np.concatenate([norms, np.zeros_like(norms)])
            matrix[count], norms[count] = v, norm
            ids.append(r.pattern_id)
            count += 1
        writes.append((r.pattern_id, r.execution_time, vector, cluster_id, confidence))
        clusters.append(cluster_id)
        log.debug(
            "failures.clustered",
            pattern_id=str(r.pattern_id),
            cluster_id=str(cluster_id),
            new_cluster=cluster_id == r.pattern_id,
            confidence=round(confidence, 4),
        )
    updated = await write_vectors(
        conn,
        fp.__table__,
        "error_embedding",
        [fp.__table__.c.pattern_id, fp.__table__.c.execution_time],
        writes,
        extra=(("pattern_cluster_id", "uuid"), ("cluster_confidence", "real")),
    )
    if updated != len(writes):
        raise ArcNotFoundError("failure_pattern", rows[0].pattern_id)
    if touched is None:
        await refresh_cluster_counts(conn, clusters)
    else:
        touched.extend(clusters)
    return len(rows)
