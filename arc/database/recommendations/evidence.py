"""The evidence a recommendation stands on, gathered for one configuration's approved version.

Each item has an id (E1, E2...), a kind, a one-line summary, the statistics behind it, the
changes it supports and those it contradicts (as `Support(key, direction, value)`, the same
vocabulary as change effects), and `p_improve`: the probability, from this evidence alone, that
a supported change improves the target metric. The kinds:

- `tool_coverage`: scenarios that need a tool the configuration does not enable succeed less
  than the others (difference of success rates, normal approximation: p = Phi(z));
- `tool_needed`: scenarios that need a tool the configuration enables (contradicts removing
  it);
- `truncation`: runs whose answers hit `max_tokens` succeed less than the others (same test);
- `timeouts` / `transient_tool_errors`: a failure mode that a longer timeout or another retry
  addresses is real (one-sided binomial test that its share exceeds 2%: p = 1 - p-value);
- `change_effect`: what the same kind of change did across the tenant's configurations
  (p = (improvements + 1) / (changes + 2)); one that regressed more often contradicts itself,
  for a number from the mildest level at which it regressed;
- `pareto`: a version that dominates this one and how its configuration differs
  (p = Phi(z) of the reliability difference). It is joint: it backs adopting all of the
  dominating configuration's differences together, not any one of them alone (the
  dominance says nothing about which difference made it);
- `history`: this configuration's changes not to repeat: a canary regressed, a person rejected
  it without a canary, it was rejected although its canary improved the metric (refused for
  what the metric does not show, such as cost), or its canary against this very version showed
  no significant improvement (another canary on the same baseline would be another draw);
- `untested_lever`: a number of the configuration, moved one documented step (levers.py) in a
  direction no change of this configuration has tried up to that level (p = 0.5: nothing is
  known). It supports an experiment the canary will measure; providers rank it after
  everything the data backs;
- `failure_cluster` and `tool`: which failures recur under which versions, and which later
  version made them disappear; tool success rates (context for the above, supporting nothing
  on their own).

A number's support or contradiction may carry a level (Support): evidence backs a move up to
the level it saw, and harm seen at a level contradicts that level and beyond, never a smaller
step (a temperature that regressed at 1.9 says nothing about 0.9). Nothing here prefers a
direction: each one comes from the data, or from an experiment the canary then judges.

The evidence reads the outcomes through the tenant views (v_outcomes, v_failure_patterns,
v_tool_usage), so it works under row-level security as a tenant role and sees everything as the
owner.
"""

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from arc.database.comparison import VersionComparator
from arc.database.comparison.effects import changed_keys
from arc.database.configs.manager import HIGHER_IS_BETTER, overall_direction, shows_regression
from arc.database.configs.parsing import change_summary
from arc.database.core.errors import ArcNotFoundError
from arc.database.core.extras import require
from arc.database.recommendations import levers

FAILURE_FLOOR = 0.02  # a failure mode below 2% of runs is not worth a change
TRANSIENT = r"(429|50[0-9]|unavailable|rate.?limit|temporar|timed? ?out|connection reset)"


NUMERIC = ("raised", "lowered")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Support:
    """A change, in the words of change effects: key, direction, and a value. For a list or a
    value set, added or removed, the value is which; for a number raised or lowered, it is a
    level (None: any level).

    As a support, a level is how far the evidence backs the move: up to the level it saw (a
    dominating version's setting, the step an experiment would try). As a contradiction, a
    level is where harm was seen: moving the number to that level or beyond is contradicted, a
    smaller step is not (a temperature that regressed at 1.9 says nothing about 0.9)."""

    key: str
    direction: str
    value: Any = None

    def matches(self, key: str, direction: str, value: Any) -> bool:
        """As a support: the same key and direction; the same value for a value set, added or
        removed; for a number, a move no further than the level, when there is one."""
        return self._covers(key, direction, value, beyond=False)

    def blocks(self, key: str, direction: str, value: Any) -> bool:
        """As a contradiction: the same key and direction; the same value for a value set,
        added or removed; for a number, a move to the level or beyond (any move without a
        level on either side)."""
        return self._covers(key, direction, value, beyond=True)

    def _covers(self, key: str, direction: str, value: Any, *, beyond: bool) -> bool:
        """Whether this item speaks for the move: for a number with a level, a move up to the
        level (`beyond` False) or from the level on (`beyond` True), in its direction."""
        if self.key != key or self.direction != direction:
            return False
        if self.value is None:
            return True
        if direction in NUMERIC:
            if not (_number(self.value) and _number(value)):
                return True
            further = value > self.value if direction == "raised" else value < self.value
            return bool(value == self.value or further == beyond)
        return bool(self.value == value)

    def contradicted_by(self, contradictions: Sequence["Support"]) -> bool:
        return any(c.blocks(self.key, self.direction, self.value) for c in contradictions)

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "direction": self.direction, "value": self.value}

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> "Support":
        return cls(str(raw.get("key")), str(raw.get("direction")), raw.get("value"))


