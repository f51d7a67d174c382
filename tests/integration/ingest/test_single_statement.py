"""record_outcome writes one outcome in one statement (bundle.write_one): the same row, the
same progress, the same typed errors and idempotency as the batch path it replaces."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.core.errors import ArcIntegrityError
from arc.database.ingest.bundle import prepare_bundle, write_one, writes_in_one_statement
from arc.database.ingest.client import ArcDBClient
from arc.database.ingest.validation import normalize_outcome
from tests.support.faults import count, make_config_version, outcome_dict, scenario


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[ArcDBClient]:
    c = ArcDBClient(database_url)
    yield c
    await c.close()


async def _sim(engine: AsyncEngine, client: ArcDBClient, n: int = 3) -> tuple[str, list[str]]:
    version_id = await make_config_version(engine)
    tag = uuid.uuid4().hex[:8]
    scen = [scenario(f"one_{tag}_{i}", i) for i in range(n)]
    return await client.create_simulation(version_id, scen), [s["id"] for s in scen]


async def _state(engine: AsyncEngine, sid: str) -> dict[str, Any]:
    """What an outcome's progress changes, times relative to the simulation's creation."""
    async with engine.connect() as conn:
        sim = (
            await conn.execute(
                text(
                    "SELECT status, completed_scenarios, started_at IS NOT NULL AS started"
                    " FROM simulations WHERE simulation_id = :s"
                ),
                {"s": sid},
            )
        ).one()
        scenarios = (
            await conn.execute(
                text(
                    "SELECT execution_order, status, started_at, completed_at, modal_call_id"
                    " FROM simulations_scenarios WHERE simulation_id = :s ORDER BY 1"
                ),
                {"s": sid},
            )
        ).all()
    return {"simulation": tuple(sim), "scenarios": [tuple(r) for r in scenarios]}


def _outcomes(sid: str, scen: list[str]) -> list[dict[str, Any]]:
    when = datetime(2025, 3, 1, 12, tzinfo=UTC)
    return [
        outcome_dict(sid, scen[0], execution_time=when, modal_call_id="call-a"),
        outcome_dict(
            sid, scen[1], status="error", execution_time=when + timedelta(seconds=5), tokens_used=1
        ),
        outcome_dict(sid, scen[0], execution_time=when + timedelta(seconds=9)),  # second run
    ]


async def test_same_progress_as_the_batch_path(engine: AsyncEngine, client: ArcDBClient) -> None:
    one, scen_one = await _sim(engine, client)
    many, scen_many = await _sim(engine, client)
    for item in _outcomes(one, scen_one):
        await client.record_outcome(item)
    for item in _outcomes(many, scen_many):  # one call each, through write_rows
        await client.record_outcomes_batch([item], method="values")
    assert await _state(engine, one) == await _state(engine, many)
    state = await _state(engine, one)
    assert state["simulation"] == ("running", 2, True)
    assert [s[1] for s in state["scenarios"]] == ["completed", "failed", "pending"]
    assert state["scenarios"][0][4] == "call-a"
    assert state["scenarios"][0][2] == datetime(2025, 3, 1, 12, tzinfo=UTC) - timedelta(
        milliseconds=1500
    )


async def test_retried_outcome_is_stored_and_counted_once(
    engine: AsyncEngine, client: ArcDBClient
) -> None:
    sid, scen = await _sim(engine, client)
    item = outcome_dict(
        sid, scen[0], outcome_id=str(uuid.uuid4()), execution_time="2025-03-01T00:00:00+00:00"
    )
    first = await client.record_outcome(item)
    again = await client.record_outcome(item)
    assert first == again == item["outcome_id"]
    assert await count(engine, "SELECT count(*) FROM outcomes WHERE outcome_id = :o", o=first) == 1
    assert (await _state(engine, sid))["simulation"][1] == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"simulation_id": str(uuid.uuid4())}, "simulation_id"),
        ({"scenario_id": "never_registered_scenario"}, "scenario_id"),
    ],
    ids=["unknown_simulation", "unknown_scenario"],
)
async def test_refused_by_the_database_with_a_typed_error(
    engine: AsyncEngine, client: ArcDBClient, change: dict[str, Any], field: str
) -> None:
    sid, scen = await _sim(engine, client)
    item = {**outcome_dict(sid, scen[0]), **change}
    with pytest.raises(ArcIntegrityError) as exc:
        await client.record_outcome(item)
    assert (exc.value.field, exc.value.sqlstate, exc.value.index) == (field, "23503", 0)
    assert exc.value.table == "outcomes"
    assert await count(engine, "SELECT count(*) FROM outcomes WHERE simulation_id = :s", s=sid) == 0
    assert (await _state(engine, sid))["simulation"][1] == 0


async def test_inside_a_transaction_it_joins_it(engine: AsyncEngine, client: ArcDBClient) -> None:
    """With a transaction begun, the statement is part of it: rolled back with it."""
    sid, scen = await _sim(engine, client)
    row = normalize_outcome(outcome_dict(sid, scen[0]))
    bundle = prepare_bundle([row], (), (), advance_progress=True)
    assert writes_in_one_statement(bundle)
    async with engine.connect() as conn:
        transaction = await conn.begin()
        result = await write_one(conn, bundle)
        assert (result.inserted, result.scenarios_advanced) == (1, 1)
        seen = await conn.execute(
            text("SELECT count(*) FROM outcomes WHERE outcome_id = :o"), {"o": row["outcome_id"]}
        )
        assert seen.scalar() == 1
        await transaction.rollback()
    oid = str(row["outcome_id"])
    assert await count(engine, "SELECT count(*) FROM outcomes WHERE outcome_id = :o", o=oid) == 0
    assert (await _state(engine, sid))["simulation"][1] == 0


def test_what_takes_the_one_statement_path() -> None:
    sid = str(uuid.uuid4())
    row = normalize_outcome(outcome_dict(sid, "s"))
    assert writes_in_one_statement(prepare_bundle([row], (), (), advance_progress=True))
    assert not writes_in_one_statement(prepare_bundle([row, row], (), (), advance_progress=True))
    assert not writes_in_one_statement(prepare_bundle([row], (), (), advance_progress=False))
    assert not writes_in_one_statement(
        prepare_bundle([row], (), (), advance_progress=True, resolve_times=[row["outcome_id"]])
    )
    embedded = normalize_outcome(outcome_dict(sid, "s", trajectory_embedding=[0.5] * 1536))
    assert not writes_in_one_statement(prepare_bundle([embedded], (), (), advance_progress=True))
