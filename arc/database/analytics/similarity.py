"""Similarity search over pgvector embeddings.

Four embedded things: config versions (`config_versions.embedding`), scenarios
(`scenarios.scenario_embedding`), outcome trajectories (`outcomes.trajectory_embedding`) and
failure patterns (`failure_patterns.error_embedding`). Every query has one shape, built by
`_nearest`: order by the cosine distance operator `<=>` with `LIMIT`, filtered on
`embedding IS NOT NULL`, which is what the partial HNSW indexes (idx_*_embedding_cosine,
vector_cosine_ops) answer. With extra filters (time window, simulation, category) and
pgvector >= 0.8, `hnsw.iterative_scan` lets the index keep scanning until enough rows pass the
filter. Failure clustering is in `clustering`, the embedding backfill in `backfill`.
"""

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import structlog
from sqlalchemy import ColumnElement, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import InstrumentedAttribute

from arc.database.analytics import backfill
from arc.database.analytics.clustering import (
    DEFAULT_CLUSTER_THRESHOLD,
    ClusterAssignment,
    assign_cluster,
    failure_text,
)
from arc.database.analytics.embeddings import (
    EmbeddingProvider,
    HashingEmbeddingProvider,
    trajectory_text,
    validate_embedding,
)
from arc.database.analytics.rows import from_row
from arc.database.core.errors import ArcNotFoundError, ArcValidationError
from arc.database.models import ConfigVersion, FailurePattern, Outcome, Scenario
from arc.database.models.failure_pattern import FAILURE_CATEGORIES

log = structlog.get_logger("arc.database.analytics")

MAX_LIMIT = 1000

Query = str | Sequence[float]
T = TypeVar("T")


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
class EmbedReport:
    """How many rows `embed_missing` filled, per kind."""

    config_versions: int
    scenarios: int
    trajectories: int
    failure_patterns: int


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ArcValidationError("limit", f"must be an integer from 1 to {MAX_LIMIT}", value=limit)


