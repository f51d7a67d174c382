"""The recommendation loop: evidence on recommendations, candidate versions gated by approval.

recommendations gains what makes a suggestion accountable:
- `config_id`: the configuration it targets (it was only inside impact_estimate);
- `target_metric` and `kind` (the changed key and direction, e.g. "temperature:lowered"), by
  which its track record is kept;
- `evidence`: the statistics it stands on, in the documented shape (docs/recommendations.md);
- `realised`, `realised_hit`, `realised_at`: what the canary comparison showed once the
  suggestion was applied and evaluated.

config_diffs gains what a gated change needs:
- `requires_approval`: the diff's version becomes the configuration's approved version only
  when the diff is approved (a candidate); plain manual versions go live at once as before;
- `recommendation_id` (the suggestion it applies) and `target_metric`;
- `evaluation` and `evaluated_at`: the canary comparison (candidate against baseline);
- `decided_at`, `decision_forced`, `decision_reason`: the decision, and whether a regression
  was overridden (the audit trigger records every transition).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

METRICS = "'reliability_score', 'success_rate', 'execution_time_ms', 'cost_usd'"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.add_column("recommendations", sa.Column("config_id", sa.UUID(), nullable=True))
    op.add_column("recommendations", sa.Column("target_metric", sa.Text(), nullable=True))
    op.add_column("recommendations", sa.Column("kind", sa.Text(), nullable=True))
    op.add_column(
        "recommendations",
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column(
        "recommendations",
        sa.Column("realised", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column("recommendations", sa.Column("realised_hit", sa.Boolean(), nullable=True))
    op.add_column(
        "recommendations",
        sa.Column("realised_at", sa.TIMESTAMP(timezone=True), nullable=True),
    )
    op.create_foreign_key(
        op.f("recommendations_config_id_fkey"),
        "recommendations",
        "configurations",
        ["config_id"],
        ["config_id"],
        ondelete="CASCADE",
    )
    op.create_check_constraint(
        op.f("recommendations_target_metric_allowed_check"),
        "recommendations",
        f"target_metric IS NULL OR target_metric IN ({METRICS})",
    )
    op.create_check_constraint(
        op.f("recommendations_valid_realisation_check"),
        "recommendations",
        "(realised_hit IS NULL) = (realised_at IS NULL)",
    )
    op.create_index(
        "idx_recommendations_kind_realised",
        "recommendations",
        ["kind", "realised_at"],
        unique=False,
        postgresql_where=sa.text("realised_at IS NOT NULL"),
    )
    op.create_index("idx_recommendations_config", "recommendations", ["config_id"], unique=False)

    op.add_column(
        "config_diffs",
        sa.Column(
            "requires_approval", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
    )
    op.add_column("config_diffs", sa.Column("recommendation_id", sa.UUID(), nullable=True))
    op.add_column("config_diffs", sa.Column("target_metric", sa.Text(), nullable=True))
    op.add_column(
        "config_diffs",
        sa.Column("evaluation", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column(
        "config_diffs", sa.Column("evaluated_at", sa.TIMESTAMP(timezone=True), nullable=True)
    )
    op.add_column(
        "config_diffs", sa.Column("decided_at", sa.TIMESTAMP(timezone=True), nullable=True)
    )
    op.add_column(
        "config_diffs",
        sa.Column("decision_forced", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column("config_diffs", sa.Column("decision_reason", sa.Text(), nullable=True))
    op.create_foreign_key(
        op.f("config_diffs_recommendation_id_fkey"),
        "config_diffs",
        "recommendations",
        ["recommendation_id"],
        ["recommendation_id"],
        ondelete="SET NULL",
    )
    op.create_check_constraint(
        op.f("config_diffs_target_metric_allowed_check"),
        "config_diffs",
        f"target_metric IS NULL OR target_metric IN ({METRICS})",
    )
    op.create_check_constraint(
        op.f("config_diffs_valid_evaluation_check"),
        "config_diffs",
        "(evaluation IS NULL) = (evaluated_at IS NULL)",
    )
    op.create_check_constraint(
        op.f("config_diffs_valid_decision_check"),
        "config_diffs",
        "decided_at IS NULL OR approval_status <> 'pending'",
    )
    op.create_index(
        "idx_config_diffs_candidates",
        "config_diffs",
        ["config_id", "created_at"],
        unique=False,
        postgresql_where=sa.text("requires_approval AND approval_status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index(
        "idx_config_diffs_candidates",
        table_name="config_diffs",
        postgresql_where=sa.text("requires_approval AND approval_status = 'pending'"),
    )
    for name in ("valid_decision", "valid_evaluation", "target_metric_allowed"):
        op.drop_constraint(op.f(f"config_diffs_{name}_check"), "config_diffs", type_="check")
    op.drop_constraint(
        op.f("config_diffs_recommendation_id_fkey"), "config_diffs", type_="foreignkey"
    )
    for column in (
        "decision_reason",
        "decision_forced",
        "decided_at",
        "evaluated_at",
        "evaluation",
        "target_metric",
        "recommendation_id",
        "requires_approval",
    ):
        op.drop_column("config_diffs", column)
    op.drop_index("idx_recommendations_config", table_name="recommendations")
    op.drop_index(
        "idx_recommendations_kind_realised",
        table_name="recommendations",
        postgresql_where=sa.text("realised_at IS NOT NULL"),
    )
    for name in ("valid_realisation", "target_metric_allowed"):
        op.drop_constraint(op.f(f"recommendations_{name}_check"), "recommendations", type_="check")
    op.drop_constraint(
        op.f("recommendations_config_id_fkey"), "recommendations", type_="foreignkey"
    )
    for column in (
        "realised_at",
        "realised_hit",
        "realised",
        "evidence",
        "kind",
        "target_metric",
        "config_id",
    ):
        op.drop_column("recommendations", column)
