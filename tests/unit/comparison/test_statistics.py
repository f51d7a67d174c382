"""The comparison's statistics without a database: agreement with scipy, published examples,
and the false discovery rate over many planted data sets."""

import math
import random
import statistics as pystats
import uuid

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from arc.database.comparison import latency
from arc.database.comparison.effects import changed_keys
from arc.database.comparison.evaluation import evaluate
from arc.database.comparison.metrics import METRICS, metric_named
from arc.database.comparison.pareto import frontier
from arc.database.comparison.reader import GroupStats, VersionTotals
from arc.database.comparison.statistics import (
    benjamini_hochberg,
    fisher_exact_two_sided,
    paired_effect,
    proportions,
    welch,
)
from arc.database.core.errors import ArcValidationError

INT = np.int64


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 60), st.integers(0, 60), st.integers(0, 60), st.integers(0, 60)),
        min_size=1,
        max_size=8,
    )
)
def test_vectorised_fisher_equals_scipy(tables: list[tuple[int, int, int, int]]) -> None:
    """[[c_success, c_fail], [b_success, b_fail]] per table, all at once."""
    c_s = np.array([t[0] for t in tables], dtype=INT)
    c_n = np.array([t[0] + t[1] for t in tables], dtype=INT)
    b_s = np.array([t[2] for t in tables], dtype=INT)
    b_n = np.array([t[2] + t[3] for t in tables], dtype=INT)
    ours = fisher_exact_two_sided(b_s, b_n, c_s, c_n)
    for i, (a, b, c, d) in enumerate(tables):
        expected = stats.fisher_exact([[a, b], [c, d]]).pvalue
        assert math.isclose(ours[i], expected, rel_tol=1e-9, abs_tol=1e-12), (a, b, c, d)


def _fisher_matches_scipy(tables: list[tuple[int, int, int, int]]) -> None:
    """Tables [[c_success, c_fail], [b_success, b_fail]], all at once, each against scipy."""
    ours = fisher_exact_two_sided(
        np.array([t[2] for t in tables], dtype=INT),
        np.array([t[2] + t[3] for t in tables], dtype=INT),
        np.array([t[0] for t in tables], dtype=INT),
        np.array([t[0] + t[1] for t in tables], dtype=INT),
    )
    for p, (a, b, c, d) in zip(ours, tables, strict=True):
        expected = stats.fisher_exact([[a, b], [c, d]]).pvalue
        assert math.isclose(p, expected, rel_tol=1e-9, abs_tol=1e-12), (a, b, c, d)


def test_fisher_on_large_counts() -> None:
    _fisher_matches_scipy([(1500, 500, 1400, 600), (2000, 0, 1990, 10), (3, 1997, 12, 1988)])


def test_fisher_on_symmetric_tables() -> None:
    """Equal rows, or a column of half the total: the observed table's mirror image is exactly
    as likely, a tie scipy counts in the p-value (the common case of two versions run the same
    number of times)."""
    rng = np.random.default_rng(11)
    tables = [
        (int(x), 2000 - int(x), int(y), 2000 - int(y))
        for x, y in rng.integers(1400, 1600, (200, 2))
    ]
    tables += [(700, 1300, 1300, 700), (10, 30, 30, 10), (5, 5, 5, 5), (1000, 1000, 1000, 1000)]
    # rows of 20 and 40, a column of 30: half the total
    tables += [(a, 20 - a, 30 - a, 10 + a) for a in range(0, 21)]
    _fisher_matches_scipy(tables)


def test_welch_matches_scipy_on_raw_data() -> None:
    rng = np.random.default_rng(3)
    base = [rng.normal(0.6, 0.1, n) for n in (5, 12, 40)]
    cand = [rng.normal(0.65, 0.2, n) for n in (7, 9, 60)]
    result = welch(
        np.array([len(x) for x in base], dtype=INT),
        np.array([x.mean() for x in base]),
        np.array([x.var(ddof=1) for x in base]),
        np.array([len(x) for x in cand], dtype=INT),
        np.array([x.mean() for x in cand]),
        np.array([x.var(ddof=1) for x in cand]),
        level=0.95,
    )
    for i, (b, c) in enumerate(zip(base, cand, strict=True)):
        expected = stats.ttest_ind(c, b, equal_var=False)
        ci = expected.confidence_interval(0.95)
        assert math.isclose(result.p_value[i], expected.pvalue, rel_tol=1e-9)
        assert math.isclose(result.delta[i], c.mean() - b.mean(), rel_tol=1e-12)
        assert math.isclose(result.ci_low[i], ci.low, rel_tol=1e-9)
        assert math.isclose(result.ci_high[i], ci.high, rel_tol=1e-9)


