"""The recommendation loop, end to end, on a simulated agent (`python -m bench loop`, the demo).

Each round: the approved version's evaluations are the evidence -> RecommendationEngine.analyze
-> the most confident suggestions, one after another: apply (a candidate version with a pending
diff) -> run the candidate on the same scenarios (the canary) -> evaluate_candidate (compare
with the approved version) -> approve it when the canary shows an improvement, no significant
regression and a cost per execution within the budget over version 1; reject it otherwise.
A round approves at most one candidate. With `inject_harmful_round`, that round first tries a
harmful change (the configuration's most used tool removed, temperature 1.9) as if a provider
had suggested it: the canary must refuse it.
"""

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TextIO

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.configs import ConfigurationManager
from arc.database.core.engine import session_factory
from arc.database.core.errors import ArcValidationError
from arc.database.demo.evaluation import evaluate_version, version_snapshot
from arc.database.demo.surface import ResponseSurface
from arc.database.ingest.api import ArcAPI
from arc.database.models import Recommendation
from arc.database.recommendations import CandidateReview, RecommendationEngine
from arc.database.recommendations.changes import to_yaml

LOOP_USER = uuid.uuid5(uuid.NAMESPACE_URL, "arc-eval-db/loop")
# Version 1 of the loop's configuration: a cheap model, set up in a hurry.
START_CONFIG: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "temperature": 0.7,
    "max_tokens": 1024,
    "retries": 0,
    "timeout_ms": 20000,
    "tools": ["web_search", "calculator", "weather_api"],
}


@dataclass(frozen=True)
class LoopOptions:
    rounds: int = 5
    scenarios: int = 60
    repeats: int = 10  # simulations per version: runs per scenario and side
    candidates_per_round: int = 3
    cost_budget: float = 0.10  # at most +10% cost per execution over version 1
    inject_harmful_round: int | None = None
    seed: int = 11
    target_metric: str = "reliability_score"


@dataclass
class Attempt:
    description: str
    confidence: float
    evidence: list[str]
    verdict: str
    decision: str  # approved | rejected
    reason: str
    reliability: float | None = None
    cost_per_execution: float | None = None
    injected: bool = False


@dataclass
class Round:
    number: int
    version_number: int
    reliability: float
    cost_per_execution: float
    attempts: list[Attempt] = field(default_factory=list)


@dataclass
class LoopReport:
    config_id: uuid.UUID
    start_reliability: float
    start_cost: float
    final_reliability: float
    final_cost: float
    final_version: int
    rounds: list[Round]

    @property
    def improvement(self) -> float:
        """Relative reliability gain of the approved version over version 1."""
        return (
            self.final_reliability / self.start_reliability - 1 if self.start_reliability else 0.0
        )

    @property
    def cost_change(self) -> float:
        return self.final_cost / self.start_cost - 1 if self.start_cost else 0.0

    @property
    def harmful_rejected(self) -> int:
        return sum(
            1 for r in self.rounds for a in r.attempts if a.injected and a.decision == "rejected"
        )


async def _totals(engine: AsyncEngine, version_id: uuid.UUID) -> tuple[float, float]:
    snap = await version_snapshot(engine, version_id)
    return snap.reliability, snap.cost_per_execution


async def inject_harmful(
    engine: AsyncEngine, config_id: uuid.UUID, config: dict[str, Any], session_id: uuid.UUID
) -> uuid.UUID:
    """A recommendation a careless model might write: it passes the rules, not the canary."""
    tools = [t for t in config.get("tools", []) if isinstance(t, str)]
    patch: dict[str, Any] = {"temperature": 1.9}
    if tools:
        patch["tools"] = tools[1:]
    rec_id = uuid.uuid4()
    async with session_factory(engine).begin() as s:
        await s.execute(
            insert(Recommendation).values(
                recommendation_id=rec_id,
                source_type="pattern_analysis",
                source_id=session_id,
                recommendation_type="config_change",
                description="Raise temperature to 1.9 and drop a tool (injected harmful change)",
                suggested_yaml_changes=to_yaml(patch),
                impact_estimate={"injected": True},
                confidence=0.5,
                config_id=config_id,
                target_metric="reliability_score",
                kind="temperature:raised",
                evidence={"injected": True},
            )
        )
    return rec_id


def _improvement(review: CandidateReview) -> str:
    summary, focus = review.comparison.summary, review.focus
    if summary.improvements:
        return f"{summary.improvements} scenarios improved, none regressed"
    if focus and focus["p_value"] <= 0.05 and focus["delta"] > 0:
        return (
            f"the {focus['scenarios']} scenarios the evidence named improved by "
            f"{focus['delta']:+.3f} (p={focus['p_value']:.2g}), none regressed"
        )
    return f"the mean improved by {summary.delta:+.3f} (p={summary.p_value:.2g}), none regressed"


