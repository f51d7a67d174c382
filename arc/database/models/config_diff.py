import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from arc.database.models.base import Base
from arc.database.models.recommendation import TARGET_METRICS_SQL

APPROVAL_STATUSES = ("pending", "approved", "rejected")


class ConfigDiff(Base):
    """YAML change between two versions of one configuration, with its review state."""

    __tablename__ = "config_diffs"
    __table_args__ = (
        CheckConstraint("length(diff_yaml) <= 524288", name="diff_yaml_size"),
        CheckConstraint(
            "approval_status IN ('pending', 'approved', 'rejected')",
            name="approval_status_allowed",
        ),
        CheckConstraint("version_before != version_after", name="different_versions"),
        CheckConstraint(
            f"target_metric IS NULL OR target_metric IN ({TARGET_METRICS_SQL})",
            name="target_metric_allowed",
        ),
        CheckConstraint("(evaluation IS NULL) = (evaluated_at IS NULL)", name="valid_evaluation"),
        CheckConstraint(
            "decided_at IS NULL OR approval_status <> 'pending'", name="valid_decision"
        ),
    )

    diff_id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, default=uuid.uuid4, server_default=text("uuid_generate_v4()")
    )
    config_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("configurations.config_id", ondelete="CASCADE")
    )
    version_before: Mapped[uuid.UUID] = mapped_column(ForeignKey("config_versions.version_id"))
    version_after: Mapped[uuid.UUID] = mapped_column(ForeignKey("config_versions.version_id"))
    diff_yaml: Mapped[str]
    change_summary: Mapped[dict[str, Any] | None]
    impact_prediction: Mapped[dict[str, Any] | None]
    llm_generated: Mapped[bool | None] = mapped_column(server_default=text("false"))
    approval_status: Mapped[str | None] = mapped_column(server_default=text("'pending'"))
    approved_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime | None] = mapped_column(server_default=text("now()"))
    # 0008: a candidate version goes live only when its diff is approved
    requires_approval: Mapped[bool] = mapped_column(server_default=text("false"))
    recommendation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("recommendations.recommendation_id", ondelete="SET NULL")
    )
    target_metric: Mapped[str | None]
    evaluation: Mapped[dict[str, Any] | None]
    evaluated_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    decision_forced: Mapped[bool] = mapped_column(server_default=text("false"))
    decision_reason: Mapped[str | None]


Index("idx_config_diffs_config_created", ConfigDiff.config_id, ConfigDiff.created_at.desc())
Index(
    "idx_config_diffs_llm_generated",
    ConfigDiff.llm_generated,
    ConfigDiff.created_at.desc(),
    postgresql_where=ConfigDiff.llm_generated.is_(True),
)
Index(
    "idx_config_diffs_candidates",
    ConfigDiff.config_id,
    ConfigDiff.created_at,
    postgresql_where=text("requires_approval AND approval_status = 'pending'"),
)
