"""SQL for recommendation sessions, recommendations and the analysis they are built from.

Functions over a connection or session the caller owns; they execute and never commit.

Analysis queries: with `all_tenants`, the seed's views (v_llm_failure_analysis,
v_llm_scenario_trends, v_llm_config_performance) are read as they are. Otherwise the analysis
is limited to one tenant (and optionally one configuration): v_llm_config_performance is
joined to configurations, and the failure and scenario trends are computed from the base
tables with the views' columns, because those two views aggregate across tenants (outcomes
and failure_patterns carry no tenant and no row-level security).
"""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from arc.database.models import LLMRecommendationSession, Recommendation

Conn = AsyncConnection | AsyncSession

# configs of the scope: :user_id (NULL = all tenants) and :config_id (NULL = every config)
_SCOPED_CONFIGS = """
    SELECT c.config_id FROM configurations c
    WHERE (CAST(:user_id AS uuid) IS NULL OR c.user_id = CAST(:user_id AS uuid))
      AND (CAST(:config_id AS uuid) IS NULL OR c.config_id = CAST(:config_id AS uuid))
"""
_SCOPED_SIMULATIONS = f"""
    SELECT s.simulation_id FROM simulations s
    JOIN config_versions cv ON cv.version_id = s.config_version_id
    WHERE cv.config_id IN ({_SCOPED_CONFIGS})
"""

_CONFIG_PERFORMANCE = text(
    f"""
    SELECT v.config_id, v.version_number, v.parsed_config,
           sum(v.total_executions) AS executions,
           sum(v.avg_reliability * v.total_executions) / sum(v.total_executions)
               AS avg_reliability,
           sum(v.avg_execution_time * v.total_executions) / sum(v.total_executions)
               AS avg_execution_time_ms,
           sum(v.daily_cost) / sum(v.total_executions) AS cost_per_execution,
           sum(v.error_count) AS error_count
    FROM v_llm_config_performance v
    WHERE v.day >= date_trunc('day', CAST(:start AS timestamptz))
      AND v.config_id IN ({_SCOPED_CONFIGS})
    GROUP BY v.config_id, v.version_number, v.parsed_config
    ORDER BY v.config_id, v.version_number
    """
)
_FAILURES_ALL = text(
    """
    SELECT failure_category, sum(daily_failures) AS failures,
           avg(avg_confidence) AS avg_confidence,
           (array_agg(sample_errors[1]) FILTER (WHERE sample_errors IS NOT NULL))[1:3]
               AS sample_errors
    FROM v_llm_failure_analysis
    WHERE day >= date_trunc('day', CAST(:start AS timestamptz))
    GROUP BY failure_category ORDER BY failures DESC
    """
)
_FAILURES_SCOPED = text(
    f"""
    SELECT fp.failure_category, count(*) AS failures,
           avg(fp.cluster_confidence) AS avg_confidence,
           (array_agg(DISTINCT fp.error_message)
               FILTER (WHERE fp.error_message IS NOT NULL))[1:3] AS sample_errors
    FROM failure_patterns fp
    JOIN outcomes o ON o.outcome_id = fp.outcome_id AND o.execution_time = fp.execution_time
    WHERE fp.execution_time >= CAST(:start AS timestamptz)
      AND fp.execution_time <= CAST(:end AS timestamptz)
      AND o.simulation_id IN ({_SCOPED_SIMULATIONS})
    GROUP BY fp.failure_category ORDER BY failures DESC
    """
)
_SCENARIOS_ALL = text(
    """
    SELECT scenario_id, sum(executions) AS executions,
           sum(avg_reliability * executions) / sum(executions) AS avg_reliability,
           sum(avg_duration * executions) / sum(executions) AS avg_duration_ms,
           sum(timeout_count) AS timeout_count
    FROM v_llm_scenario_trends
    WHERE week >= date_trunc('week', CAST(:start AS timestamptz))
    GROUP BY scenario_id ORDER BY timeout_count DESC, avg_reliability ASC LIMIT 50
    """
)
_SCENARIOS_SCOPED = text(
    f"""
    SELECT o.scenario_id, count(*) AS executions, avg(o.reliability_score) AS avg_reliability,
           avg(o.execution_time_ms) AS avg_duration_ms,
           count(*) FILTER (WHERE o.status = 'timeout') AS timeout_count
    FROM outcomes o
    WHERE o.execution_time >= CAST(:start AS timestamptz)
      AND o.execution_time <= CAST(:end AS timestamptz)
      AND o.simulation_id IN ({_SCOPED_SIMULATIONS})
    GROUP BY o.scenario_id ORDER BY timeout_count DESC, avg_reliability ASC LIMIT 50
    """
)
_TOOLS = text(
    f"""
    SELECT t.tool_name, count(*) AS usage_count, avg(t.success_rate) AS avg_success_rate,
           avg(t.avg_duration_ms) AS avg_duration_ms, sum(t.total_cost_usd) AS total_cost_usd
    FROM tool_usage t
    JOIN outcomes o ON o.outcome_id = t.outcome_id AND o.execution_time = t.execution_time
    WHERE t.execution_time >= CAST(:start AS timestamptz)
      AND t.execution_time <= CAST(:end AS timestamptz)
      AND (CAST(:all_tenants AS boolean) OR o.simulation_id IN ({_SCOPED_SIMULATIONS}))
    GROUP BY t.tool_name ORDER BY avg_success_rate ASC LIMIT 50
    """
)
_COUNTS = text(
    f"""
    SELECT
      (SELECT count(*) FROM outcomes o
        WHERE o.execution_time >= CAST(:start AS timestamptz)
          AND o.execution_time <= CAST(:end AS timestamptz)
          AND (CAST(:all_tenants AS boolean) OR o.simulation_id IN ({_SCOPED_SIMULATIONS})))
        AS outcomes,
      (SELECT count(*) FROM failure_patterns fp
        JOIN outcomes o ON o.outcome_id = fp.outcome_id AND o.execution_time = fp.execution_time
        WHERE fp.execution_time >= CAST(:start AS timestamptz)
          AND fp.execution_time <= CAST(:end AS timestamptz)
          AND (CAST(:all_tenants AS boolean) OR o.simulation_id IN ({_SCOPED_SIMULATIONS})))
        AS patterns
    """
)


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in result.mappings().all()]


