"""The recommendations waiting for a decision, for the dashboard."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from arc.database.analytics.rows import from_row
from arc.database.analytics.sources import PanelBase
from arc.database.analytics.windows import check_limit
from arc.database.core.errors import ArcValidationError


@dataclass(frozen=True)
class PendingRecommendation:
    recommendation_id: uuid.UUID
    recommendation_type: str
    description: str
    confidence: float
    impact_estimate: dict[str, Any] | None
    suggested_yaml_changes: str | None
    generated_by_model: str | None
    data_window_start: datetime | None
    data_window_end: datetime | None
    created_at: datetime | None


class RecommendationPanels(PanelBase):
    # -- 002 §6A v_dashboard_pending_recommendations
    async def pending_recommendations(
        self, *, min_confidence: float = 0.7, limit: int = 10
    ) -> tuple[PendingRecommendation, ...]:
        """Unapplied recommendations above `min_confidence`, most confident first.

        Recommendations carry no session id; like the migrated view, the latest LLM session
        whose analysis window covers the recommendation's creation names the model.
        """
        if (
            isinstance(min_confidence, bool)
            or not isinstance(min_confidence, int | float)
            or not 0.0 <= min_confidence <= 1.0
        ):
            raise ArcValidationError(
                "min_confidence", "must be a number between 0 and 1", value=min_confidence
            )
        check_limit(limit, 1000)
        rows = await self.fetch(
            """
            SELECT r.recommendation_id, r.recommendation_type, r.description, r.confidence,
                   r.impact_estimate, r.suggested_yaml_changes,
                   lrs.llm_model AS generated_by_model, lrs.data_window_start,
                   lrs.data_window_end, r.created_at
            FROM recommendations r
            LEFT JOIN LATERAL (
                SELECT s.llm_model, s.data_window_start, s.data_window_end
                FROM llm_recommendation_sessions s
                WHERE r.created_at BETWEEN s.analysis_start_time AND s.analysis_end_time
                ORDER BY s.analysis_start_time DESC
                LIMIT 1
            ) lrs ON true
            WHERE r.applied = false AND r.confidence > :min_confidence
            ORDER BY r.confidence DESC, r.created_at DESC, r.recommendation_id
            LIMIT :limit
            """,
            {"min_confidence": min_confidence, "limit": limit},
        )
        return tuple(from_row(PendingRecommendation, r) for r in rows)
