import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from arc.database.models.base import Base

SIMULATION_STATUSES = ("pending", "running", "completed", "failed", "cancelled")


class Simulation(Base):
    """One evaluation run of a configuration version over a set of scenarios."""

    __tablename__ = "simulations"
    __table_args__ = (
        CheckConstraint("cardinality(scenario_set) > 0", name="scenario_set_not_empty"),
        CheckConstraint("length(simulation_name) <= 200", name="simulation_name_length"),
        CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'failed', 'cancelled')",
            name="status_allowed",
        ),
        CheckConstraint("total_scenarios > 0", name="total_scenarios_positive"),
        CheckConstraint("completed_scenarios >= 0", name="completed_scenarios_non_negative"),
        CheckConstraint("overall_score BETWEEN 0 AND 1", name="overall_score_range"),
        CheckConstraint("execution_time_ms >= 0", name="execution_time_ms_non_negative"),
        CheckConstraint("total_cost_usd >= 0", name="total_cost_usd_non_negative"),
        CheckConstraint("priority BETWEEN 1 AND 10", name="priority_range"),
        # Seed: completed <=> completed_at set. Widened so that a failed or cancelled run may
        # record when it ended (the seeds' own code does that); in-flight runs still may not.
        CheckConstraint(
            "(status = 'completed' AND completed_at IS NOT NULL) OR "
            "(status IN ('pending', 'running') AND completed_at IS NULL) OR "
            "(status IN ('failed', 'cancelled'))",
            name="valid_completion",
        ),
        CheckConstraint("completed_scenarios <= total_scenarios", name="completed_scenarios_limit"),
        CheckConstraint("started_at IS NULL OR started_at >= created_at", name="valid_timestamps"),
    )

    simulation_id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, default=uuid.uuid4, server_default=text("uuid_generate_v4()")
    )
    config_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("config_versions.version_id"))
    scenario_set: Mapped[list[str]]
    simulation_name: Mapped[str | None]
    status: Mapped[str | None] = mapped_column(server_default=text("'pending'"))
    total_scenarios: Mapped[int]
    completed_scenarios: Mapped[int | None] = mapped_column(server_default=text("0"))
    overall_score: Mapped[float | None]
    execution_time_ms: Mapped[int | None]
    total_cost_usd: Mapped[float | None]
    metadata_: Mapped[dict[str, Any] | None] = mapped_column(
        "metadata", server_default=text("'{}'::jsonb")
    )
    modal_app_id: Mapped[str | None]
    modal_environment: Mapped[str | None] = mapped_column(server_default=text("'production'"))
    sandbox_instances: Mapped[int | None] = mapped_column(server_default=text("1"))
    sandbox_metadata: Mapped[dict[str, Any] | None] = mapped_column(
        server_default=text("'{}'::jsonb")
    )
    timeout_ms: Mapped[int | None] = mapped_column(server_default=text("300000"))
    max_retries: Mapped[int | None] = mapped_column(server_default=text("3"))
    priority: Mapped[int | None] = mapped_column(server_default=text("5"))
    created_at: Mapped[datetime | None] = mapped_column(server_default=text("now()"))
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


Index(
    "idx_simulations_status_priority",
    Simulation.status,
    Simulation.priority.desc(),
    postgresql_where=text("status IN ('pending', 'running')"),
)
Index("idx_simulations_config_created", Simulation.config_version_id, Simulation.created_at.desc())
Index("idx_simulations_modal_app", Simulation.modal_app_id, Simulation.created_at.desc())
Index(
    "idx_simulations_metadata_gin",
    Simulation.metadata_,
    postgresql_using="gin",
    postgresql_where=text("metadata <> '{}'::jsonb"),
)
# 004 adds "AND completed_at > NOW() - INTERVAL '7 days'": PostgreSQL rejects NOW() in an index
# predicate (functions there must be IMMUTABLE), so the time window moves to the query.
Index(
    "idx_simulations_recent_completed",
    Simulation.simulation_id,
    Simulation.overall_score,
    Simulation.total_cost_usd,
    postgresql_where=text("status = 'completed'"),
)
Index(
    "idx_simulations_user_performance",
    Simulation.config_version_id,
    Simulation.status,
    Simulation.overall_score,
    Simulation.total_cost_usd,
    Simulation.completed_at,
)