def move_value(direction: str, before: Any, after: Any) -> Any:
    """What identifies a move beyond its key and direction: the value set, added or removed,
    or the level a number moved to."""
    if direction in ("set", "added", *NUMERIC):
        return after
    if direction == "removed":
        return before
    return None


@dataclass
class EvidenceItem:
    id: str
    kind: str
    summary: str
    statistics: dict[str, Any]
    p_improve: float | None = None
    expected_delta: float | None = None  # on the target metric, if the supported change works
    supports: list[Support] = field(default_factory=list)
    contradicts: list[Support] = field(default_factory=list)
    # joint: the item backs its changes only together (another configuration's settings,
    # which differ in several keys at once); a suggestion taking some of them is not backed
    joint: bool = False

    def backs(
        self, moves: Sequence[tuple[str, str, Any]], excluded: Sequence[Support] = ()
    ) -> list[Support]:
        """The supports of this item that `moves` (key, direction, value) make, or [] when
        the item is joint and the moves leave out some of its changes that no other evidence
        contradicts (`excluded`: a joint item backs "adopt those settings, except the ones
        the evidence says would hurt")."""
        made = [s for s in self.supports if any(s.matches(*m) for m in moves)]
        if self.joint:
            required = [s for s in self.supports if not s.contradicted_by(excluded)]
            if any(s not in made for s in required):
                return []
        return made

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "summary": self.summary,
            "statistics": self.statistics,
            "p_improve": None if self.p_improve is None else round(self.p_improve, 4),
            "expected_delta": None
            if self.expected_delta is None
            else round(self.expected_delta, 4),
            "supports": [s.as_dict() for s in self.supports],
            "contradicts": [s.as_dict() for s in self.contradicts],
            "joint": self.joint,
        }


@dataclass
class EvidencePack:
    """Everything known about one configuration's approved version, for one target metric."""

    config_id: uuid.UUID
    config_name: str
    user_id: uuid.UUID
    version_id: uuid.UUID
    version_number: int
    config: dict[str, Any]
    target_metric: str
    window_start: datetime
    window_end: datetime
    outcomes: int
    items: list[EvidenceItem] = field(default_factory=list)

    @property
    def contradictions(self) -> list[Support]:
        return [c for i in self.items for c in i.contradicts]

    def item(self, evidence_id: str) -> EvidenceItem | None:
        return next((i for i in self.items if i.id == evidence_id), None)

    def add(self, kind: str, summary: str, statistics: dict[str, Any], **rest: Any) -> None:
        self.items.append(
            EvidenceItem(f"E{len(self.items) + 1}", kind, summary, statistics, **rest)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "config_id": str(self.config_id),
            "config_name": self.config_name,
            "version_id": str(self.version_id),
            "version_number": self.version_number,
            "config": self.config,
            "target_metric": self.target_metric,
            "window": [self.window_start.isoformat(), self.window_end.isoformat()],
            "outcomes": self.outcomes,
            "items": [i.as_dict() for i in self.items],
        }


def _stats() -> Any:
    return require("scipy.stats", extra="analysis", feature="recommendations")


