"""Batch ingest on the real server: idempotency, partial failure, chunking, load, cancellation."""

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from arc.database.api import ArcAPI
from arc.database.core.errors import ArcDatabaseError, ArcIntegrityError, ArcValidationError
from arc.database.core.settings import to_asyncpg_url
from arc.database.ingest.client import ArcDBClient
from arc.database.ingest.validation import normalize_outcome
from arc.database.repositories import OutcomeRepository
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


# ----------------------------------------------------------------------------- issue 12


@pytest.mark.parametrize("method", ["values", "executemany", "copy"])
async def test_duplicates_inside_one_batch_count_once(
    engine: AsyncEngine, client: ArcDBClient, method: str
) -> None:
    sid, scen = await _simulation(engine, client, 3)
    rows = _fixed(sid, scen, 80)
    same = dict(rows[10])  # the same row twice: same id, same time
    no_time = {k: v for k, v in rows[20].items() if k != "execution_time"}  # same id, new time
    batch = [*rows, same, no_time]
    result = await client.record_outcomes_batch(batch, method=method)
    assert (result.inserted, result.duplicates, result.rejected) == (80, 2, [])
    assert list(result) == [r["outcome_id"] for r in batch]
    q = "SELECT count(*) FROM outcomes WHERE simulation_id = :s"
    assert await count(engine, q, s=sid) == 80
    assert await count(engine, q + " AND outcome_id = :o", s=sid, o=rows[20]["outcome_id"]) == 1

    again = await client.record_outcomes_batch([same, same], method=method)
    assert (again.inserted, again.duplicates) == (0, 2)


@pytest.mark.parametrize("method", ["values", "executemany", "copy"])
async def test_insert_report_counts_a_repeated_key_once(
    connection: AsyncConnection, engine: AsyncEngine, client: ArcDBClient, method: str
) -> None:
    sid, scen = await _simulation(engine, client, 2)
    rows = [normalize_outcome(r) for r in _fixed(sid, scen, 4)]
    repo = OutcomeRepository(connection)
    clean = await repo.insert_outcomes([rows[0], rows[1], rows[0], rows[0]], method=method)
    assert (len(clean.inserted), len(clean.duplicates), clean.rejected) == (2, 2, [])

    bad = normalize_outcome(outcome_dict(sid, "never_registered_scenario"))
    batch = [rows[0], rows[2], rows[2], bad, rows[3], bad, rows[2], rows[3]]
    report = await repo.insert_outcomes(batch, method=method)
    assert len(report.inserted) == 2
    assert len(report.duplicates) == 4
    assert [i for i, _ in report.rejected] == [3, 5]
    assert all(e.field == "scenario_id" for _, e in report.rejected)
    assert report.rejected[0][1] is not report.rejected[1][1]


@pytest.mark.parametrize("method", ["values", "executemany", "copy"])
async def test_one_bad_row_never_sinks_a_skip_batch(
    engine: AsyncEngine, client: ArcDBClient, method: str
) -> None:
    """Rows that got past validation (or never saw it: write_bundle is public) and then fail
    while the bundle is built or encoded are rejected one by one, typed; the rest is stored."""
    sid, scen = await _simulation(engine, client, 4)
    rows = [normalize_outcome(r) for r in _fixed(sid, scen, 100)]
    rows[5]["execution_time_ms"] = 1e14  # the run would have started before year 1
    del rows[17]["status"]  # incomplete row
    rows[30]["tokens_used"] = 10**12  # does not fit the column
    rows[41]["trajectory"] = {"start_time": "x", "status": "y", "bad": object()}  # not JSON
    rows[52]["tokens_used"] = "12"  # not an integer
    bad = {5: "execution_time_ms", 17: "status", 41: "trajectory"}

    with pytest.raises(ArcDatabaseError) as raised:
        await client.write_bundle(rows, method=method)
    assert raised.value.index == 5  # type: ignore[attr-defined]

    result = await client.write_bundle(rows, on_invalid="skip", method=method)
    assert result.inserted == 95
    assert sorted(e.index for e in result.rejected) == [5, 17, 30, 41, 52]  # type: ignore[attr-defined]
    for error in result.rejected:
        assert isinstance(error, ArcDatabaseError)
        if error.index in bad:  # type: ignore[attr-defined]
            assert error.field == bad[error.index]  # type: ignore[attr-defined]
    q = "SELECT count(*) FROM outcomes WHERE simulation_id = :s"
    assert await count(engine, q, s=sid) == 95


async def test_a_huge_execution_time_is_rejected_alone(
    engine: AsyncEngine, client: ArcDBClient
) -> None:
    sid, scen = await _simulation(engine, client, 4)
    rows = _fixed(sid, scen, 100)
    rows[7]["execution_time_ms"] = 1e14
    result = await client.record_outcomes_batch(rows, on_invalid="skip")
    assert result.inserted == 99
    assert [(e.index, e.field) for e in result.rejected] == [(7, "execution_time_ms")]  # type: ignore[attr-defined]


@pytest.mark.parametrize("method", ["values", "executemany", "copy"])
async def test_raise_mode_names_the_first_bad_row(
    engine: AsyncEngine, client: ArcDBClient, method: str
) -> None:
    """Two rows the database refuses: the first one's reason is raised (not the aborted
    transaction the second one would meet without its savepoint)."""
    sid, scen = await _simulation(engine, client, 2)
    rows = _fixed(sid, scen, 2)
    for row in rows:
        row["simulation_id"] = str(uuid.uuid4())
    with pytest.raises(ArcIntegrityError) as exc:
        await client.record_outcomes_batch(rows, method=method)
    assert (exc.value.field, exc.value.index) == ("simulation_id", 0)
    assert exc.value.sqlstate == "23503"


async def test_an_outcome_sent_again_by_id_only_is_a_duplicate(
    engine: AsyncEngine, client: ArcDBClient
) -> None:
    """A caller that gives the outcome_id but not the execution_time gets a new time on each
    call; the second delivery must still find the stored row (one row per outcome id)."""
    sid, scen = await _simulation(engine, client, 2)
    oid = str(uuid.uuid4())
    row = outcome_dict(sid, scen[0], outcome_id=oid)  # no execution_time
    assert await client.record_outcome(row) == oid
    again = await client.record_outcomes_batch([row, outcome_dict(sid, scen[1])])
    assert (again.inserted, again.duplicates) == (1, 1)
    assert await client.record_outcome(row) == oid
    q = "SELECT count(*) FROM outcomes WHERE outcome_id = :o"
    assert await count(engine, q, o=oid) == 1
