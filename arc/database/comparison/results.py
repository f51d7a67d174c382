"""Typed results of comparisons, the Pareto frontier and change effects, and their JSON forms."""

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Verdict = Literal["regression", "improvement", "no_change", "insufficient_data"]
VERDICTS: tuple[Verdict, ...] = ("regression", "improvement", "no_change", "insufficient_data")
# The keys of `arc-db compare --json` (Comparison.gate_report), exactly as the CI gate promises.
GATE_KEYS = ("metric", "alpha", "baseline", "candidate", "scenarios", "summary")
GATE_SCENARIO_KEYS = (
    "scenario_id",
    "baseline_n",
    "candidate_n",
    "baseline_mean",
    "candidate_mean",
    "delta",
    "ci_low",
    "ci_high",
    "p_value",
    "q_value",
    "verdict",
)
GATE_SUMMARY_KEYS = (
    "regressions",
    "improvements",
    "no_change",
    "insufficient_data",
    "delta",
    "ci_low",
    "ci_high",
    "verdict",
)


def _num(value: float | None) -> float | None:
    """JSON has no NaN or infinity: such values become null."""
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class Subject:
    """One side of a comparison: a configuration version, or a simulation (and its version)."""

    kind: Literal["version", "simulation"]
    version_id: uuid.UUID
    config_id: uuid.UUID
    config_name: str
    version_number: int
    model: str | None
    simulation_id: uuid.UUID | None = None
    simulation_name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "version_id": str(self.version_id),
            "config_id": str(self.config_id),
            "config_name": self.config_name,
            "version_number": self.version_number,
            "model": self.model,
        }
        if self.simulation_id is not None:
            data["simulation_id"] = str(self.simulation_id)
            data["simulation_name"] = self.simulation_name
        return data


@dataclass(frozen=True)
class SideStats:
    """One side's sample on one scenario (mean of the metric; for success_rate the rate)."""

    n: int
    mean: float | None
    std: float | None


