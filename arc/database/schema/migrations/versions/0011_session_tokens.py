"""Token usage on the recommendation session.

Issue 9 asks for each analysis's token usage and cost on its session. The seed's
llm_recommendation_sessions has `analysis_cost_usd` but no token counts, so two columns are
added: `input_tokens` and `output_tokens` (the provider's prompt and completion tokens; 0 for
the offline provider and for a session that failed before an answer came back). Existing rows
get 0. Row-level security and grants are per table, so the new columns inherit them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "llm_recommendation_sessions"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    for column in ("input_tokens", "output_tokens"):
        op.add_column(
            TABLE,
            sa.Column(column, sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        )
    op.create_check_constraint(
        op.f(f"{TABLE}_tokens_non_negative_check"),
        TABLE,
        "input_tokens >= 0 AND output_tokens >= 0",
    )


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.drop_constraint(op.f(f"{TABLE}_tokens_non_negative_check"), TABLE, type_="check")
    op.drop_column(TABLE, "output_tokens")
    op.drop_column(TABLE, "input_tokens")
