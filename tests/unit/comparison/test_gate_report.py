"""The CI gate's JSON object, float rounding of constant samples, and the dashboard panel rows,
without a database."""

import json
import math
import uuid
from datetime import UTC, datetime

import numpy as np
import pytest

from arc.database.comparison.evaluation import evaluate
from arc.database.comparison.metrics import METRICS
from arc.database.comparison.panels import VersionComparisonPanel, _rows
from arc.database.comparison.reader import GroupStats
from arc.database.comparison.results import (
    GATE_KEYS,
    GATE_SCENARIO_KEYS,
    GATE_SUMMARY_KEYS,
    Comparison,
    Subject,
)
from arc.database.comparison.statistics import paired_effect, welch

INT = np.int64


def _subject(number: int) -> Subject:
    return Subject("version", uuid.uuid4(), uuid.uuid4(), "agent", number, "m")


def _comparison(metric: str, baseline: dict, candidate: dict) -> Comparison:
    rows, summary = evaluate(METRICS[metric], baseline, candidate, alpha=0.05, min_samples=5)
    return Comparison(
        metric=metric,
        alpha=0.05,
        min_samples=5,
        window_start=datetime(2026, 1, 1, tzinfo=UTC),
        window_end=None,
        baseline=_subject(1),
        candidate=_subject(2),
        scenarios=rows,
        summary=summary,
    )


def _constant(value: float, n: int, cells: int = 1) -> GroupStats:
    """n copies of one float4 value in `cells` buckets, combined as the reader combines them:
    the mean from the sums, SS = sum(ss_i) + sum(n_i (mean_i - mean)^2) (each ss_i is 0)."""
    x = float(np.float32(value))
    sizes = [n // cells + (1 if i < n % cells else 0) for i in range(cells)]
    sums = [sum([x] * k) for k in sizes]
    mean = sum(sums) / n
    ss = sum(k * (s / k - mean) ** 2 for k, s in zip(sizes, sums, strict=True))
    return GroupStats(n, n, mean, ss)


def test_the_gate_report_has_exactly_the_listed_keys_and_is_valid_json() -> None:
    base = {"a": _constant(0.5, 10), "b": GroupStats(8, 4, 0.4, 0.3), "only_b": _constant(1, 9)}
    cand = {"a": _constant(0.9, 10), "b": GroupStats(9, 5, 0.42, 0.35), "only_c": _constant(1, 7)}
    report = _comparison("reliability_score", base, cand).gate_report()
    assert tuple(report) == GATE_KEYS
    assert tuple(report["summary"]) == GATE_SUMMARY_KEYS
    assert report["baseline"]["version_id"]
    for row in report["scenarios"]:
        assert tuple(row) == GATE_SCENARIO_KEYS
        if row["delta"] is not None and row["baseline_mean"] is not None:
            assert row["delta"] == pytest.approx(row["candidate_mean"] - row["baseline_mean"])
    verdicts = {r["scenario_id"]: r["verdict"] for r in report["scenarios"]}
    assert verdicts == {
        "a": "improvement",
        "b": "no_change",
        "only_b": "insufficient_data",
        "only_c": "insufficient_data",
    }
    # strict JSON: never NaN or Infinity, whatever the numbers
    json.loads(json.dumps(report, allow_nan=False))


def test_non_finite_numbers_become_null_in_the_gate_report() -> None:
    result = _comparison("cost_usd", {"a": _constant(0.5, 10)}, {"a": _constant(0.5, 10)})
    row = result.scenarios[0]
    broken = row.__class__(
        row.scenario_id,
        row.baseline.__class__(row.baseline.n, math.nan, math.inf),
        row.candidate,
        math.nan,
        -math.inf,
        math.inf,
        math.nan,
        math.nan,
        row.verdict,
    )
    report = Comparison(**{**result.__dict__, "scenarios": (broken,)}).gate_report()
    text = json.dumps(report, allow_nan=False)
    assert "NaN" not in text
    assert "Infinity" not in text
    assert report["scenarios"][0]["delta"] is None


@pytest.mark.parametrize("value", [0.3, 0.07, 0.1, 333.3, 0.0003, 1e-7])
def test_constant_samples_of_one_value_are_no_change_whatever_the_rounding(value: float) -> None:
    """Two constant samples of the same float4 value, split into different buckets and sizes:
    their means may differ in the last bit of a float8; that is rounding, not an effect."""
    base = {f"s{i}": _constant(value, 13 + i, cells=3 + i) for i in range(6)}
    cand = {f"s{i}": _constant(value, 7 + 2 * i, cells=2 + i) for i in range(6)}
    for metric in ("reliability_score", "execution_time_ms", "cost_usd"):
        rows, summary = evaluate(METRICS[metric], base, cand, alpha=0.05, min_samples=5)
        assert {r.verdict for r in rows} == {"no_change"}, [(r.delta, r.p_value) for r in rows]
        assert all(r.p_value == 1.0 for r in rows)
        assert summary.verdict == "no_change"
        assert summary.p_value == 1.0


def test_different_constants_are_a_difference_without_noise() -> None:
    """A real difference of float4 values (6e-8 relative at the least) is kept."""
    one = np.array([10], dtype=INT)
    a, b = float(np.float32(0.3)), float(np.nextafter(np.float32(0.3), np.float32(1)))
    result = welch(
        one, np.array([a]), np.array([0.0]), one, np.array([b]), np.array([0.0]), level=0.95
    )
    assert result.delta[0] == pytest.approx(b - a)
    assert result.p_value[0] == 0.0


def test_paired_effect_of_equal_differences_up_to_rounding() -> None:
    deltas = np.array([0.1, 0.1 + 1e-17, 0.1 - 2e-17, 0.1])
    effect = paired_effect(deltas, level=0.95)
    assert effect.p_value == 0.0
    assert effect.ci_low == effect.ci_high == pytest.approx(0.1)


def test_the_version_comparison_panel_puts_each_scenario_on_every_metric() -> None:
    def group(mean: float, success: int, n: int = 20) -> GroupStats:
        return GroupStats(n, success, mean, 0.01 * (n - 1))

    base = {"worse": group(0.8, 18), "better": group(0.4, 5), "same": group(0.6, 10)}
    cand = {"worse": group(0.4, 2), "better": group(0.8, 18), "same": group(0.6, 10)}
    comparisons = {m: _comparison(m, base, cand) for m in METRICS}
    panel = VersionComparisonPanel(comparisons, _rows(comparisons))
    assert [r.scenario_id for r in panel.rows] == ["worse", "better", "same"]
    worse = panel.rows[0]
    assert worse.metrics["reliability_score"].verdict == "regression"
    assert worse.metrics["success_rate"].verdict == "regression"
    assert worse.metrics["success_rate"].baseline == pytest.approx(0.9)
    # the same means on cost and time: a lower value is better there, these are "worse" too
    assert worse.metrics["cost_usd"].verdict == "improvement"
    assert (worse.regressions, worse.improvements) == (2, 2)
    assert panel.regressed
    assert panel.verdicts()["reliability_score"] == "regression"
    assert set(worse.as_dict()) == {"scenario_id", "baseline_n", "candidate_n", *METRICS}