@dataclass(frozen=True)
class ScenarioComparison:
    scenario_id: str
    baseline: SideStats
    candidate: SideStats
    delta: float | None  # candidate mean - baseline mean
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    q_value: float | None  # Benjamini-Hochberg across the scenarios compared
    verdict: Verdict

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario_id": self.scenario_id,
            "baseline_n": self.baseline.n,
            "candidate_n": self.candidate.n,
            "baseline_mean": _num(self.baseline.mean),
            "candidate_mean": _num(self.candidate.mean),
            "baseline_std": _num(self.baseline.std),
            "candidate_std": _num(self.candidate.std),
            "delta": _num(self.delta),
            "ci_low": _num(self.ci_low),
            "ci_high": _num(self.ci_high),
            "p_value": _num(self.p_value),
            "q_value": _num(self.q_value),
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class ComparisonSummary:
    regressions: int
    improvements: int
    no_change: int
    insufficient_data: int
    delta: float | None  # mean per-scenario difference over the scenarios compared
    ci_low: float | None
    ci_high: float | None
    p_value: float | None  # paired t-test over those scenarios
    scenarios_compared: int
    verdict: Verdict

    def as_dict(self) -> dict[str, Any]:
        return {
            "regressions": self.regressions,
            "improvements": self.improvements,
            "no_change": self.no_change,
            "insufficient_data": self.insufficient_data,
            "delta": _num(self.delta),
            "ci_low": _num(self.ci_low),
            "ci_high": _num(self.ci_high),
            "p_value": _num(self.p_value),
            "scenarios_compared": self.scenarios_compared,
            "test": "paired t-test over scenarios (one mean difference per scenario)",
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class Comparison:
    """Candidate against baseline, scenario by scenario, for one metric."""

    metric: str
    alpha: float
    min_samples: int
    window_start: datetime | None
    window_end: datetime | None
    baseline: Subject
    candidate: Subject
    scenarios: tuple[ScenarioComparison, ...]
    summary: ComparisonSummary

    @property
    def regressed(self) -> bool:
        """True when at least one scenario regressed significantly (the CI gate's rule)."""
        return self.summary.regressions > 0

    def scenario(self, scenario_id: str) -> ScenarioComparison:
        for row in self.scenarios:
            if row.scenario_id == scenario_id:
                return row
        raise KeyError(scenario_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "alpha": self.alpha,
            "min_samples": self.min_samples,
            "window": {
                "start": self.window_start.isoformat() if self.window_start else None,
                "end": self.window_end.isoformat() if self.window_end else None,
            },
            "baseline": self.baseline.as_dict(),
            "candidate": self.candidate.as_dict(),
            "scenarios": [row.as_dict() for row in self.scenarios],
            "summary": self.summary.as_dict(),
        }

    def gate_report(self) -> dict[str, Any]:
        """The one JSON object `arc-db compare --json` prints: exactly GATE_KEYS, each scenario
        exactly GATE_SCENARIO_KEYS, the summary exactly GATE_SUMMARY_KEYS (`as_dict` has more:
        standard deviations, the window, the paired test's p-value). `delta` is
        candidate_mean - baseline_mean; numbers that are not finite are null, so the object is
        valid JSON."""
        full = self.as_dict()
        return {
            "metric": full["metric"],
            "alpha": full["alpha"],
            "baseline": full["baseline"],
            "candidate": full["candidate"],
            "scenarios": [{k: row[k] for k in GATE_SCENARIO_KEYS} for row in full["scenarios"]],
            "summary": {k: full["summary"][k] for k in GATE_SUMMARY_KEYS},
        }


@dataclass(frozen=True)
class ParetoPoint:
    """A configuration version over a window, and where it stands on the frontier."""

    version_id: uuid.UUID
    config_id: uuid.UUID
    config_name: str
    version_number: int
    model: str | None
    executions: int
    mean_reliability: float
    cost_per_execution: float
    p95_latency_ms: float
    on_frontier: bool
    dominated_by: tuple[uuid.UUID, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "version_id": str(self.version_id),
            "config_id": str(self.config_id),
            "config_name": self.config_name,
            "version_number": self.version_number,
            "model": self.model,
            "executions": self.executions,
            "mean_reliability": self.mean_reliability,
            "cost_per_execution": self.cost_per_execution,
            "p95_latency_ms": self.p95_latency_ms,
            "on_frontier": self.on_frontier,
            "dominated_by": [str(v) for v in self.dominated_by],
        }


@dataclass(frozen=True)
class ChangeComparison:
    """One reviewed change (config_diffs row) and what the comparison of its two versions said."""

    diff_id: uuid.UUID
    config_id: uuid.UUID
    version_before: uuid.UUID
    version_after: uuid.UUID
    approval_status: str | None
    created_at: datetime | None
    changes: tuple[tuple[str, str, Any, Any], ...]  # (key, direction, before, after)
    summary: ComparisonSummary


@dataclass(frozen=True)
class ChangeEffect:
    """What one kind of change did across a tenant's configurations.

    `direction`: raised / lowered (numbers), enabled / disabled (booleans), added / removed
    (keys, or elements of a list such as tools; `value` holds which), or set (anything else;
    `value` holds what it was set to).
    """

    key: str
    direction: str
    value: Any
    changes: int
    improvements: int  # changes whose comparison's verdict was improvement
    regressions: int
    no_change: int
    insufficient_data: int
    median_delta: float | None
    mean_delta: float | None
    diff_ids: tuple[uuid.UUID, ...]

    def describe(self, metric: str) -> str:
        what = f"{self.key} {self.direction}" + (
            f" {self.value!r}"
            if self.direction in ("added", "removed") and self.value is not None
            else f" to {self.value!r}"
            if self.direction == "set"
            else ""
        )
        median = "" if self.median_delta is None else f", median {self.median_delta:+.4g}"
        return (
            f"{what}: {self.changes} change{'s' if self.changes != 1 else ''}, "
            f"{self.improvements} significant improvement{'s' if self.improvements != 1 else ''}"
            f" and {self.regressions} regression{'s' if self.regressions != 1 else ''} "
            f"of {metric}{median}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "direction": self.direction,
            "value": self.value,
            "changes": self.changes,
            "improvements": self.improvements,
            "regressions": self.regressions,
            "no_change": self.no_change,
            "insufficient_data": self.insufficient_data,
            "median_delta": _num(self.median_delta),
            "mean_delta": _num(self.mean_delta),
            "diff_ids": [str(d) for d in self.diff_ids],
        }