def _phi(z: float) -> float:
    return float(_stats().norm.cdf(z))


def _rate_gap(
    fail_n: int, fail_success: int, other_n: int, other_success: int
) -> tuple[float, float]:
    """(difference of success rates others - group, Phi(z)) under a normal approximation."""
    r_group, r_other = fail_success / fail_n, other_success / other_n
    se = math.sqrt(
        max(r_group * (1 - r_group), 0.25 / fail_n) / fail_n
        + max(r_other * (1 - r_other), 0.25 / other_n) / other_n
    )
    gap = r_other - r_group
    return gap, _phi(gap / se)


def _share_is_real(count: int, n: int) -> float:
    """1 - p-value of a one-sided binomial test that count / n exceeds FAILURE_FLOOR."""
    test = _stats().binomtest(count, n, FAILURE_FLOOR, alternative="greater")
    return 1.0 - float(test.pvalue)


_TARGET = text(
    """
    SELECT c.config_id, c.name, c.user_id, c.latest_version_id, cv.version_number,
           cv.parsed_config
    FROM configurations c JOIN config_versions cv ON cv.version_id = c.latest_version_id
    WHERE c.config_id = :config_id
    """
)
_SCENARIOS = text(
    """
    SELECT o.scenario_id, count(*) AS n,
           count(*) FILTER (WHERE o.status = 'success') AS success_n,
           avg(o.reliability_score::float8) AS reliability,
           count(*) FILTER (WHERE o.status = 'timeout') AS timeouts,
           count(*) FILTER (WHERE t.capped) AS capped,
           count(*) FILTER (WHERE t.capped AND o.status = 'success') AS capped_success,
           avg(o.reliability_score::float8) FILTER (WHERE t.capped) AS capped_reliability,
           sc.expected_tools
    FROM v_outcomes o
    JOIN simulations s ON s.simulation_id = o.simulation_id
    JOIN scenarios sc ON sc.scenario_id = o.scenario_id
    CROSS JOIN LATERAL (
        SELECT CAST(:max_tokens AS numeric) IS NOT NULL
               AND jsonb_typeof(o.trajectory -> 'token_usage' -> 'completion_tokens') = 'number'
               AND (o.trajectory -> 'token_usage' ->> 'completion_tokens')::numeric
                   >= CAST(:max_tokens AS numeric) AS capped
    ) t
    WHERE s.config_version_id = :version_id
      AND o.execution_time >= :start AND o.execution_time < :end
    GROUP BY o.scenario_id, sc.expected_tools
    """
)
_TRANSIENT = text(
    f"""
    SELECT count(*) AS n,
           (array_agg(DISTINCT fp.pattern_cluster_id)
               FILTER (WHERE fp.pattern_cluster_id IS NOT NULL))[1:5] AS clusters,
           (array_agg(fp.error_message))[1:3] AS samples
    FROM v_failure_patterns fp
    JOIN v_outcomes o ON o.outcome_id = fp.outcome_id AND o.execution_time = fp.execution_time
    JOIN simulations s ON s.simulation_id = o.simulation_id
    WHERE s.config_version_id = :version_id
      AND fp.execution_time >= :start AND fp.execution_time < :end
      AND fp.failure_category = 'tool_error' AND fp.error_message ~* '{TRANSIENT}'
    """
)
_CLUSTERS = text(
    """
    SELECT fp.pattern_cluster_id AS cluster_id, fp.failure_category,
           min(fp.error_message) AS sample, cv.version_number, count(*) AS n
    FROM v_failure_patterns fp
    JOIN v_outcomes o ON o.outcome_id = fp.outcome_id AND o.execution_time = fp.execution_time
    JOIN simulations s ON s.simulation_id = o.simulation_id
    JOIN config_versions cv ON cv.version_id = s.config_version_id
    WHERE cv.config_id = :config_id AND fp.pattern_cluster_id IS NOT NULL
      AND fp.execution_time >= :start AND fp.execution_time < :end
    GROUP BY 1, 2, 4
    """
)
_VERSION_RUNS = text(
    """
    SELECT cv.version_number, count(*) AS n
    FROM v_outcomes o
    JOIN simulations s ON s.simulation_id = o.simulation_id
    JOIN config_versions cv ON cv.version_id = s.config_version_id
    WHERE cv.config_id = :config_id AND o.execution_time >= :start AND o.execution_time < :end
    GROUP BY 1
    """
)
_TOOLS = text(
    """
    SELECT t.tool_name, count(*) AS uses, avg(t.success_rate) AS success_rate
    FROM v_tool_usage t
    JOIN v_outcomes o ON o.outcome_id = t.outcome_id AND o.execution_time = t.execution_time
    JOIN simulations s ON s.simulation_id = o.simulation_id
    WHERE s.config_version_id = :version_id
      AND t.execution_time >= :start AND t.execution_time < :end
    GROUP BY 1 ORDER BY 2 DESC
    """
)
_HISTORY = text(
    """
    SELECT d.diff_id, d.approval_status, d.change_summary, d.evaluation, d.version_before,
           r.realised_hit
    FROM config_diffs d
    LEFT JOIN recommendations r ON r.recommendation_id = d.recommendation_id
    WHERE d.config_id = :config_id
      AND (d.approval_status = 'rejected' OR d.evaluation IS NOT NULL)
    ORDER BY d.created_at DESC LIMIT 50
    """
)
_TRIED = text(
    "SELECT change_summary FROM config_diffs WHERE config_id = :config_id "
    "ORDER BY created_at DESC LIMIT 500"
)
_CONFIGS_OF = text(
    "SELECT version_id, parsed_config FROM config_versions WHERE version_id = ANY(:v)"
)


