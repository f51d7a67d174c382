"""Comparisons, frontiers and change effects as text tables, for the CLI and the demo."""

from collections.abc import Sequence
from datetime import datetime

from arc.database.comparison.effects import ChangeEffects
from arc.database.comparison.results import Comparison, ParetoPoint, ScenarioComparison

_ORDER = {"regression": 0, "improvement": 1, "no_change": 2, "insufficient_data": 3}


def _fmt(value: float | None, spec: str = ".4g") -> str:
    return "-" if value is None else format(value, spec)


def _when(moment: datetime | None) -> str:
    return "open" if moment is None else moment.isoformat(timespec="minutes")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def worst_first(rows: Sequence[ScenarioComparison]) -> list[ScenarioComparison]:
    """Regressions (most significant first), then improvements, unchanged, too little data."""
    return sorted(
        rows,
        key=lambda r: (
            _ORDER[r.verdict],
            r.q_value if r.q_value is not None else 2.0,
            r.scenario_id,
        ),
    )


def comparison_text(result: Comparison, *, limit: int | None = None) -> str:
    b, c = result.baseline, result.candidate
    s = result.summary
    head = [
        f"{result.metric}: candidate {c.config_name} v{c.version_number} ({c.version_id}) "
        f"against baseline {b.config_name} v{b.version_number} ({b.version_id})",
        f"alpha {result.alpha:g} (Benjamini-Hochberg q-values), min {result.min_samples} "
        f"samples a side, window {_when(result.window_start)} .. {_when(result.window_end)}",
    ]
    rows = worst_first(result.scenarios)
    shown = rows if limit is None else rows[:limit]
    body = table(
        ["scenario", "verdict", "n base", "n cand", "base", "cand", "delta", "95% CI", "q"],
        [
            [
                r.scenario_id,
                r.verdict,
                str(r.baseline.n),
                str(r.candidate.n),
                _fmt(r.baseline.mean),
                _fmt(r.candidate.mean),
                _fmt(r.delta, "+.4g"),
                "-" if r.ci_low is None else f"[{r.ci_low:+.3g}, {r.ci_high:+.3g}]",
                _fmt(r.q_value, ".3g"),
            ]
            for r in shown
        ],
    )
    more = f"\n... {len(rows) - len(shown)} more scenarios" if len(shown) < len(rows) else ""
    overall = (
        f"overall: {s.verdict.upper()}: {s.regressions} regressions, {s.improvements} "
        f"improvements, {s.no_change} unchanged, {s.insufficient_data} with too little data; "
        f"mean difference over {s.scenarios_compared} scenarios {_fmt(s.delta, '+.4g')}"
        + ("" if s.ci_low is None else f" [{s.ci_low:+.3g}, {s.ci_high:+.3g}]")
        + ("" if s.p_value is None else f", paired t-test p={s.p_value:.3g}")
    )
    return "\n".join([*head, "", body + more, "", overall])


def pareto_text(points: Sequence[ParetoPoint]) -> str:
    names = {p.version_id: f"{p.config_name} v{p.version_number}" for p in points}
    return table(
        [
            "version",
            "model",
            "runs",
            "reliability",
            "cost/run $",
            "p95 ms",
            "frontier",
            "dominated by",
        ],
        [
            [
                f"{p.config_name} v{p.version_number}",
                p.model or "-",
                str(p.executions),
                f"{p.mean_reliability:.3f}",
                f"{p.cost_per_execution:.5f}",
                f"{p.p95_latency_ms:.0f}",
                "yes" if p.on_frontier else "no",
                ", ".join(names.get(v, str(v)[:8]) for v in p.dominated_by) or "-",
            ]
            for p in points
        ],
    )


def effects_text(effects: ChangeEffects) -> str:
    return "\n".join(f"  {e.describe(effects.metric)}" for e in effects.effects) or "  (none)"
