"""The index budget (migration 0010, docs/decisions.md P1-P9): the kept indexes exist on both
editions, the dropped ones do not, and the query that justifies each kept index is planned
with it on a database with enough rows for the planner to have a choice (statistics gathered,
default planner settings: nothing is forced)."""

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.core.timescale import TimescaleCapabilities
from arc.database.models import Base
from arc.database.models.aggregates import RECENT_AGGREGATES
from tests.support.scratch import scratch_engine, scratch_url

__all__ = ["scratch_engine", "scratch_url"]  # fixtures re-exported for this module

KEPT = {
    "outcomes": {
        "outcomes_pkey",
        "idx_outcomes_execution_time",
        "idx_outcomes_time_status",
        "idx_outcomes_simulation_time",
        "idx_trajectory_embedding_cosine",
    },
    "tool_usage": {"tool_usage_pkey", "idx_tool_usage_execution_time"},
    "failure_patterns": {
        "failure_patterns_pkey",
        "idx_failure_patterns_execution_time",
        "idx_failure_patterns_cluster_time",
        "idx_error_embedding_cosine",
    },
}
DROPPED = {
    "idx_outcomes_trajectory_gin",
    "idx_outcomes_metrics_gin",
    "idx_outcomes_metadata_gin",
    "idx_outcomes_scenario_time",
    "idx_outcomes_performance_analysis",
    "idx_outcomes_simulation_status",
    "idx_outcomes_active_failures",
    "idx_outcomes_modal_call",
    "idx_tool_usage_outcome",
    "idx_tool_usage_tool_time",
    "idx_failure_patterns_outcome",
    "idx_failure_patterns_text_search",
}
OUTCOMES = 40_000  # over three days: three or four chunks
EMBEDDED = 1_500
DIMENSIONS = 1536


def _vector(seed: str) -> str:
    """A SQL expression for a unit-ish 1,536-dimension vector that depends on `seed`."""
    return (
        f"(SELECT array_agg(sin(k * (1 + ({seed}) % 97) * 0.01)) "
        f"FROM generate_series(1, {DIMENSIONS}) k)::vector"
    )