def test_welch_without_any_variance() -> None:
    one = np.array([5], dtype=INT)
    same = welch(
        one, np.array([0.5]), np.array([0.0]), one, np.array([0.5]), np.array([0.0]), level=0.95
    )
    assert (same.p_value[0], same.ci_low[0], same.ci_high[0]) == (1.0, 0.0, 0.0)
    apart = welch(
        one, np.array([0.5]), np.array([0.0]), one, np.array([0.7]), np.array([0.0]), level=0.95
    )
    assert apart.p_value[0] == 0.0
    assert apart.ci_low[0] == pytest.approx(0.2)


def test_newcombe_interval_matches_the_published_example() -> None:
    """Newcombe (1998), Stat Med 17:873, example (a): 56/70 vs 48/80, method 10."""
    result = proportions(
        np.array([48], dtype=INT),
        np.array([80], dtype=INT),
        np.array([56], dtype=INT),
        np.array([70], dtype=INT),
        level=0.95,
    )
    assert result.delta[0] == pytest.approx(0.2)
    assert result.ci_low[0] == pytest.approx(0.0524, abs=5e-5)
    assert result.ci_high[0] == pytest.approx(0.3339, abs=5e-5)


def test_benjamini_hochberg_and_paired_effect_match_scipy() -> None:
    p = np.array([0.001, 0.01, 0.02, 0.04, 0.2, 0.8])
    assert np.allclose(benjamini_hochberg(p), stats.false_discovery_control(p))
    deltas = np.array([0.1, 0.05, -0.02, 0.08, 0.03])
    effect = paired_effect(deltas, level=0.95)
    expected = stats.ttest_1samp(deltas, 0.0)
    assert effect.p_value == pytest.approx(expected.pvalue)
    assert effect.ci_low == pytest.approx(expected.confidence_interval(0.95).low)
    assert paired_effect(np.array([0.1]), level=0.95).p_value is None
    assert paired_effect(np.array([]), level=0.95).scenarios == 0


def _group(values: list[float]) -> GroupStats:
    mean = pystats.fmean(values)
    return GroupStats(len(values), 0, mean, sum((v - mean) ** 2 for v in values))


def _false_discovery_share(seed: int, nulls: int, effects: int, n: int) -> tuple[int, int]:
    """(false discoveries, discoveries) of one planted data set."""
    rng = random.Random(seed)
    base, cand, true = {}, {}, set()
    for i in range(nulls + effects):
        shift = 0.1 if i < effects else 0.0
        if shift:
            true.add(f"s{i}")
        base[f"s{i}"] = _group([rng.gauss(0.6, 0.1) for _ in range(n)])
        cand[f"s{i}"] = _group([rng.gauss(0.6 + shift, 0.1) for _ in range(n)])
    rows, _ = evaluate(METRICS["reliability_score"], base, cand, alpha=0.05, min_samples=5)
    found = {r.scenario_id for r in rows if r.verdict != "no_change"}
    return len(found - true), len(found)


def test_false_discoveries_stay_at_or_below_alpha() -> None:
    """Over 200 data sets of 300 scenarios (20 true effects): the mean false discovery
    proportion is at most alpha; with no effect at all, a discovery happens in at most about
    alpha of the data sets (BH controls the family-wise error under the global null)."""
    shares = []
    for seed in range(200):
        false, found = _false_discovery_share(seed, nulls=280, effects=20, n=20)
        shares.append(false / found if found else 0.0)
    assert pystats.fmean(shares) <= 0.05
    any_found = sum(1 for seed in range(200) if _false_discovery_share(seed, 300, 0, 10)[1])
    assert any_found / 200 <= 0.05 + 0.03  # alpha plus three binomial standard errors


