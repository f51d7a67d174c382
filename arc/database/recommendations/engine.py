"""RecommendationEngine: from evidence to a canary-tested, approved configuration.

    engine = RecommendationEngine(db_engine)                 # provider from ARC_LLM_PROVIDER
    analysis = await engine.analyze(config_id)               # evidence -> checked suggestions
    applied = await engine.apply_recommendation(analysis.recommendation_ids[0], who)
    ... run the candidate: ArcAPI.start_simulation(config_version_id=applied.version_id) ...
    review = await engine.evaluate_candidate(applied.diff_id)  # canary comparison, recorded
    await engine.approve(applied.diff_id, who)                # refused on a regression
                                                              # unless force=True, reason=...

The engine owns its transactions (the provider call runs outside any), and every transaction
acts as `tenant` when one is given, so row-level security and the audit trail see who acted.

1. `analyze` opens an llm_recommendation_sessions row (`running`), gathers the evidence pack
   of the configuration's approved version (evidence.py), asks the provider, checks every
   suggestion against the rules and the evidence (suggestions.py; dropped ones are logged with
   their reason), gives each a calibrated confidence (confidence.py) and stores them with
   their provenance; the session records the model, tokens, cost and prompt hash, or why it
   failed.
2. `apply_recommendation` writes a candidate version with a pending diff that carries the
   prediction: the configuration keeps its approved version.
3. `evaluate_candidate` compares the candidate with its baseline on the target metric (the
   canary) and records the comparison on the diff and the realised effect on the
   recommendation, which feeds the track record of its kind.
4. `approve` / `reject` decide the diff (ConfigurationManager enforces the gate).
"""

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
import yaml
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from arc.database.analytics import backfill
from arc.database.analytics.embeddings import HashingEmbeddingProvider
from arc.database.comparison import Comparison, VersionComparator
from arc.database.configs import Candidate, ConfigurationManager, Decision, VersionResult
from arc.database.core.checks import require_uuid
from arc.database.core.engine import session_factory
from arc.database.core.errors import ArcNotFoundError, ArcValidationError, sqlstate_of
from arc.database.core.tenancy import acting_as
from arc.database.models.recommendation import TARGET_METRICS
from arc.database.recommendations import evidence
from arc.database.recommendations.changes import merge, to_yaml
from arc.database.recommendations.confidence import (
    CalibrationReport,
    calibrated,
    calibration_report,
    track_records,
)
from arc.database.recommendations.prompt import (
    PROMPT_TEMPLATE_VERSION,
    build_request,
    prompt_hash,
)
from arc.database.recommendations.providers import model_from_env, provider_from_env
from arc.database.recommendations.providers.base import LLMProvider, LLMResponse
from arc.database.recommendations.suggestions import Suggestion, check_answer
from arc.database.repositories import config_versions as config_repo
from arc.database.repositories import recommendations as repo

log = structlog.get_logger("arc.database.recommendations")
EVIDENCE_SHAPE_VERSION = 1
INSUFFICIENT_PRIVILEGE = "42501"


@dataclass(frozen=True)
class AnalysisResult:
    session_id: uuid.UUID
    status: str  # completed | failed
    recommendation_ids: tuple[uuid.UUID, ...]
    dropped: tuple[str, ...] = ()  # "index: field: reason" of every suggestion refused
    model: str | None = None
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    prompt_hash: str | None = None
    error_message: str | None = None
    evidence_items: int = 0


@dataclass(frozen=True)
class ApplyResult:
    recommendation_id: uuid.UUID
    config_id: uuid.UUID
    version: VersionResult

    @property
    def version_id(self) -> uuid.UUID:
        return self.version.version_id

    @property
    def diff_id(self) -> uuid.UUID:
        assert self.version.diff_id is not None  # a candidate always has its diff
        return self.version.diff_id


@dataclass(frozen=True)
class CandidateReview:
    """The canary comparison of a candidate and what it means for its recommendation."""

    diff_id: uuid.UUID
    comparison: Comparison
    hit: bool  # improvement and no significant regression
    recommendation_id: uuid.UUID | None = None
    focus: dict[str, Any] | None = None  # the paired effect on the scenarios the evidence named


