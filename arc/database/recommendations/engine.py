"""Recommendation engine: history -> prompt -> LLM (or offline heuristics) -> recommendations.

`RecommendationEngine` is a public entry point and owns its transactions (unlike the
ConfigurationManager it uses, which works in the caller's session):

1. `analyze()` commits an `llm_recommendation_sessions` row with status `running` first, so a
   crash or a provider failure leaves a visible trace;
2. reads the analysis (config performance, failure and scenario trends, tool performance) for
   the window, scoped to the tenant and optionally one configuration;
3. calls the provider outside any transaction (an LLM call can take a minute);
4. parses the answer; if it is not the JSON asked for, the session becomes `failed` with the
   error and nothing else is written; otherwise the recommendations and the completed
   session are written in one transaction.

Every recommendation's `source_id` is the session that produced it; the configuration it
targets (if any) is in `impact_estimate.target_config_id`. Confidence combines the evidence
count n and the effect size e (0..1): n/(n+10) * (0.4 + 0.6*e); when the model also states a
confidence c, the result is the geometric mean of both.

`apply_recommendation()` merges the suggested YAML mapping into the target configuration's
latest version, writes the new version (generated_by='llm_recommendation', with its
config_diffs row) and marks the recommendation applied, in one transaction.
"""

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from arc.database.configs.manager import ConfigurationManager, VersionResult
from arc.database.core.engine import session_factory
from arc.database.core.errors import ArcNotFoundError, ArcValidationError
from arc.database.recommendations.answers import deep_merge, parse_llm_answer
from arc.database.recommendations.prompt import PROMPT_TEMPLATE_VERSION, build_prompt
from arc.database.recommendations.providers.base import LLMProvider
from arc.database.recommendations.providers.offline import HeuristicProvider
from arc.database.repositories import config_versions as config_repo
from arc.database.repositories import recommendations as repo

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class AnalysisResult:
    session_id: uuid.UUID
    status: str
    recommendation_ids: tuple[uuid.UUID, ...]
    total_outcomes_analyzed: int
    patterns_identified: int
    cost_usd: float
    prompt_hash: str | None
    skipped: tuple[str, ...] = ()
    error_message: str | None = None


@dataclass(frozen=True)
class ApplyResult:
    recommendation_id: uuid.UUID
    config_id: uuid.UUID
    version: VersionResult