async def gather(
    conn: AsyncConnection,
    *,
    config_id: uuid.UUID,
    target_metric: str,
    start: datetime,
    end: datetime,
    min_samples: int = 20,
) -> EvidencePack:
    """The evidence pack of the configuration's approved version over [start, end)."""
    target = (await conn.execute(_TARGET, {"config_id": config_id})).first()
    if target is None:
        raise ArcNotFoundError("configuration", config_id)
    config: dict[str, Any] = dict(target.parsed_config)
    window = {"version_id": target.latest_version_id, "start": start, "end": end}
    max_tokens = config.get("max_tokens")
    scenarios = (
        await conn.execute(
            _SCENARIOS,
            {**window, "max_tokens": max_tokens if isinstance(max_tokens, int) else None},
        )
    ).all()
    pack = EvidencePack(
        config_id=config_id,
        config_name=target.name,
        user_id=target.user_id,
        version_id=target.latest_version_id,
        version_number=int(target.version_number),
        config=config,
        target_metric=target_metric,
        window_start=start,
        window_end=end,
        outcomes=sum(int(r.n) for r in scenarios),
    )
    if pack.outcomes >= min_samples:
        _tool_coverage(pack, scenarios, min_samples)
        _truncation(pack, scenarios, min_samples)
        _timeouts(pack, scenarios)
        transient = (await conn.execute(_TRANSIENT, window)).one()
        _transient(pack, transient)
    comparator = VersionComparator(conn)
    effects = await comparator.change_effects(
        metric=target_metric, since=start, until=end, user_id=target.user_id
    )
    _change_effects(pack, effects.effects, effects.changes)
    await _pareto(pack, conn, comparator)
    _history(pack, (await conn.execute(_HISTORY, {"config_id": config_id})).all())
    tried = [
        move
        for r in await conn.execute(_TRIED, {"config_id": config_id})
        for move in changed_keys(r.change_summary)
    ]
    _untested_levers(pack, tried)
    await _clusters(pack, conn)
    _tools(pack, (await conn.execute(_TOOLS, window)).all())
    return pack


def _tools_enabled(config: Mapping[str, Any]) -> set[str]:
    tools = config.get("tools")
    if isinstance(tools, list):
        return {t for t in tools if isinstance(t, str)}
    if isinstance(tools, Mapping):
        return set(tools)
    return set()