def _window(
    column: InstrumentedAttribute[Any], since: datetime | None, until: datetime | None
) -> list[ColumnElement[bool]]:
    """Validated [since, until) conditions on a time column."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
            raise ArcValidationError(name, "must be a timezone-aware datetime", value=value)
    if since is not None and until is not None and since >= until:
        raise ArcValidationError("since", "must be before until", value=since)
    conds: list[ColumnElement[bool]] = []
    if since is not None:
        conds.append(column >= since)
    if until is not None:
        conds.append(column < until)
    return conds


def _equal(column: InstrumentedAttribute[Any], value: Any) -> list[ColumnElement[bool]]:
    """`column = value`, or no condition when value is None."""
    return [] if value is None else [column == value]


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

    # ------------------------------------------------------------------ the query builder
    async def vector_for(self, query: Query, *, field: str = "query") -> list[float]:
        """A text is embedded with the provider; a vector is validated as it is."""
        if isinstance(query, str):
            if not query.strip():
                raise ArcValidationError(field, "must not be empty")
            return validate_embedding((await self.provider.embed([query]))[0], field=field)
        return validate_embedding(query, field=field)

    async def _nearest(
        self,
        result: type[T],
        embedding: InstrumentedAttribute[Any],
        columns: Sequence[Any],
        vector: list[float],
        conds: Sequence[ColumnElement[bool]],
        limit: int,
    ) -> list[T]:
        """The `limit` rows nearest to `vector` that pass `conds`, as `result` instances."""
        distance = embedding.cosine_distance(vector)
        stmt = (
            select(*columns, distance.label("distance"))
            .where(embedding.is_not(None), *conds)
            .order_by(distance)
            .limit(limit)
        )
        # relaxed_order may return rows slightly out of order: sort the small result again.
        ordered = select(stmt.subquery()).order_by(text("distance"))
        async with self.engine.begin() as conn:
            if self._iterative_scan is None:
                version = (
                    await conn.execute(
                        text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
                    )
                ).scalar()
                parts = tuple(int(p) for p in str(version or "0").split(".")[:2])
                self._iterative_scan = parts >= (0, 8)
            # Let HNSW return enough rows: ef_search >= limit; iterative scan when filtering.
            ef = max(100, min(limit * 4, 1000))
            await conn.execute(text(f"SET LOCAL hnsw.ef_search = {ef}"))
            if conds and self._iterative_scan:
                await conn.execute(text("SET LOCAL hnsw.iterative_scan = 'relaxed_order'"))
            rows = (await conn.execute(ordered)).all()
        return [from_row(result, r) for r in rows]

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
        cv = ConfigVersion
        conds = _window(cv.created_at, since, until) + _equal(cv.config_id, config_id)
        if isinstance(query, uuid.UUID):
            conds.append(cv.version_id != query)
            async with self.engine.connect() as conn:
                stored = (
                    await conn.execute(select(cv.embedding).where(cv.version_id == query))
                ).first()
            if stored is None:
                raise ArcNotFoundError("config_version", query)
            if stored[0] is None:
                raise ArcValidationError("query", "that config version has no embedding yet")
            vector = validate_embedding(list(stored[0]))
        else:
            vector = await self.vector_for(query)
        if not include_deleted:
            conds.append(cv.is_deleted.is_not(True))
        columns = (
            cv.version_id,
            cv.config_id,
            cv.version_number,
            cv.parsed_config["model"].astext.label("model"),
            cv.generated_by,
            cv.created_at,
        )
        return await self._nearest(SimilarConfig, cv.embedding, columns, vector, conds, limit)

    async def scenarios_like(
        self, query: Query, *, limit: int = 10, difficulty: str | None = None
    ) -> list[SimilarScenario]:
        _check_limit(limit)
        vector = await self.vector_for(query)
        columns = (Scenario.scenario_id, Scenario.name, Scenario.difficulty_level)
        conds = _equal(Scenario.difficulty_level, difficulty)
        return await self._nearest(
            SimilarScenario, Scenario.scenario_embedding, columns, vector, conds, limit
        )

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
        conds = (
            _window(Outcome.execution_time, since, until)
            + _equal(Outcome.simulation_id, simulation_id)
            + _equal(Outcome.scenario_id, scenario_id)
            + _equal(Outcome.status, status)
        )
        vector = await self.vector_for(trajectory_text(query) if isinstance(query, dict) else query)
        columns = (
            Outcome.outcome_id,
            Outcome.execution_time,
            Outcome.simulation_id,
            Outcome.scenario_id,
            Outcome.status,
            Outcome.reliability_score,
        )
        return await self._nearest(
            SimilarTrajectory, Outcome.trajectory_embedding, columns, vector, conds, limit
        )

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
        fp = FailurePattern
        conds = _window(fp.execution_time, since, until) + _equal(fp.failure_category, category)
        if category is not None and category not in FAILURE_CATEGORIES:
            raise ArcValidationError(
                "category", f"must be one of {', '.join(FAILURE_CATEGORIES)}", value=category
            )
        vector = await self.vector_for(query)
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
        columns = (
            fp.pattern_id,
            fp.execution_time,
            fp.outcome_id,
            fp.failure_type,
            fp.failure_category,
            fp.error_message,
            fp.pattern_cluster_id,
            fp.similar_failures_count,
        )
        return await self._nearest(
            SimilarFailure, fp.error_embedding, columns, vector, conds, limit
        )

    # ------------------------------------------------------------------ writes
    async def _set_vector(
        self,
        entity: str,
        key: Any,
        embedding: InstrumentedAttribute[Any],
        where: Sequence[ColumnElement[bool]],
        query: Query,
    ) -> None:
        vector = await self.vector_for(query, field=embedding.key)
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(embedding.class_).where(*where).values({embedding.key: vector})
            )
            if result.rowcount == 0:
                raise ArcNotFoundError(entity, key)

    async def set_config_embedding(self, version_id: uuid.UUID, query: Query) -> None:
        await self._set_vector(
            "config_version",
            version_id,
            ConfigVersion.embedding,
            [ConfigVersion.version_id == version_id],
            query,
        )

    async def set_scenario_embedding(self, scenario_id: str, query: Query) -> None:
        await self._set_vector(
            "scenario",
            scenario_id,
            Scenario.scenario_embedding,
            [Scenario.scenario_id == scenario_id],
            query,
        )

    async def set_trajectory_embedding(
        self, outcome_id: uuid.UUID, execution_time: datetime, query: Query | dict[str, Any]
    ) -> None:
        await self._set_vector(
            "outcome",
            outcome_id,
            Outcome.trajectory_embedding,
            [Outcome.outcome_id == outcome_id, Outcome.execution_time == execution_time],
            trajectory_text(query) if isinstance(query, dict) else query,
        )

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

        async def embed(column: backfill.EmbeddedColumn) -> int:
            return await backfill.embed_column(
                self.engine, self.provider, column, batch_size=batch_size, max_rows=max_rows
            )

        configs = await embed(backfill.CONFIG_VERSIONS)
        scenarios = await embed(backfill.SCENARIOS)
        # Trajectories and failures are independent tables: while one waits on the database
        # (mostly HNSW index inserts), the other hashes its texts.
        trajectories, failures = await asyncio.gather(
            embed(backfill.TRAJECTORIES),
            backfill.cluster_failures(
                self.engine,
                self.provider,
                batch_size=batch_size,
                max_rows=max_rows,
                threshold=self.cluster_threshold,
            ),
        )
        report = EmbedReport(configs, scenarios, trajectories, failures)
        log.info(
            "similarity.embedded_missing",
            config_versions=report.config_versions,
            scenarios=report.scenarios,
            trajectories=report.trajectories,
            failure_patterns=report.failure_patterns,
            provider=self.provider.name,
        )
        return report