def provenance(pack: evidence.EvidencePack, suggestion: Suggestion) -> dict[str, Any]:
    """The documented shape of `recommendations.evidence` (docs/recommendations.md)."""
    cited = [pack.item(i) for i in suggestion.evidence_ids]
    return {
        "shape": EVIDENCE_SHAPE_VERSION,
        "target_metric": pack.target_metric,
        "config_id": str(pack.config_id),
        "config_version_id": str(pack.version_id),
        "version_number": pack.version_number,
        "window": [pack.window_start.isoformat(), pack.window_end.isoformat()],
        "outcomes": pack.outcomes,
        "changes": [
            {"key": k, "direction": d, "before": b, "after": a} for k, d, b, a in suggestion.moves
        ],
        "items": [i.as_dict() for i in cited if i is not None],
        "p_evidence": round(suggestion.p_evidence, 4),
        "expected_delta": suggestion.expected_delta,
    }


def _in_written_order(raw_yaml: str, parsed: dict[str, Any]) -> dict[str, Any]:
    """The configuration with its keys in the order its author wrote them (parsed_config is
    JSONB, which reorders keys), so a candidate's YAML diff shows only what changed."""
    try:
        written = yaml.safe_load(raw_yaml)
    except yaml.YAMLError:
        return parsed
    return written if isinstance(written, dict) and written == parsed else parsed


