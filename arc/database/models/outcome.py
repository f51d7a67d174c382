import uuid
from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import CheckConstraint, ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from arc.database.models.base import EMBEDDING_DIMENSIONS, Base

OUTCOME_STATUSES = ("success", "error", "timeout", "cancelled")
ERROR_CATEGORIES = (
    "timeout",
    "tool_error",
    "model_error",
    "validation_error",
    "system_error",
    "sandbox_error",
)


class Outcome(Base):
    """Result of one scenario in one simulation. Hypertable on execution_time (1-day chunks)."""

    __tablename__ = "outcomes"
    __table_args__ = (
        CheckConstraint(
            "status IN ('success', 'error', 'timeout', 'cancelled')", name="status_allowed"
        ),
        CheckConstraint("reliability_score BETWEEN 0 AND 1", name="reliability_score_range"),
        CheckConstraint("execution_time_ms >= 0", name="execution_time_ms_non_negative"),
        CheckConstraint("tokens_used >= 0", name="tokens_used_non_negative"),
        CheckConstraint("cost_usd >= 0", name="cost_usd_non_negative"),
        CheckConstraint("retry_count >= 0", name="retry_count_non_negative"),
        CheckConstraint(
            "error_category IN ('timeout', 'tool_error', 'model_error', 'validation_error', "
            "'system_error', 'sandbox_error')",
            name="error_category_allowed",
        ),
        CheckConstraint(
            "trajectory ? 'start_time' AND trajectory ? 'status'", name="valid_trajectory"
        ),
    )

    # The primary key includes the partitioning column, as TimescaleDB requires; it is also
    # the idempotency key of ingest (client-generated id + time, ON CONFLICT DO NOTHING).
    outcome_id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, default=uuid.uuid4, server_default=text("uuid_generate_v4()")
    )
    execution_time: Mapped[datetime] = mapped_column(primary_key=True)
    simulation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("simulations.simulation_id", ondelete="CASCADE")
    )
    scenario_id: Mapped[str] = mapped_column(ForeignKey("scenarios.scenario_id"))
    status: Mapped[str]
    reliability_score: Mapped[float]
    execution_time_ms: Mapped[float]
    tokens_used: Mapped[int]
    cost_usd: Mapped[float]
    trajectory: Mapped[dict[str, Any]]
    trajectory_embedding: Mapped[list[float] | None] = mapped_column(Vector(EMBEDDING_DIMENSIONS))
    metrics: Mapped[dict[str, Any] | None] = mapped_column(server_default=text("'{}'::jsonb"))
    execution_metadata: Mapped[dict[str, Any] | None] = mapped_column(
        server_default=text("'{}'::jsonb")
    )
    modal_call_id: Mapped[str | None]
    sandbox_id: Mapped[str | None]
    sandbox_logs: Mapped[str | None]
    retry_count: Mapped[int | None] = mapped_column(server_default=text("0"))
    error_code: Mapped[str | None]
    error_category: Mapped[str | None]
    created_at: Mapped[datetime | None] = mapped_column(server_default=text("now()"))


# The hypertable is created with create_default_indexes => false; this is its time index.
Index("idx_outcomes_execution_time", Outcome.execution_time.desc())
Index(
    "idx_outcomes_time_status",
    Outcome.execution_time.desc(),
    Outcome.status,
    postgresql_where=text("status <> 'success'"),
)
Index("idx_outcomes_simulation_time", Outcome.simulation_id, Outcome.execution_time.desc())
Index("idx_outcomes_scenario_time", Outcome.scenario_id, Outcome.execution_time.desc())
Index("idx_outcomes_simulation_status", Outcome.simulation_id, Outcome.status)
Index(
    "idx_outcomes_modal_call",
    Outcome.modal_call_id,
    postgresql_where=text("modal_call_id IS NOT NULL"),
)
Index("idx_outcomes_trajectory_gin", Outcome.trajectory, postgresql_using="gin")
Index(
    "idx_outcomes_metrics_gin",
    Outcome.metrics,
    postgresql_using="gin",
    postgresql_where=text("metrics <> '{}'::jsonb"),
)
Index("idx_outcomes_metadata_gin", Outcome.execution_metadata, postgresql_using="gin")
Index(
    "idx_trajectory_embedding_cosine",
    Outcome.trajectory_embedding,
    postgresql_using="hnsw",
    postgresql_ops={"trajectory_embedding": "vector_cosine_ops"},
    postgresql_where=Outcome.trajectory_embedding.is_not(None),
)
# 004's predicate also has "created_at > NOW() - INTERVAL '30 days'", which PostgreSQL rejects
# in an index; queries add the window themselves.
Index(
    "idx_outcomes_active_failures",
    Outcome.outcome_id,
    Outcome.scenario_id,
    Outcome.reliability_score,
    postgresql_where=text("status = 'error'"),
)
Index(
    "idx_outcomes_performance_analysis",
    Outcome.scenario_id,
    Outcome.status,
    Outcome.reliability_score,
    Outcome.execution_time_ms,
    Outcome.cost_usd,
)
