"""The recommendation loop, end to end, on a simulated agent (`python -m bench loop`, the demo).

Each round: the approved version's evaluations are the evidence -> RecommendationEngine.analyze
-> the most confident suggestions, one after another: apply (a candidate version with a pending
diff) -> run the candidate on the same scenarios (the canary) -> evaluate_candidate (compare
with the approved version) -> approve it when the canary shows an improvement, no significant
regression and a cost per execution within the budget over version 1; reject it otherwise.
A round approves at most one candidate. With `inject_harmful_round`, that round first tries a
harmful change as if a provider had suggested it (the surface's own `harmful_change(config)`
when it has one, else `careless_change`): the canary must refuse it.

After the rounds, version 1 and the final version are evaluated once more on fresh runs (the
check): the improvement and the cost change are measured there, not on the runs that selected
the final version (a canary that passed by luck would otherwise count its luck).
"""

import json
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TextIO

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.configs import ConfigurationManager
from arc.database.core.engine import session_factory
from arc.database.core.errors import ArcValidationError
from arc.database.demo.evaluation import EvaluationRun, evaluate_version, version_snapshot
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
    check: bool = True  # evaluate v1 and the final version again on fresh runs at the end


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
    # the check: v1 and the final version on fresh runs (None without it)
    check_start: tuple[float, float] | None = None  # (reliability, cost per execution)
    check_final: tuple[float, float] | None = None

    @property
    def improvement(self) -> float:
        """Relative reliability gain of the approved version over version 1 (on the check's
        fresh runs when there was a check)."""
        start, final = self._pair(0)
        return final / start - 1 if start else 0.0

    @property
    def cost_change(self) -> float:
        start, final = self._pair(1)
        return final / start - 1 if start else 0.0

    @property
    def improvement_in_loop(self) -> float:
        """The same, from the runs made during the loop (optimistic: they chose the winner)."""
        if not self.start_reliability:
            return 0.0
        return self.final_reliability / self.start_reliability - 1

    def _pair(self, index: int) -> tuple[float, float]:
        if self.check_start is not None and self.check_final is not None:
            return self.check_start[index], self.check_final[index]
        if index == 0:
            return self.start_reliability, self.final_reliability
        return self.start_cost, self.final_cost

    @property
    def harmful_rejected(self) -> int:
        return sum(
            1 for r in self.rounds for a in r.attempts if a.injected and a.decision == "rejected"
        )


async def _totals(engine: AsyncEngine, version_id: uuid.UUID) -> tuple[float, float]:
    snap = await version_snapshot(engine, version_id)
    return snap.reliability, snap.cost_per_execution


def careless_change(config: Mapping[str, Any]) -> dict[str, Any]:
    """A change a careless model might write, as a merge patch: temperature 1.9, the first tool
    dropped, and the timeout and max_tokens cut to a tenth and a quarter to "save cost". It
    passes the configuration rules; on any agent those settings matter to, it hurts."""
    patch: dict[str, Any] = {"temperature": 1.9}
    tools = [t for t in config.get("tools", []) if isinstance(t, str)]
    if tools:
        patch["tools"] = tools[1:]
    for key, share, floor in (("timeout_ms", 0.1, 100), ("max_tokens", 0.25, 64)):
        value = config.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            patch[key] = max(floor, int(value * share))
    return patch


def harmful_change(surface: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    """The surface's own harmful change when it names one, else `careless_change`."""
    own = getattr(surface, "harmful_change", None)
    return dict(own(config)) if callable(own) else careless_change(config)


async def inject_harmful(
    engine: AsyncEngine,
    config_id: uuid.UUID,
    config: dict[str, Any],
    session_id: uuid.UUID,
    surface: Any = None,
) -> uuid.UUID:
    """A recommendation the engine did not write: it passes the rules, not the canary. Its kind
    is `injected:harmful`, so the engine's track records stay its own."""
    patch = harmful_change(surface, config)
    what = ", ".join(f"{k} {json.dumps(v)}" for k, v in patch.items())
    rec_id = uuid.uuid4()
    async with session_factory(engine).begin() as s:
        await s.execute(
            insert(Recommendation).values(
                recommendation_id=rec_id,
                source_type="pattern_analysis",
                source_id=session_id,
                recommendation_type="config_change",
                description=f"{what} (injected harmful change)"[:4000],
                suggested_yaml_changes=to_yaml(patch),
                impact_estimate={"injected": True},
                confidence=0.5,
                config_id=config_id,
                target_metric="reliability_score",
                kind="injected:harmful",
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
    peers: Sequence[Mapping[str, Any]] = (),
    user: uuid.UUID = LOOP_USER,
) -> LoopReport:
    """The loop on a new configuration of `user` (the tenant). `peers`: other configurations of
    the same tenant, evaluated once before the loop (their versions are evidence the engine may
    find: the Pareto position, the settings of a version that dominates this one)."""
    rng = random.Random(options.seed)
    config = dict(start_config or START_CONFIG)
    suffix = uuid.uuid4().hex[:8]
    async with session_factory(engine).begin() as s:
        created = await ConfigurationManager().create_configuration(
            s, user, name or f"loop-agent-{suffix}", config
        )
        peer_versions = [
            (
                await ConfigurationManager().create_configuration(
                    s, user, f"loop-peer-{i + 1}-{suffix}", dict(peer)
                ),
                dict(peer),
            )
            for i, peer in enumerate(peers)
        ]
    config_id, version_id, version_number = created.config_id, created.version_id, 1
    recommender = recommender or RecommendationEngine(engine)

    async def run(
        version: uuid.UUID, cfg: dict[str, Any], label: str, draws: random.Random = rng
    ) -> EvaluationRun:
        return await evaluate_version(
            api,
            version_id=version,
            config=cfg,
            scenarios=scenarios,
            repeats=options.repeats,
            surface=surface,
            rng=draws,
            label=label,
        )

    first_version, first_config = version_id, dict(config)
    for i, (peer, peer_config) in enumerate(peer_versions):
        await run(peer.version_id, peer_config, f"loop peer {i + 1}")
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
            harmful = await inject_harmful(engine, config_id, config, analysis.session_id, surface)
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
            rec = by_id.get(rec_id) or await recommender.get_recommendation(rec_id)
            applied = await recommender.apply_recommendation(rec_id, user)
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
                actor=user,
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
    if options.check:
        check_rng = random.Random(options.seed + 1)
        checked = []
        for version, cfg, label in (
            (first_version, first_config, "loop check v1"),
            (version_id, config, f"loop check v{version_number}"),
        ):
            done = await run(version, cfg, label, check_rng)
            checked.append((done.mean_reliability, done.cost_per_execution))
        report.check_start, report.check_final = checked
        out.write(
            f"\ncheck on fresh runs ({options.scenarios} scenarios x {options.repeats} runs "
            f"each): v1 reliability {checked[0][0]:.3f}, cost ${checked[0][1]:.5f}; "
            f"v{version_number} reliability {checked[1][0]:.3f}, cost ${checked[1][1]:.5f}\n"
        )
    out.write(
        f"\nafter {options.rounds} rounds: v{version_number} reliability "
        f"{report.improvement:+.1%} over v1 (during the loop {report.improvement_in_loop:+.1%}), "
        f"cost per run {report.cost_change:+.1%}; harmful suggestions rejected by the canary: "
        f"{report.harmful_rejected}\n"
    )
    return report
