"""ExecutionEventHandler on a real database: lifecycle, queue, journal, replay, idempotency."""

import json
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.configs.manager import ConfigurationManager
from arc.database.core.engine import build_engine, session_factory
from arc.database.core.errors import ArcNotFoundError, ArcValidationError
from arc.database.ingest.events import (
    ExecutionCompleted,
    ExecutionEventHandler,
    ExecutionFailed,
    ExecutionStarted,
    ScenarioCompleted,
    ScenarioStarted,
    event_from_dict,
    journal_line,
)
from arc.database.models import Configuration, Outcome, Scenario, Simulation, SimulationScenario


@dataclass
class World:
    version_id: uuid.UUID
    config_id: uuid.UUID
    scenarios: tuple[str, ...]


@pytest.fixture
async def world(engine: AsyncEngine) -> AsyncIterator[World]:
    """A committed configuration version and three scenarios, removed afterwards."""
    tag = uuid.uuid4().hex[:8]
    scenarios = tuple(f"ev_{tag}_{i}" for i in range(3))
    factory = session_factory(engine)
    async with factory.begin() as s:
        created = await ConfigurationManager().create_configuration(
            s, uuid.uuid4(), f"events {tag}", "model: m\ntemperature: 0.1\n"
        )
        await s.execute(
            Scenario.__table__.insert(),
            [
                {"scenario_id": sc, "name": f"scenario {sc}", "task_prompt": "do the thing well"}
                for sc in scenarios
            ],
        )
    yield World(created.version_id, created.config_id, scenarios)
    async with factory.begin() as s:
        sims = select(Simulation.simulation_id).where(
            Simulation.config_version_id == created.version_id
        )
        await s.execute(delete(Outcome).where(Outcome.simulation_id.in_(sims)))
        await s.execute(
            delete(Simulation).where(Simulation.config_version_id == created.version_id)
        )
        await s.execute(delete(Scenario).where(Scenario.scenario_id.in_(scenarios)))
        await s.execute(delete(Configuration).where(Configuration.config_id == created.config_id))


def lifecycle(world: World, sim: uuid.UUID, t0: datetime) -> list:
    events: list = [
        ExecutionStarted(
            simulation_id=sim,
            config_version_id=world.version_id,
            scenario_set=world.scenarios,
            timestamp=t0,
            modal_app_id="ap-test",
            simulation_name="events test",
        )
    ]
    for i, sc in enumerate(world.scenarios):
        ts = t0 + timedelta(seconds=10 * (i + 1))
        events.append(
            ScenarioStarted(
                simulation_id=sim, scenario_id=sc, timestamp=ts, modal_call_id=f"fc-{i}"
            )
        )
        events.append(
            ScenarioCompleted(
                simulation_id=sim,
                scenario_id=sc,
                outcome_id=uuid.uuid4(),
                timestamp=ts + timedelta(seconds=5),
                status="success" if i < 2 else "error",
                reliability_score=0.9 if i < 2 else 0.2,
                execution_time_ms=5000.0,
                tokens_used=100,
                cost_usd=0.25,
                trajectory={"start_time": ts.isoformat(), "status": "done"},
                error_category=None if i < 2 else "tool_error",
            )
        )
    events.append(ExecutionCompleted(simulation_id=sim, timestamp=t0 + timedelta(minutes=1)))
    return events


async def sim_state(engine: AsyncEngine, sim: uuid.UUID) -> dict:
    async with engine.connect() as conn:
        row = (
            (await conn.execute(select(Simulation).where(Simulation.simulation_id == sim)))
            .mappings()
            .one()
        )
        outcomes = (
            await conn.execute(select(func.count()).where(Outcome.simulation_id == sim))
        ).scalar_one()
        junction = dict(
            (
                await conn.execute(
                    select(SimulationScenario.scenario_id, SimulationScenario.status).where(
                        SimulationScenario.simulation_id == sim
                    )
                )
            ).all()
        )
    return {"sim": dict(row), "outcomes": outcomes, "junction": junction}


