"""RecommendationEngine on a real database with the offline HeuristicProvider."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.configs.manager import ConfigurationManager
from arc.database.core.engine import session_factory
from arc.database.core.errors import ArcNotFoundError, ArcValidationError
from arc.database.models import (
    ConfigDiff,
    Configuration,
    ConfigVersion,
    FailurePattern,
    LLMRecommendationSession,
    Outcome,
    Recommendation,
    Scenario,
    Simulation,
    ToolUsage,
)
from arc.database.recommendations.engine import RecommendationEngine
from arc.database.recommendations.providers.base import LLMResponse


@dataclass
class History:
    user: uuid.UUID
    expensive: uuid.UUID  # config on gpt-4o, many timeouts
    cheap: uuid.UUID  # config on gpt-4o-mini, same reliability, 1/5 of the cost
    outcomes_per_config: int


async def _simulation(
    s, version_id, scenarios, now, n, *, cost, reliability, timeouts
) -> list[dict]:
    sim = uuid.uuid4()
    await s.execute(
        Simulation.__table__.insert().values(
            simulation_id=sim,
            config_version_id=version_id,
            scenario_set=list(scenarios),
            total_scenarios=len(scenarios),
            status="running",
            created_at=now - timedelta(days=2),
            started_at=now - timedelta(days=2),
        )
    )
    rows = []
    for i in range(n):
        t = now - timedelta(hours=1, minutes=i)
        status = "timeout" if i < timeouts else "success"
        rows.append(
            {
                "outcome_id": uuid.uuid4(),
                "execution_time": t,
                "simulation_id": sim,
                "scenario_id": scenarios[i % len(scenarios)],
                "status": status,
                "reliability_score": reliability,
                "execution_time_ms": 1000.0,
                "tokens_used": 100,
                "cost_usd": cost,
                "trajectory": {"start_time": t.isoformat(), "status": status},
            }
        )
    await s.execute(Outcome.__table__.insert(), rows)
    return rows


@pytest.fixture
async def history(engine: AsyncEngine) -> AsyncIterator[History]:
    factory = session_factory(engine)
    tag = uuid.uuid4().hex[:8]
    user = uuid.uuid4()
    scenarios = (f"rec_{tag}_a", f"rec_{tag}_b")
    now = datetime.now(UTC)
    manager = ConfigurationManager()
    async with factory.begin() as s:
        a = await manager.create_configuration(
            s, user, f"rec expensive {tag}", "model: gpt-4o\ntemperature: 0.9\ntimeout_ms: 60000\n"
        )
        b = await manager.create_configuration(
            s, user, f"rec cheap {tag}", "model: gpt-4o-mini\ntemperature: 0.9\n"
        )
        await s.execute(
            Scenario.__table__.insert(),
            [
                {"scenario_id": sc, "name": f"scenario {sc}", "task_prompt": "a task long enough"}
                for sc in scenarios
            ],
        )
        rows_a = await _simulation(
            s, a.version_id, scenarios, now, 20, cost=0.10, reliability=0.85, timeouts=6
        )
        await _simulation(
            s, b.version_id, scenarios, now, 20, cost=0.02, reliability=0.84, timeouts=0
        )
        await s.execute(
            ToolUsage.__table__.insert(),
            [
                {
                    "usage_id": uuid.uuid4(),
                    "outcome_id": r["outcome_id"],
                    "execution_time": r["execution_time"],
                    "tool_name": f"web_search_{tag}",
                    "call_count": 2,
                    "avg_duration_ms": 300.0,
                    "success_rate": 0.5,
                }
                for r in rows_a[:10]
            ],
        )
        await s.execute(
            FailurePattern.__table__.insert(),
            [
                {
                    "pattern_id": uuid.uuid4(),
                    "outcome_id": r["outcome_id"],
                    "execution_time": r["execution_time"],
                    "failure_type": "search_failed",
                    "failure_category": "tool_error",
                    "error_message": "search API 503",
                }
                for r in rows_a[6:14]
            ],
        )
    yield History(user, a.config_id, b.config_id, 20)
    async with factory.begin() as s:
        sessions = select(LLMRecommendationSession.session_id).where(
            LLMRecommendationSession.user_id == user
        )
        await s.execute(delete(Recommendation).where(Recommendation.source_id.in_(sessions)))
        await s.execute(
            delete(LLMRecommendationSession).where(LLMRecommendationSession.user_id == user)
        )
        sims = (
            select(Simulation.simulation_id)
            .join(ConfigVersion, ConfigVersion.version_id == Simulation.config_version_id)
            .where(ConfigVersion.config_id.in_([a.config_id, b.config_id]))
        )
        outs = select(Outcome.outcome_id).where(Outcome.simulation_id.in_(sims))
        await s.execute(delete(ToolUsage).where(ToolUsage.outcome_id.in_(outs)))
        await s.execute(delete(FailurePattern).where(FailurePattern.outcome_id.in_(outs)))
        await s.execute(delete(Outcome).where(Outcome.simulation_id.in_(sims)))
        await s.execute(delete(Simulation).where(Simulation.simulation_id.in_(sims)))
        await s.execute(delete(Scenario).where(Scenario.scenario_id.in_(scenarios)))
        await s.execute(
            delete(Configuration).where(Configuration.config_id.in_([a.config_id, b.config_id]))
        )


async def test_config_scoped_analysis_writes_session_and_recommendations(
    engine: AsyncEngine, history: History
) -> None:
    rec_engine = RecommendationEngine(engine)
    result = await rec_engine.analyze(
        history.user, config_id=history.expensive, window=timedelta(days=7)
    )
    assert result.status == "completed"
    assert result.total_outcomes_analyzed == 20
    assert result.patterns_identified == 8
    assert result.prompt_hash is not None
    assert len(result.prompt_hash) == 64
    async with engine.connect() as conn:
        session = (
            (
                await conn.execute(
                    select(LLMRecommendationSession).where(
                        LLMRecommendationSession.session_id == result.session_id
                    )
                )
            )
            .mappings()
            .one()
        )
    assert session["session_status"] == "completed"
    assert session["recommendations_generated"] == len(result.recommendation_ids) == 4
    assert session["total_outcomes_analyzed"] == 20
    assert session["prompt_template_version"] == "arc-recommendations-v1"
    assert session["analysis_end_time"] >= session["analysis_start_time"]
    recs = await rec_engine.session_recommendations(result.session_id)
    kinds = sorted((r["recommendation_type"], r["source_type"]) for r in recs)
    assert kinds == [
        ("config_change", "time_series_analysis"),
        ("config_change", "time_series_analysis"),
        ("tool_optimization", "pattern_analysis"),
        ("tool_optimization", "pattern_analysis"),
    ]
    for r in recs:
        assert 0 <= r["confidence"] <= 1
        assert r["llm_prompt_hash"] == result.prompt_hash
        assert r["llm_model_used"] == "heuristic-v1"
        assert r["historical_data_window"] == timedelta(days=7)
        assert r["applied"] is False
    timeout = next(r for r in recs if "timed out" in r["description"])
    assert timeout["suggested_yaml_changes"] == "timeout_ms: 120000\n"
    assert timeout["impact_estimate"]["evidence_count"] == 6
    model = next(r for r in recs if r["suggested_yaml_changes"] == 'model: "gpt-4o-mini"\n')
    assert model["impact_estimate"]["target_config_id"] == str(history.expensive)
    assert model["impact_estimate"]["cost_reduction"] == pytest.approx(0.8, abs=1e-3)


async def test_apply_recommendation_creates_llm_version(
    engine: AsyncEngine, history: History
) -> None:
    rec_engine = RecommendationEngine(engine)
    result = await rec_engine.analyze(history.user, config_id=history.expensive)
    recs = await rec_engine.session_recommendations(result.session_id)
    model = next(r for r in recs if (r["suggested_yaml_changes"] or "").startswith("model:"))
    approver = uuid.uuid4()
    applied = await rec_engine.apply_recommendation(model["recommendation_id"], approver)
    assert applied.version.created
    assert applied.version.version_number == 2
    async with session_factory(engine)() as conn:
        version = (
            await conn.execute(
                select(ConfigVersion).where(ConfigVersion.version_id == applied.version.version_id)
            )
        ).scalar_one()
        rec = (
            await conn.execute(
                select(Recommendation).where(
                    Recommendation.recommendation_id == model["recommendation_id"]
                )
            )
        ).scalar_one()
        diff = (
            await conn.execute(
                select(ConfigDiff).where(ConfigDiff.diff_id == applied.version.diff_id)
            )
        ).scalar_one()
        latest = (
            await conn.execute(
                select(Configuration.latest_version_id).where(
                    Configuration.config_id == history.expensive
                )
            )
        ).scalar_one()
    assert version.generated_by == "llm_recommendation"
    assert version.parsed_config == {
        "model": "gpt-4o-mini",
        "temperature": 0.9,
        "timeout_ms": 60000,
    }
    assert latest == version.version_id
    assert rec.applied is True
    assert rec.applied_at is not None
    assert rec.applied_by == approver
    assert diff.llm_generated is True
    assert diff.change_summary["changed"] == {"model": {"before": "gpt-4o", "after": "gpt-4o-mini"}}
    with pytest.raises(ArcValidationError) as info:
        await rec_engine.apply_recommendation(model["recommendation_id"], approver)
    assert info.value.field == "applied"
    no_yaml = [r for r in recs if not r["suggested_yaml_changes"]]
    assert no_yaml, "the tool_error pattern recommendation has no YAML"
    with pytest.raises(ArcValidationError) as info:
        await rec_engine.apply_recommendation(no_yaml[0]["recommendation_id"], approver)
    assert info.value.field == "suggested_yaml_changes"


class _BrokenProvider:
    model_name = "broken"

    async def complete(self, prompt: str, *, model: str, temperature: float) -> LLMResponse:
        return LLMResponse(
            text="I think you should use a bigger model!", cost_usd=0.01, model=model
        )


async def test_invalid_answer_fails_session_and_writes_nothing(
    engine: AsyncEngine, history: History
) -> None:
    rec_engine = RecommendationEngine(engine, provider=_BrokenProvider())
    result = await rec_engine.analyze(history.user, config_id=history.expensive)
    assert result.status == "failed"
    assert result.error_message is not None
    assert "JSON" in result.error_message
    async with session_factory(engine)() as conn:
        session = (
            await conn.execute(
                select(LLMRecommendationSession).where(
                    LLMRecommendationSession.session_id == result.session_id
                )
            )
        ).scalar_one()
        count = (
            await conn.execute(
                select(func.count()).where(Recommendation.source_id == result.session_id)
            )
        ).scalar_one()
    assert session.session_status == "failed"
    assert "JSON" in (session.error_message or "")
    assert session.recommendations_generated == 0
    assert count == 0


async def test_feedback_pending_and_tenant_scope(engine: AsyncEngine, history: History) -> None:
    rec_engine = RecommendationEngine(engine)
    result = await rec_engine.analyze(history.user)  # whole tenant, no config
    assert result.status == "completed"
    assert result.total_outcomes_analyzed == 40
    recs = await rec_engine.session_recommendations(result.session_id)
    assert any(r["impact_estimate"]["target_config_id"] == str(history.expensive) for r in recs)
    # another tenant sees none of this history
    stranger = await rec_engine.analyze(uuid.uuid4())
    assert stranger.total_outcomes_analyzed == 0
    assert stranger.recommendation_ids == ()
    pending = await rec_engine.pending_recommendations(0.0, session_ids=[result.session_id])
    assert len(pending) == len(recs)
    confidences = [p["confidence"] for p in pending]
    assert confidences == sorted(confidences, reverse=True)
    high = await rec_engine.pending_recommendations(confidences[0], session_ids=[result.session_id])
    assert all(p["confidence"] >= confidences[0] for p in high)
    await rec_engine.record_feedback(recs[0]["recommendation_id"], 4)
    with pytest.raises(ArcValidationError):
        await rec_engine.record_feedback(recs[0]["recommendation_id"], 6)
    with pytest.raises(ArcNotFoundError):
        await rec_engine.record_feedback(uuid.uuid4(), 3)
    async with engine.connect() as conn:
        score = (
            await conn.execute(
                select(Recommendation.feedback_score).where(
                    Recommendation.recommendation_id == recs[0]["recommendation_id"]
                )
            )
        ).scalar_one()
    assert score == 4


async def test_all_tenants_reads_the_views(engine: AsyncEngine, history: History) -> None:
    result = await RecommendationEngine(engine).analyze(history.user, all_tenants=True)
    assert result.status == "completed"
    assert result.total_outcomes_analyzed >= 40


async def test_unknown_or_foreign_config_is_refused_before_any_write(
    engine: AsyncEngine, history: History
) -> None:
    rec_engine = RecommendationEngine(engine)
    with pytest.raises(ArcNotFoundError):
        await rec_engine.analyze(uuid.uuid4(), config_id=history.expensive)
    async with engine.connect() as conn:
        count = (
            await conn.execute(
                select(func.count()).where(LLMRecommendationSession.user_id == history.user)
            )
        ).scalar_one()
    assert count == 0