def _tool_coverage(pack: EvidencePack, rows: Sequence[Any], min_samples: int) -> None:
    enabled = _tools_enabled(pack.config)
    needed: dict[str, list[Any]] = {}
    in_use: dict[str, list[Any]] = {}
    for r in rows:
        for tool in r.expected_tools or []:
            (in_use if tool in enabled else needed).setdefault(tool, []).append(r)
    for tool, group in sorted(in_use.items()):
        g_n, g_s = sum(int(r.n) for r in group), sum(int(r.success_n) for r in group)
        if g_n < min_samples:
            continue
        pack.add(
            "tool_needed",
            f"{len(group)} scenarios need {tool}, which the configuration enables: they succeed "
            f"in {g_s / g_n:.0%} of {g_n} runs; removing it would leave them without their tool",
            {
                "tool": tool,
                "scenario_ids": sorted(r.scenario_id for r in group)[:50],
                "n": g_n,
                "success_rate": round(g_s / g_n, 4),
            },
            contradicts=[Support("tools", "removed", tool)],
        )
    for tool, group in sorted(needed.items()):
        ids = {r.scenario_id for r in group}
        others = [r for r in rows if r.scenario_id not in ids]
        g_n, g_s = sum(int(r.n) for r in group), sum(int(r.success_n) for r in group)
        o_n, o_s = sum(int(r.n) for r in others), sum(int(r.success_n) for r in others)
        if g_n < min_samples or o_n < min_samples:
            continue
        gap, p = _rate_gap(g_n, g_s, o_n, o_s)
        if gap <= 0:
            continue
        g_rel = sum(float(r.reliability) * int(r.n) for r in group) / g_n
        o_rel = sum(float(r.reliability) * int(r.n) for r in others) / o_n
        share = g_n / (g_n + o_n)
        pack.add(
            "tool_coverage",
            f"{len(ids)} scenarios need {tool}, which the configuration does not enable: they "
            f"succeed in {g_s / g_n:.0%} of {g_n} runs against {o_s / o_n:.0%} for the others",
            {
                "tool": tool,
                "scenario_ids": sorted(ids)[:50],
                "n": g_n,
                "success_rate": round(g_s / g_n, 4),
                "others_n": o_n,
                "others_success_rate": round(o_s / o_n, 4),
                "share_of_runs": round(share, 4),
            },
            p_improve=p,
            expected_delta=share * max(0.0, o_rel - g_rel),
            supports=[Support("tools", "added", tool)],
        )


def _truncation(pack: EvidencePack, rows: Sequence[Any], min_samples: int) -> None:
    capped_n = sum(int(r.capped) for r in rows)
    if not isinstance(pack.config.get("max_tokens"), int) or capped_n < min_samples:
        return
    capped_s = sum(int(r.capped_success) for r in rows)
    total_n, total_s = pack.outcomes, sum(int(r.success_n) for r in rows)
    free_n, free_s = total_n - capped_n, total_s - capped_s
    if free_n < min_samples:
        return
    gap, p = _rate_gap(capped_n, capped_s, free_n, free_s)
    if gap <= 0:
        return
    pack.add(
        "truncation",
        f"{capped_n} of {total_n} runs used all {pack.config['max_tokens']} max_tokens; they "
        f"succeed in {capped_s / capped_n:.0%} against {free_s / free_n:.0%} for the others",
        {
            "max_tokens": pack.config["max_tokens"],
            "capped_runs": capped_n,
            "capped_success_rate": round(capped_s / capped_n, 4),
            "other_success_rate": round(free_s / free_n, 4),
            "scenario_ids": sorted(r.scenario_id for r in rows if int(r.capped))[:50],
        },
        p_improve=p,
        expected_delta=capped_n / total_n * gap * 0.9,
        supports=[Support("max_tokens", "raised")],
    )


