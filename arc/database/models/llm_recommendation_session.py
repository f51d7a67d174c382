import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from arc.database.models.base import Base

SESSION_STATUSES = ("running", "completed", "failed")


class LLMRecommendationSession(Base):
    """One LLM analysis over a window of history, and what it produced."""

    __tablename__ = "llm_recommendation_sessions"
    __table_args__ = (
        CheckConstraint("total_outcomes_analyzed >= 0", name="outcomes_non_negative"),
        CheckConstraint("analysis_cost_usd >= 0", name="cost_non_negative"),
        CheckConstraint("input_tokens >= 0 AND output_tokens >= 0", name="tokens_non_negative"),
        CheckConstraint(
            "session_status IN ('running', 'completed', 'failed')", name="session_status_allowed"
        ),
        CheckConstraint("analysis_end_time >= analysis_start_time", name="valid_analysis_window"),
        CheckConstraint("data_window_end >= data_window_start", name="valid_data_window"),
    )

    session_id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, default=uuid.uuid4, server_default=text("uuid_generate_v4()")
    )
    user_id: Mapped[uuid.UUID]
    analysis_start_time: Mapped[datetime]
    analysis_end_time: Mapped[datetime]
    data_window_start: Mapped[datetime]
    data_window_end: Mapped[datetime]
    llm_model: Mapped[str]
    llm_temperature: Mapped[float | None] = mapped_column(server_default=text("0.1"))
    prompt_template_version: Mapped[str | None]
    total_outcomes_analyzed: Mapped[int]
    patterns_identified: Mapped[int | None] = mapped_column(server_default=text("0"))
    recommendations_generated: Mapped[int | None] = mapped_column(server_default=text("0"))
    analysis_cost_usd: Mapped[float | None] = mapped_column(server_default=text("0"))
    # the provider's prompt and completion tokens (revision 0011; 0 offline)
    input_tokens: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    output_tokens: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    session_status: Mapped[str | None] = mapped_column(server_default=text("'completed'"))
    error_message: Mapped[str | None]
    created_at: Mapped[datetime | None] = mapped_column(server_default=text("now()"))


Index(
    "idx_llm_sessions_user_time",
    LLMRecommendationSession.user_id,
    LLMRecommendationSession.analysis_start_time.desc(),
)
Index(
    "idx_llm_sessions_analysis_window",
    LLMRecommendationSession.analysis_start_time,
    LLMRecommendationSession.analysis_end_time,
)