class RecommendationEngine:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        provider: LLMProvider | None = None,
        model: str | None = None,
        temperature: float = 0.1,
        tenant: uuid.UUID | None = None,
        configs: ConfigurationManager | None = None,
        evidence_min_samples: int = 20,
    ) -> None:
        self.engine = engine
        self._factory = session_factory(engine)
        self.provider: LLMProvider = provider or provider_from_env()
        self.model = model_from_env(self.provider, model)
        self.temperature = temperature
        self.tenant = tenant
        self.configs = configs or ConfigurationManager()
        self.evidence_min_samples = evidence_min_samples

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction, acting as `tenant` when the engine serves several (transaction-local,
        so nothing is left on the pooled connection)."""
        if self.tenant is None:
            async with self._factory() as session, session.begin():
                yield session
            return
        async with self._factory() as session, acting_as(session, self.tenant) as acting:
            yield acting

    # ------------------------------------------------------------------ analysis
    async def analyze(
        self,
        config_id: Any,
        *,
        target_metric: str = "reliability_score",
        window: timedelta = timedelta(days=7),
        now: datetime | None = None,
        cluster_failures: bool = True,
    ) -> AnalysisResult:
        """One analysis session of the configuration's approved version. A provider or answer
        failure ends the session `failed` (returned, not raised)."""
        config = require_uuid(config_id, "config_id")
        if target_metric not in TARGET_METRICS:
            raise ArcValidationError(
                "target_metric", f"must be one of {', '.join(TARGET_METRICS)}", value=target_metric
            )
        if not isinstance(window, timedelta) or window <= timedelta(0):
            raise ArcValidationError("window", "must be a positive timedelta", value=window)
        end = now or datetime.now(UTC)
        start = end - window
        async with self._transaction() as s:
            owner = (
                await s.execute(
                    text("SELECT user_id FROM configurations WHERE config_id = :c"), {"c": config}
                )
            ).scalar_one_or_none()
            if owner is None:
                raise ArcNotFoundError("configuration", config)
            session_id = uuid.uuid4()
            await repo.insert_session(
                s,
                session_id=session_id,
                user_id=owner,
                window_start=start,
                window_end=end,
                llm_model=self.model,
                llm_temperature=self.temperature,
                prompt_template_version=PROMPT_TEMPLATE_VERSION,
            )
        if cluster_failures:
            await self._cluster_failures()
        started = time.perf_counter()
        pack: evidence.EvidencePack | None = None
        request_hash: str | None = None
        response: LLMResponse | None = None
        try:
            async with self._transaction() as s:
                conn = await s.connection()
                pack = await evidence.gather(
                    conn,
                    config_id=config,
                    target_metric=target_metric,
                    start=start,
                    end=end,
                    min_samples=self.evidence_min_samples,
                )
            request = build_request(pack, model=self.model, temperature=self.temperature)
            request_hash = prompt_hash(request)
            response = await self.provider.complete(request)
            suggestions, dropped = check_answer(response.text, pack)
        except (ArcValidationError, ArcNotFoundError):
            raise
        except Exception as exc:  # provider or answer failure: recorded on the session
            # an answer that is not the schema's JSON was still paid for: its cost is kept
            message = f"{type(exc).__name__}: {exc}"[:2000]
            spent = max(0.0, response.cost_usd) if response else 0.0
            async with self._transaction() as s:
                await repo.finish_session(
                    s,
                    session_id,
                    status="failed",
                    total_outcomes=pack.outcomes if pack else 0,
                    patterns=len(pack.items) if pack else 0,
                    cost_usd=spent,
                    input_tokens=response.input_tokens if response else 0,
                    output_tokens=response.output_tokens if response else 0,
                    error_message=message,
                    llm_model=response.model if response else None,
                )
            log.warning("recommendations.session_failed", session_id=str(session_id), error=message)
            return AnalysisResult(
                session_id,
                "failed",
                (),
                model=response.model if response else None,
                cost_usd=spent,
                input_tokens=response.input_tokens if response else 0,
                output_tokens=response.output_tokens if response else 0,
                prompt_hash=request_hash,
                error_message=message,
            )
        reasons = tuple(f"{d.index}: {d.reason}" for d in dropped)
        for reason in reasons:
            log.warning(
                "recommendations.suggestion_dropped", session_id=str(session_id), reason=reason
            )
        async with self._transaction() as s:
            records = await track_records(s, pack.user_id)
            rows: list[dict[str, Any]] = []
            # equal confidences keep the provider's order: the listing puts the older first
            stamp = datetime.now(UTC)
            for rank, suggestion in enumerate(suggestions):
                record = records.get(suggestion.kind)
                rows.append(
                    {
                        "recommendation_id": uuid.uuid4(),
                        "created_at": stamp + timedelta(microseconds=rank),
                        "source_type": "time_series_analysis",
                        "source_id": session_id,
                        "recommendation_type": suggestion.recommendation_type,
                        "description": suggestion.description,
                        "suggested_yaml_changes": to_yaml(suggestion.patch),
                        "impact_estimate": {
                            "target_config_id": str(config),
                            "metric": target_metric,
                            "expected_delta": suggestion.expected_delta,
                            "p_evidence": round(suggestion.p_evidence, 4),
                            "track_record": record.as_dict() if record else None,
                            "rationale": suggestion.rationale,
                        },
                        "confidence": calibrated(suggestion.p_evidence, record),
                        "llm_model_used": response.model,
                        "llm_prompt_hash": request_hash,
                        "historical_data_window": window,
                        "config_id": config,
                        "target_metric": target_metric,
                        "kind": suggestion.kind,
                        "evidence": provenance(pack, suggestion),
                    }
                )
            await repo.insert_recommendations(s, rows)
            await repo.finish_session(
                s,
                session_id,
                status="completed",
                total_outcomes=pack.outcomes,
                patterns=len(pack.items),
                recommendations=len(rows),
                cost_usd=max(0.0, response.cost_usd),
                input_tokens=response.input_tokens,
                output_tokens=response.output_tokens,
                error_message=("dropped: " + "; ".join(reasons))[:2000] if reasons else None,
                llm_model=response.model,
            )
        log.info(
            "recommendations.session_completed",
            session_id=str(session_id),
            recommendations=len(rows),
            dropped=len(reasons),
            evidence_items=len(pack.items),
            cost_usd=response.cost_usd,
            seconds=round(time.perf_counter() - started, 2),
        )
        return AnalysisResult(
            session_id=session_id,
            status="completed",
            recommendation_ids=tuple(r["recommendation_id"] for r in rows),
            dropped=reasons,
            model=response.model,
            cost_usd=response.cost_usd,
            input_tokens=response.input_tokens,
            output_tokens=response.output_tokens,
            prompt_hash=request_hash,
            evidence_items=len(pack.items),
        )

    async def _cluster_failures(self) -> None:
        """Cluster the failures not clustered yet, so the evidence sees recurring ones. That is
        the owner's job (it writes every tenant's failure_patterns): on a tenant role, which
        may not, the evidence uses the clusters the job has left."""
        try:
            await backfill.cluster_failures(
                self.engine, HashingEmbeddingProvider(), batch_size=500, max_rows=5000
            )
        except DBAPIError as exc:
            if sqlstate_of(exc) != INSUFFICIENT_PRIVILEGE:
                raise
            log.info("recommendations.clustering_skipped", reason="a tenant role may not cluster")

    # ------------------------------------------------------------------ the candidate
    async def apply_recommendation(self, recommendation_id: Any, applied_by: Any) -> ApplyResult:
        """A candidate version from the suggestion, with a pending diff; the configuration
        keeps its approved version until the diff is approved."""
        rec_id = require_uuid(recommendation_id, "recommendation_id")
        who = require_uuid(applied_by, "applied_by")
        async with self._transaction() as s:
            rec = await repo.get_recommendation(s, rec_id, for_update=True)
            if rec is None:
                raise ArcNotFoundError("recommendation", rec_id)
            if rec.applied:
                raise ArcValidationError("applied", "recommendation is already applied")
            if rec.config_id is None or not rec.suggested_yaml_changes:
                raise ArcValidationError(
                    "suggested_yaml_changes", "is empty: nothing to apply automatically"
                )
            planned = (rec.evidence or {}).get("changes")
            config = await config_repo.get_configuration(s, rec.config_id)
            if config is None or config.latest_version_id is None:
                raise ArcNotFoundError("configuration", rec.config_id)
            approved = await config_repo.get_version(s, config.latest_version_id)
            assert approved is not None
            patch = yaml.safe_load(rec.suggested_yaml_changes)
            version = await self.configs.propose_config_version(
                s,
                rec.config_id,
                merge(_in_written_order(approved.raw_yaml, approved.parsed_config), patch),
                candidate=Candidate(
                    target_metric=rec.target_metric,
                    recommendation_id=rec_id,
                    impact_prediction={
                        "metric": rec.target_metric,
                        "expected_delta": (rec.impact_estimate or {}).get("expected_delta"),
                        "confidence": rec.confidence,
                        "changes": planned,
                    },
                ),
            )
            await repo.mark_applied(s, rec_id, who)
        log.info(
            "recommendations.applied",
            recommendation_id=str(rec_id),
            config_id=str(rec.config_id),
            version_id=str(version.version_id),
            diff_id=str(version.diff_id),
        )
        return ApplyResult(rec_id, rec.config_id, version)

    async def evaluate_candidate(
        self,
        diff_id: Any,
        *,
        alpha: float = 0.05,
        min_samples: int = 5,
        since: datetime | None = None,
    ) -> CandidateReview:
        """Compare the candidate with its baseline (the scenarios both ran) on the diff's target
        metric; record the comparison on the diff and the realised effect on its
        recommendation."""
        diff_key = require_uuid(diff_id, "diff_id")
        async with self._transaction() as s:
            diff = await config_repo.get_diff(s, diff_key)
            if diff is None:
                raise ArcNotFoundError("config_diff", diff_key)
            conn = await s.connection()
            comparison = await VersionComparator(conn).compare_versions(
                diff.version_before,
                diff.version_after,
                metric=diff.target_metric or "reliability_score",
                since=since,
                alpha=alpha,
                min_samples=min_samples,
            )
            focus = await self._focus(s, diff.recommendation_id, comparison, alpha)
            result = {**comparison.as_dict(), "focus": focus}
            await self.configs.record_evaluation(s, diff_key, result)
            summary = comparison.summary
            higher_is_better = comparison.metric in ("reliability_score", "success_rate")

            def better(delta: float | None, p_value: float | None) -> bool:
                return (
                    p_value is not None
                    and p_value <= alpha
                    and delta is not None
                    and (delta > 0) == higher_is_better
                )

            hit = summary.regressions == 0 and (
                summary.improvements > 0
                or better(summary.delta, summary.p_value)
                or (focus is not None and better(focus["delta"], focus["p_value"]))
            )
            if diff.recommendation_id is not None:
                await repo.record_realised(
                    s,
                    diff.recommendation_id,
                    realised={
                        "diff_id": str(diff_key),
                        "metric": comparison.metric,
                        "summary": result["summary"],
                        "focus": focus,
                        "candidate_version_id": str(diff.version_after),
                    },
                    hit=hit,
                )
        log.info(
            "recommendations.candidate_evaluated",
            diff_id=str(diff_key),
            verdict=summary.verdict,
            regressions=summary.regressions,
            improvements=summary.improvements,
            hit=hit,
        )
        return CandidateReview(diff_key, comparison, hit, diff.recommendation_id, focus)

    @staticmethod
    async def _focus(
        s: AsyncSession, recommendation_id: uuid.UUID | None, comparison: Comparison, alpha: float
    ) -> dict[str, Any] | None:
        """The prediction tested where it was made: the paired effect over the scenarios the
        recommendation's evidence named (one pre-registered test, no correction needed)."""
        if recommendation_id is None:
            return None
        rec = await repo.get_recommendation(s, recommendation_id)
        named = {
            str(sid)
            for item in ((rec.evidence if rec else None) or {}).get("items", [])
            for sid in (item.get("statistics") or {}).get("scenario_ids", [])
        }
        deltas = [
            r.delta
            for r in comparison.scenarios
            if r.scenario_id in named and r.verdict != "insufficient_data" and r.delta is not None
        ]
        if len(deltas) < 2:
            return None
        import numpy as np

        from arc.database.comparison.statistics import paired_effect

        effect = paired_effect(np.array(deltas, dtype=np.float64), level=1 - alpha)
        return {
            "scenarios": len(deltas),
            "delta": effect.delta,
            "ci_low": effect.ci_low,
            "ci_high": effect.ci_high,
            "p_value": effect.p_value,
        }

    async def approve(
        self, diff_id: Any, approved_by: Any, *, force: bool = False, reason: str | None = None
    ) -> Decision:
        async with self._transaction() as s:
            return await self.configs.approve_diff(
                s,
                require_uuid(diff_id, "diff_id"),
                require_uuid(approved_by, "approved_by"),
                force=force,
                reason=reason,
            )

    async def reject(
        self, diff_id: Any, rejected_by: Any, *, reason: str | None = None
    ) -> Decision:
        async with self._transaction() as s:
            return await self.configs.reject_diff(
                s,
                require_uuid(diff_id, "diff_id"),
                require_uuid(rejected_by, "rejected_by"),
                reason=reason,
            )

    # ------------------------------------------------------------------ feedback, reports
    async def record_feedback(self, recommendation_id: Any, score: int) -> None:
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise ArcValidationError(
                "feedback_score", "must be an integer from 1 to 5", value=score
            )
        rec_id = require_uuid(recommendation_id, "recommendation_id")
        async with self._transaction() as s:
            if not await repo.set_feedback(s, rec_id, score):
                raise ArcNotFoundError("recommendation", rec_id)
        log.info("recommendations.feedback", recommendation_id=str(rec_id), score=score)

    async def calibration(self, user_id: Any = None) -> CalibrationReport:
        async with self._transaction() as s:
            return await calibration_report(
                s, require_uuid(user_id, "user_id") if user_id else None
            )

    async def get_recommendation(self, recommendation_id: Any) -> dict[str, Any]:
        rec_id = require_uuid(recommendation_id, "recommendation_id")
        async with self._transaction() as s:
            row = await repo.get_recommendation(s, rec_id)
        if row is None:
            raise ArcNotFoundError("recommendation", rec_id)
        return dict(row._mapping)

    async def session_recommendations(self, session_id: Any) -> list[dict[str, Any]]:
        async with self._transaction() as s:
            rows = await repo.list_by_source(s, require_uuid(session_id, "session_id"))
            return [dict(row._mapping) for row in rows]

    async def pending_recommendations(
        self, min_confidence: float = 0.0, *, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Not yet applied, most confident first."""
        if not 0 <= min_confidence <= 1:
            raise ArcValidationError("min_confidence", "must be between 0 and 1")
        async with self._transaction() as s:
            rows = await repo.pending(
                s, min_confidence=min_confidence, limit=limit, source_ids=None
            )
        return [dict(row._mapping) for row in rows]
