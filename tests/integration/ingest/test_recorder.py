"""BatchExecutionRecorder on the real server: flushes by size/time/close, rejects, backpressure."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.core.errors import ArcValidationError
from arc.database.ingest.client import ArcDBClient
from arc.database.ingest.recorder import BatchExecutionRecorder, RejectedRow
from tests.support.faults import count, make_config_version, outcome_dict, scenario, wait_until


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[ArcDBClient]:
    c = ArcDBClient(database_url)
    yield c
    await c.close()


async def _sim(engine: AsyncEngine, client: ArcDBClient, n: int = 3) -> tuple[str, list[str]]:
    version_id = await make_config_version(engine)
    tag = uuid.uuid4().hex[:8]
    scen = [scenario(f"rec_{tag}_{i}", i) for i in range(n)]
    sid = await client.create_simulation(version_id, scen)
    return sid, [s["id"] for s in scen]


async def _stored(engine: AsyncEngine, sid: str) -> int:
    return await count(engine, "SELECT count(*) FROM outcomes WHERE simulation_id = :s", s=sid)


async def test_flushes_by_size(engine: AsyncEngine, client: ArcDBClient) -> None:
    sid, scen = await _sim(engine, client)
    recorder = BatchExecutionRecorder(client, batch_size=10, flush_interval=60)
    for i in range(25):
        await recorder.record_outcome(outcome_dict(sid, scen[i % 3]))
    await wait_until(lambda: recorder.flushed == 20, timeout=20)
    assert recorder.buffered == 5
    assert await _stored(engine, sid) == 20
    await recorder.close()
    assert recorder.flushed == 25
    assert await _stored(engine, sid) == 25
    assert recorder.stats()["batches"] == 3


async def test_flushes_by_time(engine: AsyncEngine, client: ArcDBClient) -> None:
    sid, scen = await _sim(engine, client)
    async with BatchExecutionRecorder(client, batch_size=1000, flush_interval=0.3) as recorder:
        for i in range(5):
            await recorder.record_outcome(outcome_dict(sid, scen[i % 3]))
        assert await _stored(engine, sid) == 0
        await wait_until(lambda: recorder.flushed == 5, timeout=10)
        assert await _stored(engine, sid) == 5


async def test_flushes_everything_on_close(engine: AsyncEngine, client: ArcDBClient) -> None:
    sid, scen = await _sim(engine, client)
    recorder = BatchExecutionRecorder(client, batch_size=1000, flush_interval=3600)
    ids = [await recorder.record_outcome(outcome_dict(sid, scen[i % 3])) for i in range(7)]
    assert await _stored(engine, sid) == 0
    await recorder.close()
    assert await _stored(engine, sid) == 7
    assert len(set(ids)) == 7


async def test_invalid_rows_reported_valid_rows_stored(
    engine: AsyncEngine, client: ArcDBClient
) -> None:
    sid, scen = await _sim(engine, client)
    seen: list[RejectedRow] = []
    async with BatchExecutionRecorder(client, batch_size=20, on_reject=seen.append) as recorder:
        for i in range(20):
            row = outcome_dict(sid, scen[i % 3])
            if i == 4:
                row["cost_usd"] = -1  # validation
            if i == 9:
                row["scenario_id"] = "not_registered_anywhere"  # database (foreign key)
            await recorder.record_outcome(row)
    assert await _stored(engine, sid) == 18
    assert sorted(r.error.field or "" for r in seen) == ["cost_usd", "scenario_id"]
    assert recorder.rejected == 2
    assert len(recorder.dead_letters) == 2
    fk = next(r for r in seen if r.error.field == "scenario_id")
    assert fk.data["scenario_id"] == "not_registered_anywhere"


async def test_tool_usage_travels_with_its_outcome(
    engine: AsyncEngine, client: ArcDBClient
) -> None:
    sid, scen = await _sim(engine, client)
    async with BatchExecutionRecorder(client, batch_size=50, flush_interval=60) as recorder:
        oid = await recorder.record_outcome(
            outcome_dict(sid, scen[0], status="error", error_category="tool_error"),
            tool_usage=[
                {
                    "tool_name": "search",
                    "call_count": 3,
                    "avg_duration_ms": 12.0,
                    "success_rate": 0.66,
                }
            ],
            failure_patterns=[{"failure_type": "HTTP503", "failure_category": "tool_error"}],
        )
        await recorder.record_tool_usage(
            [
                {
                    "outcome_id": oid,
                    "tool_name": "calc",
                    "call_count": 1,
                    "avg_duration_ms": 1.0,
                    "success_rate": 1.0,
                }
            ]
        )
        await recorder.flush()
        oid2 = await recorder.record_outcome(outcome_dict(sid, scen[1]))
        await recorder.flush()
        # Outcome already written: the standalone row is written after it.
        await recorder.record_tool_usage(
            [
                {
                    "outcome_id": oid2,
                    "tool_name": "late",
                    "call_count": 1,
                    "avg_duration_ms": 1.0,
                    "success_rate": 1.0,
                }
            ]
        )
    q = "SELECT count(*) FROM tool_usage WHERE outcome_id = :o"
    assert await count(engine, q, o=oid) == 2
    assert await count(engine, q, o=oid2) == 1
    assert (
        await count(engine, "SELECT count(*) FROM failure_patterns WHERE outcome_id = :o", o=oid)
        == 1
    )
    assert recorder.flushed_tool_usage == 3
    assert recorder.flushed_failure_patterns == 1


async def test_backpressure_bounds_the_buffer(engine: AsyncEngine, client: ArcDBClient) -> None:
    sid, scen = await _sim(engine, client)
    recorder = BatchExecutionRecorder(client, batch_size=5, flush_interval=60, max_buffered=10)
    peak = 0

    async def producer(p: int) -> None:
        nonlocal peak
        for i in range(20):
            await recorder.record_outcome(outcome_dict(sid, scen[(p + i) % 3]))
            peak = max(peak, recorder.buffered + recorder.in_flight)

    await asyncio.gather(*(producer(p) for p in range(8)))
    await recorder.close()
    assert peak <= 10
    assert await _stored(engine, sid) == 160
    assert recorder.flushed == 160


# ----------------------------------------------------------------------------- issue 12


async def test_one_row_does_not_sink_the_batch(engine: AsyncEngine, client: ArcDBClient) -> None:
    sid, scen = await _sim(engine, client)
    seen: list[RejectedRow] = []
    async with BatchExecutionRecorder(client, batch_size=101, on_reject=seen.append) as recorder:
        for i in range(101):
            row = outcome_dict(sid, scen[i % 3])
            if i == 50:
                row["execution_time_ms"] = 1e14  # the run would have started before year 1
            await recorder.record_outcome(row)
    assert await _stored(engine, sid) == 100
    assert [(r.kind, r.error.field) for r in seen] == [("outcome", "execution_time_ms")]
    assert (recorder.flushed, recorder.rejected) == (100, 1)


async def test_tool_usage_none_means_none_and_bad_shapes_are_typed(
    engine: AsyncEngine, client: ArcDBClient
) -> None:
    sid, scen = await _sim(engine, client)
    seen: list[RejectedRow] = []
    async with BatchExecutionRecorder(client, on_reject=seen.append) as recorder:
        oid = await recorder.record_outcome(
            outcome_dict(sid, scen[0]), tool_usage=None, failure_patterns=None
        )
        assert oid is not None
        other = str(uuid.uuid4())
        for tools in ("search", 5, {"tool_name": "x"}, [5], [{"outcome_id": other}]):
            assert (
                await recorder.record_outcome(outcome_dict(sid, scen[1]), tool_usage=tools)  # type: ignore[arg-type]
                is None
            )
        assert await recorder.record_outcome(outcome_dict(sid, scen[1]), failure_patterns=7) is None  # type: ignore[arg-type]
    assert await _stored(engine, sid) == 1
    assert [r.error.field for r in seen] == [
        "tool_usage",
        "tool_usage",
        "tool_usage",
        "tool_usage[0]",
        "tool_usage[0].outcome_id",
        "failure_patterns",
    ]
    assert all(isinstance(r.error, ArcValidationError) for r in seen)


@pytest.mark.parametrize("with_time", [True, False])
async def test_the_same_outcome_twice_is_stored_and_counted_once(
    engine: AsyncEngine, client: ArcDBClient, with_time: bool
) -> None:
    sid, scen = await _sim(engine, client)
    row = outcome_dict(sid, scen[0], outcome_id=str(uuid.uuid4()))
    if with_time:
        row["execution_time"] = "2025-03-01T12:00:00+00:00"
    tool = {"tool_name": "search", "call_count": 1, "avg_duration_ms": 2.0, "success_rate": 1.0}
    async with BatchExecutionRecorder(client, batch_size=50, flush_interval=60) as recorder:
        await recorder.record_outcome(row, tool_usage=[tool])
        await recorder.record_outcome(row, tool_usage=[tool])  # same batch
        await recorder.flush()
        await recorder.record_outcome(row, tool_usage=[tool])  # a later batch
    assert (recorder.inserted, recorder.duplicates, recorder.flushed) == (1, 2, 3)
    assert await _stored(engine, sid) == 1
    q = "SELECT count(*) FROM tool_usage WHERE outcome_id = :o"
    assert await count(engine, q, o=row["outcome_id"]) == 1
    assert recorder.flushed_tool_usage == 1
