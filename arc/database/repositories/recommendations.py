"""SQL for recommendation sessions and recommendations (the evidence is in
recommendations.evidence). Functions over a connection or session the caller owns; they
execute and never commit."""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from arc.database.models import LLMRecommendationSession, Recommendation

Conn = AsyncConnection | AsyncSession


async def insert_session(
    conn: Conn,
    *,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    window_start: datetime,
    window_end: datetime,
    llm_model: str,
    llm_temperature: float,
    prompt_template_version: str,
) -> None:
    await conn.execute(
        insert(LLMRecommendationSession).values(
            session_id=session_id,
            user_id=user_id,
            analysis_start_time=func.clock_timestamp(),
            analysis_end_time=func.clock_timestamp(),
            data_window_start=window_start,
            data_window_end=window_end,
            llm_model=llm_model,
            llm_temperature=llm_temperature,
            prompt_template_version=prompt_template_version,
            total_outcomes_analyzed=0,
            session_status="running",
        )
    )


async def finish_session(
    conn: Conn,
    session_id: uuid.UUID,
    *,
    status: str,
    total_outcomes: int = 0,
    patterns: int = 0,
    recommendations: int = 0,
    cost_usd: float = 0.0,
    input_tokens: int = 0,
    output_tokens: int = 0,
    error_message: str | None = None,
    llm_model: str | None = None,
) -> None:
    values: dict[str, Any] = {
        "session_status": status,
        "analysis_end_time": func.greatest(
            func.clock_timestamp(), LLMRecommendationSession.analysis_start_time
        ),
        "total_outcomes_analyzed": total_outcomes,
        "patterns_identified": patterns,
        "recommendations_generated": recommendations,
        "analysis_cost_usd": cost_usd,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "error_message": error_message,
    }
    if llm_model:
        values["llm_model"] = llm_model
    await conn.execute(
        update(LLMRecommendationSession)
        .where(LLMRecommendationSession.session_id == session_id)
        .values(**values)
    )


async def insert_recommendations(conn: Conn, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(Recommendation), list(rows))


_REC_COLUMNS = (
    Recommendation.recommendation_id,
    Recommendation.source_type,
    Recommendation.source_id,
    Recommendation.recommendation_type,
    Recommendation.description,
    Recommendation.suggested_yaml_changes,
    Recommendation.impact_estimate,
    Recommendation.confidence,
    Recommendation.llm_model_used,
    Recommendation.llm_prompt_hash,
    Recommendation.historical_data_window,
    Recommendation.applied,
    Recommendation.applied_at,
    Recommendation.applied_by,
    Recommendation.feedback_score,
    Recommendation.created_at,
    Recommendation.config_id,
    Recommendation.target_metric,
    Recommendation.kind,
    Recommendation.evidence,
    Recommendation.realised,
    Recommendation.realised_hit,
    Recommendation.realised_at,
)


async def get_recommendation(
    conn: Conn, recommendation_id: uuid.UUID, *, for_update: bool = False
) -> Row[*tuple[Any, ...]] | None:
    query = select(*_REC_COLUMNS).where(Recommendation.recommendation_id == recommendation_id)
    if for_update:
        query = query.with_for_update()
    return (await conn.execute(query)).one_or_none()


# Most confident first; among equally confident ones (confidence is capped at 0.99), the larger
# expected effect (its size: lower is better for cost and time); then the older; the id only
# makes the order total.
_RANKED = (
    Recommendation.confidence.desc(),
    func.abs(Recommendation.impact_estimate["expected_delta"].as_float()).desc().nulls_last(),
    Recommendation.created_at,
    Recommendation.recommendation_id,
)


async def list_by_source(conn: Conn, source_id: uuid.UUID) -> Sequence[Row[*tuple[Any, ...]]]:
    result = await conn.execute(
        select(*_REC_COLUMNS).where(Recommendation.source_id == source_id).order_by(*_RANKED)
    )
    return result.all()


async def mark_applied(conn: Conn, recommendation_id: uuid.UUID, applied_by: uuid.UUID) -> None:
    await conn.execute(
        update(Recommendation)
        .where(Recommendation.recommendation_id == recommendation_id)
        .values(applied=True, applied_at=func.now(), applied_by=applied_by)
    )


async def record_realised(
    conn: Conn, recommendation_id: uuid.UUID, *, realised: dict[str, Any], hit: bool
) -> None:
    """What the canary showed once the recommendation was applied (the latest evaluation)."""
    await conn.execute(
        update(Recommendation)
        .where(Recommendation.recommendation_id == recommendation_id)
        .values(realised=realised, realised_hit=hit, realised_at=func.now())
    )


async def set_feedback(conn: Conn, recommendation_id: uuid.UUID, score: int) -> bool:
    result = await conn.execute(
        update(Recommendation)
        .where(Recommendation.recommendation_id == recommendation_id)
        .values(feedback_score=score)
        .returning(Recommendation.recommendation_id)
    )
    return result.scalar_one_or_none() is not None


async def pending(
    conn: Conn, *, min_confidence: float, limit: int, source_ids: Sequence[uuid.UUID] | None
) -> Sequence[Row[*tuple[Any, ...]]]:
    query = select(*_REC_COLUMNS).where(
        Recommendation.applied.is_not(True), Recommendation.confidence >= min_confidence
    )
    if source_ids is not None:
        query = query.where(Recommendation.source_id.in_(list(source_ids)))
    result = await conn.execute(query.order_by(*_RANKED).limit(limit))
    return result.all()


def window_interval(start: datetime, end: datetime) -> timedelta:
    return end - start
