"""Dashboard panels of comparisons: two versions side by side on every metric, the Pareto
frontier, and what each kind of configuration change did.

They live here rather than in `analytics` because they stand on the comparison's statistics
(the layers import downwards: comparison uses analytics, not the other way). Each method is
one read on the bind (an engine, or a connection whose role and `app.user_id` apply), from the
statistics views of migration 0007, so a tenant sees only its own versions.

    panels = ComparisonPanels(engine)
    board = await panels.board(since=..., baseline=v1, candidate=v2)
    board.comparison.rows[0]        # the scenario with the most regressions, all four metrics
    board.pareto, board.effects     # the frontier; "temperature lowered: 5 changes, ..."
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from arc.database.comparison.comparator import VersionComparator
from arc.database.comparison.effects import ChangeEffects
from arc.database.comparison.metrics import METRICS
from arc.database.comparison.results import Comparison, ParetoPoint, ScenarioComparison, Verdict
from arc.database.core.engine import Bind, connect

# The window of board() when none is given: the last 30 days, as v_config_pareto.
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class MetricCell:
    """One metric of one scenario: both sides' means, the difference and its verdict."""

    baseline: float | None
    candidate: float | None
    delta: float | None
    q_value: float | None
    verdict: Verdict


@dataclass(frozen=True)
class VersionComparisonRow:
    """One scenario on every metric (reliability_score, success_rate, execution_time_ms,
    cost_usd), with the sample sizes of both sides."""

    scenario_id: str
    baseline_n: int
    candidate_n: int
    metrics: dict[str, MetricCell]

    @property
    def regressions(self) -> int:
        return sum(1 for cell in self.metrics.values() if cell.verdict == "regression")

    @property
    def improvements(self) -> int:
        return sum(1 for cell in self.metrics.values() if cell.verdict == "improvement")

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario_id": self.scenario_id,
            "baseline_n": self.baseline_n,
            "candidate_n": self.candidate_n,
            **{
                name: {
                    "baseline": cell.baseline,
                    "candidate": cell.candidate,
                    "delta": cell.delta,
                    "q_value": cell.q_value,
                    "verdict": cell.verdict,
                }
                for name, cell in self.metrics.items()
            },
        }


@dataclass(frozen=True)
class VersionComparisonPanel:
    """Candidate against baseline on every metric: one comparison per metric and one row per
    scenario, the scenarios with the most significant regressions first."""

    comparisons: dict[str, Comparison]
    rows: tuple[VersionComparisonRow, ...]

    @property
    def regressed(self) -> bool:
        """A significant regression on any metric of any scenario."""
        return any(c.regressed for c in self.comparisons.values())

    def verdicts(self) -> dict[str, Verdict]:
        """metric -> the overall verdict."""
        return {name: c.summary.verdict for name, c in self.comparisons.items()}


def _cell(row: ScenarioComparison) -> MetricCell:
    return MetricCell(row.baseline.mean, row.candidate.mean, row.delta, row.q_value, row.verdict)


def _rows(comparisons: dict[str, Comparison]) -> tuple[VersionComparisonRow, ...]:
    by_scenario: dict[str, dict[str, ScenarioComparison]] = {}
    for name, comparison in comparisons.items():
        for row in comparison.scenarios:
            by_scenario.setdefault(row.scenario_id, {})[name] = row
    rows = []
    for scenario, per_metric in by_scenario.items():
        first = next(iter(per_metric.values()))
        rows.append(
            VersionComparisonRow(
                scenario_id=scenario,
                baseline_n=first.baseline.n,
                candidate_n=first.candidate.n,
                metrics={name: _cell(row) for name, row in per_metric.items()},
            )
        )
    reliability = "reliability_score"

    def order(r: VersionComparisonRow) -> tuple[int, int, float, str]:
        cell = r.metrics.get(reliability)
        delta = cell.delta if cell is not None and cell.delta is not None else 0.0
        return (-r.regressions, -r.improvements, delta, r.scenario_id)

    return tuple(sorted(rows, key=order))


@dataclass(frozen=True)
class ComparisonBoard:
    """The comparison panels of the dashboard for one window."""

    start: datetime
    end: datetime | None
    pareto: tuple[ParetoPoint, ...]
    effects: ChangeEffects
    comparison: VersionComparisonPanel | None  # when a baseline and a candidate were given


class ComparisonPanels:
    """Version comparison, Pareto frontier and change effects, as dashboard panels."""

    def __init__(self, bind: Bind) -> None:
        self.bind = bind

    async def version_comparison(
        self,
        baseline_version_id: Any,
        candidate_version_id: Any,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        alpha: float = 0.05,
        min_samples: int = 5,
    ) -> VersionComparisonPanel:
        """The candidate against the baseline on every metric, scenario by scenario."""
        comparisons: dict[str, Comparison] = {}
        async with connect(self.bind) as conn:
            comparator = VersionComparator(conn)
            for metric in METRICS:
                comparisons[metric] = await comparator.compare_versions(
                    baseline_version_id,
                    candidate_version_id,
                    metric=metric,
                    since=since,
                    until=until,
                    alpha=alpha,
                    min_samples=min_samples,
                )
        return VersionComparisonPanel(comparisons, _rows(comparisons))

    async def pareto(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        config_id: Any = None,
    ) -> tuple[ParetoPoint, ...]:
        """Every visible version on the frontier of reliability, cost and p95 latency, or
        dominated (with the versions that dominate it)."""
        return await VersionComparator(self.bind).pareto_frontier(
            since=since, until=until, config_id=config_id
        )

    async def change_effects(
        self,
        *,
        metric: str = "reliability_score",
        since: datetime | None = None,
        until: datetime | None = None,
        user_id: Any = None,
        alpha: float = 0.05,
    ) -> ChangeEffects:
        """What each kind of change did across the visible configurations."""
        return await VersionComparator(self.bind).change_effects(
            metric=metric, since=since, until=until, user_id=user_id, alpha=alpha
        )

    async def board(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        baseline: Any = None,
        candidate: Any = None,
        user_id: Any = None,
        alpha: float = 0.05,
    ) -> ComparisonBoard:
        """All three panels over one window (the last 30 days by default); the version
        comparison only when both a baseline and a candidate are given."""
        start = since or datetime.now(UTC) - timedelta(days=DEFAULT_DAYS)
        async with connect(self.bind) as conn:
            panels = ComparisonPanels(conn)
            comparison = None
            if baseline is not None and candidate is not None:
                comparison = await panels.version_comparison(
                    baseline, candidate, since=start, until=until, alpha=alpha
                )
            return ComparisonBoard(
                start=start,
                end=until,
                pareto=await panels.pareto(since=start, until=until),
                effects=await panels.change_effects(
                    since=start, until=until, user_id=user_id, alpha=alpha
                ),
                comparison=comparison,
            )