def _timeouts(pack: EvidencePack, rows: Sequence[Any]) -> None:
    timeouts = sum(int(r.timeouts) for r in rows)
    if timeouts < 3 or timeouts / pack.outcomes < FAILURE_FLOOR:
        return
    direction = "raised" if "timeout_ms" in pack.config else "added"
    pack.add(
        "timeouts",
        f"{timeouts} of {pack.outcomes} runs ({timeouts / pack.outcomes:.0%}) timed out",
        {
            "timeouts": timeouts,
            "runs": pack.outcomes,
            "timeout_ms": pack.config.get("timeout_ms"),
            "scenario_ids": sorted(r.scenario_id for r in rows if int(r.timeouts))[:50],
        },
        p_improve=_share_is_real(timeouts, pack.outcomes),
        expected_delta=timeouts / pack.outcomes * 0.5,
        supports=[Support("timeout_ms", direction)],
    )


def _transient(pack: EvidencePack, row: Any) -> None:
    count = int(row.n)
    if count < 3 or count / pack.outcomes < FAILURE_FLOOR:
        return
    direction = "raised" if "retries" in pack.config else "added"
    pack.add(
        "transient_tool_errors",
        f"{count} runs failed on a transient tool error (rate limits, 5xx, timeouts of a tool)",
        {
            "failures": count,
            "runs": pack.outcomes,
            "retries": pack.config.get("retries"),
            "cluster_ids": [str(c) for c in (row.clusters or [])],
            "samples": list(row.samples or []),
        },
        p_improve=_share_is_real(count, pack.outcomes),
        expected_delta=count / pack.outcomes * 0.7,
        supports=[Support("retries", direction)],
    )


OPPOSITE = {"raised": "lowered", "lowered": "raised", "enabled": "disabled", "disabled": "enabled"}


def _worse(metric: str, delta: Any) -> bool:
    return _number(delta) and (delta < 0 if metric in HIGHER_IS_BETTER else delta > 0)


def _harm_level(
    effect: Any, changes: Mapping[uuid.UUID, Any], metric: str, alpha: float = 0.05
) -> Any:
    """For a number raised or lowered: the mildest level at which a change of this kind made
    the metric significantly worse (its contradiction starts there), else None (any move)."""
    if effect.direction not in NUMERIC:
        return None
    levels = []
    for diff_id in effect.diff_ids:
        change = changes.get(diff_id)
        if change is None:
            continue
        summary = change.summary
        significant = summary.regressions > 0 or (
            summary.p_value is not None and summary.p_value <= alpha
        )
        if not (significant and _worse(metric, summary.delta)):
            continue
        levels += [
            after
            for key, direction, _, after in change.changes
            if key == effect.key and direction == effect.direction and _number(after)
        ]
    if not levels:
        return None
    return min(levels) if effect.direction == "raised" else max(levels)


def _change_effects(
    pack: EvidencePack, effects: Sequence[Any], changes: Sequence[Any] = ()
) -> None:
    """A kind of change that improved more often than it regressed supports doing it again and
    contradicts the opposite move (stepping a number back); one that regressed more often
    contradicts itself: for a number, from the mildest level at which it regressed (a smaller
    step stays open)."""
    by_diff = {c.diff_id: c for c in changes}
    for e in effects:
        decided = e.improvements + e.regressions
        if decided == 0:
            continue
        support = Support(e.key, e.direction, e.value)
        better = e.improvements > e.regressions
        opposite = (
            [Support(e.key, OPPOSITE[e.direction])] if better and e.direction in OPPOSITE else []
        )
        level = None if better else _harm_level(e, by_diff, pack.target_metric)
        pack.add(
            "change_effect",
            e.describe(pack.target_metric)
            + (f" (the mildest that regressed went to {level})" if level is not None else ""),
            {
                "key": e.key,
                "direction": e.direction,
                "value": e.value,
                "changes": e.changes,
                "improvements": e.improvements,
                "regressions": e.regressions,
                "no_change": e.no_change,
                "median_delta": e.median_delta,
                "regressed_from": level,
                "diff_ids": [str(d) for d in e.diff_ids[:20]],
            },
            p_improve=(e.improvements + 1) / (e.changes + 2),
            expected_delta=e.median_delta if better else None,
            supports=[support] if better else [],
            contradicts=opposite
            if better
            else [Support(e.key, e.direction, level if level is not None else e.value)],
        )


