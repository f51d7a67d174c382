"""Benchmarks that remember: the result file's figures and `python -m bench compare`."""

import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest

from bench import results
from bench.__main__ import main


def _result(figures: dict[str, Any], cpu: str = "cpu A") -> dict[str, Any]:
    return {
        "started_at": "2026-12-08T10:00:00+00:00",
        "machine": {"cpu": cpu, "cores": 2},
        "versions": {"commit": "abc"},
        "figures": figures,
    }


def test_a_figure_needs_a_direction_and_finite_numbers() -> None:
    assert results.figure(0.7, "ratio", "higher", 0.05) == {
        "value": 0.7,
        "unit": "ratio",
        "better": "higher",
        "noise": 0.05,
    }
    with pytest.raises(ValueError, match="better"):
        results.figure(1.0, "ms", "up")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        results.figure(math.nan, "ms", "lower")
    with pytest.raises(ValueError, match="noise"):
        results.figure(1.0, "ms", "lower", -1.0)


def test_flatten_finds_nested_figures_and_skips_other_values() -> None:
    tree = {
        "ingest": {"copy_vs_pk": results.figure(0.8, "ratio", "higher"), "rows": 100},
        "dashboard": {"panels": {"cost": results.figure(12.0, "ms", "lower")}},
        "note": "text",
    }
    assert set(results.flatten(tree)) == {"ingest.copy_vs_pk", "dashboard.panels.cost"}


@pytest.mark.parametrize(
    ("old", "new", "verdict"),
    [
        # latency, lower is better, 2 ms of measured noise
        ((20.0, "ms", "lower", 2.0), (25.0, "ms", "lower", 1.0), "REGRESSION"),
        ((20.0, "ms", "lower", 2.0), (21.5, "ms", "lower", 1.0), "same"),
        ((20.0, "ms", "lower", 2.0), (15.0, "ms", "lower", 1.0), "improved"),
        # a ratio, higher is better: the larger of the two noises decides
        ((0.80, "ratio", "higher", 0.02), (0.70, "ratio", "higher", 0.12), "same"),
        ((0.80, "ratio", "higher", 0.02), (0.70, "ratio", "higher", 0.03), "REGRESSION"),
        # no noise measured: the unit's floor (5 % for ratios) still applies
        ((0.80, "ratio", "higher", 0.0), (0.78, "ratio", "higher", 0.0), "same"),
        ((0.80, "ratio", "higher", 0.0), (0.74, "ratio", "higher", 0.0), "REGRESSION"),
        # 1 ms floor for latencies: sub-millisecond moves are not regressions
        ((2.0, "ms", "lower", 0.0), (2.8, "ms", "lower", 0.0), "same"),
    ],
)
def test_a_change_is_a_regression_only_beyond_the_noise(
    old: tuple[float, str, str, float], new: tuple[float, str, str, float], verdict: str
) -> None:
    before = _result({"x": {"f": results.figure(*old)}})  # type: ignore[arg-type]
    after = _result({"x": {"f": results.figure(*new)}})  # type: ignore[arg-type]
    (change,) = results.compare(before, after)
    assert change.path == "x.f"
    assert change.verdict == verdict


def test_figures_in_one_result_only_or_with_another_unit_are_not_compared() -> None:
    before = _result(
        {"a": results.figure(1.0, "ms", "lower"), "b": results.figure(1.0, "ms", "lower")}
    )
    after = _result(
        {"a": results.figure(1.0, "s", "lower"), "c": results.figure(1.0, "ms", "lower")}
    )
    assert results.compare(before, after) == []


def test_half_noise_is_how_far_the_statistic_moves_between_halves() -> None:
    samples = [10.0, 11.0, 10.0, 11.0, 20.0, 21.0, 20.0, 21.0]
    assert results.half_noise(samples, statistics.median) == 10.0
    assert results.half_noise([1.0, 2.0, 3.0], statistics.median) == 0.0  # too few to tell


def _write(path: Path, result: dict[str, Any]) -> str:
    path.write_text(json.dumps(result))
    return str(path)


def test_python_m_bench_compare_exits_1_on_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = _write(tmp_path / "old.json", _result({"d": results.figure(20.0, "ms", "lower", 1.0)}))
    same = _write(tmp_path / "same.json", _result({"d": results.figure(20.5, "ms", "lower")}))
    worse = _write(
        tmp_path / "worse.json",
        _result({"d": results.figure(40.0, "ms", "lower", 1.0)}, cpu="cpu B"),
    )
    assert main(["compare", old, same]) == 0
    assert main(["compare", old, worse]) == 1
    printed = capsys.readouterr().out
    assert "1 regressed beyond the noise" in printed
    assert "different machines" in printed


def test_compare_with_options_still_names_the_comparison_benchmark() -> None:
    assert results.is_compare_call(["compare", "a.json", "b.json"])
    assert not results.is_compare_call(["compare", "--rounds", "3"])
    assert not results.is_compare_call(["compare"])
