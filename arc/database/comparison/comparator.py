"""VersionComparator: is configuration v2 better than v1, and where is it worse?

    comparator = VersionComparator(engine)          # or a connection the caller set up
    result = await comparator.compare_versions(v1, v2, metric="reliability_score")
    result.regressed, result.summary.verdict, result.scenario("login_flow").q_value

Versions are compared on the days of the window (a window is widened to whole UTC days),
simulations on its hours. Everything is read from the statistics views of migration 0007, so
nothing scans raw outcomes for buckets already aggregated, and under row-level security a
tenant sees and compares only its own versions: another tenant's version is not found. With a
connection passed in (`VersionComparator(conn)`), its transaction, role and `app.user_id` apply.

Bad input raises ArcValidationError naming the field and the rule; an unknown or invisible
version or simulation raises ArcNotFoundError; a window with no data gives
`insufficient_data`, never an exception.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from arc.database.analytics.windows import DAY, HOUR, ceil_time, floor_time
from arc.database.comparison import reader
from arc.database.comparison.effects import ChangeEffects, measure_change_effects
from arc.database.comparison.evaluation import evaluate
from arc.database.comparison.metrics import Metric, metric_named
from arc.database.comparison.pareto import frontier
from arc.database.comparison.results import Comparison, ParetoPoint
from arc.database.core.checks import (
    check_datetime,
    check_scenario_id,
    check_uuid,
    require_uuid,
)
from arc.database.core.engine import Bind, connect
from arc.database.core.errors import ArcValidationError

MAX_SCENARIOS_FILTER = 10_000


def check_alpha(alpha: Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise ArcValidationError("alpha", "must be a number between 0 and 1", value=alpha)
    return float(alpha)


def check_min_samples(min_samples: Any) -> int:
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 2:
        raise ArcValidationError(
            "min_samples", "must be an integer of at least 2", value=min_samples
        )
    return min_samples


def check_window(
    since: Any, until: Any, width: timedelta
) -> tuple[datetime | None, datetime | None]:
    """[since, until) widened to whole buckets of `width`; either end may be open."""
    start = check_datetime(since, "since")
    end = check_datetime(until, "until")
    for name, moment in (("since", start), ("until", end)):
        if moment is not None and not 1900 <= moment.year <= 9998:
            raise ArcValidationError(name, "must be between the years 1900 and 9998", value=moment)
    if start is not None and end is not None and start >= end:
        raise ArcValidationError("since", "must be before until", value=since)
    return (
        floor_time(start, width) if start is not None else None,
        ceil_time(end, width) if end is not None else None,
    )


def check_scenarios(scenarios: Any) -> list[str] | None:
    if scenarios is None:
        return None
    if isinstance(scenarios, str | bytes) or not isinstance(scenarios, Sequence):
        raise ArcValidationError("scenarios", "must be a list of scenario ids", value=scenarios)
    if not scenarios or len(scenarios) > MAX_SCENARIOS_FILTER:
        raise ArcValidationError(
            "scenarios", f"must hold 1 to {MAX_SCENARIOS_FILTER} scenario ids", value=scenarios
        )
    return sorted({check_scenario_id(s, "scenarios", i) for i, s in enumerate(scenarios)})


class VersionComparator:
    """Comparisons, the Pareto frontier and change effects, read-only."""

    def __init__(self, bind: Bind) -> None:
        self.bind = bind

    async def compare_versions(
        self,
        baseline_version_id: Any,
        candidate_version_id: Any,
        *,
        metric: str = "reliability_score",
        since: datetime | None = None,
        until: datetime | None = None,
        scenarios: Sequence[str] | None = None,
        alpha: float = 0.05,
        min_samples: int = 5,
    ) -> Comparison:
        """Candidate version against baseline version, scenario by scenario."""
        return await self._compare(
            "version",
            (baseline_version_id, "baseline_version_id"),
            (candidate_version_id, "candidate_version_id"),
            metric=metric,
            since=since,
            until=until,
            scenarios=scenarios,
            alpha=alpha,
            min_samples=min_samples,
        )

    async def compare_simulations(
        self,
        baseline_simulation_id: Any,
        candidate_simulation_id: Any,
        *,
        metric: str = "reliability_score",
        since: datetime | None = None,
        until: datetime | None = None,
        scenarios: Sequence[str] | None = None,
        alpha: float = 0.05,
        min_samples: int = 5,
    ) -> Comparison:
        """Candidate simulation against baseline simulation, scenario by scenario."""
        return await self._compare(
            "simulation",
            (baseline_simulation_id, "baseline_simulation_id"),
            (candidate_simulation_id, "candidate_simulation_id"),
            metric=metric,
            since=since,
            until=until,
            scenarios=scenarios,
            alpha=alpha,
            min_samples=min_samples,
        )

    async def _compare(
        self,
        kind: reader.Kind,
        baseline: tuple[Any, str],
        candidate: tuple[Any, str],
        *,
        metric: str,
        since: datetime | None,
        until: datetime | None,
        scenarios: Sequence[str] | None,
        alpha: float,
        min_samples: int,
    ) -> Comparison:
        measure: Metric = metric_named(metric)
        b_id = require_uuid(baseline[0], baseline[1])
        c_id = require_uuid(candidate[0], candidate[1])
        if b_id == c_id:
            raise ArcValidationError(candidate[1], f"must differ from {baseline[1]}", value=c_id)
        level_alpha = check_alpha(alpha)
        samples = check_min_samples(min_samples)
        start, end = check_window(since, until, DAY if kind == "version" else HOUR)
        wanted = check_scenarios(scenarios)
        async with connect(self.bind) as conn:
            b_subject, c_subject = await reader.subjects(
                conn, kind, [b_id, c_id], [baseline[1], candidate[1]]
            )
            stats = await reader.scenario_stats(
                conn,
                kind=kind,
                subject_ids=[b_id, c_id],
                metric=measure,
                start=start,
                end=end,
                scenarios=wanted,
            )
        rows, summary = evaluate(
            measure,
            {s: g for (subject, s), g in stats.items() if subject == b_id},
            {s: g for (subject, s), g in stats.items() if subject == c_id},
            alpha=level_alpha,
            min_samples=samples,
        )
        return Comparison(
            metric=measure.name,
            alpha=level_alpha,
            min_samples=samples,
            window_start=start,
            window_end=end,
            baseline=b_subject,
            candidate=c_subject,
            scenarios=rows,
            summary=summary,
        )

    async def pareto_frontier(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        config_id: Any = None,
        user_id: Any = None,
        min_samples: int = 1,
    ) -> tuple[ParetoPoint, ...]:
        """Every visible version with data in the window, on the frontier of mean reliability
        (higher), cost per execution (lower) and p95 latency (lower), or dominated."""
        start, end = check_window(since, until, DAY)
        config = check_uuid(config_id, "config_id")
        user = check_uuid(user_id, "user_id")
        if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
            raise ArcValidationError(
                "min_samples", "must be an integer of at least 1", value=min_samples
            )
        async with connect(self.bind) as conn:
            totals = await reader.version_totals(
                conn, start=start, end=end, config_id=config, user_id=user
            )
        return frontier([t for t in totals if t.n >= min_samples])

    async def change_effects(
        self,
        *,
        metric: str = "reliability_score",
        since: datetime | None = None,
        until: datetime | None = None,
        config_id: Any = None,
        user_id: Any = None,
        alpha: float = 0.05,
        min_samples: int = 5,
    ) -> ChangeEffects:
        """What each kind of configuration change did: every reviewed change (config_diffs)
        compared before -> after, then aggregated per changed key and direction."""
        start, end = check_window(since, until, DAY)
        async with connect(self.bind) as conn:
            return await measure_change_effects(
                conn,
                metric=metric_named(metric),
                start=start,
                end=end,
                config_id=check_uuid(config_id, "config_id"),
                user_id=check_uuid(user_id, "user_id"),
                alpha=check_alpha(alpha),
                min_samples=check_min_samples(min_samples),
            )


__all__ = ["VersionComparator"]
