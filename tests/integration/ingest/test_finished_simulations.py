"""A finished simulation does not change: outcomes for it are refused, and completion racing
outcome writers leaves a summary equal to the stored outcomes (issue 12)."""

import asyncio
import random
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.api import ArcAPI
from arc.database.core.errors import ArcIntegrityError
from arc.database.ingest.client import ArcDBClient
from arc.database.ingest.recorder import BatchExecutionRecorder
from tests.support.faults import (
    make_config_version,
    outcome_dict,
    scenario,
    scenario_result,
)


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[ArcDBClient]:
    c = ArcDBClient(database_url, application_name=f"arc-finished-{uuid.uuid4().hex[:8]}")
    yield c
    await c.close()


async def _simulation(engine: AsyncEngine, client: ArcDBClient, n: int) -> tuple[str, list[str]]:
    version_id = await make_config_version(engine)
    tag = uuid.uuid4().hex[:8]
    scenarios = [scenario(f"fin_{tag}_{i}", i) for i in range(n)]
    return await client.create_simulation(version_id, scenarios), [s["id"] for s in scenarios]


async def _summary(engine: AsyncEngine, sid: str) -> tuple[int, float, float, int, int]:
    """(stored outcomes, their cost, the simulation's total_cost_usd, completed_scenarios,
    scenarios with a stored outcome)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM outcomes o"
                    "   WHERE o.simulation_id = s.simulation_id),"
                    " (SELECT COALESCE(sum(cost_usd), 0) FROM outcomes o"
                    "   WHERE o.simulation_id = s.simulation_id),"
                    " s.total_cost_usd, s.completed_scenarios,"
                    " (SELECT count(DISTINCT scenario_id) FROM outcomes o"
                    "   WHERE o.simulation_id = s.simulation_id) "
                    "FROM simulations s WHERE s.simulation_id = :s"
                ),
                {"s": sid},
            )
        ).one()
    return int(row[0]), float(row[1]), float(row[2] or 0), int(row[3]), int(row[4])


@pytest.mark.parametrize("ending", ["completed", "failed", "cancelled"])
async def test_outcomes_for_a_finished_simulation_are_refused(
    engine: AsyncEngine, client: ArcDBClient, ending: str
) -> None:
    sid, scen = await _simulation(engine, client, 3)
    api = ArcAPI(client)
    await client.record_outcome(outcome_dict(sid, scen[0], cost_usd=1.0))
    if ending == "completed":
        await api.complete_simulation(sid)
    elif ending == "failed":
        await api.fail_simulation(sid, "sandbox pool exhausted")
    else:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE simulations SET status = 'cancelled', completed_at = now()"
                    " WHERE simulation_id = :s"
                ),
                {"s": sid},
            )
    before = await _summary(engine, sid)

    with pytest.raises(ArcIntegrityError) as one:
        await client.record_outcome(outcome_dict(sid, scen[1], cost_usd=1.0))
    assert one.value.field == "simulation_id"
    assert ending in one.value.rule

    with pytest.raises(ArcIntegrityError):
        await api.record_scenario_outcome(sid, scenario_result(scenario(scen[2])))

    skipped = await client.record_outcomes_batch(
        [outcome_dict(sid, scen[i % 3], cost_usd=1.0) for i in range(5)], on_invalid="skip"
    )
    assert skipped.inserted == 0
    assert [(e.index, e.field) for e in skipped.rejected] == [
        (i, "simulation_id") for i in range(5)
    ]

    rejected = []
    async with BatchExecutionRecorder(client, batch_size=10, on_reject=rejected.append) as rec:
        await rec.record_outcome(outcome_dict(sid, scen[1], cost_usd=1.0))
    assert [r.error.field for r in rejected] == ["simulation_id"]
    assert rec.flushed == 0

    assert await _summary(engine, sid) == before


async def test_an_open_simulation_in_the_same_batch_is_still_written(
    engine: AsyncEngine, client: ArcDBClient
) -> None:
    done_sid, done_scen = await _simulation(engine, client, 2)
    open_sid, open_scen = await _simulation(engine, client, 2)
    await ArcAPI(client).complete_simulation(done_sid)
    rows = [
        outcome_dict(done_sid, done_scen[0]),
        outcome_dict(open_sid, open_scen[0]),
        outcome_dict(open_sid, open_scen[1]),
    ]
    result = await client.record_outcomes_batch(rows, on_invalid="skip")
    assert result.inserted == 2
    assert [e.index for e in result.rejected] == [0]
    assert (await _summary(engine, open_sid))[3] == 2


async def _race(engine: AsyncEngine, client: ArcDBClient, rng: random.Random) -> tuple[int, int]:
    """40 single-row writers and 4 five-row batches race one completion; returns
    (accepted, refused) after checking that the summary equals the stored outcomes."""
    sid, scen = await _simulation(engine, client, 8)
    api = ArcAPI(client)
    accepted = 0
    refused: list[str | None] = []  # the field each refusal named

    async def single(i: int) -> None:
        nonlocal accepted
        await asyncio.sleep(rng.random() * 0.3)
        try:
            await client.record_outcome(outcome_dict(sid, scen[i % 8], cost_usd=1.0))
            accepted += 1
        except ArcIntegrityError as exc:
            refused.append(exc.field)

    async def batch() -> None:
        nonlocal accepted
        await asyncio.sleep(rng.random() * 0.3)
        rows = [outcome_dict(sid, scen[i % 8], cost_usd=1.0) for i in range(5)]
        result = await client.record_outcomes_batch(rows, on_invalid="skip")
        accepted += result.inserted
        refused.extend(getattr(e, "field", None) for e in result.rejected)

    async def complete() -> None:
        # Mid-stream whatever the transport's speed (direct or through PgBouncer): once a few
        # rows are in, while most writers still wait for their turn.
        for _ in range(5000):  # at most about 5 s
            if accepted >= 3:
                break
            await asyncio.sleep(0.001)
        await api.complete_simulation(sid)

    await asyncio.gather(*(single(i) for i in range(40)), *(batch() for _ in range(4)), complete())
    stored, stored_cost, total_cost, completed, scenarios_done = await _summary(engine, sid)
    assert set(refused) <= {"simulation_id"}
    assert stored == accepted
    assert stored + len(refused) == 60
    assert total_cost == pytest.approx(stored_cost)
    assert completed == scenarios_done
    status = await api.get_simulation_status(sid)
    assert status["status"] == "completed"
    assert status["total_cost_usd"] == pytest.approx(total_cost)
    return accepted, len(refused)


async def test_completion_racing_outcome_writers_matches_the_stored_outcomes(
    engine: AsyncEngine, client: ArcDBClient
) -> None:
    """Many writers (single rows, batches) race one completion, several rounds: the completed
    summary always equals what is stored, and every refused row is typed."""
    rng = random.Random(12)
    rounds = [await _race(engine, client, rng) for _ in range(8)]
    assert sum(refused for _, refused in rounds) > 0  # the race happened


async def test_recorder_racing_completion_dead_letters_late_rows(
    engine: AsyncEngine, client: ArcDBClient
) -> None:
    sid, scen = await _simulation(engine, client, 4)
    api = ArcAPI(client)
    rejected = []
    recorder = BatchExecutionRecorder(
        client, batch_size=5, flush_interval=0.05, on_reject=rejected.append
    )

    async def produce(n: int) -> None:
        for i in range(n):
            await recorder.record_outcome(outcome_dict(sid, scen[i % 4], cost_usd=0.5))
            await asyncio.sleep(0.002)

    await produce(30)
    await recorder.flush()
    await asyncio.gather(produce(30), api.complete_simulation(sid))
    await produce(10)  # certainly after completion
    await recorder.close()
    stored, stored_cost, total_cost, _, _ = await _summary(engine, sid)
    assert stored == recorder.flushed
    assert stored + len(rejected) == 70
    assert len(rejected) >= 10
    assert all(r.error.field == "simulation_id" for r in rejected)
    assert total_cost == pytest.approx(stored_cost)
