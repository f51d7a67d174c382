"""The Pareto frontier of configuration versions: mean reliability (higher is better), cost per
execution (lower) and p95 latency (lower). A version is dominated when another is at least as
good on all three and strictly better on one; point estimates, no uncertainty."""

from collections.abc import Sequence

from arc.database.comparison import latency
from arc.database.comparison.reader import VersionTotals
from arc.database.comparison.results import ParetoPoint


def _dominates(a: tuple[float, float, float], b: tuple[float, float, float]) -> bool:
    """a = (reliability, cost, p95) dominates b."""
    no_worse = a[0] >= b[0] and a[1] <= b[1] and a[2] <= b[2]
    return no_worse and (a[0] > b[0] or a[1] < b[1] or a[2] < b[2])


def frontier(totals: Sequence[VersionTotals]) -> tuple[ParetoPoint, ...]:
    """Frontier versions first (by reliability), then the dominated ones."""
    points = []
    for t in totals:
        p95 = latency.quantile(t.latency_hist, 0.95)
        if t.n == 0 or p95 is None:
            continue
        points.append((t, (t.sum_reliability / t.n, t.sum_cost / t.n, p95)))
    result = []
    for t, score in points:
        dominating = tuple(sorted(other.version_id for other, s in points if _dominates(s, score)))
        result.append(
            ParetoPoint(
                version_id=t.version_id,
                config_id=t.config_id,
                config_name=t.config_name,
                version_number=t.version_number,
                model=t.model,
                executions=t.n,
                mean_reliability=score[0],
                cost_per_execution=score[1],
                p95_latency_ms=score[2],
                on_frontier=not dominating,
                dominated_by=dominating,
            )
        )
    result.sort(key=lambda p: (not p.on_frontier, -p.mean_reliability, p.cost_per_execution))
    return tuple(result)
