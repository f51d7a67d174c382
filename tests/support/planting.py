"""Planting known data for comparisons: configurations, versions, simulations and outcomes with
chosen values, written straight into a scratch database (committed), and the statistics
aggregates refreshed the way operators refresh them."""

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.models import (
    ConfigDiff,
    Configuration,
    ConfigVersion,
    Outcome,
    Simulation,
)
from arc.database.ops.maintenance import refresh_aggregates


@dataclass(frozen=True)
class Run:
    """One outcome to plant: its scenario, time and values."""

    scenario_id: str
    at: datetime
    reliability: float
    time_ms: float = 1000.0
    cost: float = 0.01
    status: str = "success"
    tokens: int = 100


async def ensure_scenarios(engine: AsyncEngine, scenario_ids: Iterable[str]) -> None:
    rows = [
        {"scenario_id": s, "name": f"scenario {s}", "task_prompt": f"planted scenario {s}"}
        for s in sorted(set(scenario_ids))
    ]
    async with engine.begin() as conn:
        for row in rows:
            await conn.execute(
                text(
                    "INSERT INTO scenarios (scenario_id, name, task_prompt) "
                    "VALUES (:scenario_id, :name, :task_prompt) ON CONFLICT DO NOTHING"
                ),
                row,
            )


async def make_configuration(
    engine: AsyncEngine, *, user_id: uuid.UUID, name: str | None = None
) -> uuid.UUID:
    config_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            insert(Configuration).values(
                config_id=config_id, name=name or f"cfg {config_id.hex[:10]}", user_id=user_id
            )
        )
    return config_id


async def make_version(
    engine: AsyncEngine,
    config_id: uuid.UUID,
    parsed: dict[str, Any],
    *,
    previous: tuple[uuid.UUID, dict[str, Any]] | None = None,
    change_summary: dict[str, Any] | None = None,
) -> uuid.UUID:
    """A new version (number = last + 1) and, after the first, its config_diffs row."""
    version_id = uuid.uuid4()
    raw = json.dumps(parsed, sort_keys=True)
    async with engine.begin() as conn:
        number = (
            await conn.execute(
                text(
                    "SELECT COALESCE(max(version_number), 0) + 1 FROM config_versions "
                    "WHERE config_id = :c"
                ),
                {"c": config_id},
            )
        ).scalar_one()
        await conn.execute(
            insert(ConfigVersion).values(
                version_id=version_id,
                config_id=config_id,
                version_number=number,
                raw_yaml=raw,
                parsed_config=parsed,
                config_hash=hashlib.sha256(f"{raw}{version_id}".encode()).hexdigest(),
            )
        )
        await conn.execute(
            text("UPDATE configurations SET latest_version_id = :v WHERE config_id = :c"),
            {"v": version_id, "c": config_id},
        )
        if previous is not None:
            await conn.execute(
                insert(ConfigDiff).values(
                    config_id=config_id,
                    version_before=previous[0],
                    version_after=version_id,
                    diff_yaml="planted",
                    change_summary=change_summary or {},
                )
            )
    return version_id


async def make_simulation(
    engine: AsyncEngine, version_id: uuid.UUID, runs: Sequence[Run]
) -> uuid.UUID:
    """A simulation of `version_id` holding exactly these outcomes."""
    scenarios = sorted({r.scenario_id for r in runs})
    await ensure_scenarios(engine, scenarios)
    simulation_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            insert(Simulation).values(
                simulation_id=simulation_id,
                config_version_id=version_id,
                scenario_set=scenarios,
                total_scenarios=len(scenarios),
                status="running",
            )
        )
        if runs:
            await conn.execute(
                insert(Outcome),
                [
                    {
                        "outcome_id": uuid.uuid4(),
                        "execution_time": r.at,
                        "simulation_id": simulation_id,
                        "scenario_id": r.scenario_id,
                        "status": r.status,
                        "reliability_score": r.reliability,
                        "execution_time_ms": r.time_ms,
                        "tokens_used": r.tokens,
                        "cost_usd": r.cost,
                        "trajectory": {"start_time": r.at.isoformat(), "status": r.status},
                    }
                    for r in runs
                ],
            )
    return simulation_id


async def refresh_statistics(engine: AsyncEngine) -> None:
    """Materialise what can be: continuous aggregates up to now - 1 hour, or the fallbacks."""
    await refresh_aggregates(engine)


def days_ago(days: float, hour: int = 12) -> datetime:
    base = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return base - timedelta(days=days)
