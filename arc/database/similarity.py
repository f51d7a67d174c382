"""Similarity search over pgvector embeddings, and failure-pattern clustering.

Four embedded things: config versions (`config_versions.embedding`), scenarios
(`scenarios.scenario_embedding`), outcome trajectories (`outcomes.trajectory_embedding`) and
failure patterns (`failure_patterns.error_embedding`). Every query orders by the cosine
distance operator `<=>` with `LIMIT`, and filters `embedding IS NOT NULL`, which is the shape
the partial HNSW indexes (idx_*_embedding_cosine, vector_cosine_ops) answer. With extra
filters (time window, simulation, category) and pgvector >= 0.8, `hnsw.iterative_scan` lets
the index keep scanning until enough rows pass the filter.

Clustering: every cluster is represented by the pattern that opened it (its id is that
pattern's id: `pattern_cluster_id = pattern_id`). A new pattern joins the cluster of the nearest
representative within `cluster_threshold` cosine distance, else it opens a new cluster;
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
from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from arc.database.embeddings import (
    EmbeddingProvider,
    HashingEmbeddingProvider,
    trajectory_text,
    validate_embedding,
)
from arc.database.errors import ArcNotFoundError, ArcValidationError
from arc.database.models import (
    EMBEDDING_DIMENSIONS,
    ConfigVersion,
    FailurePattern,
    Outcome,
    Scenario,
)
from arc.database.models.failure_pattern import FAILURE_CATEGORIES

log = structlog.get_logger(__name__)

DEFAULT_CLUSTER_THRESHOLD = 0.35
# Key of the advisory lock that serialises cluster assignment (arbitrary, fixed).
CLUSTER_LOCK_KEY = 0x4152_4346  # "ARCF"
MAX_LIMIT = 1000
_VECTOR = Vector(EMBEDDING_DIMENSIONS)

Query = str | Sequence[float]


@dataclass(frozen=True)
class SimilarConfig:
    version_id: uuid.UUID
    config_id: uuid.UUID
    version_number: int
    model: str | None
    generated_by: str | None
    created_at: datetime | None
    distance: float


@dataclass(frozen=True)
class SimilarScenario:
    scenario_id: str
    name: str
    difficulty_level: str | None
    distance: float


@dataclass(frozen=True)
class SimilarTrajectory:
    outcome_id: uuid.UUID
    execution_time: datetime
    simulation_id: uuid.UUID
    scenario_id: str
    status: str
    reliability_score: float
    distance: float


@dataclass(frozen=True)
class SimilarFailure:
    pattern_id: uuid.UUID
    execution_time: datetime
    outcome_id: uuid.UUID
    failure_type: str
    failure_category: str
    error_message: str | None
    pattern_cluster_id: uuid.UUID | None
    similar_failures_count: int | None
    distance: float


@dataclass(frozen=True)
class ClusterAssignment:
    pattern_id: uuid.UUID
    cluster_id: uuid.UUID
    confidence: float
    new_cluster: bool
    cluster_size: int


@dataclass(frozen=True)
class EmbedReport:
    """How many rows `embed_missing` filled, per kind."""

    config_versions: int
    scenarios: int
    trajectories: int
    failure_patterns: int


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ArcValidationError("limit", f"must be between 1 and {MAX_LIMIT}", value=limit)


def _check_window(since: datetime | None, until: datetime | None) -> None:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ArcValidationError(name, "must be timezone-aware", value=value)
    if since is not None and until is not None and since >= until:
        raise ArcValidationError("since", "must be before until", value=since)


class SimilaritySearch:
    """Store and query embeddings. Public methods own their transaction (engine.begin())."""

    def __init__(
        self,
        engine: AsyncEngine,
        provider: EmbeddingProvider | None = None,
        *,
        cluster_threshold: float = DEFAULT_CLUSTER_THRESHOLD,
    ) -> None:
        if not 0.0 < cluster_threshold < 2.0:
            raise ArcValidationError(
                "cluster_threshold", "must be a cosine distance in (0, 2)", value=cluster_threshold
            )
        self.engine = engine
        self.provider: EmbeddingProvider = provider or HashingEmbeddingProvider()
        self.cluster_threshold = cluster_threshold
        self._iterative_scan: bool | None = None

    # ------------------------------------------------------------------ helpers
    async def vector_for(self, query: Query, *, field: str = "query") -> list[float]:
        """A text is embedded with the provider; a vector is validated as it is."""
        if isinstance(query, str):
            if not query.strip():
                raise ArcValidationError(field, "must not be empty")
            return validate_embedding((await self.provider.embed([query]))[0], field=field)
        return validate_embedding(query, field=field)

    async def _prepare(self, conn: AsyncConnection, limit: int, filtered: bool) -> None:
        """Let HNSW return enough rows: ef_search >= limit; iterative scan when filtering."""
        if self._iterative_scan is None:
            version = (
                await conn.execute(
                    text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
                )
            ).scalar()
            parts = tuple(int(p) for p in str(version or "0").split(".")[:2])
            self._iterative_scan = parts >= (0, 8)
        ef = max(100, min(limit * 4, 1000))
        await conn.execute(text(f"SET LOCAL hnsw.ef_search = {ef}"))
        if filtered and self._iterative_scan:
            await conn.execute(text("SET LOCAL hnsw.iterative_scan = 'relaxed_order'"))

    async def _rows(self, stmt: Select[Any], limit: int, filtered: bool) -> Sequence[Any]:
        # relaxed_order may return rows slightly out of order: sort the small result again.
        ordered = select(stmt.subquery()).order_by(text("distance"))
        async with self.engine.begin() as conn:
            await self._prepare(conn, limit, filtered)
            return (await conn.execute(ordered)).all()

    # ------------------------------------------------------------------ queries
    async def configs_like(
        self,
        query: Query | uuid.UUID,
        *,
        limit: int = 10,
        config_id: uuid.UUID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        include_deleted: bool = False,
    ) -> list[SimilarConfig]:
        """Config versions nearest to a text, a vector, or another version (by version_id)."""
        _check_limit(limit)
        _check_window(since, until)
        exclude: uuid.UUID | None = None
        if isinstance(query, uuid.UUID):
            exclude = query
            async with self.engine.connect() as conn:
                stored = (
                    await conn.execute(
                        select(ConfigVersion.embedding).where(ConfigVersion.version_id == query)
                    )
                ).first()
            if stored is None:
                raise ArcNotFoundError("config_version", query)
            if stored[0] is None:
                raise ArcValidationError("query", "that config version has no embedding yet")
            vector = validate_embedding(list(stored[0]))
        else:
            vector = await self.vector_for(query)
        distance = ConfigVersion.embedding.cosine_distance(vector)
        conds: list[ColumnElement[bool]] = [ConfigVersion.embedding.is_not(None)]
        if exclude is not None:
            conds.append(ConfigVersion.version_id != exclude)
        if config_id is not None:
            conds.append(ConfigVersion.config_id == config_id)
        if since is not None:
            conds.append(ConfigVersion.created_at >= since)
        if until is not None:
            conds.append(ConfigVersion.created_at < until)
        if not include_deleted:
            conds.append(ConfigVersion.is_deleted.is_not(True))
        stmt = (
            select(
                ConfigVersion.version_id,
                ConfigVersion.config_id,
                ConfigVersion.version_number,
                ConfigVersion.parsed_config["model"].astext.label("model"),
                ConfigVersion.generated_by,
                ConfigVersion.created_at,
                distance.label("distance"),
            )
            .where(and_(*conds))
            .order_by(distance)
            .limit(limit)
        )
        rows = await self._rows(stmt, limit, filtered=len(conds) > 1)
        return [
            SimilarConfig(
                version_id=r.version_id,
                config_id=r.config_id,
                version_number=r.version_number,
                model=r.model,
                generated_by=r.generated_by,
                created_at=r.created_at,
                distance=float(r.distance),
            )
            for r in rows
        ]

    async def scenarios_like(
        self, query: Query, *, limit: int = 10, difficulty: str | None = None
    ) -> list[SimilarScenario]:
        _check_limit(limit)
        vector = await self.vector_for(query)
        distance = Scenario.scenario_embedding.cosine_distance(vector)
        conds: list[ColumnElement[bool]] = [Scenario.scenario_embedding.is_not(None)]
        if difficulty is not None:
            conds.append(Scenario.difficulty_level == difficulty)
        stmt = (
            select(
                Scenario.scenario_id,
                Scenario.name,
                Scenario.difficulty_level,
                distance.label("distance"),
            )
            .where(and_(*conds))
            .order_by(distance)
            .limit(limit)
        )
        rows = await self._rows(stmt, limit, filtered=len(conds) > 1)
        return [
            SimilarScenario(
                scenario_id=r.scenario_id,
                name=r.name,
                difficulty_level=r.difficulty_level,
                distance=float(r.distance),
            )
            for r in rows
        ]

    async def trajectories_like(
        self,
        query: Query | dict[str, Any],
        *,
        limit: int = 10,
        simulation_id: uuid.UUID | None = None,
        scenario_id: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[SimilarTrajectory]:
        """Outcomes whose trajectory is nearest to a text, a vector or a trajectory dict."""
        _check_limit(limit)
        _check_window(since, until)
        vector = await self.vector_for(trajectory_text(query) if isinstance(query, dict) else query)
        distance = Outcome.trajectory_embedding.cosine_distance(vector)
        conds: list[ColumnElement[bool]] = [Outcome.trajectory_embedding.is_not(None)]
        if simulation_id is not None:
            conds.append(Outcome.simulation_id == simulation_id)
        if scenario_id is not None:
            conds.append(Outcome.scenario_id == scenario_id)
        if status is not None:
            conds.append(Outcome.status == status)
        if since is not None:
            conds.append(Outcome.execution_time >= since)
        if until is not None:
            conds.append(Outcome.execution_time < until)
        stmt = (
            select(
                Outcome.outcome_id,
                Outcome.execution_time,
                Outcome.simulation_id,
                Outcome.scenario_id,
                Outcome.status,
                Outcome.reliability_score,
                distance.label("distance"),
            )
            .where(and_(*conds))
            .order_by(distance)
            .limit(limit)
        )
        rows = await self._rows(stmt, limit, filtered=len(conds) > 1)
        return [
            SimilarTrajectory(
                outcome_id=r.outcome_id,
                execution_time=r.execution_time,
                simulation_id=r.simulation_id,
                scenario_id=r.scenario_id,
                status=r.status,
                reliability_score=float(r.reliability_score),
                distance=float(r.distance),
            )
            for r in rows
        ]

    async def failures_like(
        self,
        query: Query,
        *,
        limit: int = 10,
        category: str | None = None,
        simulation_id: uuid.UUID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        exclude_pattern_id: uuid.UUID | None = None,
    ) -> list[SimilarFailure]:
        """Failure patterns whose error is nearest to an error text or vector."""
        _check_limit(limit)
        _check_window(since, until)
        if category is not None and category not in FAILURE_CATEGORIES:
            raise ArcValidationError(
                "category", f"must be one of {', '.join(FAILURE_CATEGORIES)}", value=category
            )
        vector = await self.vector_for(query)
        fp = FailurePattern
        distance = fp.error_embedding.cosine_distance(vector)
        conds: list[ColumnElement[bool]] = [fp.error_embedding.is_not(None)]
        if category is not None:
            conds.append(fp.failure_category == category)
        if since is not None:
            conds.append(fp.execution_time >= since)
        if until is not None:
            conds.append(fp.execution_time < until)
        if exclude_pattern_id is not None:
            conds.append(fp.pattern_id != exclude_pattern_id)
        if simulation_id is not None:
            # failure_patterns has no simulation_id (nor a foreign key to the outcomes
            # hypertable): match through the outcome, on its id and time.
            conds.append(
                select(Outcome.outcome_id)
                .where(
                    Outcome.outcome_id == fp.outcome_id,
                    Outcome.execution_time == fp.execution_time,
                    Outcome.simulation_id == simulation_id,
                )
                .exists()
            )
        stmt = (
            select(
                fp.pattern_id,
                fp.execution_time,
                fp.outcome_id,
                fp.failure_type,
                fp.failure_category,
                fp.error_message,
                fp.pattern_cluster_id,
                fp.similar_failures_count,
                distance.label("distance"),
            )
            .where(and_(*conds))
            .order_by(distance)
            .limit(limit)
        )
        rows = await self._rows(stmt, limit, filtered=len(conds) > 1)
        return [
            SimilarFailure(
                pattern_id=r.pattern_id,
                execution_time=r.execution_time,
                outcome_id=r.outcome_id,
                failure_type=r.failure_type,
                failure_category=r.failure_category,
                error_message=r.error_message,
                pattern_cluster_id=r.pattern_cluster_id,
                similar_failures_count=r.similar_failures_count,
                distance=float(r.distance),
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ writes
    async def set_config_embedding(self, version_id: uuid.UUID, query: Query) -> None:
        vector = await self.vector_for(query, field="embedding")
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(ConfigVersion)
                .where(ConfigVersion.version_id == version_id)
                .values(embedding=vector)
            )
            if result.rowcount == 0:
                raise ArcNotFoundError("config_version", version_id)

    async def set_scenario_embedding(self, scenario_id: str, query: Query) -> None:
        vector = await self.vector_for(query, field="scenario_embedding")
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(Scenario)
                .where(Scenario.scenario_id == scenario_id)
                .values(scenario_embedding=vector)
            )
            if result.rowcount == 0:
                raise ArcNotFoundError("scenario", scenario_id)

    async def set_trajectory_embedding(
        self, outcome_id: uuid.UUID, execution_time: datetime, query: Query | dict[str, Any]
    ) -> None:
        vector = await self.vector_for(
            trajectory_text(query) if isinstance(query, dict) else query,
            field="trajectory_embedding",
        )
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(Outcome)
                .where(Outcome.outcome_id == outcome_id, Outcome.execution_time == execution_time)
                .values(trajectory_embedding=vector)
            )
            if result.rowcount == 0:
                raise ArcNotFoundError("outcome", outcome_id)

    async def cluster_failure(
        self, pattern_id: uuid.UUID, execution_time: datetime, query: Query | None = None
    ) -> ClusterAssignment:
        """Embed (from `query`, else its error text) and cluster one failure pattern."""
        async with self.engine.begin() as conn:
            if query is None:
                row = (
                    await conn.execute(
                        select(FailurePattern.failure_type, FailurePattern.error_message).where(
                            FailurePattern.pattern_id == pattern_id,
                            FailurePattern.execution_time == execution_time,
                        )
                    )
                ).first()
                if row is None:
                    raise ArcNotFoundError("failure_pattern", pattern_id)
                query = failure_text(row.failure_type, row.error_message)
            vector = await self.vector_for(query, field="error_embedding")
            return await assign_cluster(
                conn, pattern_id, execution_time, vector, threshold=self.cluster_threshold
            )

    async def embed_missing(
        self, *, batch_size: int = 500, max_rows: int | None = None
    ) -> EmbedReport:
        """Fill every NULL embedding (config versions, scenarios, trajectories, failures) and
        cluster the failure patterns that have none, oldest first. Safe to rerun."""
        configs = await self._embed_configs(batch_size, max_rows)
        scenarios = await self._embed_scenarios(batch_size, max_rows)
        trajectories = await self._embed_trajectories(batch_size, max_rows)
        failures = await self._cluster_failures(batch_size, max_rows)
        report = EmbedReport(configs, scenarios, trajectories, failures)
        log.info(
            "similarity.embedded_missing",
            config_versions=configs,
            scenarios=scenarios,
            trajectories=trajectories,
            failure_patterns=failures,
            provider=self.provider.name,
        )
        return report

    async def _embed_configs(self, batch_size: int, max_rows: int | None) -> int:
        done = 0
        while max_rows is None or done < max_rows:
            async with self.engine.begin() as conn:
                rows = (
                    await conn.execute(
                        select(ConfigVersion.version_id, ConfigVersion.raw_yaml)
                        .where(ConfigVersion.embedding.is_(None))
                        .limit(batch_size)
                    )
                ).all()
                if not rows:
                    break
                vectors = await self.provider.embed([r.raw_yaml for r in rows])
                await conn.execute(
                    update(ConfigVersion)
                    .where(ConfigVersion.version_id == bindparam("b_id"))
                    .values(embedding=bindparam("b_vec", type_=_VECTOR)),
                    [
                        {"b_id": r.version_id, "b_vec": validate_embedding(v)}
                        for r, v in zip(rows, vectors, strict=True)
                    ],
                )
            done += len(rows)
        return done

    async def _embed_scenarios(self, batch_size: int, max_rows: int | None) -> int:
        done = 0
        while max_rows is None or done < max_rows:
            async with self.engine.begin() as conn:
                rows = (
                    await conn.execute(
                        select(Scenario.scenario_id, Scenario.name, Scenario.task_prompt)
                        .where(Scenario.scenario_embedding.is_(None))
                        .limit(batch_size)
                    )
                ).all()
                if not rows:
                    break
                vectors = await self.provider.embed([f"{r.name}\n{r.task_prompt}" for r in rows])
                await conn.execute(
                    update(Scenario)
                    .where(Scenario.scenario_id == bindparam("b_id"))
                    .values(scenario_embedding=bindparam("b_vec", type_=_VECTOR)),
                    [
                        {"b_id": r.scenario_id, "b_vec": validate_embedding(v)}
                        for r, v in zip(rows, vectors, strict=True)
                    ],
                )
            done += len(rows)
        return done

    async def _embed_trajectories(self, batch_size: int, max_rows: int | None) -> int:
        done = 0
        while max_rows is None or done < max_rows:
            async with self.engine.begin() as conn:
                rows = (
                    await conn.execute(
                        select(Outcome.outcome_id, Outcome.execution_time, Outcome.trajectory)
                        .where(Outcome.trajectory_embedding.is_(None))
                        .order_by(Outcome.execution_time)
                        .limit(batch_size)
                    )
                ).all()
                if not rows:
                    break
                vectors = await self.provider.embed([trajectory_text(r.trajectory) for r in rows])
                await conn.execute(
                    update(Outcome)
                    .where(
                        Outcome.outcome_id == bindparam("b_id"),
                        Outcome.execution_time == bindparam("b_time"),
                    )
                    .values(trajectory_embedding=bindparam("b_vec", type_=_VECTOR)),
                    [
                        {
                            "b_id": r.outcome_id,
                            "b_time": r.execution_time,
                            "b_vec": validate_embedding(v),
                        }
                        for r, v in zip(rows, vectors, strict=True)
                    ],
                )
            done += len(rows)
        return done

    async def _cluster_failures(self, batch_size: int, max_rows: int | None) -> int:
        done = 0
        while max_rows is None or done < max_rows:
            async with self.engine.begin() as conn:
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
                        .limit(batch_size)
                    )
                ).all()
                if not rows:
                    break
                missing = [r for r in rows if r.error_embedding is None]
                fresh = await self.provider.embed(
                    [failure_text(r.failure_type, r.error_message) for r in missing]
                )
                vectors = {r.pattern_id: v for r, v in zip(missing, fresh, strict=True)}
                touched: list[uuid.UUID] = []
                for r in rows:
                    vector = vectors.get(r.pattern_id)
                    if vector is None:
                        vector = list(r.error_embedding)
                    assignment = await assign_cluster(
                        conn,
                        r.pattern_id,
                        r.execution_time,
                        validate_embedding(vector, field="error_embedding"),
                        threshold=self.cluster_threshold,
                        update_counts=False,
                    )
                    touched.append(assignment.cluster_id)
                await refresh_cluster_counts(conn, touched)
            done += len(rows)
        return done


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
