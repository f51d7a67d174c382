"""Scenario progress travels as one JSON document (docs/decisions.md P25): the times it
carries must be the outcome's instants exactly, whatever zone the caller wrote them in."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.ingest.client import ArcDBClient
from tests.support.faults import make_config_version, outcome_dict, scenario

# An offset with seconds: orjson would write it as +05:30 and move the time by 7 seconds.
ODD_ZONE = timezone(timedelta(hours=5, minutes=30, seconds=7))


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[ArcDBClient]:
    c = ArcDBClient(database_url, application_name=f"arc-progress-{uuid.uuid4().hex[:8]}")
    yield c
    await c.close()


@pytest.mark.parametrize("zone", [UTC, ODD_ZONE, timezone(timedelta(hours=-9, minutes=-45))])
async def test_progress_carries_the_outcomes_instants(
    engine: AsyncEngine, client: ArcDBClient, zone: timezone
) -> None:
    version_id = await make_config_version(engine)
    tag = uuid.uuid4().hex[:8]
    scenarios = [scenario(f"prog_{tag}_{i}", i) for i in range(3)]
    sid = await client.create_simulation(version_id, scenarios)
    finished = datetime(2026, 11, 2, 10, 15, 30, 123456, tzinfo=zone)
    durations = [1500, 0, 86_399_999]
    await client.record_outcomes_batch(
        [
            outcome_dict(
                sid, s["id"], execution_time=finished + timedelta(seconds=i), execution_time_ms=ms
            )
            for i, (s, ms) in enumerate(zip(scenarios, durations, strict=True))
        ]
    )
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT scenario_id, status, started_at, completed_at"
                    " FROM simulations_scenarios WHERE simulation_id = :s ORDER BY scenario_id"
                ),
                {"s": sid},
            )
        ).all()
        completed = (
            await conn.execute(
                text("SELECT completed_scenarios FROM simulations WHERE simulation_id = :s"),
                {"s": sid},
            )
        ).scalar()
    assert completed == 3
    for i, (row, ms) in enumerate(zip(rows, durations, strict=True)):
        end = finished + timedelta(seconds=i)
        assert row.status == "completed"
        assert row.completed_at == end
        assert row.started_at == end - timedelta(milliseconds=ms)
