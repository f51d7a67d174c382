"""Batch ingest on the real server: idempotency, partial failure, chunking, load, cancellation."""

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.api import ArcAPI
from arc.database.core.errors import ArcIntegrityError, ArcValidationError
from arc.database.core.settings import to_asyncpg_url
from arc.database.ingest.client import ArcDBClient
from tests.support.faults import (
    count,
    make_config_version,
    outcome_dict,
    scenario,
    scenario_result,
)


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[ArcDBClient]:
    c = ArcDBClient(database_url, application_name=f"arc-write-{uuid.uuid4().hex[:8]}")
    await c.initialize()
    yield c
    await c.close()


async def _simulation(engine: AsyncEngine, client: ArcDBClient, n: int) -> tuple[str, list[str]]:
    version_id = await make_config_version(engine)
    tag = uuid.uuid4().hex[:8]
    scenarios = [scenario(f"ing_{tag}_{i}", i) for i in range(n)]
    sid = await client.create_simulation(version_id, scenarios, simulation_name=f"ingest {tag}")
    return sid, [s["id"] for s in scenarios]


def _fixed(sid: str, scenario_ids: list[str], n: int) -> list[dict[str, object]]:
    """Rows with client-chosen ids and times, as a retrying caller would resend them."""
    now = datetime.now(UTC)
    return [
        outcome_dict(
            sid,
            scenario_ids[i % len(scenario_ids)],
            outcome_id=str(uuid.uuid4()),
            execution_time=now - timedelta(seconds=i),
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("method", ["values", "executemany", "copy"])
async def test_same_batch_twice_stores_one_copy(
    engine: AsyncEngine, client: ArcDBClient, method: str
) -> None:
    sid, scen = await _simulation(engine, client, 5)
    rows = _fixed(sid, scen, 300)
    first = await client.record_outcomes_batch(rows, method=method)
    second = await client.record_outcomes_batch(rows, method=method)
    assert (first.inserted, first.duplicates) == (300, 0)
    assert (second.inserted, second.duplicates) == (0, 300)
    assert list(first) == list(second) == [r["outcome_id"] for r in rows]
    assert (
        await count(engine, "SELECT count(*) FROM outcomes WHERE simulation_id = :s", s=sid) == 300
    )
    # Progress counted once per scenario, not per delivery.
    assert (
        await count(
            engine, "SELECT completed_scenarios FROM simulations WHERE simulation_id = :s", s=sid
        )
        == 5
    )


async def test_large_batch_is_chunked_below_bind_limit(
    engine: AsyncEngine, client: ArcDBClient
) -> None:
    sid, scen = await _simulation(engine, client, 3)
    rows = _fixed(sid, scen, 4000)  # 4000 x 20 columns = 80,000 parameters: needs 3 chunks
    result = await client.record_outcomes_batch(rows, method="values")
    assert result.inserted == 4000
    assert (
        await count(engine, "SELECT count(*) FROM outcomes WHERE simulation_id = :s", s=sid) == 4000
    )


@pytest.mark.parametrize("method", ["values", "executemany", "copy"])
async def test_batch_with_bad_rows_stores_the_rest(
    engine: AsyncEngine, client: ArcDBClient, method: str
) -> None:
    sid, scen = await _simulation(engine, client, 4)
    rows = _fixed(sid, scen, 200)
    rows[3]["reliability_score"] = 1.5  # rejected by validation
    rows[50]["trajectory"] = {"start_time": "x", "status": "ok", "bad": float("nan")}
    rows[120]["scenario_id"] = "never_registered_scenario"  # rejected by the database (FK)
    rows[199]["simulation_id"] = str(uuid.uuid4())  # rejected by the database (FK)
    result = await client.record_outcomes_batch(rows, on_invalid="skip", method=method)
    assert result.inserted == 196
    reasons = {(e.index, e.field) for e in result.rejected}
    assert reasons == {
        (3, "reliability_score"),
        (50, "trajectory"),
        (120, "scenario_id"),
        (199, "simulation_id"),
    }
    fk = next(e for e in result.rejected if e.index == 120)
    assert isinstance(fk, ArcIntegrityError)
    assert fk.table == "outcomes"
    assert fk.sqlstate == "23503"
    assert (
        await count(engine, "SELECT count(*) FROM outcomes WHERE simulation_id = :s", s=sid) == 196
    )


async def test_raise_mode_writes_nothing(engine: AsyncEngine, client: ArcDBClient) -> None:
    sid, scen = await _simulation(engine, client, 2)
    rows = _fixed(sid, scen, 100)
    rows[70]["scenario_id"] = "never_registered_scenario"
    with pytest.raises(ArcIntegrityError) as exc:
        await client.record_outcomes_batch(rows)
    assert exc.value.field == "scenario_id"
    assert exc.value.index == 70
    rows[70]["scenario_id"] = "Not A Slug"
    with pytest.raises(ArcValidationError) as vexc:
        await client.record_outcomes_batch(rows)
    assert vexc.value.index == 70
    assert "^[a-z0-9_]+$" in vexc.value.rule
    assert await count(engine, "SELECT count(*) FROM outcomes WHERE simulation_id = :s", s=sid) == 0
    assert (
        await count(
            engine, "SELECT completed_scenarios FROM simulations WHERE simulation_id = :s", s=sid
        )
        == 0
    )


async def _max_server_connections(admin_url: str, app: str, stop: asyncio.Event) -> tuple[int, int]:
    url, _ = to_asyncpg_url(admin_url)
    conn = await asyncpg.connect(
        user=url.username,
        password=url.password,
        host=url.host,
        port=url.port,
        database=url.database,
    )
    peak = 0
    samples = 0
    try:
        while not stop.is_set():
            n = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app
            )
            peak = max(peak, int(n))
            samples += 1
            await asyncio.sleep(0.02)
    finally:
        await conn.close()
    return peak, samples


async def test_thousand_concurrent_sandboxes(
    engine: AsyncEngine, database_url: str, server_url: str
) -> None:
    app = f"arc-load-{uuid.uuid4().hex[:8]}"
    client = ArcDBClient(database_url, application_name=app)
    api = ArcAPI(client)
    await client.initialize()
    version_id = await make_config_version(engine)
    tag = uuid.uuid4().hex[:6]
    sims: list[tuple[str, list[dict[str, object]]]] = []
    for s in range(10):
        scen = [scenario(f"load_{tag}_{s}_{i}", i) for i in range(100)]
        info = await api.start_simulation(version_id, scen, simulation_name=f"load {s}")
        sims.append((info["simulation_id"], scen))

    async def sandbox(k: int) -> list[str]:
        sid, scen = sims[k % 10]
        sc = scen[k // 10]
        await asyncio.sleep(random.random() * 0.2)
        first = await api.record_scenario_outcome(
            sid, scenario_result(sc, ok=k % 7 != 0), f"call_{k}", f"sandbox_{k}"
        )
        second = await client.record_outcome(
            outcome_dict(sid, str(sc["id"]), sandbox_id=f"sandbox_{k}")
        )
        return [first, second]

    stop = asyncio.Event()
    watcher = asyncio.create_task(_max_server_connections(server_url, app, stop))
    results = await asyncio.gather(*(sandbox(k) for k in range(1000)))
    stop.set()
    peak_server, samples = await watcher
    ids = [i for pair in results for i in pair]
    assert len(ids) == len(set(ids)) == 2000
    sim_ids = [s for s, _ in sims]
    q = "SELECT count(*) FROM outcomes WHERE simulation_id = ANY(CAST(:s AS uuid[]))"
    assert await count(engine, q, s=sim_ids) == 2000
    assert (
        await count(engine, q.replace("count(*)", "count(DISTINCT outcome_id)"), s=sim_ids) == 2000
    )
    assert (
        await count(
            engine,
            "SELECT sum(completed_scenarios) FROM simulations"
            " WHERE simulation_id = ANY(CAST(:s AS uuid[]))",
            s=sim_ids,
        )
        == 1000
    )
    # 3 tool calls per result over two tools -> 2 tool_usage rows per recorded scenario result.
    assert (
        await count(
            engine,
            "SELECT count(*) FROM tool_usage WHERE outcome_id = ANY(CAST(:i AS uuid[]))",
            i=[pair[0] for pair in results],
        )
        == 2000
    )
    metrics = client.get_metrics()
    assert metrics["failed_operations"] == 0
    assert metrics["success_rate"] == 100.0
    assert metrics["pool_stats"]["peak_checked_out"] <= 50
    assert samples > 0
    assert peak_server <= 50
    health = await client.health.check_connection_pool()
    assert health["server_idle_in_transaction"] == 0
    await client.close()


async def test_cancelled_writers_leak_no_connection(
    engine: AsyncEngine, database_url: str, server_url: str
) -> None:
    app = f"arc-cancel-{uuid.uuid4().hex[:8]}"
    client = ArcDBClient(database_url, application_name=app, pool_size=5, max_overflow=5)
    await client.initialize()
    sid, scen = await _simulation(engine, client, 5)

    async def writer() -> None:
        await client.record_outcomes_batch(_fixed(sid, scen, 300))

    for round_ in range(3):
        tasks = [asyncio.create_task(writer()) for _ in range(20)]
        await asyncio.sleep(0.05 + 0.05 * round_)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0.5)
    assert client.get_metrics()["pool_stats"]["checked_out"] == 0
    # The pool is still healthy: a full write works afterwards.
    result = await client.record_outcomes_batch(_fixed(sid, scen, 10))
    assert result.inserted == 10
    assert (
        await count(
            engine,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = :a"
            " AND state IN ('idle in transaction', 'idle in transaction (aborted)', 'active')",
            a=app,
        )
        == 0
    )
    await client.close()
