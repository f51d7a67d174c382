"""Shared pieces of the read-path tests: a scratch database and a planted, known data set.

The analytics answers are checked against values computed here in Python from the rows that
were planted. Values are multiples of powers of two (exact in the REAL columns), so sums and
averages computed by the database and by Python agree to float rounding.
"""

import asyncio
import hashlib
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.core.engine import build_engine
from arc.database.models import (
    Configuration,
    ConfigVersion,
    FailurePattern,
    LLMRecommendationSession,
    Outcome,
    Recommendation,
    Scenario,
    Simulation,
    ToolUsage,
)
from arc.database.ops.provision import drop_database, ensure_database, with_database
from arc.database.schema import migrate
from tests.conftest import app_url, fresh_database_name

MODELS = ("gpt-4o", "claude-3-5-sonnet", "llama-3-70b")
TOOLS = ("weather_api", "web_search", "calculator", "flight_search")
STATUSES = ("success", "success", "success", "error", "timeout")
CATEGORIES = ("timeout", "tool_error", "model_error")


@pytest.fixture(scope="module")
def scratch_url(server_url: str) -> Iterator[str]:
    """A database of this test module only, migrated to head, dropped at the end."""
    url = with_database(server_url, fresh_database_name("arc_read"))
    asyncio.run(ensure_database(url))
    try:
        migrate.upgrade(url)
        yield app_url(url)
    finally:
        asyncio.run(drop_database(url))


@pytest.fixture(scope="module")
async def scratch_engine(scratch_url: str) -> AsyncIterator[AsyncEngine]:
    engine = build_engine(url=scratch_url, pool_size=5, max_overflow=5)
    yield engine
    await engine.dispose()


def day_start(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class Planted:
    start: datetime
    end: datetime
    configurations: list[dict[str, Any]] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)
    scenarios: list[dict[str, Any]] = field(default_factory=list)
    simulations: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    recommendations: list[dict[str, Any]] = field(default_factory=list)

    def model_of_simulation(self, simulation_id: uuid.UUID) -> str:
        sim = next(s for s in self.simulations if s["simulation_id"] == simulation_id)
        version = next(v for v in self.versions if v["version_id"] == sim["config_version_id"])
        return str(version["parsed_config"]["model"])

    def config_of_simulation(self, simulation_id: uuid.UUID) -> uuid.UUID:
        sim = next(s for s in self.simulations if s["simulation_id"] == simulation_id)
        version = next(v for v in self.versions if v["version_id"] == sim["config_version_id"])
        config_id: uuid.UUID = version["config_id"]
        return config_id