async def test_lifecycle_through_the_queue(
    engine: AsyncEngine, world: World, tmp_path: Path
) -> None:
    sim, t0 = uuid.uuid4(), datetime.now(UTC) - timedelta(hours=1)
    handler = ExecutionEventHandler(
        engine, journal_path=tmp_path / "j.jsonl", workers=2, queue_size=4
    )
    async with handler:
        for event in lifecycle(world, sim, t0):
            await handler.submit(event)
    state = await sim_state(engine, sim)
    s = state["sim"]
    assert s["status"] == "completed"
    assert s["completed_scenarios"] == 3
    assert s["total_scenarios"] == 3
    assert s["total_cost_usd"] == pytest.approx(0.75)
    assert s["overall_score"] == pytest.approx((0.9 + 0.9 + 0.2) / 3, rel=1e-5)
    assert s["execution_time_ms"] == 60_000
    assert s["modal_app_id"] == "ap-test"
    assert state["outcomes"] == 3
    assert sorted(state["junction"].values()) == ["completed", "completed", "failed"]
    m = handler.metrics()
    assert m["received"] == 8
    assert m["applied"] == 8
    assert m["failed"] == 0
    assert m["queue_depth"] == 0
    lines = (tmp_path / "j.jsonl").read_text().splitlines()
    assert [json.loads(line)["event_type"] for line in lines][:2] == [
        "execution_started",
        "scenario_started",
    ]
    assert len(lines) == 8


async def test_crash_before_apply_then_replay_is_idempotent(
    engine: AsyncEngine, world: World, tmp_path: Path
) -> None:
    """Events journaled but never applied (crash) are restored by replay; a second replay and
    a replay of an already-applied journal add nothing."""
    sim, t0 = uuid.uuid4(), datetime.now(UTC) - timedelta(hours=2)
    journal = tmp_path / "crash.jsonl"
    # what submit() journals; the process "crashes" before any worker applies it
    journal.write_text("".join(journal_line(e) for e in lifecycle(world, sim, t0)))
    async with engine.connect() as conn:
        assert (
            await conn.execute(select(func.count()).where(Simulation.simulation_id == sim))
        ).scalar_one() == 0
    with open(journal, "a") as fh:  # a torn last line, as a crash mid-write leaves it
        fh.write('{"event_type": "scenario_comp')
    replayer = ExecutionEventHandler(engine)
    first = await replayer.replay(journal)
    assert (first.selected, first.applied, first.failed, first.corrupt_lines) == (8, 8, 0, 1)
    before = await sim_state(engine, sim)
    second = await replayer.replay(journal)
    assert (second.applied, second.noop, second.failed) == (0, 8, 0)
    after = await sim_state(engine, sim)
    assert after == before
    assert after["outcomes"] == 3
    assert after["sim"]["completed_scenarios"] == 3
    assert after["sim"]["total_cost_usd"] == pytest.approx(0.75)
    assert replayer.metrics()["replayed"] == 16


async def test_database_outage_then_replay(
    engine: AsyncEngine, world: World, tmp_path: Path, database_url: str
) -> None:
    """With the database unreachable every event fails after its retries but stays in the
    journal; replay against the live database applies them exactly once."""
    with socket.socket() as sock:  # a loopback port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = build_engine(url=f"postgresql://arc:arc@127.0.0.1:{port}/nowhere", connect_timeout=1)
    sim, t0 = uuid.uuid4(), datetime.now(UTC) - timedelta(hours=3)
    journal = tmp_path / "outage.jsonl"
    try:
        handler = ExecutionEventHandler(
            down, journal_path=journal, max_attempts=2, retry_base_delay=0.01
        )
        async with handler:
            for event in lifecycle(world, sim, t0):
                await handler.submit(event)
        m = handler.metrics()
        assert m["failed"] == 8
        assert m["retried"] == 8
        assert m["applied"] == 0
    finally:
        await down.dispose()
    live = ExecutionEventHandler(engine)
    report = await live.replay(journal, simulation_id=sim)
    assert report.applied == 8
    state = await sim_state(engine, sim)
    assert state["sim"]["status"] == "completed"
    assert state["outcomes"] == 3


async def test_replay_filters(engine: AsyncEngine, world: World, tmp_path: Path) -> None:
    journal = tmp_path / "filters.jsonl"
    t0 = datetime.now(UTC) - timedelta(hours=5)
    sim_a, sim_b = uuid.uuid4(), uuid.uuid4()
    events = lifecycle(world, sim_a, t0) + lifecycle(world, sim_b, t0 + timedelta(hours=1))
    journal.write_text("".join(journal_line(e) for e in events))
    only_b = await ExecutionEventHandler(engine).replay(journal, simulation_id=sim_b)
    assert only_b.selected == 8
    async with engine.connect() as conn:
        count = (
            await conn.execute(
                select(func.count()).where(Simulation.simulation_id.in_([sim_a, sim_b]))
            )
        ).scalar_one()
    assert count == 1
    # since: only events at or after t0 + 1h (all of b) -> a stays absent
    later = await ExecutionEventHandler(engine).replay(journal, since=t0 + timedelta(minutes=30))
    assert later.selected == 8
    assert later.noop == 8


