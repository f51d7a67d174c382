"""The recorder's shutdown contract (issue 12): rows are stored, returned to the caller, or
dead-lettered with a reason, never dropped silently.

Child processes record rows and end without close(): by returning from asyncio.run, by
sys.exit, by SIGTERM and by SIGKILL. Without a spool the exit is loud (the count of rows left);
with a spool the next recorder on that spool writes them, exactly once. In-process: cancelled
workers come back, and close() gives up at its deadline while the server is unreachable,
handing back complete bundles.
"""

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.core.errors import ArcConfigurationError, ArcTransientError
from arc.database.core.retry import CircuitBreaker, RetryPolicy
from arc.database.ingest.client import ArcDBClient
from arc.database.ingest.recorder import CLOSE_TIMEOUT, BatchExecutionRecorder
from tests.conftest import ROOT
from tests.support.faults import TcpProxy, count, make_config_version, outcome_dict, scenario

ROWS = 25


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[ArcDBClient]:
    c = ArcDBClient(database_url)
    yield c
    await c.close()


async def _sim(engine: AsyncEngine, client: ArcDBClient, n: int = 2) -> tuple[str, list[str]]:
    version_id = await make_config_version(engine)
    tag = uuid.uuid4().hex[:8]
    scen = [scenario(f"shut_{tag}_{i}", i) for i in range(n)]
    return await client.create_simulation(version_id, scen), [s["id"] for s in scen]


def _child(mode: str, url: str, sid: str, scen: str, spool: Path | None) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "tests.support.recorder_child", mode, url, sid, scen, str(ROWS)]
    if spool is not None:
        args.append(str(spool))
    env = {**os.environ, "PYTHONPATH": ROOT, "ARC_LOG_FORMAT": "json"}
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _ids(out: str) -> list[str]:
    line = next(x for x in out.splitlines() if x.startswith("IDS "))
    ids: list[str] = json.loads(line[4:])
    assert len(ids) == ROWS
    return ids


def _events(err: str, name: str) -> list[dict[str, Any]]:
    found = []
    for line in err.splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("event") == name:
                found.append(event)
    return found


async def _stored(engine: AsyncEngine, ids: list[str]) -> tuple[int, int, int]:
    """(outcome rows, tool usage rows, failure pattern rows) of these outcome ids."""
    out = []
    for table in ("outcomes", "tool_usage", "failure_patterns"):
        out.append(
            await count(
                engine,
                f"SELECT count(*) FROM {table} WHERE outcome_id = ANY(CAST(:i AS uuid[]))",
                i=ids,
            )
        )
    return out[0], out[1], out[2]


async def _replay(client: ArcDBClient, spool: Path) -> BatchExecutionRecorder:
    recorder = BatchExecutionRecorder(client, batch_size=10, spool_path=spool)
    async with recorder:
        pass
    return recorder


@pytest.mark.parametrize("mode", ["return", "exit"])
async def test_exit_without_close_is_loud_without_a_spool(
    engine: AsyncEngine, client: ArcDBClient, database_url: str, mode: str
) -> None:
    sid, scen = await _sim(engine, client)
    child = _child(mode, database_url, sid, scen[0], None)
    out, err = await asyncio.to_thread(child.communicate, timeout=120)
    assert child.returncode == (3 if mode == "exit" else 0), err[-2000:]
    ids = _ids(out)
    [warning] = _events(err, "recorder.unwritten_at_exit")
    assert warning["level"] == "error"
    assert warning["rows"] == ROWS
    assert warning["spool"] is None
    assert await _stored(engine, ids) == (0, 0, 0)


@pytest.mark.parametrize("mode", ["return", "exit", "sigterm", "sigkill"])
async def test_the_next_start_replays_the_spool(
    engine: AsyncEngine, client: ArcDBClient, database_url: str, tmp_path: Path, mode: str
) -> None:
    sid, scen = await _sim(engine, client)
    spool = tmp_path / "spool"
    child = _child("signal" if mode.startswith("sig") else mode, database_url, sid, scen[0], spool)
    head = ""
    if mode.startswith("sig"):
        assert child.stdout is not None
        while "READY" not in head:
            line = await asyncio.to_thread(child.stdout.readline)
            assert line, "the child ended before READY"
            head += line
        child.send_signal(signal.SIGTERM if mode == "sigterm" else signal.SIGKILL)
    rest, err = await asyncio.to_thread(child.communicate, timeout=120)
    out = head + rest
    expected_rc = {"return": 0, "exit": 3, "sigterm": -signal.SIGTERM, "sigkill": -signal.SIGKILL}
    assert child.returncode == expected_rc[mode], err[-2000:]
    if mode != "sigkill":  # SIGKILL leaves no chance to speak; the spool was written ahead
        [warning] = _events(err, "recorder.unwritten_at_exit")
        assert (warning["rows"], warning["spool"]) == (ROWS, str(spool))
    ids = _ids(out)
    assert await _stored(engine, ids) == (0, 0, 0)

    recorder = await _replay(client, spool)
    assert recorder.replayed == ROWS
    assert (recorder.inserted, recorder.duplicates, recorder.rejected) == (ROWS, 0, 0)
    assert await _stored(engine, ids) == (ROWS, ROWS, ROWS)

    again = await _replay(client, spool)  # written once: nothing left to replay
    assert again.replayed == 0
    assert await _stored(engine, ids) == (ROWS, ROWS, ROWS)


