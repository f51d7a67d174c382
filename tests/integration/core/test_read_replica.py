"""Reads routed to a real streaming replica of the test server (pg_basebackup -R): routing,
replication, the health check's lag, and losing the replica (reads fall back to the primary,
health says so, reads return to the replica once it is back)."""

import asyncio
import os
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.core.engine import READ_STATS, build_engine
from arc.database.ops.health import DatabaseHealthChecker
from tests.conftest import ROOT
from tests.support.topology import on_database, replica_url

__all__ = ["replica_url"]
WHERE = text("SELECT pg_is_in_recovery(), inet_server_port()")


@pytest.fixture
async def read_engine(replica_url: str, database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = build_engine(
        url=on_database(replica_url, database_url),
        fallback_url=database_url,
        pool_size=2,
        max_overflow=0,
        connect_timeout=3,
    )
    yield engine
    await engine.dispose()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _where(engine: AsyncEngine) -> tuple[bool, int]:
    async with engine.connect() as conn:
        standby, port = (await conn.execute(WHERE)).one()
    return bool(standby), int(port)


async def test_reads_go_to_the_replica_and_see_the_primarys_writes(
    read_engine: AsyncEngine, engine: AsyncEngine, replica_url: str
) -> None:
    standby, port = await _where(read_engine)
    assert standby
    assert port == make_url(replica_url).port
    marker = f"replicated_{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO scenarios (scenario_id, name, task_prompt) "
                "VALUES (:id, :id, 'replication probe')"
            ),
            {"id": marker},
        )
    deadline = time.monotonic() + 20
    seen = 0
    while time.monotonic() < deadline and not seen:
        async with read_engine.connect() as conn:
            seen = (
                await conn.execute(
                    text("SELECT count(*) FROM scenarios WHERE scenario_id = :id"), {"id": marker}
                )
            ).scalar_one()
        await asyncio.sleep(0.1)
    assert seen == 1


async def test_health_reports_the_replica_and_its_lag(
    read_engine: AsyncEngine, engine: AsyncEngine
) -> None:
    result = await DatabaseHealthChecker(engine, read_engine=read_engine).check_replica()
    assert result.status == "healthy", result.reasons
    assert result.details["standby"] is True
    assert result.details["lag_seconds"] is not None
    assert result.details["lag_seconds"] < 30
    assert result.details["streaming_replicas_of_primary"] >= 1
    report = await DatabaseHealthChecker(engine, read_engine=read_engine).check_all(
        write_probe=False
    )
    assert "replica" in {c.name for c in report.checks}


async def test_an_unreachable_replica_falls_back_to_the_primary_and_degrades_health(
    engine: AsyncEngine, database_url: str
) -> None:
    down = build_engine(
        url=on_database(f"postgresql://arc:arc@127.0.0.1:{_closed_port()}/x", database_url),
        fallback_url=database_url,
        pool_size=1,
        max_overflow=0,
    )
    before = READ_STATS.fallbacks
    try:
        standby, _ = await _where(down)
        result = await DatabaseHealthChecker(engine, read_engine=down).check_replica()
    finally:
        await down.dispose()
    assert not standby  # the primary answered
    assert READ_STATS.fallbacks > before
    assert result.status == "degraded"
    assert "reads go to the primary" in result.reasons[0]


@pytest.mark.skipif(os.geteuid() != 0, reason="stopping the harness's replica needs root")
async def test_losing_the_real_replica_and_getting_it_back(
    read_engine: AsyncEngine, engine: AsyncEngine
) -> None:
    script = os.path.join(ROOT, "scripts", "localdb.sh")
    assert (await _where(read_engine))[0]
    subprocess.run(["bash", script, "replica-stop"], check=True, capture_output=True)
    try:
        standby, _ = await _where(read_engine)  # pre-ping drops the dead connection
        assert not standby
        degraded = await DatabaseHealthChecker(engine, read_engine=read_engine).check_replica()
        assert degraded.status == "degraded"
    finally:
        subprocess.run(["bash", script, "replica"], check=True, capture_output=True)
    await read_engine.dispose()  # what pool_recycle does within a minute
    assert (await _where(read_engine))[0]