async def _pareto(pack: EvidencePack, conn: AsyncConnection, comparator: VersionComparator) -> None:
    points = await comparator.pareto_frontier(
        since=pack.window_start, until=pack.window_end, user_id=pack.user_id, min_samples=20
    )
    ours = next((p for p in points if p.version_id == pack.version_id), None)
    if ours is None or ours.on_frontier:
        return
    dominators = [p for p in points if p.version_id in ours.dominated_by]
    best = max(dominators, key=lambda p: p.mean_reliability)
    theirs = (await conn.execute(_CONFIGS_OF, {"v": [best.version_id]})).one().parsed_config
    differences = changed_keys(change_summary(pack.config, theirs))
    gap = best.mean_reliability - ours.mean_reliability
    se = math.sqrt(0.25 / best.executions + 0.25 / ours.executions)
    pack.add(
        "pareto",
        f"{best.config_name} v{best.version_number} dominates this version: reliability "
        f"{best.mean_reliability:.3f} vs {ours.mean_reliability:.3f}, cost per run "
        f"{best.cost_per_execution:.5f} vs {ours.cost_per_execution:.5f}, p95 "
        f"{best.p95_latency_ms:.0f} vs {ours.p95_latency_ms:.0f} ms",
        {
            "version_id": str(best.version_id),
            "executions": best.executions,
            "ours": ours.as_dict(),
            "dominator": best.as_dict(),
            "differences": [[k, d, b, a] for k, d, b, a in differences][:20],
        },
        p_improve=_phi(gap / se) if gap > 0 else 0.5,
        expected_delta=gap,
        supports=[Support(k, d, b if d == "removed" else a) for k, d, b, a in differences],
        joint=True,
    )


def _improved(row: Any) -> bool:
    """The canary showed the change improving the metric with no significant regression (the
    recommendation's realised hit, or the recorded comparison for a change made by hand)."""
    if row.realised_hit is not None:
        return bool(row.realised_hit)
    evaluation = row.evaluation or {}
    summary = evaluation.get("summary") or {}
    return not shows_regression(evaluation) and (
        int(summary.get("improvements") or 0) > 0 or overall_direction(evaluation) == "better"
    )


def _history(pack: EvidencePack, rows: Sequence[Any]) -> None:
    """This configuration's changes that it should not repeat: those whose canary regressed,
    those a person rejected without a canary, those rejected although their canary improved
    the metric (the decision weighed what the metric does not show: cost, latency, policy), and
    those whose canary against this very version showed no significant improvement (another
    canary on the same baseline would only be another draw of the same test; once the approved
    version changes, the change may be tried again). For a number the contradiction starts at
    the level it moved to: a smaller step stays open. A change whose canary improved the mean
    significantly while a scenario regressed contradicts nothing: with many scenarios
    improving, the false discovery rate leaves room for a false regression, and the next canary
    will tell."""
    for r in rows:
        changes = changed_keys(r.change_summary)
        regressed = shows_regression(r.evaluation)
        rejected = r.approval_status == "rejected"
        evaluated = bool(r.evaluation)
        improved = evaluated and not regressed and _improved(r)
        refused_gain = rejected and improved
        same_baseline = rejected and evaluated and not regressed and not improved
        same_baseline = same_baseline and r.version_before == pack.version_id
        if not changes or not (
            regressed or refused_gain or same_baseline or (rejected and not evaluated)
        ):
            continue
        summary = (r.evaluation or {}).get("summary") or {}
        mixed = regressed and overall_direction(r.evaluation) == "better"
        if regressed:
            delta = summary.get("delta")
            what = f": its canary showed {summary.get('regressions')} regressions" + (
                f", overall {delta:+.4g}" if isinstance(delta, int | float) else ""
            )
            if mixed:
                what += " (significantly better overall: it may be tried again)"
        elif refused_gain:
            what = " although its canary improved the metric (refused for another reason)"
        elif same_baseline:
            what = (
                f": its canary against this version (v{pack.version_number}) showed no "
                "significant improvement"
            )
        else:
            what = " by a person"
        pack.add(
            "history",
            f"an earlier change of this configuration was {r.approval_status}{what}: "
            + ", ".join(f"{k} {d} {move_value(d, b, a)}" for k, d, b, a in changes)[:200],
            {
                "diff_id": str(r.diff_id),
                "approval_status": r.approval_status,
                "metric": (r.evaluation or {}).get("metric"),
                "summary": summary,
                "changes": [[k, d, b, a] for k, d, b, a in changes][:20],
                "same_baseline": same_baseline,
            },
            contradicts=[]
            if mixed
            else [Support(k, d, move_value(d, b, a)) for k, d, b, a in changes],
        )