def test_evaluate_marks_thin_scenarios_insufficient() -> None:
    base = {"a": _group([0.5, 0.6, 0.7]), "b": _group([0.5] * 6 + [0.6])}
    cand = {"a": _group([0.9] * 10), "c": _group([0.1] * 10)}
    rows, summary = evaluate(METRICS["reliability_score"], base, cand, alpha=0.05, min_samples=5)
    verdicts = {r.scenario_id: r.verdict for r in rows}
    assert verdicts == dict.fromkeys(("a", "b", "c"), "insufficient_data")
    assert summary.verdict == "insufficient_data"
    assert rows[0].delta == pytest.approx(0.9 - 0.6)  # shown, not tested


def test_metric_names_and_directions() -> None:
    assert metric_named("cost_usd").better(-0.1)
    assert not metric_named("success_rate").better(-0.1)
    with pytest.raises(ArcValidationError) as caught:
        metric_named("latency")
    assert caught.value.field == "metric"


def test_changed_keys_directions() -> None:
    summary = {
        "added": {"tools.retries": 3},
        "removed": {"stop": ["x"]},
        "changed": {
            "temperature": {"before": 0.7, "after": 0.2},
            "max_tokens": {"before": 1000, "after": 4000},
            "stream": {"before": False, "after": True},
            "model": {"before": "a", "after": "b"},
            "tools": {"before": ["search", "maps"], "after": ["search", "weather"]},
        },
    }
    found = {(k, d) for k, d, _, _ in changed_keys(summary)}
    assert ("tools", "added", None, "weather") in changed_keys(summary)
    assert ("tools", "removed", "maps", None) in changed_keys(summary)
    assert found == {
        ("tools.retries", "added"),
        ("stop", "removed"),
        ("tools", "added"),
        ("tools", "removed"),
        ("temperature", "lowered"),
        ("max_tokens", "raised"),
        ("stream", "enabled"),
        ("model", "set"),
    }
    assert changed_keys(None) == []


def _totals(name: str, reliability: float, cost: float, ms: float) -> VersionTotals:
    hist = [0] * (latency.BUCKETS + 2)
    hist[int(math.log(ms) / latency.WIDTH) + 1] = 100
    return VersionTotals(
        uuid.uuid5(uuid.NAMESPACE_DNS, name),
        uuid.uuid4(),
        name,
        1,
        "m",
        100,
        90,
        reliability * 100,
        cost * 100,
        ms * 100,
        tuple(hist),
    )


def test_pareto_frontier() -> None:
    a = _totals("a", 0.9, 0.010, 1000)  # best reliability
    b = _totals("b", 0.8, 0.005, 1000)  # cheapest
    c = _totals("c", 0.8, 0.010, 1000)  # dominated by a and b
    d = _totals("d", 0.7, 0.020, 100)  # fastest
    points = {p.config_name: p for p in frontier([a, b, c, d])}
    assert {n for n, p in points.items() if p.on_frontier} == {"a", "b", "d"}
    assert set(points["c"].dominated_by) == {a.version_id, b.version_id}
    assert points["a"].p95_latency_ms == pytest.approx(1000, rel=latency.MAX_RELATIVE_ERROR)


def test_latency_quantile_edges() -> None:
    hist = [0] * (latency.BUCKETS + 2)
    hist[latency.BUCKETS + 1] = 1
    assert latency.quantile(hist, 0.5) == pytest.approx(1e7)
    assert latency.merge([hist, None, hist])[latency.BUCKETS + 1] == 2


def test_a_worker_import_does_not_load_scipy_and_a_missing_extra_is_named() -> None:
    """The public surface imports without the `analysis` extra; a comparison without it
    raises the typed error that names the extra to install."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import arc.database\n"
        "assert 'scipy' not in sys.modules and 'numpy' not in sys.modules\n"
        "sys.modules['scipy.stats'] = None\n"
        "from arc.database.comparison.statistics import scipy_stats\n"
        "from arc.database.core.errors import ArcMissingExtraError\n"
        "try:\n"
        "    scipy_stats()\n"
        "except ArcMissingExtraError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "pip install 'arc-eval-db[analysis]'" in done.stdout