@pytest.fixture(scope="module")
async def planted(scratch_engine: AsyncEngine) -> dict[str, Any]:
    now = datetime.now(UTC)
    async with scratch_engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO scenarios (scenario_id, name, task_prompt) SELECT 'budget_' || i, "
                "'budget scenario ' || i, 'a task for the index budget' "
                "FROM generate_series(0, 39) i"
            )
        )
        config = (
            await conn.execute(
                text(
                    "INSERT INTO configurations (name, user_id) VALUES ('budget config', "
                    "gen_random_uuid()) RETURNING config_id"
                )
            )
        ).scalar_one()
        version = (
            await conn.execute(
                text(
                    "INSERT INTO config_versions (config_id, version_number, raw_yaml, "
                    "parsed_config, config_hash) VALUES (:c, 1, 'model: m', "
                    "jsonb_build_object('model', 'm', 'temperature', 0.1), repeat('b', 64)) "
                    "RETURNING version_id"
                ),
                {"c": config},
            )
        ).scalar_one()
        sims = list(
            (
                await conn.execute(
                    text(
                        "INSERT INTO simulations (config_version_id, scenario_set, "
                        "total_scenarios, created_at) SELECT :v, ARRAY['budget_0'], 40, "
                        "now() - INTERVAL '4 days' FROM generate_series(1, 100) "
                        "RETURNING simulation_id"
                    ),
                    {"v": version},
                )
            ).scalars()
        )
        await conn.execute(
            text(
                "INSERT INTO outcomes (outcome_id, execution_time, simulation_id, scenario_id, "
                "status, reliability_score, execution_time_ms, tokens_used, cost_usd, "
                "trajectory, modal_call_id) "
                "SELECT gen_random_uuid(), "
                "CAST(:now AS timestamptz) - make_interval(secs => n * 259200.0 / :total), "
                "(CAST(:sims AS uuid[]))[1 + n * 100 / :total], 'budget_' || (n % 40), "
                "CASE WHEN n % 9 = 0 THEN 'error' ELSE 'success' END, 0.5, 1000, 100, 0.01, "
                "jsonb_build_object('start_time', n, 'status', 'done', 'step', n % 13), "
                "'fc-' || n FROM generate_series(0, :total - 1) n"
            ),
            {"now": now, "sims": sims, "total": OUTCOMES},
        )
        await conn.execute(
            text(
                f"UPDATE outcomes SET trajectory_embedding = {_vector('tokens_used + n')} "
                "FROM (SELECT outcome_id AS id, row_number() OVER () AS n FROM outcomes "
                "LIMIT :k) picked WHERE outcome_id = picked.id"
            ),
            {"k": EMBEDDED},
        )
        await conn.execute(
            text(
                "INSERT INTO tool_usage (outcome_id, execution_time, tool_name, call_count, "
                "avg_duration_ms, success_rate) SELECT outcome_id, execution_time, 'weather_api', "
                "1, 100, 1 FROM outcomes"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO failure_patterns (outcome_id, execution_time, failure_type, "
                "failure_category, error_message, pattern_cluster_id, error_embedding) "
                "SELECT outcome_id, execution_time, 'tool_failure', 'tool_error', "
                "'weather_api returned HTTP 503', "
                "CASE WHEN n % 4 = 0 THEN gen_random_uuid() END, "
                f"CASE WHEN n <= {EMBEDDED} THEN {_vector('n')} END "
                "FROM (SELECT outcome_id, execution_time, row_number() OVER () AS n "
                "FROM outcomes) failed"
            )
        )
    async with scratch_engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.execute(text("ANALYZE outcomes, tool_usage, failure_patterns"))
        sim = sims[-1]
        cluster = (
            await auto.execute(
                text(
                    "SELECT pattern_cluster_id FROM failure_patterns "
                    "WHERE pattern_cluster_id IS NOT NULL LIMIT 1"
                )
            )
        ).scalar_one()
        some = list((await auto.execute(text("SELECT outcome_id FROM outcomes LIMIT 5"))).scalars())
    return {"now": now, "simulation": sim, "cluster": cluster, "outcomes": some}


def _index_names(plan: Any) -> set[str]:
    """Every index an EXPLAIN (FORMAT JSON) plan scans, chunk indexes included."""
    found: set[str] = set()
    if isinstance(plan, dict):
        if "Index Name" in plan:
            found.add(str(plan["Index Name"]))
        for value in plan.values():
            found |= _index_names(value)
    elif isinstance(plan, list):
        for value in plan:
            found |= _index_names(value)
    return found


async def _plan_uses(engine: AsyncEngine, sql: str, params: dict[str, Any], index: str) -> set[str]:
    async with engine.connect() as conn:
        plan = (await conn.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"), params)).scalar_one()
    return {name for name in _index_names(plan) if name.endswith(index)}


async def test_the_budget_is_what_the_models_declare(scratch_engine: AsyncEngine) -> None:
    async with scratch_engine.connect() as conn:
        for table, kept in KEPT.items():
            live = set(
                (
                    await conn.execute(
                        text(
                            "SELECT indexname FROM pg_indexes "
                            "WHERE schemaname = 'public' AND tablename = :t"
                        ),
                        {"t": table},
                    )
                ).scalars()
            )
            assert live == kept, table
            assert {ix.name for ix in Base.metadata.tables[table].indexes} | {
                f"{table}_pkey"
            } == kept
        leftovers = (
            await conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE indexname = ANY(:names)"),
                {"names": sorted(DROPPED)},
            )
        ).all()
    assert leftovers == []


async def test_modal_call_id_keeps_the_bound_its_index_gave_it(
    scratch_engine: AsyncEngine, planted: dict[str, Any]
) -> None:
    """idx_outcomes_modal_call limited modal_call_id to what a btree entry holds; the CHECK
    that replaced it refuses the same values."""
    async with scratch_engine.connect() as conn:
        await conn.begin()
        with pytest.raises(Exception, match="outcomes_modal_call_id_length_check"):
            await conn.execute(
                text(
                    "INSERT INTO outcomes (execution_time, simulation_id, scenario_id, status, "
                    "reliability_score, execution_time_ms, tokens_used, cost_usd, trajectory, "
                    "modal_call_id) VALUES (now(), :s, 'budget_0', 'success', 1, 1, 1, 0, "
                    '\'{"start_time": 1, "status": "x"}\', repeat(\'m\', 501))'
                ),
                {"s": planted["simulation"]},
            )
        await conn.rollback()


# (index, the code it serves, its query, parameters from the planted data)
JUSTIFIED: list[tuple[str, str, str]] = [
    (
        "outcomes_pkey",
        "OutcomeRepository.execution_times (tool usage and failures carry their outcome's time)",
        "SELECT outcome_id, execution_time FROM outcomes WHERE outcome_id = ANY(:ids)",
    ),
    (
        "idx_outcomes_execution_time",
        "the real-time part of every aggregate on outcomes: rows after the watermark",
        "SELECT count(*), sum(cost_usd) FROM outcomes WHERE execution_time >= :recent",
    ),
    (
        "idx_outcomes_simulation_time",
        "OutcomeRepository.latest_for_simulation (and every per-simulation read)",
        "SELECT outcome_id, execution_time FROM outcomes WHERE simulation_id = :sim "
        "ORDER BY execution_time DESC LIMIT 1",
    ),
    (
        "idx_outcomes_time_status",
        "SimulationPanels.recent_failures / OutcomeRepository.recent_failures",
        "SELECT outcome_id, execution_time, status FROM outcomes "
        "WHERE status <> 'success' AND execution_time >= :since "
        "ORDER BY execution_time DESC LIMIT 100",
    ),
    (
        "idx_trajectory_embedding_cosine",
        "SimilaritySearch.trajectories_like",
        "SELECT outcome_id FROM outcomes WHERE trajectory_embedding IS NOT NULL "
        "ORDER BY trajectory_embedding <=> CAST(:probe AS vector) LIMIT 10",
    ),
    (
        "idx_tool_usage_execution_time",
        "the real-time part of tool_performance_hourly / tool_performance_daily",
        "SELECT tool_name, count(*) FROM tool_usage WHERE execution_time >= :recent "
        "GROUP BY tool_name",
    ),
    (
        "idx_failure_patterns_execution_time",
        "the real-time part of failure_trends_hourly / failure_trends_daily",
        "SELECT failure_category, count(*) FROM failure_patterns "
        "WHERE execution_time >= :recent GROUP BY failure_category",
    ),
    (
        "idx_failure_patterns_cluster_time",
        "clustering.refresh_cluster_counts (a cluster's size)",
        "SELECT pattern_cluster_id, count(*) FROM failure_patterns "
        "WHERE pattern_cluster_id = ANY(:clusters) GROUP BY pattern_cluster_id",
    ),
    (
        "idx_error_embedding_cosine",
        "SimilaritySearch.failures_like",
        "SELECT pattern_id FROM failure_patterns WHERE error_embedding IS NOT NULL "
        "ORDER BY error_embedding <=> CAST(:probe AS vector) LIMIT 10",
    ),
]


@pytest.mark.parametrize(("index", "serves", "sql"), JUSTIFIED, ids=[j[0] for j in JUSTIFIED])
async def test_each_kept_index_is_chosen_by_the_query_it_serves(
    scratch_engine: AsyncEngine, planted: dict[str, Any], index: str, serves: str, sql: str
) -> None:
    now: datetime = planted["now"]
    params = {
        "ids": planted["outcomes"],
        "recent": now - timedelta(hours=1),
        "since": now - timedelta(days=1),
        "sim": planted["simulation"],
        "clusters": [planted["cluster"], uuid.uuid4()],
        "probe": str([math.sin(k * 0.07) for k in range(1, DIMENSIONS + 1)]),
    }
    used = await _plan_uses(scratch_engine, sql, params, index)
    assert used, f"{index} ({serves}) is not in the plan of: {sql}"


async def test_the_aggregates_of_0010_exist_on_both_editions(
    scratch_engine: AsyncEngine, capabilities: TimescaleCapabilities
) -> None:
    async with scratch_engine.connect() as conn:
        if capabilities.continuous_aggregates:
            found = {
                r.view_name: r.materialized_only
                for r in await conn.execute(
                    text(
                        "SELECT view_name, materialized_only "
                        "FROM timescaledb_information.continuous_aggregates "
                        "WHERE view_name = ANY(:n)"
                    ),
                    {"n": list(RECENT_AGGREGATES)},
                )
            }
            # read materialized only by the per-scenario view; the others in real time
            assert found == {
                name: name == "version_scenario_stats_hourly" for name in RECENT_AGGREGATES
            }
        else:
            found = {
                name: False
                for name in (
                    await conn.execute(
                        text("SELECT matviewname FROM pg_matviews WHERE matviewname = ANY(:n)"),
                        {"n": list(RECENT_AGGREGATES)},
                    )
                ).scalars()
            }
    assert set(found) == set(RECENT_AGGREGATES)


@pytest.mark.full_edition
async def test_outcomes_compress_each_scenarios_runs_together(scratch_engine: AsyncEngine) -> None:
    async with scratch_engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT segmentby, orderby FROM "
                    "timescaledb_information.hypertable_columnstore_settings "
                    "WHERE hypertable = 'outcomes'::regclass"
                )
            )
        ).one()
    assert (row.segmentby, row.orderby) == (
        "simulation_id",
        "scenario_id,status,execution_time DESC",
    )