async def gather_analysis(
    conn: Conn,
    *,
    start: datetime,
    end: datetime,
    user_id: uuid.UUID | None,
    config_id: uuid.UUID | None,
    all_tenants: bool,
) -> dict[str, Any]:
    """Config performance, failure trends, scenario trends, tool performance and counts."""
    scope = {
        "start": start,
        "end": end,
        "user_id": None if all_tenants else user_id,
        "config_id": config_id,
        "all_tenants": all_tenants and config_id is None,
    }
    scoped = not scope["all_tenants"]
    # every configuration of the tenant, so a target configuration has peers to compare with
    configs = _rows(await conn.execute(_CONFIG_PERFORMANCE, {**scope, "config_id": None}))
    failures = _rows(await conn.execute(_FAILURES_SCOPED if scoped else _FAILURES_ALL, scope))
    scenarios = _rows(await conn.execute(_SCENARIOS_SCOPED if scoped else _SCENARIOS_ALL, scope))
    tools = _rows(await conn.execute(_TOOLS, scope))
    counts = (await conn.execute(_COUNTS, scope)).mappings().one()
    return {
        "config_performance": configs,
        "failure_analysis": failures,
        "scenario_trends": scenarios,
        "tool_performance": tools,
        "total_outcomes": int(counts["outcomes"]),
        "total_patterns": int(counts["patterns"]),
    }


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
)


async def get_recommendation(
    conn: Conn, recommendation_id: uuid.UUID, *, for_update: bool = False
) -> Row[*tuple[Any, ...]] | None:
    query = select(*_REC_COLUMNS).where(Recommendation.recommendation_id == recommendation_id)
    if for_update:
        query = query.with_for_update()
    return (await conn.execute(query)).one_or_none()


async def list_by_source(conn: Conn, source_id: uuid.UUID) -> Sequence[Row[*tuple[Any, ...]]]:
    result = await conn.execute(
        select(*_REC_COLUMNS)
        .where(Recommendation.source_id == source_id)
        .order_by(Recommendation.confidence.desc(), Recommendation.recommendation_id)
    )
    return result.all()


async def mark_applied(conn: Conn, recommendation_id: uuid.UUID, applied_by: uuid.UUID) -> None:
    await conn.execute(
        update(Recommendation)
        .where(Recommendation.recommendation_id == recommendation_id)
        .values(applied=True, applied_at=func.now(), applied_by=applied_by)
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
    result = await conn.execute(
        query.order_by(Recommendation.confidence.desc(), Recommendation.created_at.desc()).limit(
            limit
        )
    )
    return result.all()


def window_interval(start: datetime, end: datetime) -> timedelta:
    return end - start