async def test_a_spool_has_one_owner(client: ArcDBClient, tmp_path: Path) -> None:
    first = BatchExecutionRecorder(client, spool_path=tmp_path / "one")
    first.start()
    second = BatchExecutionRecorder(client, spool_path=tmp_path / "one")
    with pytest.raises(ArcConfigurationError, match="in use"):
        second.start()
    await first.close()
    async with BatchExecutionRecorder(client, spool_path=tmp_path / "one"):
        pass


def _recorder_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("arc-recorder")]


async def _cancel_workers() -> int:
    tasks = _recorder_tasks()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return len(tasks)


async def test_cancelled_workers_come_back(engine: AsyncEngine, client: ArcDBClient) -> None:
    sid, scen = await _sim(engine, client)
    recorder = BatchExecutionRecorder(client, batch_size=10, flush_interval=0.2)
    recorder.start()
    assert await _cancel_workers() >= recorder.max_concurrent_flushes
    ids = [await recorder.record_outcome(outcome_dict(sid, scen[i % 2])) for i in range(25)]
    await asyncio.wait_for(recorder.flush(), 30)  # hung forever before
    q = "SELECT count(*) FROM outcomes WHERE simulation_id = :s"
    assert await count(engine, q, s=sid) == 25

    # Cancelled again while idle: the time-based flush still happens, nobody calls flush().
    await _cancel_workers()
    await asyncio.sleep(0.05)
    ids += [await recorder.record_outcome(outcome_dict(sid, scen[i % 2])) for i in range(3)]
    for _ in range(200):
        if recorder.flushed == 28:
            break
        await asyncio.sleep(0.05)
    assert recorder.flushed == 28
    await recorder.close()
    assert len(set(ids)) == 28


async def test_workers_cancelled_mid_write_lose_and_double_nothing(
    engine: AsyncEngine, client: ArcDBClient
) -> None:
    sid, scen = await _sim(engine, client, 4)
    recorder = BatchExecutionRecorder(client, batch_size=20, flush_interval=0.01)
    ids: list[str | None] = []

    async def producer() -> None:
        for i in range(300):
            ids.append(await recorder.record_outcome(outcome_dict(sid, scen[i % 4])))

    async def saboteur() -> None:
        for _ in range(8):
            await asyncio.sleep(0.03)
            await _cancel_workers()

    await asyncio.gather(producer(), saboteur())
    await asyncio.wait_for(recorder.close(), 60)
    assert recorder.flushed == 300
    assert recorder.inserted + recorder.duplicates == 300
    q = "SELECT count(*) FROM outcomes WHERE outcome_id = ANY(CAST(:i AS uuid[]))"
    assert await count(engine, q, i=ids) == 300
    assert len(set(ids)) == 300


async def test_close_has_a_deadline_and_hands_back_complete_bundles(
    engine: AsyncEngine, client: ArcDBClient, database_url: str
) -> None:
    sid, scen = await _sim(engine, client)
    assert math.isfinite(BatchExecutionRecorder(client).close_timeout)
    assert BatchExecutionRecorder(client).close_timeout == CLOSE_TIMEOUT
    url = make_url(database_url)
    proxy = await TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    proxy.refuse = True  # the server is unreachable
    down = ArcDBClient(
        url.set(port=proxy.port).render_as_string(hide_password=False),
        retry_policy=RetryPolicy(max_attempts=2, initial_delay=0.01),
        circuit_breaker=CircuitBreaker(failure_threshold=1000),  # no cooldown after the outage
    )
    recorder = BatchExecutionRecorder(
        down, batch_size=100, flush_interval=0.05, close_timeout=1.0, retry_delay=0.05
    )
    try:
        oids = []
        for i in range(3):
            oids.append(
                await recorder.record_outcome(
                    outcome_dict(sid, scen[i % 2], status="error", error_category="tool_error"),
                    tool_usage=[
                        {
                            "tool_name": "search",
                            "call_count": 1,
                            "avg_duration_ms": 1.0,
                            "success_rate": 0.0,
                        }
                    ],
                    failure_patterns=[{"failure_type": "E", "failure_category": "tool_error"}],
                )
            )
        await recorder.record_tool_usage(
            [
                {
                    "outcome_id": oids[0],
                    "tool_name": "calc",
                    "call_count": 1,
                    "avg_duration_ms": 1.0,
                    "success_rate": 1.0,
                }
            ]
        )
        with pytest.raises(ArcTransientError, match="3"):
            await asyncio.wait_for(recorder.close(), 60)  # default deadline: close_timeout
        pending = recorder.pending()
        assert [str(b.outcome["outcome_id"]) for b in pending if b.outcome] == oids
        assert [len(b.tool_usage) for b in pending] == [2, 1, 1]
        assert [len(b.failure_patterns) for b in pending] == [1, 1, 1]
        assert await _stored(engine, [str(o) for o in oids]) == (0, 0, 0)

        proxy.refuse = False  # the server is back: closing again writes them
        await asyncio.wait_for(recorder.close(), 60)
        assert recorder.pending() == []
        assert await _stored(engine, [str(o) for o in oids]) == (3, 4, 3)
    finally:
        await down.close()
        await proxy.stop()