# The order in which untested levers are offered: the usual levers of an LLM agent first, then
# any other number of the configuration alphabetically.
LEVER_ORDER = ("temperature", "top_p", "max_tokens", "retries", "timeout_ms")


def _untested_levers(pack: EvidencePack, tried: Sequence[tuple[str, str, Any, Any]]) -> None:
    """An experiment per number and direction: the documented step (levers.step) from the
    current value, unless a change of this configuration already moved the number that way
    within the step (from its current value up to the step's level, or to it) or an item
    contradicts that level. A larger move that failed leaves the smaller step open."""
    refused = pack.contradictions
    numbers = {k: v for k, v in pack.config.items() if _number(v)}
    order = [k for k in LEVER_ORDER if k in numbers] + sorted(set(numbers) - set(LEVER_ORDER))
    for key in order:
        value = numbers[key]
        for direction in ("lowered", "raised"):
            up = direction == "raised"
            target = levers.step(key, value, up)
            if target == value:
                continue
            within = [
                after
                for k, d, _, after in tried
                if k == key
                and d == direction
                and _number(after)
                and (value < after <= target if up else target <= after < value)
            ]
            if within or any(c.blocks(key, direction, target) for c in refused):
                continue
            pack.add(
                "untested_lever",
                f"{key} has never been {direction} from {value} to {target} in this "
                "configuration: a canary would measure what it does",
                {"key": key, "value": value, "direction": direction, "level": target},
                p_improve=0.5,
                supports=[Support(key, direction, target)],
            )


async def _clusters(pack: EvidencePack, conn: AsyncConnection) -> None:
    window = {"config_id": pack.config_id, "start": pack.window_start, "end": pack.window_end}
    runs = {int(r.version_number): int(r.n) for r in await conn.execute(_VERSION_RUNS, window)}
    by_cluster: dict[Any, dict[str, Any]] = {}
    for r in await conn.execute(_CLUSTERS, window):
        info = by_cluster.setdefault(
            r.cluster_id,
            {"category": r.failure_category, "sample": r.sample, "per_version": {}},
        )
        info["per_version"][int(r.version_number)] = int(r.n)
    ranked = sorted(by_cluster.items(), key=lambda kv: -sum(kv[1]["per_version"].values()))
    for cluster_id, info in ranked[:5]:
        seen = info["per_version"]
        gone = [v for v in sorted(runs) if v > max(seen) and runs[v] >= 20 and v not in seen]
        pack.add(
            "failure_cluster",
            f'{info["category"]} failures like "{(info["sample"] or "")[:80]}": '
            + ", ".join(f"{n} under v{v}" for v, n in sorted(seen.items()))
            + (f"; none under v{gone[0]}" if gone else ""),
            {
                "cluster_id": str(cluster_id),
                "category": info["category"],
                "per_version": {str(v): n for v, n in sorted(seen.items())},
                "runs_per_version": {str(v): runs.get(v, 0) for v in sorted(seen)},
                "disappeared_in": gone[0] if gone else None,
            },
        )


def _tools(pack: EvidencePack, rows: Sequence[Any]) -> None:
    if rows:
        pack.add(
            "tool",
            "tool success rates: "
            + ", ".join(f"{r.tool_name} {float(r.success_rate):.0%} of {r.uses}" for r in rows),
            {
                "tools": [
                    {
                        "tool": r.tool_name,
                        "uses": int(r.uses),
                        "success_rate": round(float(r.success_rate), 4),
                    }
                    for r in rows
                ]
            },
        )
