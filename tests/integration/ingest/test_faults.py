"""Faults during ingest end with every acknowledged row stored exactly once.

Servers touched: the shared test server only through connections of our own (terminating
our client's backends, a loopback proxy in front of it); restarts happen only on a
throwaway cluster this test creates and destroys.
"""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.core.errors import ArcCircuitOpenError, ArcTransientError
from arc.database.core.retry import CircuitBreaker, RetryPolicy
from arc.database.core.settings import to_asyncpg_url
from arc.database.ingest.client import ArcDBClient
from arc.database.ingest.recorder import BatchExecutionRecorder
from arc.database.ops.provision import ensure_database, with_database
from arc.database.schema import migrate
from tests.support.faults import (
    TcpProxy,
    ThrowawayCluster,
    cluster_available,
    count,
    make_config_version,
    outcome_dict,
    scenario,
)

FAST_RETRY = RetryPolicy(max_attempts=6, initial_delay=0.05, backoff=2.0, max_delay=1.0)


async def _admin(url: str) -> asyncpg.Connection:
    u, _ = to_asyncpg_url(url)
    return await asyncpg.connect(
        user=u.username, password=u.password, host=u.host, port=u.port, database=u.database
    )


async def _sim(engine: AsyncEngine, client: ArcDBClient, n: int = 4) -> tuple[str, list[str]]:
    version_id = await make_config_version(engine)
    tag = uuid.uuid4().hex[:8]
    scen = [scenario(f"flt_{tag}_{i}", i) for i in range(n)]
    return await client.create_simulation(version_id, scen), [s["id"] for s in scen]


async def _exactly_once(engine: AsyncEngine, ids: list[str]) -> None:
    q = "SELECT count(*) FROM outcomes WHERE outcome_id = ANY(CAST(:i AS uuid[]))"
    assert len(ids) == len(set(ids))
    assert await count(engine, q, i=ids) == len(ids)
    assert await count(engine, q.replace("count(*)", "count(DISTINCT outcome_id)"), i=ids) == len(
        ids
    )


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[TcpProxy]:
    url = make_url(database_url)
    p = await TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    yield p
    await p.stop()


def _via(database_url: str, proxy: TcpProxy) -> str:
    """Through the proxy in plain text (the proxy reads the protocol to know when to cut)."""
    url = make_url(database_url).set(port=proxy.port).update_query_dict({"sslmode": "disable"})
    return url.render_as_string(hide_password=False)


async def test_terminated_backends_during_ingest(
    engine: AsyncEngine, database_url: str, server_url: str
) -> None:
    """pg_terminate_backend on all of the client's connections, repeatedly, mid-ingest."""
    app = f"arc-kill-{uuid.uuid4().hex[:8]}"
    client = ArcDBClient(database_url, application_name=app, retry_policy=FAST_RETRY)
    sid, scen = await _sim(engine, client)
    acked: list[str] = []
    recorder = BatchExecutionRecorder(client, batch_size=25, flush_interval=0.2)

    async def producer(p: int) -> None:
        for i in range(150):
            oid = await recorder.record_outcome(outcome_dict(sid, scen[(p + i) % 4]))
            assert oid is not None
            acked.append(oid)
            if i % 10 == 0:
                await asyncio.sleep(0.01)

    async def direct(p: int) -> None:
        for _ in range(5):
            rows = [outcome_dict(sid, scen[i % 4]) for i in range(80)]
            # A call that fails was not acknowledged: no promise either way.
            with contextlib.suppress(ArcTransientError):
                acked.extend(await client.record_outcomes_batch(rows))

    admin = await _admin(server_url)
    killed = 0

    async def killer() -> None:
        nonlocal killed
        for _ in range(8):
            await asyncio.sleep(0.12)
            killed += await admin.fetchval(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = $1) t",
                app,
            )

    try:
        await asyncio.gather(*(producer(p) for p in range(4)), direct(0), direct(1), killer())
        await recorder.close()
    finally:
        await admin.close()
    assert killed > 0
    assert client.get_metrics()["retries"] + recorder.retried > 0
    assert recorder.flushed == 600
    assert recorder.rejected == 0
    await _exactly_once(engine, acked)
    await client.close()


async def test_connection_cut_mid_batch(
    engine: AsyncEngine, database_url: str, proxy: TcpProxy
) -> None:
    """The connection dies as the batch's COPY starts (rows half-sent): retried, stored once."""
    client = ArcDBClient(_via(database_url, proxy), retry_policy=FAST_RETRY)
    sid, scen = await _sim(engine, client)
    rows = [outcome_dict(sid, scen[i % 4]) for i in range(500)]
    proxy.cut_on(b"FROM STDIN", forward=False)
    result = await client.record_outcomes_batch(rows)
    assert proxy.triggered.is_set()
    assert result.inserted == 500
    assert client.get_metrics()["retries"] >= 1
    await _exactly_once(engine, list(result))
    await client.close()


