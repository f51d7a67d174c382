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
        # The bound idx_outcomes_modal_call (a btree entry: 2,704 bytes) put on the column
        # until migration 0010 dropped that index; kept, so validation is unchanged.
        CheckConstraint("length(modal_call_id) <= 500", name="modal_call_id_length"),
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


# The index budget (migration 0010, docs/decisions.md P1-P9): each index below serves a query
# of the code; the seed indexes no query used are gone (their definitions are in 0010).
# The hypertable is created with create_default_indexes => false; this is its time index:
# the real-time part of every aggregate (`execution_time >= watermark`), the policies' refresh
# windows and the embedding backfill's walk in time order.
Index("idx_outcomes_execution_time", Outcome.execution_time.desc())
# Failures newest first (recent_failures); partial: only the outcomes that failed pay for it.
Index(
    "idx_outcomes_time_status",
    Outcome.execution_time.desc(),
    Outcome.status,
    postgresql_where=text("status <> 'success'"),
)
# One simulation's rows (totals, hourly performance, completion, the tenant views' semi-join,
# active simulations' counts); also the order compression sorts by (segment, time).
Index("idx_outcomes_simulation_time", Outcome.simulation_id, Outcome.execution_time.desc())
# Similarity search; partial: rows without an embedding (every row as first delivered) skip it.
Index(
    "idx_trajectory_embedding_cosine",
    Outcome.trajectory_embedding,
    postgresql_using="hnsw",
    postgresql_ops={"trajectory_embedding": "vector_cosine_ops"},
    postgresql_where=Outcome.trajectory_embedding.is_not(None),
)