def make_dataset(start: datetime, *, days: int = 3, seed: int = 11, tag: str = "") -> Planted:
    """Three configurations (one version each), two simulations each, outcomes spread over
    `days` days from `start`, with tool usage and failure patterns; deterministic for `seed`."""
    rng = random.Random(seed)
    data = Planted(start=start, end=start + timedelta(days=days))
    suffix = tag or uuid.uuid4().hex[:6]
    user = uuid.uuid4()
    for i in range(6):
        data.scenarios.append(
            {
                "scenario_id": f"read_scn_{suffix}_{i}",
                "name": f"read scenario {i}",
                "task_prompt": f"Answer question number {i} using the tools available.",
                "difficulty_level": ("easy", "medium", "hard")[i % 3],
            }
        )
    for m, model in enumerate(MODELS):
        config_id, version_id = uuid.uuid4(), uuid.uuid4()
        data.configurations.append(
            {"config_id": config_id, "name": f"read config {m} {suffix}", "user_id": user}
        )
        parsed = {"model": model, "temperature": 0.5}
        data.versions.append(
            {
                "version_id": version_id,
                "config_id": config_id,
                "version_number": 1,
                "raw_yaml": f"model: {model}\ntemperature: 0.5\n",
                "parsed_config": parsed,
                "config_hash": hashlib.sha256(f"{model}{suffix}".encode()).hexdigest(),
            }
        )
        for k in range(2):
            data.simulations.append(
                {
                    "simulation_id": uuid.uuid4(),
                    "config_version_id": version_id,
                    "scenario_set": [s["scenario_id"] for s in data.scenarios],
                    "simulation_name": f"read sim {model} {k}",
                    "total_scenarios": len(data.scenarios),
                    "completed_scenarios": len(data.scenarios),
                    "status": "completed",
                    "created_at": start - timedelta(hours=1),
                    "started_at": start - timedelta(hours=1),
                    "completed_at": data.end,
                }
            )
    span = int((data.end - start).total_seconds())
    for sim in data.simulations:
        for _ in range(40):
            when = start + timedelta(seconds=rng.randrange(span))
            status = rng.choice(STATUSES)
            outcome_id = uuid.uuid4()
            scenario = rng.choice(data.scenarios)["scenario_id"]
            data.outcomes.append(
                {
                    "outcome_id": outcome_id,
                    "execution_time": when,
                    "simulation_id": sim["simulation_id"],
                    "scenario_id": scenario,
                    "status": status,
                    "reliability_score": rng.randrange(0, 65) / 64,
                    "execution_time_ms": float(rng.randrange(100, 9000)),
                    "tokens_used": rng.randrange(50, 4000),
                    "cost_usd": rng.randrange(1, 200) / 1024,
                    "trajectory": {"start_time": when.isoformat(), "status": status},
                    "error_category": None if status == "success" else "tool_error",
                }
            )
            for tool in rng.sample(TOOLS, rng.randrange(1, 3)):
                data.tools.append(
                    {
                        "usage_id": uuid.uuid4(),
                        "outcome_id": outcome_id,
                        "execution_time": when,
                        "tool_name": f"{tool}_{suffix}",
                        "call_count": rng.randrange(1, 5),
                        "avg_duration_ms": float(rng.randrange(10, 900)),
                        "success_rate": rng.randrange(0, 17) / 16,
                        "total_cost_usd": rng.randrange(0, 64) / 1024,
                    }
                )
            if status != "success":
                category = rng.choice(CATEGORIES)
                data.failures.append(
                    {
                        "pattern_id": uuid.uuid4(),
                        "outcome_id": outcome_id,
                        "execution_time": when,
                        "failure_type": f"{category}_failure",
                        "failure_category": category,
                        "error_message": f"{category} while running {scenario}",
                        "pattern_cluster_id": uuid.UUID(int=rng.randrange(1, 5)),
                        "cluster_confidence": rng.randrange(32, 65) / 64,
                    }
                )
    return data


async def plant(engine: AsyncEngine, data: Planted) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(Scenario), data.scenarios)
        await conn.execute(insert(Configuration), data.configurations)
        await conn.execute(insert(ConfigVersion), data.versions)
        await conn.execute(insert(Simulation), data.simulations)
        await conn.execute(insert(Outcome), data.outcomes)
        if data.tools:
            await conn.execute(insert(ToolUsage), data.tools)
        if data.failures:
            await conn.execute(insert(FailurePattern), data.failures)
        if data.sessions:
            await conn.execute(insert(LLMRecommendationSession), data.sessions)
        if data.recommendations:
            await conn.execute(insert(Recommendation), data.recommendations)


async def settle_refresh_policies(engine: AsyncEngine) -> None:
    """Full edition: run the refresh policies now and wait for a successful run.

    A fresh database's first policy run can collide with the migration's initial refresh
    ("concurrent refresh"); the next run succeeds. Tests want a known-good starting point.
    """
    async with engine.begin() as conn:
        jobs = (
            (
                await conn.execute(
                    text(
                        "SELECT job_id FROM timescaledb_information.jobs "
                        "WHERE proc_name = 'policy_refresh_continuous_aggregate'"
                    )
                )
            )
            .scalars()
            .all()
        )
        started = (await conn.execute(text("SELECT now()"))).scalar_one()
        for job in jobs:
            await conn.execute(text("SELECT alter_job(:j, next_start => now())"), {"j": job})
    # 11 refresh jobs share the server's background workers with every other database.
    for _ in range(600):
        async with engine.connect() as conn:
            done = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM timescaledb_information.job_stats "
                        "WHERE job_id = ANY(:jobs) AND last_run_status = 'Success' "
                        "AND last_run_started_at >= :started"
                    ),
                    {"jobs": list(jobs), "started": started},
                )
            ).scalar_one()
        if done == len(jobs):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("refresh policies did not run")