class RecommendationEngine:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        provider: LLMProvider | None = None,
        model: str | None = None,
        temperature: float = 0.1,
        configs: ConfigurationManager | None = None,
    ) -> None:
        self._factory = session_factory(engine)
        self.provider: LLMProvider = provider or HeuristicProvider()
        self.model: str = model or str(getattr(self.provider, "model_name", "gpt-4-turbo"))
        self.temperature = temperature
        self.configs = configs or ConfigurationManager()

    @staticmethod
    def build_prompt(
        analysis: Mapping[str, Any], start: datetime, end: datetime, scope: str = ""
    ) -> str:
        return build_prompt(analysis, start, end, scope)

    async def analyze(
        self,
        user_id: uuid.UUID,
        *,
        window: timedelta = timedelta(days=7),
        config_id: uuid.UUID | None = None,
        all_tenants: bool = False,
        now: datetime | None = None,
    ) -> AnalysisResult:
        """One analysis session. Returns its result; a failed session is returned, not raised."""
        if window <= timedelta(0):
            raise ArcValidationError("window", "must be positive", value=str(window))
        end = now or datetime.now(UTC)
        start = end - window
        session_id = uuid.uuid4()
        async with self._factory.begin() as s:
            target: dict[str, Any] | None = None
            if config_id is not None:
                target = await self._target_config(s, config_id, user_id, all_tenants)
            await repo.insert_session(
                s,
                session_id=session_id,
                user_id=user_id,
                window_start=start,
                window_end=end,
                llm_model=self.model,
                llm_temperature=self.temperature,
                prompt_template_version=PROMPT_TEMPLATE_VERSION,
            )
        log.info("recommendations.session_started", session_id=str(session_id))
        prompt_hash: str | None = None
        totals = (0, 0)
        try:
            async with self._factory() as s:
                analysis = await repo.gather_analysis(
                    s,
                    start=start,
                    end=end,
                    user_id=user_id,
                    config_id=config_id,
                    all_tenants=all_tenants,
                )
            totals = (analysis["total_outcomes"], analysis["total_patterns"])
            if target is not None:
                analysis["target_config"] = target
            scope = f" for configuration {config_id}" if config_id else ""
            prompt = self.build_prompt(analysis, start, end, scope)
            prompt_hash = hashlib.sha256(prompt.encode("utf-8")).hexdigest()
            response = await self.provider.complete(
                prompt, model=self.model, temperature=self.temperature
            )
            parsed = parse_llm_answer(response.text)
        except Exception as exc:  # any failure ends the session as failed, with its reason
            message = f"{type(exc).__name__}: {exc}"[:2000]
            async with self._factory.begin() as s:
                await repo.finish_session(
                    s,
                    session_id,
                    status="failed",
                    total_outcomes=totals[0],
                    patterns=totals[1],
                    error_message=message,
                )
            log.warning("recommendations.session_failed", session_id=str(session_id), error=message)
            return AnalysisResult(
                session_id, "failed", (), totals[0], totals[1], 0.0, prompt_hash, (), message
            )
        rows: list[dict[str, Any]] = []
        for rec in parsed.recommendations:
            target_id = rec.config_id or config_id
            rows.append(
                {
                    "recommendation_id": uuid.uuid4(),
                    "source_type": rec.source_type,
                    "source_id": session_id,
                    "recommendation_type": rec.recommendation_type,
                    "description": rec.description,
                    "suggested_yaml_changes": rec.suggested_yaml_changes,
                    "impact_estimate": {
                        **rec.impact_estimate,
                        "evidence_count": rec.evidence_count,
                        "effect_size": rec.effect_size,
                        "target_config_id": str(target_id) if target_id else None,
                    },
                    "confidence": rec.confidence,
                    "llm_model_used": response.model,
                    "llm_prompt_hash": prompt_hash,
                    "historical_data_window": window,
                }
            )
        async with self._factory.begin() as s:
            await repo.insert_recommendations(s, rows)
            await repo.finish_session(
                s,
                session_id,
                status="completed",
                total_outcomes=totals[0],
                patterns=totals[1],
                recommendations=len(rows),
                cost_usd=max(0.0, response.cost_usd),
                error_message=("skipped invalid recommendations: " + "; ".join(parsed.skipped))[
                    :2000
                ]
                if parsed.skipped
                else None,
                llm_model=response.model,
            )
        log.info(
            "recommendations.session_completed",
            session_id=str(session_id),
            recommendations=len(rows),
            skipped=len(parsed.skipped),
            cost_usd=response.cost_usd,
        )
        return AnalysisResult(
            session_id,
            "completed",
            tuple(r["recommendation_id"] for r in rows),
            totals[0],
            totals[1],
            response.cost_usd,
            prompt_hash,
            tuple(parsed.skipped),
        )

    async def _target_config(
        self, s: AsyncSession, config_id: uuid.UUID, user_id: uuid.UUID, all_tenants: bool
    ) -> dict[str, Any]:
        config = await config_repo.get_configuration(s, config_id)
        if config is None or (not all_tenants and config.user_id != user_id):
            raise ArcNotFoundError("configuration", config_id)
        latest = (
            await config_repo.get_version(s, config.latest_version_id)
            if config.latest_version_id
            else None
        )
        return {
            "config_id": str(config_id),
            "name": config.name,
            "version_number": latest.version_number if latest else None,
            "parsed_config": latest.parsed_config if latest else {},
        }

    async def apply_recommendation(
        self,
        recommendation_id: uuid.UUID,
        applied_by: uuid.UUID,
        *,
        config_id: uuid.UUID | None = None,
    ) -> ApplyResult:
        """New config version from the suggestion + applied flag, in one transaction."""
        async with self._factory.begin() as s:
            rec = await repo.get_recommendation(s, recommendation_id, for_update=True)
            if rec is None:
                raise ArcNotFoundError("recommendation", recommendation_id)
            if rec.applied:
                raise ArcValidationError("applied", "recommendation is already applied")
            if not rec.suggested_yaml_changes:
                raise ArcValidationError(
                    "suggested_yaml_changes", "is empty: nothing to apply automatically"
                )
            changes = yaml.safe_load(rec.suggested_yaml_changes)
            if not isinstance(changes, dict):
                raise ArcValidationError("suggested_yaml_changes", "must be a YAML mapping")
            target_text = (rec.impact_estimate or {}).get("target_config_id")
            target = config_id or (uuid.UUID(target_text) if target_text else None)
            if target is None:
                raise ArcValidationError("config_id", "is required: the recommendation names none")
            config = await config_repo.get_configuration(s, target)
            if config is None or config.latest_version_id is None:
                raise ArcNotFoundError("configuration", target)
            latest = await config_repo.get_version(s, config.latest_version_id)
            assert latest is not None
            merged = deep_merge(latest.parsed_config, changes)
            version = await self.configs.create_config_version(
                s, target, merged, generated_by="llm_recommendation"
            )
            await repo.mark_applied(s, recommendation_id, applied_by)
        log.info(
            "recommendations.applied",
            recommendation_id=str(recommendation_id),
            config_id=str(target),
            version_id=str(version.version_id),
            created=version.created,
        )
        return ApplyResult(recommendation_id, target, version)

    async def record_feedback(self, recommendation_id: uuid.UUID, score: int) -> None:
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise ArcValidationError(
                "feedback_score", "must be an integer from 1 to 5", value=score
            )
        async with self._factory.begin() as s:
            if not await repo.set_feedback(s, recommendation_id, score):
                raise ArcNotFoundError("recommendation", recommendation_id)
        log.info("recommendations.feedback", recommendation_id=str(recommendation_id), score=score)

    async def pending_recommendations(
        self,
        min_confidence: float = 0.7,
        *,
        limit: int = 50,
        session_ids: Sequence[uuid.UUID] | None = None,
    ) -> list[dict[str, Any]]:
        """Unapplied recommendations at or above min_confidence, most confident first."""
        if not 0 <= min_confidence <= 1:
            raise ArcValidationError("min_confidence", "must be between 0 and 1")
        async with self._factory() as s:
            rows = await repo.pending(
                s, min_confidence=min_confidence, limit=limit, source_ids=session_ids
            )
        return [dict(row._mapping) for row in rows]

    async def session_recommendations(self, session_id: uuid.UUID) -> list[dict[str, Any]]:
        async with self._factory() as s:
            return [dict(row._mapping) for row in await repo.list_by_source(s, session_id)]
