import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from arc.database.models.base import Base


class ToolUsage(Base):
    """Per-outcome usage statistics of one tool. Hypertable on execution_time (1-day chunks).

    Like failure_patterns, outcome_id carries no foreign key (hypertable to hypertable).
    """

    __tablename__ = "tool_usage"
    __table_args__ = (
        CheckConstraint("length(tool_name) <= 100", name="tool_name_length"),
        CheckConstraint("call_count > 0", name="call_count_positive"),
        CheckConstraint("avg_duration_ms >= 0", name="avg_duration_ms_non_negative"),
        CheckConstraint("success_rate BETWEEN 0 AND 1", name="success_rate_range"),
        CheckConstraint("total_cost_usd >= 0", name="total_cost_usd_non_negative"),
    )

    usage_id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, default=uuid.uuid4, server_default=text("uuid_generate_v4()")
    )
    execution_time: Mapped[datetime] = mapped_column(primary_key=True)
    outcome_id: Mapped[uuid.UUID]
    tool_name: Mapped[str]
    call_count: Mapped[int]
    avg_duration_ms: Mapped[float]
    success_rate: Mapped[float]
    tool_sequence: Mapped[list[Any] | None]
    total_cost_usd: Mapped[float | None] = mapped_column(server_default=text("0"))
    error_types: Mapped[list[str] | None]
    modal_function_calls: Mapped[dict[str, Any] | None]
    sandbox_tool_logs: Mapped[str | None]
    created_at: Mapped[datetime | None] = mapped_column(server_default=text("now()"))


# The time index (the hypertable has no default one): the real-time part of the tool
# aggregates and their refresh windows. Migration 0010 dropped idx_tool_usage_tool_time and
# idx_tool_usage_outcome, which no query used (docs/decisions.md P7).
Index("idx_tool_usage_execution_time", ToolUsage.execution_time.desc())
