"""The seeds' interfaces behave as the seeds use them (issue 11, item 5)."""

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.api import ArcAPI
from arc.database.configs.manager import ConfigurationManager
from arc.database.core.engine import session_factory
from arc.database.ingest.client import ArcDBClient
from tests.support.faults import count, make_config_version, scenario, scenario_result


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[ArcDBClient]:
    c = ArcDBClient(database_url, application_name=f"arc-seed-{uuid.uuid4().hex[:8]}")
    await c.initialize()
    yield c
    await c.close()


async def test_execution_start_takes_a_configuration_id_and_runs_its_approved_version(
    engine: AsyncEngine, client: ArcDBClient
) -> None:
    """Seed 002 §8A passes `config_id`: the simulation runs the latest approved version, not a
    pending candidate."""
    manager = ConfigurationManager()
    async with session_factory(engine).begin() as s:
        created = await manager.create_configuration(
            s, uuid.uuid4(), f"seed {uuid.uuid4().hex[:6]}", "model: m\ntemperature: 0.2\n"
        )
        await manager.propose_config_version(
            s, created.config_id, "model: m\ntemperature: 0.9\n", generated_by="llm_recommendation"
        )
    slug = f"seed_{uuid.uuid4().hex[:8]}"
    first = await client.record_execution_start(
        {"scenario_set": [scenario(slug)], "config_version_id": created.version_id}
    )
    sid = await client.record_execution_start(
        {"scenario_id": slug, "config_id": str(created.config_id), "modal_call_id": "fc-1"}
    )
    assert sid != first
    assert (
        await count(
            engine,
            "SELECT count(*) FROM simulations WHERE simulation_id = :s AND config_version_id = :v",
            s=uuid.UUID(sid),
            v=created.version_id,
        )
        == 1
    )


async def test_failure_before_any_outcome_records_the_failed_execution(
    engine: AsyncEngine, client: ArcDBClient
) -> None:
    """Seed 002 §8A's except branch: the run raised before it produced an outcome."""
    version_id = await make_config_version(engine)
    slug = f"seed_{uuid.uuid4().hex[:8]}"
    sid = await client.record_execution_start(
        {"scenario_set": [scenario(slug)], "config_version_id": version_id}
    )
    pattern_id = await client.record_failure_pattern(
        {
            "execution_id": sid,
            "error_type": "SandboxCrashed",
            "error_message": "sandbox exited with 137",
            "failure_category": "system_error",
        }
    )
    uuid.UUID(pattern_id)
    stored = await count(
        engine,
        "SELECT count(*) FROM outcomes o JOIN failure_patterns f USING (outcome_id) "
        "WHERE o.simulation_id = :s AND o.status = 'error' AND o.scenario_id = :c "
        "AND f.failure_type = 'SandboxCrashed' AND f.pattern_id = :p",
        s=uuid.UUID(sid),
        c=slug,
        p=uuid.UUID(pattern_id),
    )
    assert stored == 1
    # A second failure of the same execution attaches to the outcome now stored.
    await client.record_failure_pattern(
        {"execution_id": sid, "error_type": "Cleanup", "error_message": "x"}
    )
    assert (
        await count(
            engine, "SELECT count(*) FROM outcomes WHERE simulation_id = :s", s=uuid.UUID(sid)
        )
        == 1
    )


async def test_a_timeout_reported_as_error_is_stored_as_error(
    engine: AsyncEngine, client: ArcDBClient
) -> None:
    """`status` keeps what the caller said; the timeout goes to error_category."""
    version_id = await make_config_version(engine)
    slug = f"seed_{uuid.uuid4().hex[:8]}"
    sid = await client.create_simulation(version_id, [scenario(slug)])
    result = scenario_result(scenario(slug), ok=False)
    result["trajectory"]["error"] = "Execution timed out after 300s"
    oid = await ArcAPI(client).record_scenario_outcome(sid, result)
    assert (
        await count(
            engine,
            "SELECT count(*) FROM outcomes WHERE outcome_id = :o AND status = 'error' "
            "AND error_category = 'timeout'",
            o=uuid.UUID(oid),
        )
        == 1
    )


async def test_health_under_the_seed_names_reports_real_state(client: ArcDBClient) -> None:
    hyper = await client.health.check_hypertable_health()
    assert hyper["hypertable_status"] in ("healthy", "degraded", "unhealthy")
    assert isinstance(hyper["chunk_count"], int)
    assert "outcomes" in hyper["hypertables"]

    idle = await client.health.check_connection_pool()
    async with client.engine.connect() as held, client.engine.connect() as held2:
        await held.exec_driver_sql("SELECT 1")
        await held2.exec_driver_sql("SELECT 1")
        busy = await client.health.check_connection_pool()
    assert busy["checked_out"] >= idle["checked_out"] + 2
    assert busy["status"] == "healthy"
    assert busy["acquire_ms"] is not None


async def test_metrics_claim_no_success_before_any_operation(database_url: str) -> None:
    fresh = ArcDBClient(database_url)
    try:
        assert fresh.get_metrics()["success_rate"] is None
        assert fresh.get_metrics()["total_operations"] == 0
    finally:
        await fresh.close()


async def test_a_retried_call_with_its_modal_call_id_stores_nothing_twice(
    engine: AsyncEngine, client: ArcDBClient
) -> None:
    """Seed 003 sends results with their Modal call ids: a retry after a lost answer (the
    server committed, the client never heard) finds the stored rows."""
    version_id = await make_config_version(engine)
    slugs = [f"seed_{uuid.uuid4().hex[:8]}" for _ in range(3)]
    sid = await client.create_simulation(version_id, [scenario(s, i) for i, s in enumerate(slugs)])
    results = [scenario_result(scenario(s, i)) for i, s in enumerate(slugs)]
    calls = [f"fc-{uuid.uuid4().hex[:8]}" for _ in slugs]
    api = ArcAPI(client)
    first = await api.record_batch_outcomes(sid, results, modal_call_ids=calls)
    again = await api.record_batch_outcomes(sid, results, modal_call_ids=calls)
    single = await api.record_scenario_outcome(sid, results[0], modal_call_id=calls[0])
    assert again == first
    assert single == first[0]
    for table in ("outcomes", "tool_usage"):
        stored = await count(
            engine,
            f"SELECT count(*) FROM {table} t JOIN outcomes o USING (outcome_id) "
            "WHERE o.simulation_id = :s",
            s=uuid.UUID(sid),
        )
        expected = (
            3
            if table == "outcomes"
            else await count(
                engine,
                "SELECT count(DISTINCT (outcome_id, tool_name)) FROM tool_usage "
                "WHERE outcome_id = ANY(:ids)",
                ids=[uuid.UUID(i) for i in first],
            )
        )
        assert stored == expected
    assert (
        await count(
            engine,
            "SELECT completed_scenarios FROM simulations WHERE simulation_id = :s",
            s=uuid.UUID(sid),
        )
        == 3
    )
    # Without call ids every call is a new execution.
    await api.record_batch_outcomes(sid, results[:1])
    assert (
        await count(
            engine, "SELECT count(*) FROM outcomes WHERE simulation_id = :s", s=uuid.UUID(sid)
        )
        == 4
    )
