"""What the demo prints: dashboard panels, similar failures, comparisons and health."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.analytics import ArcAnalytics
from arc.database.analytics.similarity import SimilaritySearch
from arc.database.comparison import VersionComparator
from arc.database.comparison.render import comparison_text, pareto_text
from arc.database.ops.health import DatabaseHealthChecker


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _table(out: TextIO, title: str, header: Sequence[str], rows: list[Sequence[Any]]) -> None:
    out.write(f"\n{title}\n")
    cells = [list(map(str, header))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        out.write("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + "\n")
        if n == 0:
            out.write("  " + "  ".join("-" * w for w in widths) + "\n")
    if not rows:
        out.write("  (no rows)\n")


async def print_dashboard(
    engine: AsyncEngine, out: TextIO, *, simulation_ids: Sequence[str], probe_error: str
) -> None:
    analytics = ArcAnalytics(engine)
    now = datetime.now(UTC)
    start = now - timedelta(days=7)
    source = await analytics.source()
    out.write(f"\nDashboard (last 7 days; answers from the {source} path)\n")
    trends = await analytics.performance_trends(start, now)
    _table(
        out,
        "Performance trends (per day)",
        ("day", "executions", "reliability", "avg ms", "cost $", "errors", "error %"),
        [
            (
                t.day.date(),
                t.total_executions,
                _fmt(t.avg_reliability),
                _fmt(t.avg_duration_ms, ".0f"),
                _fmt(t.daily_cost, ".2f"),
                t.error_count,
                t.error_rate_pct,
            )
            for t in trends
        ],
    )
    sims = [uuid.UUID(s) for s in simulation_ids]
    this_run = await analytics.performance_trends(start, now, simulation_ids=sims)
    runs = sum(t.total_executions for t in this_run)
    errors = sum(t.error_count for t in this_run)
    out.write(f"  this run: {runs} outcomes, {errors} errors\n")
    rates = await analytics.error_rates(now - timedelta(days=1), now, min_runs=5)
    _table(
        out,
        "Error rates by scenario (today, at least 5 runs; worst 8)",
        ("scenario", "runs", "errors", "error %"),
        [(r.scenario_id, r.total_runs, r.error_count, r.error_rate_pct) for r in rates[:8]],
    )
    cost = await analytics.cost_breakdown(start, now, per_day=False)
    by_model: dict[str, list[float]] = {}
    for c in cost:
        agg = by_model.setdefault(c.model or "?", [0, 0.0])
        agg[0] += c.executions
        agg[1] += c.total_cost
    _table(
        out,
        "Cost by model",
        ("model", "executions", "total $", "$ / execution"),
        [
            (m, int(v[0]), f"{v[1]:.2f}", f"{v[1] / v[0]:.5f}" if v[0] else "-")
            for m, v in sorted(by_model.items(), key=lambda kv: -kv[1][1])
        ],
    )
    tools = await analytics.tool_performance(start, now)
    _table(
        out,
        "Tool performance",
        ("tool", "uses", "success", "avg ms", "cost $"),
        [
            (
                t.tool_name,
                t.usage_count,
                _fmt(t.avg_success_rate),
                _fmt(t.avg_duration_ms, ".0f"),
                f"{t.total_cost:.3f}",
            )
            for t in tools
        ],
    )
    failures = await analytics.failure_trends(now - timedelta(days=1), now)
    _table(
        out,
        "Failure trends (today)",
        ("category", "failures", "clusters", "mean confidence"),
        [
            (f.failure_category, f.failure_count, f.unique_patterns, _fmt(f.avg_confidence))
            for f in failures
        ],
    )
    similar = await SimilaritySearch(engine).failures_like(probe_error, limit=5)
    _table(
        out,
        f'Failures most similar to: "{probe_error}"',
        ("distance", "category", "cluster size", "message"),
        [
            (
                f"{s.distance:.3f}",
                s.failure_category,
                (s.similar_failures_count or 0) + 1,
                (s.error_message or "")[:70],
            )
            for s in similar
        ],
    )


async def print_health(engine: AsyncEngine, out: TextIO) -> str:
    report = await DatabaseHealthChecker(engine).check_all()
    out.write(f"\nHealth: {report.status.upper()} (edition {report.edition})\n")
    for c in report.checks:
        reasons = "; ".join(c.reasons) if c.reasons else "ok"
        out.write(f"  {c.name:<18} {c.status:<9} {reasons}\n")
    write = report.check("write_performance").details
    if write:
        out.write(
            f"  write probe: {write.get('rows')} rows in {write.get('batch_write_ms')} ms, "
            "rolled back\n"
        )
    return report.status


async def print_comparison(
    engine: AsyncEngine,
    out: TextIO,
    baseline: uuid.UUID,
    candidate: uuid.UUID,
    *,
    label: str,
) -> dict[str, Any]:
    """Version 2 against version 1, per family of scenarios, then the Pareto frontier."""
    comparator = VersionComparator(engine)
    result = await comparator.compare_versions(baseline, candidate)
    out.write(f"\nVersion comparison: {label} v2 against v1 (reliability_score)\n")
    out.write(comparison_text(result, limit=12) + "\n")
    families: dict[str, dict[str, int]] = {}
    for row in result.scenarios:
        family = row.scenario_id.split("_")[1]
        families.setdefault(family, {}).setdefault(row.verdict, 0)
        families[family][row.verdict] += 1
    _table(
        out,
        "By family of scenarios",
        ("family", "regression", "improvement", "no_change", "insufficient"),
        [
            (
                f,
                v.get("regression", 0),
                v.get("improvement", 0),
                v.get("no_change", 0),
                v.get("insufficient_data", 0),
            )
            for f, v in sorted(families.items())
        ],
    )
    points = await comparator.pareto_frontier(since=datetime.now(UTC) - timedelta(days=1))
    out.write("\nPareto frontier of configuration versions (today)\n")
    out.write(pareto_text(points) + "\n")
    return result.as_dict()
