"""From per-scenario statistics of two sides to verdicts: no database here.

Per scenario: when both sides have at least `min_samples` outcomes, the metric's test gives the
difference (candidate - baseline), its interval at level 1 - alpha (95% at the default alpha)
and a p-value; Benjamini-Hochberg turns the p-values of all compared scenarios into q-values.
A scenario with q <= alpha is an improvement or a regression by the metric's direction; one
without enough data on either side is `insufficient_data` and takes no part in the correction.

Summary: the counts; the overall effect, a paired t-test over the compared scenarios (one
difference per scenario, equally weighted) with its interval; and the verdict, which follows
the scenarios so that it always agrees with the CI gate: `regression` if any scenario
regressed, else `improvement` if any improved, else `no_change`, or `insufficient_data` when no
scenario could be compared. The overall effect is reported beside it, not folded into it.
"""

import math
from collections.abc import Mapping
from types import ModuleType

from arc.database.comparison.metrics import Metric
from arc.database.comparison.reader import GroupStats
from arc.database.comparison.results import (
    ComparisonSummary,
    ScenarioComparison,
    SideStats,
    Verdict,
)
from arc.database.core.extras import require

EMPTY = GroupStats(n=0, success_n=0, mean=None, ss=None)


def _statistics() -> ModuleType:
    # numpy first: without the extra it is missing, and the error should name the extra.
    require("numpy", extra="analysis", feature="version comparisons")
    from arc.database.comparison import statistics

    return statistics


def side(stats: GroupStats, metric: Metric) -> SideStats:
    if stats.n == 0:
        return SideStats(0, None, None)
    if metric.is_proportion:
        rate = stats.success_n / stats.n
        return SideStats(stats.n, rate, math.sqrt(rate * (1 - rate)))
    variance = stats.variance
    return SideStats(stats.n, stats.mean, None if variance is None else math.sqrt(variance))


def verdict_of(metric: Metric, delta: float, q_value: float, alpha: float) -> Verdict:
    if not q_value <= alpha or delta == 0:
        return "no_change"
    return "improvement" if metric.better(delta) else "regression"


def evaluate(
    metric: Metric,
    baseline: Mapping[str, GroupStats],
    candidate: Mapping[str, GroupStats],
    *,
    alpha: float,
    min_samples: int,
) -> tuple[tuple[ScenarioComparison, ...], ComparisonSummary]:
    """Scenario rows (sorted by scenario id) and the summary."""
    st = _statistics()
    import numpy as np  # present once _statistics() succeeded; kept out of a worker's imports

    level = 1 - alpha
    names = sorted(set(baseline) | set(candidate))
    pairs = [(name, baseline.get(name, EMPTY), candidate.get(name, EMPTY)) for name in names]
    compared = [(n, b, c) for n, b, c in pairs if b.n >= min_samples and c.n >= min_samples]
    tested: dict[str, tuple[float, float, float, float, float]] = {}
    if compared:
        b_n = np.array([b.n for _, b, _ in compared], dtype=np.int64)
        c_n = np.array([c.n for _, _, c in compared], dtype=np.int64)
        if metric.is_proportion:
            result = st.proportions(
                np.array([b.success_n for _, b, _ in compared], dtype=np.int64),
                b_n,
                np.array([c.success_n for _, _, c in compared], dtype=np.int64),
                c_n,
                level=level,
            )
        else:
            result = st.welch(
                b_n,
                np.array([b.mean for _, b, _ in compared], dtype=np.float64),
                np.array([b.variance for _, b, _ in compared], dtype=np.float64),
                c_n,
                np.array([c.mean for _, _, c in compared], dtype=np.float64),
                np.array([c.variance for _, _, c in compared], dtype=np.float64),
                level=level,
            )
        p = np.nan_to_num(result.p_value, nan=1.0)
        q = st.benjamini_hochberg(p)
        for i, (name, _, _) in enumerate(compared):
            tested[name] = (
                float(result.delta[i]),
                float(result.ci_low[i]),
                float(result.ci_high[i]),
                float(p[i]),
                float(q[i]),
            )
    rows: list[ScenarioComparison] = []
    for name, b, c in pairs:
        b_side, c_side = side(b, metric), side(c, metric)
        if name not in tested:
            delta = (
                c_side.mean - b_side.mean
                if c_side.mean is not None and b_side.mean is not None
                else None
            )
            rows.append(
                ScenarioComparison(
                    name, b_side, c_side, delta, None, None, None, None, "insufficient_data"
                )
            )
            continue
        delta, low, high, p_value, q_value = tested[name]
        rows.append(
            ScenarioComparison(
                name,
                b_side,
                c_side,
                delta,
                low,
                high,
                p_value,
                q_value,
                verdict_of(metric, delta, q_value, alpha),
            )
        )
    effect = st.paired_effect(
        np.array([tested[n][0] for n, _, _ in compared], dtype=np.float64), level=level
    )
    counts = {v: sum(1 for r in rows if r.verdict == v) for v in ("regression", "improvement")}
    no_change = sum(1 for r in rows if r.verdict == "no_change")
    insufficient = sum(1 for r in rows if r.verdict == "insufficient_data")
    verdict: Verdict
    if counts["regression"]:
        verdict = "regression"
    elif counts["improvement"]:
        verdict = "improvement"
    elif compared:
        verdict = "no_change"
    else:
        verdict = "insufficient_data"
    summary = ComparisonSummary(
        regressions=counts["regression"],
        improvements=counts["improvement"],
        no_change=no_change,
        insufficient_data=insufficient,
        delta=effect.delta,
        ci_low=effect.ci_low,
        ci_high=effect.ci_high,
        p_value=effect.p_value,
        scenarios_compared=effect.scenarios,
        verdict=verdict,
    )
    return tuple(rows), summary


def effect_verdict(
    metric: Metric, summary: ComparisonSummary, rows: tuple[ScenarioComparison, ...], alpha: float
) -> Verdict:
    """The verdict on a change as a whole: the paired test over its scenarios, or with a single
    compared scenario that scenario's own verdict."""
    if summary.scenarios_compared == 0 or summary.delta is None:
        return "insufficient_data"
    if summary.scenarios_compared == 1 or summary.p_value is None:
        only = [r for r in rows if r.verdict != "insufficient_data"]
        return only[0].verdict if only else "insufficient_data"
    return verdict_of(metric, summary.delta, summary.p_value, alpha)
