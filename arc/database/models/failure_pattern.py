import uuid
from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import CheckConstraint, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from arc.database.models.base import EMBEDDING_DIMENSIONS, Base

FAILURE_CATEGORIES = (
    "timeout",
    "tool_error",
    "model_error",
    "validation_error",
    "system_error",
    "sandbox_error",
    "modal_error",
    "unknown",
)


class FailurePattern(Base):
    """Structured analysis of one failed outcome. Hypertable on execution_time (7-day chunks).

    outcome_id has no foreign key: outcomes is a hypertable whose key includes
    execution_time, and TimescaleDB does not support keys between hypertables. The API writes
    a pattern in the same transaction as its outcome and carries the outcome's execution_time.
    """

    __tablename__ = "failure_patterns"
    __table_args__ = (
        CheckConstraint("length(failure_type) <= 100", name="failure_type_length"),
        CheckConstraint(
            "failure_category IN ('timeout', 'tool_error', 'model_error', 'validation_error', "
            "'system_error', 'sandbox_error', 'modal_error', 'unknown')",
            name="failure_category_allowed",
        ),
        CheckConstraint("length(error_message) <= 10000", name="error_message_length"),
        CheckConstraint("cluster_confidence BETWEEN 0 AND 1", name="cluster_confidence_range"),
        CheckConstraint("similar_failures_count >= 0", name="similar_failures_count_non_negative"),
        CheckConstraint(
            "NOT recovery_successful OR recovery_attempted = true", name="valid_recovery"
        ),
    )

    pattern_id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, default=uuid.uuid4, server_default=text("uuid_generate_v4()")
    )
    execution_time: Mapped[datetime] = mapped_column(primary_key=True)
    outcome_id: Mapped[uuid.UUID]
    failure_type: Mapped[str]
    failure_category: Mapped[str]
    error_message: Mapped[str | None]
    error_embedding: Mapped[list[float] | None] = mapped_column(Vector(EMBEDDING_DIMENSIONS))
    pattern_cluster_id: Mapped[uuid.UUID | None]
    cluster_confidence: Mapped[float | None]
    similar_failures_count: Mapped[int | None] = mapped_column(server_default=text("0"))
    recovery_attempted: Mapped[bool | None] = mapped_column(server_default=text("false"))
    recovery_successful: Mapped[bool | None] = mapped_column(server_default=text("false"))
    resolution_steps: Mapped[str | None]
    llm_analysis: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime | None] = mapped_column(server_default=text("now()"))


# The time index: the real-time part of the failure aggregates, their refresh windows and
# clustering's oldest-first walk. Migration 0010 dropped idx_failure_patterns_outcome and the
# full-text GIN, which no query used (docs/decisions.md P8).
Index("idx_failure_patterns_execution_time", FailurePattern.execution_time.desc())
# Cluster sizes (refresh_cluster_counts) and the evidence's clusters; partial: a pattern is
# clustered after it is written, so ingest does not pay for it.
Index(
    "idx_failure_patterns_cluster_time",
    FailurePattern.pattern_cluster_id,
    FailurePattern.execution_time.desc(),
    postgresql_where=text("pattern_cluster_id IS NOT NULL"),
)
# Similar failures (failures_like); partial, filled by clustering.
Index(
    "idx_error_embedding_cosine",
    FailurePattern.error_embedding,
    postgresql_using="hnsw",
    postgresql_ops={"error_embedding": "vector_cosine_ops"},
    postgresql_where=FailurePattern.error_embedding.is_not(None),
)
