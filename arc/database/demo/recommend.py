"""The demo's recommendation loop, one round shown step by step.

The engine reads the evidence of a configuration's approved version and recommends a change;
the change becomes a candidate version with a pending diff (the configuration keeps serving
the approved version); a canary runs the candidate on the same scenarios; the comparison is
recorded on the diff and decides the approval; the dashboard shows the difference. Then a
harmful change is injected as if a provider had suggested it, and the canary refuses it.
"""

import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.comparison.render import comparison_text, table
from arc.database.configs import ConfigurationManager
from arc.database.core.engine import session_factory
from arc.database.demo.evaluation import VersionSnapshot, evaluate_version, version_snapshot
from arc.database.demo.loop import decide, harmful_change, inject_harmful
from arc.database.demo.surface import ResponseSurface
from arc.database.ingest.api import ArcAPI
from arc.database.recommendations import RecommendationEngine
from arc.database.recommendations.render import recommendation_text

COST_BUDGET = 0.10  # a candidate may cost at most 10% more per run than the approved version


@dataclass(frozen=True)
class LoopDemoResult:
    recommendation_id: uuid.UUID
    candidate_version_id: uuid.UUID
    approved: bool
    before: VersionSnapshot
    after: VersionSnapshot
    harmful_refused: bool


def _delta_table(before: VersionSnapshot, after: VersionSnapshot) -> str:
    def row(name: str, a: float, b: float, spec: str) -> list[str]:
        change = f"{b / a - 1:+.1%}" if a else "-"
        return [name, format(a, spec), format(b, spec), change]

    return table(
        ["approved version", f"v{before.version_number}", f"v{after.version_number}", "change"],
        [
            row("reliability", before.reliability, after.reliability, ".3f"),
            row("success rate", before.success_rate, after.success_rate, ".3f"),
            row("cost per run $", before.cost_per_execution, after.cost_per_execution, ".5f"),
            row("mean latency ms", before.avg_ms, after.avg_ms, ".0f"),
        ],
    )


async def show_recommendation_loop(
    engine: AsyncEngine,
    api: ArcAPI,
    *,
    config_id: uuid.UUID,
    version_id: uuid.UUID,
    config: Mapping[str, Any],
    scenarios: Sequence[Mapping[str, Any]],
    repeats: int,
    surface: ResponseSurface,
    rng: random.Random,
    user: uuid.UUID,
    out: TextIO,
) -> LoopDemoResult | None:
    """One round shown step by step; None when the evidence backs no change."""
    recommender = RecommendationEngine(engine)
    manager = ConfigurationManager()
    out.write(
        f"\nRecommendation loop ({recommender.provider.name} provider, model {recommender.model})\n"
    )
    analysis = await recommender.analyze(config_id, window=timedelta(days=1))
    rows = await recommender.session_recommendations(analysis.session_id)
    out.write(
        f"  analysis {analysis.status}: {analysis.evidence_items} evidence items, "
        f"{len(rows)} recommendations"
        + (f", {len(analysis.dropped)} dropped" if analysis.dropped else "")
        + "\n"
    )
    if not rows:
        out.write("  no recommendation: the evidence is too thin for any change\n")
        return None
    top = rows[0]
    out.write("\nThe most confident recommendation:\n" + recommendation_text(top) + "\n")

    applied = await recommender.apply_recommendation(top["recommendation_id"], user)
    async with session_factory(engine)() as s:
        candidate = await manager.get_version(s, applied.version_id)
        diff = await manager.diff_versions(s, version_id, applied.version_id)
    out.write(
        f"\nCandidate v{candidate.version_number} written with a pending diff; the configuration "
        f"still serves v1 until the canary passes:\n"
    )
    out.write("".join(f"  {line}\n" for line in diff.diff_yaml.splitlines()))

    async def run_canary(version_id: uuid.UUID, config: Mapping[str, Any], number: int) -> None:
        await evaluate_version(
            api,
            version_id=version_id,
            config=config,
            scenarios=scenarios,
            repeats=repeats,
            surface=surface,
            rng=rng,
            label=f"canary v{number}",
        )

    await run_canary(applied.version_id, candidate.parsed_config, candidate.version_number)
    review = await recommender.evaluate_candidate(applied.diff_id)
    out.write(f"\nCanary: v{candidate.version_number} against v1 ({repeats} runs a scenario)\n")
    out.write(comparison_text(review.comparison, limit=8) + "\n")
    if review.focus:
        f = review.focus
        out.write(
            f"on the {f['scenarios']} scenarios the evidence named: {f['delta']:+.3f} "
            f"[{f['ci_low']:+.3f}, {f['ci_high']:+.3f}], p={f['p_value']:.2g}\n"
        )
    before = await version_snapshot(engine, version_id)
    canary = await version_snapshot(engine, applied.version_id)
    decision, reason = await decide(
        recommender,
        applied.diff_id,
        review,
        cost=canary.cost_per_execution,
        cost_limit=before.cost_per_execution * (1 + COST_BUDGET),
        actor=user,
    )
    approved = decision == "approved"
    out.write(
        f"\nApproved ({reason}): the configuration now serves v{candidate.version_number}.\n"
        if approved
        else f"\nRejected ({reason}): the configuration keeps serving v1.\n"
    )
    after = await version_snapshot(engine, applied.version_id if approved else version_id)
    out.write("\nDashboard delta\n" + _delta_table(before, after) + "\n")

    current = dict(candidate.parsed_config) if approved else dict(config)
    harmful = await inject_harmful(engine, config_id, current, analysis.session_id, surface)
    bad = await recommender.apply_recommendation(harmful, user)
    async with session_factory(engine)() as s:
        bad_version = await manager.get_version(s, bad.version_id)
    await run_canary(bad.version_id, bad_version.parsed_config, bad_version.version_number)
    bad_review = await recommender.evaluate_candidate(bad.diff_id)
    summary = bad_review.comparison.summary
    out.write(
        "\nAn injected harmful suggestion ("
        + ", ".join(f"{k} {v}" for k, v in harmful_change(surface, current).items())
        + f"): canary "
        f"{summary.verdict}, {summary.regressions} scenarios worse"
        + (
            f", mean {summary.delta:+.3f} (paired p={summary.p_value:.2g})"
            if summary.delta is not None and summary.p_value is not None
            else ""
        )
        + "\n"
    )
    decision, reason = await decide(
        recommender,
        bad.diff_id,
        bad_review,
        cost=(await version_snapshot(engine, bad.version_id)).cost_per_execution,
        cost_limit=None,
        actor=user,
    )
    harmful_refused = decision == "rejected"
    out.write(f"  {decision}: {reason}\n")
    return LoopDemoResult(
        top["recommendation_id"], applied.version_id, approved, before, after, harmful_refused
    )
