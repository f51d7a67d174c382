"""Seed 003's integration example, run as written (Modal calls replaced by plain values)."""

import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.api import ArcAPI, create_arc_api
from arc.database.core.errors import ArcIntegrityError, ArcValidationError, DatabaseError
from arc.database.ingest.client import ArcDBClient, ArcEvalDBClient
from tests.support.faults import count, make_config_version, scenario, scenario_result


@pytest.fixture
async def db_api(database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ArcAPI]:
    monkeypatch.setenv("TIMESCALE_SERVICE_URL", database_url)
    api = await create_arc_api()
    yield api
    await api.db.close()


def _suite(scenarios: list[dict[str, Any]], fail_last: bool = True) -> dict[str, Any]:
    results = [
        scenario_result(s, ok=not (fail_last and i == len(scenarios) - 1), score=0.8 + i * 0.01)
        for i, s in enumerate(scenarios)
    ]
    return {"results": results}


async def run_evaluation_suite_with_db(
    agent_config: dict[str, Any],
    scenarios: list[dict[str, Any]],
    config_version_id: str,
    run_evaluation_suite_parallel: Any,
) -> dict[str, Any]:
    """Seed 003's function body; only modal.* and os.getenv are replaced by plain values."""
    # 1. Initialize database API
    db_api = await create_arc_api()

    # 2. Start simulation tracking
    simulation_info = await db_api.start_simulation(
        config_version_id=config_version_id,
        scenarios=scenarios,
        simulation_name=f"eval_{agent_config['model']}_{datetime.now().strftime('%Y%m%d_%H%M%S')}",
        modal_app_id="app-test",
        modal_environment=os.getenv("MODAL_ENVIRONMENT", "production"),
        sandbox_instances=len(scenarios),
        metadata={
            "agent_model": agent_config["model"],
            "agent_temperature": agent_config["temperature"],
            "tools_enabled": agent_config.get("tools", []),
        },
    )

    simulation_id = simulation_info["simulation_id"]
    try:
        # 3. Run the actual evaluation (your existing code)
        suite_result = run_evaluation_suite_parallel(agent_config, scenarios)

        # 4. Record all outcomes in batch
        modal_call_ids = [f"call-test_{i}" for i in range(len(scenarios))]
        outcome_ids = await db_api.record_batch_outcomes(
            simulation_id=simulation_id,
            scenario_results=suite_result["results"],
            modal_call_ids=modal_call_ids,
        )

        # 5. Complete the simulation
        completion_info = await db_api.complete_simulation(
            simulation_id=simulation_id, suite_result=suite_result
        )
        assert f"{completion_info['overall_score']:.2f}"

        # 6. Add simulation info to results
        suite_result["simulation_id"] = simulation_id
        suite_result["database_tracking"] = {
            "simulation_id": simulation_id,
            "outcome_ids": outcome_ids,
            "completion_status": completion_info,
        }
        return suite_result

    except Exception:
        # Mark simulation as failed
        await db_api.db.engine.execute(
            db_api.db.engine.text(
                "UPDATE simulations SET status = 'failed', completed_at = NOW() "
                "WHERE simulation_id = :id"
            ),
            {"id": simulation_id},
        )
        raise
    finally:
        await db_api.db.close()