async def test_connection_cut_after_commit_sent(
    engine: AsyncEngine, database_url: str, proxy: TcpProxy
) -> None:
    """The server commits but the acknowledgement is lost: the retry finds the rows stored."""
    client = ArcDBClient(_via(database_url, proxy), retry_policy=FAST_RETRY)
    sid, scen = await _sim(engine, client)
    rows = [outcome_dict(sid, scen[i % 4]) for i in range(300)]
    # asyncpg commits with the simple query "COMMIT;" (the staging DDL's ON COMMIT differs).
    proxy.cut_on(b"COMMIT;", forward=True)
    result = await client.record_outcomes_batch(rows)
    assert proxy.triggered.is_set()
    assert (result.inserted, result.duplicates) == (0, 300)  # all already committed
    await _exactly_once(engine, list(result))
    # Progress was counted by the committed attempt only.
    assert (
        await count(
            engine, "SELECT completed_scenarios FROM simulations WHERE simulation_id = :s", s=sid
        )
        == 4
    )
    await client.close()


async def test_circuit_breaker_opens_then_probes(
    engine: AsyncEngine, database_url: str, proxy: TcpProxy
) -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=0.5)
    client = ArcDBClient(
        _via(database_url, proxy),
        retry_policy=RetryPolicy(max_attempts=2, initial_delay=0.01),
        circuit_breaker=breaker,
    )
    sid, scen = await _sim(engine, client)
    await client.engine.dispose()  # no pooled connection survives: every call must connect
    proxy.refuse = True
    for _ in range(2):
        with pytest.raises(ArcTransientError) as exc:
            await client.record_outcome(outcome_dict(sid, scen[0]))
        assert not isinstance(exc.value, ArcCircuitOpenError)
    assert breaker.state == "open"
    with pytest.raises(ArcCircuitOpenError):
        await client.record_outcome(outcome_dict(sid, scen[0]))
    proxy.refuse = False
    await asyncio.sleep(0.6)
    assert breaker.state == "half_open"
    oid = await client.record_outcome(outcome_dict(sid, scen[0]))  # the probe
    assert breaker.state == "closed"
    await _exactly_once(engine, [oid])
    await client.close()


@pytest.mark.skipif(cluster_available() is not None, reason=str(cluster_available()))
async def test_server_restart_during_ingest() -> None:
    """Stop and restart a throwaway cluster mid-ingest; the recorder keeps and retries rows."""
    cluster = ThrowawayCluster()
    try:
        await asyncio.to_thread(cluster.init)
        await asyncio.to_thread(cluster.start)
        url = with_database(cluster.url, "arc_restart")
        await ensure_database(url)
        await asyncio.to_thread(migrate.upgrade, url)
        client = ArcDBClient(url, retry_policy=RetryPolicy(max_attempts=3, initial_delay=0.2))
        sid, scen = await _sim(client.engine, client)
        recorder = BatchExecutionRecorder(
            client, batch_size=20, flush_interval=0.1, retry_delay=0.2
        )
        acked: list[str] = []
        restarted = asyncio.Event()

        async def producer(p: int) -> None:
            for i in range(100):
                oid = await recorder.record_outcome(outcome_dict(sid, scen[(p + i) % 4]))
                assert oid is not None
                acked.append(oid)
                await asyncio.sleep(0.01)

        async def restart() -> None:
            await asyncio.sleep(0.4)
            await asyncio.to_thread(cluster.stop, "fast")
            await asyncio.sleep(2.0)
            await asyncio.to_thread(cluster.start)
            restarted.set()

        await asyncio.gather(*(producer(p) for p in range(4)), restart())
        await recorder.close()
        assert restarted.is_set()
        assert recorder.retried > 0
        assert recorder.flushed == 400
        await _exactly_once(client.engine, acked)
        await client.close()
    finally:
        await asyncio.to_thread(cluster.destroy)


@pytest.mark.parametrize("forward", [False, True], ids=["lost_before", "lost_after_commit"])
async def test_single_outcome_statement_cut(
    engine: AsyncEngine, database_url: str, proxy: TcpProxy, forward: bool
) -> None:
    """record_outcome is one statement in its own transaction: cut before the server runs it
    (retried: stored once) or after it committed (retried: found stored, same id), the
    outcome is stored once and its scenario counted once."""
    client = ArcDBClient(_via(database_url, proxy), retry_policy=FAST_RETRY)
    sid, scen = await _sim(engine, client)
    await client.record_outcome(outcome_dict(sid, scen[1]))  # the statement is prepared now
    marker = f"cut_{uuid.uuid4().hex}"
    proxy.cut_on(marker.encode(), forward=forward)  # the Bind message carries the values
    oid = await client.record_outcome(outcome_dict(sid, scen[0], sandbox_id=marker))
    assert proxy.triggered.is_set()
    assert client.get_metrics()["retries"] >= 1
    await _exactly_once(engine, [oid])
    assert await count(engine, "SELECT count(*) FROM outcomes WHERE sandbox_id = :m", m=marker) == 1
    assert (
        await count(
            engine, "SELECT completed_scenarios FROM simulations WHERE simulation_id = :s", s=sid
        )
        == 2
    )
    await client.close()
