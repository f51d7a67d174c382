import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from arc.database.models.base import Base

SIMULATION_SCENARIO_STATUSES = ("pending", "running", "completed", "failed", "skipped")


class SimulationScenario(Base):
    """Which scenarios a simulation runs, in which order, and how each one went."""

    __tablename__ = "simulations_scenarios"
    __table_args__ = (
        CheckConstraint("execution_order > 0", name="execution_order_positive"),
        CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'failed', 'skipped')",
            name="status_allowed",
        ),
        CheckConstraint("retry_count >= 0", name="retry_count_non_negative"),
        CheckConstraint(
            "completed_at IS NULL OR started_at IS NOT NULL", name="valid_execution_timestamps"
        ),
    )

    simulation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("simulations.simulation_id", ondelete="CASCADE"), primary_key=True
    )
    scenario_id: Mapped[str] = mapped_column(ForeignKey("scenarios.scenario_id"), primary_key=True)
    execution_order: Mapped[int]
    status: Mapped[str | None] = mapped_column(server_default=text("'pending'"))
    modal_call_id: Mapped[str | None]
    modal_execution_logs: Mapped[str | None]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    retry_count: Mapped[int | None] = mapped_column(server_default=text("0"))


Index("idx_simulations_scenarios_scenario", SimulationScenario.scenario_id)
