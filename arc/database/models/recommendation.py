import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from arc.database.models.base import Base

SOURCE_TYPES = ("simulation", "outcome", "config_diff", "pattern_analysis", "time_series_analysis")
RECOMMENDATION_TYPES = (
    "config_change",
    "scenario_addition",
    "tool_optimization",
    "performance_tuning",
    "modal_optimization",
)


# 0008: the metric a recommendation means to improve (the comparison's metrics).
TARGET_METRICS = ("reliability_score", "success_rate", "execution_time_ms", "cost_usd")
TARGET_METRICS_SQL = ", ".join(f"'{m}'" for m in TARGET_METRICS)


class Recommendation(Base):
    """An LLM-generated suggestion to improve a configuration, and what became of it."""

    __tablename__ = "recommendations"
    __table_args__ = (
        CheckConstraint(
            "source_type IN ('simulation', 'outcome', 'config_diff', 'pattern_analysis', "
            "'time_series_analysis')",
            name="source_type_allowed",
        ),
        CheckConstraint(
            "recommendation_type IN ('config_change', 'scenario_addition', "
            "'tool_optimization', 'performance_tuning', 'modal_optimization')",
            name="recommendation_type_allowed",
        ),
        CheckConstraint("length(description) >= 10", name="description_length"),
        CheckConstraint("confidence BETWEEN 0 AND 1", name="confidence_range"),
        CheckConstraint("feedback_score BETWEEN 1 AND 5", name="feedback_score_range"),
        CheckConstraint(
            "(applied = false AND applied_at IS NULL) OR "
            "(applied = true AND applied_at IS NOT NULL)",
            name="valid_application",
        ),
        CheckConstraint(
            f"target_metric IS NULL OR target_metric IN ({TARGET_METRICS_SQL})",
            name="target_metric_allowed",
        ),
        CheckConstraint("(realised_hit IS NULL) = (realised_at IS NULL)", name="valid_realisation"),
    )

    recommendation_id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, default=uuid.uuid4, server_default=text("uuid_generate_v4()")
    )
    source_type: Mapped[str]
    source_id: Mapped[uuid.UUID]
    recommendation_type: Mapped[str]
    description: Mapped[str]
    suggested_yaml_changes: Mapped[str | None]
    impact_estimate: Mapped[dict[str, Any] | None]
    confidence: Mapped[float]
    llm_model_used: Mapped[str | None]
    llm_prompt_hash: Mapped[str | None]
    historical_data_window: Mapped[timedelta | None]
    applied: Mapped[bool | None] = mapped_column(server_default=text("false"))
    applied_at: Mapped[datetime | None]
    applied_by: Mapped[uuid.UUID | None]
    feedback_score: Mapped[int | None]
    created_at: Mapped[datetime | None] = mapped_column(server_default=text("now()"))
    # 0008: accountability (see docs/recommendations.md for the evidence shape)
    config_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("configurations.config_id", ondelete="CASCADE")
    )
    target_metric: Mapped[str | None]
    kind: Mapped[str | None]  # "<dotted key>:<direction>", the unit of the track record
    evidence: Mapped[dict[str, Any] | None]
    realised: Mapped[dict[str, Any] | None]
    realised_hit: Mapped[bool | None]
    realised_at: Mapped[datetime | None]


Index(
    "idx_recommendations_impact_gin",
    Recommendation.impact_estimate,
    postgresql_using="gin",
    postgresql_where=text("impact_estimate IS NOT NULL"),
)
Index(
    "idx_recommendations_pending_confidence",
    Recommendation.applied,
    Recommendation.confidence.desc(),
    Recommendation.created_at.desc(),
    postgresql_where=text("applied = false"),
)
Index(
    "idx_recommendations_pending",
    Recommendation.recommendation_id,
    Recommendation.confidence.desc(),
    Recommendation.created_at.desc(),
    postgresql_where=text("applied = false"),
)
Index("idx_recommendations_source", Recommendation.source_type, Recommendation.source_id)
Index(
    "idx_recommendations_kind_realised",
    Recommendation.kind,
    Recommendation.realised_at,
    postgresql_where=text("realised_at IS NOT NULL"),
)
Index("idx_recommendations_config", Recommendation.config_id)