async def decide(
    recommender: RecommendationEngine,
    diff_id: uuid.UUID,
    review: CandidateReview,
    *,
    cost: float,
    cost_limit: float | None,
    actor: uuid.UUID = LOOP_USER,
) -> tuple[str, str]:
    """Approve a candidate whose canary held the prediction within the cost limit; reject it
    otherwise. A regression is left to the gate itself, which must refuse it."""
    summary = review.comparison.summary
    regressed = summary.regressions > 0 or (
        summary.p_value is not None
        and summary.p_value <= 0.05
        and summary.delta is not None
        and summary.delta < 0
    )
    if regressed:
        try:
            await recommender.approve(diff_id, actor)
            return "approved", "the gate let it through"
        except ArcValidationError as refused:
            reason = f"the gate refused: {refused.rule}"
    elif not review.hit:
        reason = "no significant improvement"
    elif cost_limit is not None and cost > cost_limit:
        reason = f"cost per run {cost:.5f} over the limit {cost_limit:.5f}"
    else:
        await recommender.approve(diff_id, actor)
        return "approved", _improvement(review)
    await recommender.reject(diff_id, actor, reason=reason)
    return "rejected", reason


async def run_loop(
    engine: AsyncEngine,
    api: ArcAPI,
    surface: ResponseSurface,
    scenarios: Sequence[dict[str, Any]],
    options: LoopOptions,
    *,
    out: TextIO,
    start_config: dict[str, Any] | None = None,
    recommender: RecommendationEngine | None = None,
    name: str | None = None,
) -> LoopReport:
    rng = random.Random(options.seed)
    config = dict(start_config or START_CONFIG)
    async with session_factory(engine).begin() as s:
        created = await ConfigurationManager().create_configuration(
            s, LOOP_USER, name or f"loop-agent-{uuid.uuid4().hex[:8]}", config
        )
    config_id, version_id, version_number = created.config_id, created.version_id, 1
    recommender = recommender or RecommendationEngine(engine)

    async def run(version: uuid.UUID, cfg: dict[str, Any], label: str) -> None:
        await evaluate_version(
            api,
            version_id=version,
            config=cfg,
            scenarios=scenarios,
            repeats=options.repeats,
            surface=surface,
            rng=rng,
            label=label,
        )

    await run(version_id, config, "loop v1")
    start_rel, start_cost = await _totals(engine, version_id)
    out.write(
        f"v1: reliability {start_rel:.3f}, cost per run ${start_cost:.5f} "
        f"({options.scenarios} scenarios x {options.repeats} runs)\n"
    )
    rounds: list[Round] = []
    for number in range(1, options.rounds + 1):
        if number > 1:  # evaluate the current version: its evidence grows round by round
            await run(version_id, config, f"loop v{version_number} round {number}")
        rel, cost = await _totals(engine, version_id)
        current = Round(number, version_number, rel, cost)
        rounds.append(current)
        analysis = await recommender.analyze(config_id, window=timedelta(days=1))
        listed = await recommender.session_recommendations(analysis.session_id)
        tried = [r["recommendation_id"] for r in listed][: options.candidates_per_round]
        injected: set[uuid.UUID] = set()
        if options.inject_harmful_round == number:
            harmful = await inject_harmful(engine, config_id, config, analysis.session_id)
            injected.add(harmful)
            tried.insert(0, harmful)
        out.write(
            f"\nround {number}: v{version_number} reliability {rel:.3f}, cost ${cost:.5f}; "
            f"{analysis.evidence_items} evidence items, {len(listed)} suggestions"
            + (f", {len(analysis.dropped)} dropped" if analysis.dropped else "")
            + "\n"
        )
        by_id = {r["recommendation_id"]: r for r in listed}
        for rec_id in tried:
            rec = by_id.get(rec_id, {"description": "injected harmful change", "confidence": 0.5})
            applied = await recommender.apply_recommendation(rec_id, LOOP_USER)
            async with session_factory(engine)() as s:
                info = await ConfigurationManager().get_version(s, applied.version_id)
            await run(
                applied.version_id, info.parsed_config, f"loop candidate v{info.version_number}"
            )
            review = await recommender.evaluate_candidate(applied.diff_id)
            summary = review.comparison.summary
            cand_rel, cand_cost = await _totals(engine, applied.version_id)
            attempt = Attempt(
                description=str(rec["description"]),
                confidence=float(rec["confidence"]),
                evidence=[i["kind"] for i in (rec.get("evidence") or {}).get("items", [])],
                verdict=summary.verdict,
                decision="rejected",
                reason="",
                reliability=cand_rel,
                cost_per_execution=cand_cost,
                injected=rec_id in injected,
            )
            current.attempts.append(attempt)
            attempt.decision, attempt.reason = await decide(
                recommender,
                applied.diff_id,
                review,
                cost=cand_cost,
                cost_limit=start_cost * (1 + options.cost_budget) if start_cost else None,
            )
            out.write(
                f"  {'INJECTED ' if attempt.injected else ''}{attempt.description[:110]}\n"
                f"    confidence {attempt.confidence:.2f}; canary {summary.verdict} "
                f"({summary.improvements} better, {summary.regressions} worse); reliability "
                f"{cand_rel:.3f}, cost ${cand_cost:.5f} -> {attempt.decision.upper()}: "
                f"{attempt.reason}\n"
            )
            if attempt.decision == "approved":
                version_id, version_number = applied.version_id, info.version_number
                config = dict(info.parsed_config)
                break
    final_rel, final_cost = await _totals(engine, version_id)
    report = LoopReport(
        config_id, start_rel, start_cost, final_rel, final_cost, version_number, rounds
    )
    out.write(
        f"\nafter {options.rounds} rounds: v{version_number} reliability {final_rel:.3f} "
        f"({report.improvement:+.1%} over v1), cost per run {report.cost_change:+.1%}; "
        f"harmful suggestions rejected by the canary: {report.harmful_rejected}\n"
    )
    return report