async def test_failed_execution_and_direct_handlers(engine: AsyncEngine, world: World) -> None:
    sim, t0 = uuid.uuid4(), datetime.now(UTC) - timedelta(minutes=30)
    handler = ExecutionEventHandler(engine)
    assert (
        await handler.handle_execution_started(
            {
                "event_type": "execution_started",
                "simulation_id": str(sim),
                "config_version_id": str(world.version_id),
                "scenario_set": list(world.scenarios),
                "timestamp": t0.isoformat(),
            }
        )
        == "applied"
    )
    assert (
        await handler.handle_execution_failed(
            ExecutionFailed(
                simulation_id=sim,
                timestamp=t0 + timedelta(seconds=3),
                error_message="sandbox OOM",
                error_category="sandbox_error",
            )
        )
        == "applied"
    )
    # a late completion does not resurrect a failed run
    assert (
        await handler.handle_execution_completed(
            ExecutionCompleted(simulation_id=sim, timestamp=t0 + timedelta(seconds=9))
        )
        == "noop"
    )
    s = (await sim_state(engine, sim))["sim"]
    assert s["status"] == "failed"
    assert s["completed_at"] is not None
    assert s["metadata"]["error"] == {"message": "sandbox OOM", "category": "sandbox_error"}
    with pytest.raises(ArcNotFoundError):
        await handler.handle_execution_completed(
            ExecutionCompleted(simulation_id=uuid.uuid4(), timestamp=t0)
        )
    assert handler.metrics()["failed"] == 1


def test_validation_names_field_and_rule() -> None:
    now = datetime.now(UTC)
    sim = uuid.uuid4()
    cases = [
        (
            {"event_type": "nope", "simulation_id": str(sim), "timestamp": now.isoformat()},
            "event_type",
        ),
        (
            {
                "event_type": "scenario_started",
                "simulation_id": "x",
                "timestamp": now.isoformat(),
                "scenario_id": "a",
            },
            "simulation_id",
        ),
        (
            {
                "event_type": "scenario_started",
                "simulation_id": str(sim),
                "timestamp": "yesterday",
                "scenario_id": "a",
            },
            "timestamp",
        ),
        (
            {
                "event_type": "scenario_started",
                "simulation_id": str(sim),
                "timestamp": now.isoformat(),
                "scenario_id": "Bad Id",
            },
            "scenario_id",
        ),
        (
            {
                "event_type": "scenario_started",
                "simulation_id": str(sim),
                "timestamp": now.isoformat(),
                "scenario_id": "a",
                "colour": 1,
            },
            "colour",
        ),
        (
            {
                "event_type": "execution_started",
                "simulation_id": str(sim),
                "timestamp": now.isoformat(),
                "config_version_id": str(sim),
                "scenario_set": [],
            },
            "scenario_set",
        ),
        (
            {
                "event_type": "execution_completed",
                "simulation_id": str(sim),
                "timestamp": now.isoformat(),
                "overall_score": 1.5,
            },
            "overall_score",
        ),
    ]
    for data, field in cases:
        with pytest.raises(ArcValidationError) as info:
            event_from_dict(data)
        assert info.value.field == field, data
    base = {
        "simulation_id": sim,
        "scenario_id": "a",
        "outcome_id": uuid.uuid4(),
        "timestamp": now,
        "status": "success",
        "reliability_score": 0.5,
        "execution_time_ms": 1.0,
        "tokens_used": 1,
        "cost_usd": 0.0,
        "trajectory": {"start_time": "t", "status": "s"},
    }
    for bad, field in [
        ({"status": "weird"}, "status"),
        ({"reliability_score": 2}, "reliability_score"),
        ({"trajectory": {"status": "s"}}, "trajectory"),
        ({"cost_usd": -1}, "cost_usd"),
        ({"error_category": "gremlins"}, "error_category"),
    ]:
        with pytest.raises(ArcValidationError) as info:
            ScenarioCompleted(**{**base, **bad})
        assert info.value.field == field
    event = ScenarioCompleted(**base)
    assert event_from_dict(json.loads(json.dumps(event.to_dict(), default=str))) == event


async def test_unknown_simulation_counts_as_failed(engine: AsyncEngine, tmp_path: Path) -> None:
    handler = ExecutionEventHandler(engine, journal_path=tmp_path / "x.jsonl")
    async with handler:
        await handler.submit(
            ScenarioStarted(
                simulation_id=uuid.uuid4(), scenario_id="nope", timestamp=datetime.now(UTC)
            )
        )
    assert handler.metrics()["failed"] == 1
    assert handler.metrics()["retried"] == 0