async def test_seed_003_suite_flow(
    engine: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIMESCALE_SERVICE_URL", database_url)
    version_id = str(await make_config_version(engine))
    tag = uuid.uuid4().hex[:8]
    scenarios = [scenario(f"flow_{tag}_{i}", i) for i in range(4)]
    agent = {"model": "gpt-4o-mini", "temperature": 0.2, "tools": ["weather_api"]}

    result = await run_evaluation_suite_with_db(
        agent, scenarios, version_id, lambda _a, s: _suite(s)
    )

    tracking = result["database_tracking"]
    sid = tracking["simulation_id"]
    assert len(tracking["outcome_ids"]) == 4
    completion = tracking["completion_status"]
    assert completion["status"] == "completed"
    # Score computed from the stored outcomes: 0.80, 0.81, 0.82 and 0.2 for the failure.
    assert completion["overall_score"] == pytest.approx((0.80 + 0.81 + 0.82 + 0.2) / 4, abs=1e-4)
    assert completion["total_cost_usd"] == pytest.approx(4 * 0.006, abs=1e-6)
    assert completion["completed_scenarios"] == 4

    q = "SELECT count(*) FROM outcomes WHERE simulation_id = :s"
    assert await count(engine, q, s=sid) == 4
    assert await count(engine, q + " AND status = 'error'", s=sid) == 1
    ids = tracking["outcome_ids"]
    # Tool usage: two tools per outcome (weather_api x2, geocode x1), failure pattern for 1.
    assert (
        await count(
            engine,
            "SELECT count(*) FROM tool_usage WHERE outcome_id = ANY(CAST(:i AS uuid[]))",
            i=ids,
        )
        == 8
    )
    assert (
        await count(
            engine,
            "SELECT count(*) FROM tool_usage WHERE outcome_id = ANY(CAST(:i AS uuid[]))"
            " AND tool_name = 'weather_api' AND call_count = 2",
            i=ids,
        )
        == 4
    )
    assert (
        await count(
            engine,
            "SELECT count(*) FROM failure_patterns WHERE outcome_id = ANY(CAST(:i AS uuid[]))"
            " AND failure_category = 'tool_error'",
            i=ids,
        )
        == 1
    )
    assert (
        await count(
            engine,
            "SELECT count(*) FROM simulations_scenarios WHERE simulation_id = :s"
            " AND status IN ('completed', 'failed') AND modal_call_id LIKE 'call-test_%'",
            s=sid,
        )
        == 4
    )

    # Query examples of seed 003.
    api = await create_arc_api()
    try:
        status = await api.get_simulation_status(sid)
        assert status["progress_percentage"] == pytest.approx(100.0)
        assert status["successful_outcomes"] == 3
        assert status["failed_outcomes"] == 1
        outcomes = await api.get_scenario_outcomes(sid)
        assert len(outcomes) == 4
        failures = await api.get_scenario_outcomes(sid, status_filter="error")
        assert [f["scenario_id"] for f in failures] == [scenarios[-1]["id"]]
        one = await api.get_scenario_outcomes(sid, scenario_id=scenarios[0]["id"])
        assert len(one) == 1
        assert one[0]["metrics"]["dimension_scores"]["performance"] == 0.9
        assert one[0]["trajectory"]["start_time"] == "2025-01-01T00:00:00+00:00"
        perf = await api.db.get_simulation_performance(sid, time_range=timedelta(hours=24))
        assert perf["summary"]["total_outcomes"] == 4
        recent = await api.db.get_recent_failures(limit=100)
        assert sid in {str(r["simulation_id"]) for r in recent}
        metrics = await api.db.get_metrics()
        assert f"{metrics['success_rate']:.1f}" == "100.0"
        assert metrics["avg_query_time"] > 0
        sync_metrics = api.db.get_metrics()  # seed 000 reads it without await
        assert sync_metrics["pool_stats"]["max_connections"] == 50
    finally:
        await api.db.close()


async def test_seed_003_failure_branch_marks_simulation_failed(
    engine: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIMESCALE_SERVICE_URL", database_url)
    version_id = str(await make_config_version(engine))
    tag = uuid.uuid4().hex[:8]
    scenarios = [scenario(f"fail_{tag}_{i}", i) for i in range(2)]

    def explode(_a: Any, _s: Any) -> dict[str, Any]:
        raise RuntimeError("sandbox crashed")

    with pytest.raises(RuntimeError):
        await run_evaluation_suite_with_db(
            {"model": "m", "temperature": 0.1}, scenarios, version_id, explode
        )
    assert (
        await count(
            engine,
            "SELECT count(*) FROM simulations s JOIN simulations_scenarios ss USING"
            " (simulation_id) WHERE ss.scenario_id = :sc AND s.status = 'failed'"
            " AND s.completed_at IS NOT NULL",
            sc=scenarios[0]["id"],
        )
        == 1
    )


async def test_real_time_recording_counts_each_scenario_once(
    engine: AsyncEngine, db_api: ArcAPI
) -> None:
    version_id = await make_config_version(engine)
    tag = uuid.uuid4().hex[:8]
    scenarios = [scenario(f"rt_{tag}_{i}", i) for i in range(3)]
    info = await db_api.start_simulation(version_id, scenarios, simulation_name="rt")
    sid = info["simulation_id"]

    first = await db_api.record_scenario_outcome(
        sid, scenario_result(scenarios[0]), modal_call_id="c0", sandbox_id="sandbox_0"
    )
    # A retried delivery of the same scenario (new outcome row) must not count twice.
    await db_api.record_scenario_outcome(sid, scenario_result(scenarios[0]), "c0b", "sandbox_0")
    status = await db_api.get_simulation_status(sid)
    assert status["completed_scenarios"] == 1
    assert status["progress_percentage"] == pytest.approx(100 / 3)
    assert status["total_outcomes"] == 2

    await db_api.record_scenario_outcome(sid, scenario_result(scenarios[1], ok=False), "c1", "s1")
    status = await db_api.get_simulation_status(sid)
    assert status["completed_scenarios"] == 2
    assert status["scenario_statuses"] == {"completed": 1, "failed": 1, "pending": 1}
    assert isinstance(first, str)

    failed = await db_api.fail_simulation(sid, "sandbox pool exhausted")
    assert failed["status"] == "failed"
    assert failed["completed_at"] is not None
    assert failed["reason"] == "sandbox pool exhausted"
    with pytest.raises(ArcValidationError) as info_exc:
        await db_api.complete_simulation(sid, {})
    assert info_exc.value.field == "status"


async def test_start_simulation_rejects_bad_scenarios_before_writing(
    engine: AsyncEngine, db_api: ArcAPI
) -> None:
    version_id = await make_config_version(engine)
    tag = uuid.uuid4().hex[:8]
    good = scenario(f"ok_{tag}", 1)
    bad_id = {**scenario("x", 2), "id": f"Bad-Id-{tag}"}
    with pytest.raises(ArcValidationError) as exc:
        await db_api.start_simulation(version_id, [good, bad_id])
    assert exc.value.field == "scenario.id"
    assert "^[a-z0-9_]+$" in exc.value.rule
    short = {**scenario(f"short_{tag}", 3), "task_prompt": "too short"}
    with pytest.raises(ArcValidationError) as exc:
        await db_api.start_simulation(version_id, [good, short])
    assert exc.value.field == "scenario.task_prompt"
    # Nothing half-written: the good scenario was not registered either.
    assert (
        await count(engine, "SELECT count(*) FROM scenarios WHERE scenario_id = :s", s=good["id"])
        == 0
    )
    # Unknown config version: typed integrity error naming the field, nothing written.
    with pytest.raises(ArcIntegrityError) as ierr:
        await db_api.start_simulation(uuid.uuid4(), [good])
    assert ierr.value.field == "config_version_id"
    assert isinstance(ierr.value, DatabaseError)
    assert (
        await count(engine, "SELECT count(*) FROM scenarios WHERE scenario_id = :s", s=good["id"])
        == 0
    )


async def test_client_seed_000_flow(engine: AsyncEngine, database_url: str) -> None:
    version_id = await make_config_version(engine)
    tag = uuid.uuid4().hex[:8]
    async with ArcEvalDBClient(connection_string=database_url, log_level="INFO") as client:
        assert isinstance(client, ArcDBClient)
        health = await client.initialize()
        assert "outcomes" in health["hypertables"]
        assert health["extensions"]["vector"]
        ext = await client.health.check_extensions()
        assert ext["timescaledb"]
        pool = await client.health.check_connection_pool()
        assert pool["server_connections"] >= 1
        assert pool["server_idle_in_transaction"] == 0
        sid = await client.create_simulation(
            config_version_id=str(version_id),
            scenario_set=[scenario(f"c0_{tag}")],
            simulation_name=f"eval_c0_{tag}",
            modal_app_id="app_123",
        )
        oid = await client.record_outcome(
            {
                "simulation_id": sid,
                "scenario_id": f"c0_{tag}",
                "status": "error",
                "reliability_score": 0.0,
                "execution_time_ms": 0,
                "tokens_used": 0,
                "cost_usd": 0.0,
                "trajectory": {"error": "boom"},  # seed 000's error example: keys filled in
                "error_code": "RuntimeError",
                "error_category": "sandbox_error",
            }
        )
        rows = await client.engine.execute(
            client.engine.text(
                "SELECT trajectory->>'status' AS s, trajectory ? 'start_time' AS t"
                " FROM outcomes WHERE outcome_id = :o"
            ),
            {"o": oid},
        )
        assert [tuple(r) for r in rows] == [("error", True)]
        tool_ids = await client.record_tool_usage(
            [
                {
                    "outcome_id": oid,
                    "tool_name": "search",
                    "call_count": 2,
                    "avg_duration_ms": 10.5,
                    "success_rate": 0.5,
                }
            ]
        )
        pattern_id = await client.record_failure_pattern(
            {
                "execution_id": sid,
                "error_type": "RuntimeError",
                "error_message": "boom",
                "failure_category": "sandbox_error",
            }
        )
        assert len(tool_ids) == 1
        assert pattern_id
        assert (
            await count(
                engine, "SELECT count(*) FROM failure_patterns WHERE outcome_id = :o", o=oid
            )
            == 1
        )
        # §10D: record_execution_start / record_execution_outcome with execution_id.
        exec_id = await client.record_execution_start(
            {
                "config_version_id": str(version_id),
                "scenario_set": [f"c0_{tag}"],
                "modal_app_id": "arc-eval-sandbox",
            }
        )
        out = await client.record_execution_outcome(
            {
                "execution_id": exec_id,
                "status": "success",
                "reliability_score": 0.95,
                "trajectory": {"steps": [], "result": "success"},
                "cost_usd": 0.02,
                "execution_time_ms": 2500,
                "tokens_used": 1500,
                "modal_call_id": "modal-call-123",
            }
        )
        assert out
        configs = await client.get_active_configurations()
        assert str(version_id) in {c["version_id"] for c in configs}
        metrics = client.get_metrics()
        assert metrics["success_rate"] == 100.0
        assert metrics["pool_stats"]["checked_out"] == 0
