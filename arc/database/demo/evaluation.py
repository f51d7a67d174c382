"""Running a configuration version over scenarios, as a sandbox fleet would: through ArcAPI,
with results from a response surface (demo.surface). Used by the demo and `bench loop`."""

import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.comparison import reader
from arc.database.demo.surface import ResponseSurface
from arc.database.ingest.api import ArcAPI

Progress = Callable[[int, int, str], None]


@dataclass
class EvaluationRun:
    """What running one version produced."""

    simulation_ids: list[str] = field(default_factory=list)
    outcomes: int = 0
    reliability_sum: float = 0.0
    cost_sum: float = 0.0

    @property
    def mean_reliability(self) -> float:
        return self.reliability_sum / self.outcomes if self.outcomes else 0.0

    @property
    def cost_per_execution(self) -> float:
        return self.cost_sum / self.outcomes if self.outcomes else 0.0


async def evaluate_version(
    api: ArcAPI,
    *,
    version_id: Any,
    config: Mapping[str, Any],
    scenarios: Sequence[Mapping[str, Any]],
    repeats: int,
    surface: ResponseSurface,
    rng: random.Random,
    label: str,
    batch_size: int = 100,
    progress: Progress | None = None,
    done_before: int = 0,
    total: int = 0,
) -> EvaluationRun:
    """`repeats` simulations of the version, each over every scenario, recorded through ArcAPI
    (start_simulation, record_batch_outcomes, complete_simulation)."""
    run = EvaluationRun()
    for repeat in range(repeats):
        info = await api.start_simulation(
            config_version_id=version_id,
            scenarios=list(scenarios),
            simulation_name=f"{label} run {repeat + 1}",
            modal_app_id="arc-eval-demo",
            modal_environment="development",
            metadata={"agent_model": config.get("model"), "demo": True},
        )
        simulation_id = info["simulation_id"]
        run.simulation_ids.append(simulation_id)
        results = [surface.run(config, s, rng) for s in scenarios]
        for i in range(0, len(results), batch_size):
            chunk = results[i : i + batch_size]
            await api.record_batch_outcomes(
                simulation_id=simulation_id,
                scenario_results=chunk,
                modal_call_ids=[f"call-{simulation_id[:8]}-{i + j}" for j in range(len(chunk))],
            )
            run.outcomes += len(chunk)
            if progress is not None:
                progress(done_before + run.outcomes, total, f"{label} run {repeat + 1}")
        scores = [r["reliability_score"]["overall_score"] for r in results]
        costs = [r["trajectory"]["token_usage"]["total_cost"] for r in results]
        run.reliability_sum += sum(scores)
        run.cost_sum += sum(costs)
        await api.complete_simulation(
            simulation_id,
            suite_result={
                "overall_score": sum(scores) / len(scores),
                "total_cost": sum(costs),
                "total_execution_time": sum(
                    r["trajectory"]["execution_time_seconds"] for r in results
                ),
            },
        )
    return run


@dataclass(frozen=True)
class VersionSnapshot:
    """A version as the dashboard shows it (last two days, from the statistics views)."""

    version_number: int
    runs: int
    success_rate: float
    reliability: float
    cost_per_execution: float
    avg_ms: float


async def version_snapshot(engine: AsyncEngine, version_id: uuid.UUID) -> VersionSnapshot:
    async with engine.connect() as conn:
        rows = await reader.version_totals(
            conn, start=datetime.now(UTC) - timedelta(days=2), end=None, version_ids=[version_id]
        )
    if not rows or rows[0].n == 0:
        return VersionSnapshot(0, 0, 0.0, 0.0, 0.0, 0.0)
    t = rows[0]
    return VersionSnapshot(
        t.version_number,
        t.n,
        t.success_n / t.n,
        t.sum_reliability / t.n,
        t.sum_cost / t.n,
        t.sum_time_ms / t.n,
    )
