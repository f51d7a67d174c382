"""The TimescaleDB and PostgreSQL objects of migrations 0002-0005, on either edition.

Hypertables, chunks and indexes are checked everywhere; compression, policies and continuous
aggregates only on the full edition (`full_edition` marker); the Apache edition's plain
materialized views and its refresh / retention functions only where they are the mechanism.
"""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from arc.database.core.timescale import TimescaleCapabilities
from arc.database.models import Base, Outcome
from tests import factories as f

HYPERTABLE_CHUNKS = {"outcomes": "1 day", "failure_patterns": "7 days", "tool_usage": "1 day"}
# decision (0003): outcomes segment by simulation_id only; 002's 'simulation_id, scenario_id'
# leaves about one row per batch (ENVIRONMENT.md)
COMPRESSION = {
    "outcomes": ("simulation_id", "7 days"),
    "failure_patterns": ("failure_category", "14 days"),
    "tool_usage": ("tool_name", "7 days"),
}
RETENTION = {"outcomes": "2 years", "failure_patterns": "1 year", "tool_usage": "6 months"}
AGGREGATES = {
    "simulation_performance_hourly": [
        "hour",
        "simulation_id",
        "total_outcomes",
        "avg_reliability",
        "avg_execution_time",
        "total_cost",
        "error_count",
    ],
    "failure_trends_daily": [
        "day",
        "failure_category",
        "failure_count",
        "avg_confidence",
        "unique_patterns",
    ],
    "tool_performance_daily": [
        "day",
        "tool_name",
        "avg_success_rate",
        "avg_duration",
        "daily_cost",
        "usage_count",
    ],
}
# 0007: the comparison statistics, one block of columns at three grains.
STATISTICS = [
    "n",
    "success_n",
    "error_n",
    "timeout_n",
    "sum_reliability",
    "ss_reliability",
    "sum_time_ms",
    "ss_time_ms",
    "min_time_ms",
    "max_time_ms",
    "sum_cost",
    "ss_cost",
    "sum_tokens",
    "latency_hist",
]
AGGREGATES |= {
    "outcome_stats_hourly": [
        "hour",
        "config_version_id",
        "simulation_id",
        "scenario_id",
        *STATISTICS,
    ],
    "version_scenario_stats_daily": [
        "day",
        "config_version_id",
        "scenario_id",
        *STATISTICS[:-1],
    ],
    "version_stats_daily": ["day", "config_version_id", *STATISTICS],
    # 0010: finer cells behind the dashboards at 10M outcomes (docs/decisions.md P).
    "version_stats_15m": ["quarter", "config_version_id", *STATISTICS],
    "version_scenario_stats_15m": ["quarter", "config_version_id", "scenario_id", *STATISTICS[:-1]],
    "version_scenario_stats_hourly": ["hour", "config_version_id", "scenario_id", *STATISTICS[:-1]],
    "tool_performance_hourly": [
        "hour",
        "tool_name",
        "usage_count",
        "sum_success_rate",
        "sum_duration_ms",
        "total_cost",
    ],
    "failure_trends_hourly": [
        "hour",
        "failure_category",
        "pattern_cluster_id",
        "failure_count",
        "sum_confidence",
        "confidence_n",
    ],
    # 0012: whole weeks of the version x scenario cells (docs/decisions.md K34).
    "version_scenario_stats_weekly": ["week", "config_version_id", "scenario_id", *STATISTICS[:-1]],
}
VIEWS = (
    "v_llm_failure_analysis",
    "v_llm_config_performance",
    "v_llm_scenario_trends",
    "v_dashboard_active_simulations",
    "v_dashboard_pending_recommendations",
    "v_dashboard_performance_trends",
    "v_dashboard_cost_analysis",
    "v_system_performance",
    "v_active_simulations",
    "v_error_rates",
    "v_outcome_stats_hourly",
    "v_version_scenario_stats_daily",
    "v_version_stats_daily",
    "v_version_scenario_stats_weekly",
    "v_config_pareto",
)
# Every index seeds 002 (§3C, §9B) and 004 (§3) name. 000's idx_outcomes_errors is subsumed by
# 002's idx_outcomes_time_status and is not created.
SEED_INDEXES = {
    "idx_simulations_status_priority",
    "idx_simulations_config_created",
    "idx_simulations_modal_app",
    "idx_simulations_metadata_gin",
    "idx_simulations_recent_completed",
    "idx_simulations_user_performance",
    "idx_outcomes_time_status",
    "idx_outcomes_simulation_time",
    "idx_outcomes_scenario_time",
    "idx_outcomes_simulation_status",
    "idx_outcomes_modal_call",
    "idx_outcomes_trajectory_gin",
    "idx_outcomes_metrics_gin",
    "idx_outcomes_metadata_gin",
    "idx_outcomes_active_failures",
    "idx_outcomes_performance_analysis",
    "idx_config_versions_config_version",
    "idx_config_versions_parsed_gin",
    "idx_config_diffs_config_created",
    "idx_config_diffs_llm_generated",
    "idx_recommendations_impact_gin",
    "idx_recommendations_pending_confidence",
    "idx_recommendations_pending",
    "idx_failure_patterns_cluster_time",
    "idx_failure_patterns_text_search",
    "idx_scenarios_text_search",
    "idx_config_embedding_cosine",
    "idx_trajectory_embedding_cosine",
    "idx_scenario_embedding_cosine",
    "idx_error_embedding_cosine",
}
# Seed indexes the index budget (revision 0010) dropped, each with the measurement that decided.
BUDGET_DROPPED = {
    "idx_outcomes_trajectory_gin",
    "idx_outcomes_metrics_gin",
    "idx_outcomes_metadata_gin",
    "idx_outcomes_scenario_time",
    "idx_outcomes_performance_analysis",
    "idx_outcomes_simulation_status",
    "idx_outcomes_active_failures",
    "idx_outcomes_modal_call",
    "idx_failure_patterns_text_search",
}
VECTOR_INDEXES = {
    "idx_config_embedding_cosine": "config_versions",
    "idx_trajectory_embedding_cosine": "outcomes",
    "idx_scenario_embedding_cosine": "scenarios",
    "idx_error_embedding_cosine": "failure_patterns",
}
NIL_UUID = uuid.UUID(int=0)


@pytest.fixture(scope="module", autouse=True)
async def _warm(engine: AsyncEngine) -> None:
    await f.warm_hypertables(engine)


async def rows(session: AsyncSession, sql: str, **params: Any) -> list[Any]:
    return list(await session.execute(text(sql), params))


# ---------------------------------------------------------------------------------------------
# Hypertables and chunks (both editions)
async def test_hypertables_and_chunk_intervals(session: AsyncSession) -> None:
    found = await rows(
        session,
        """
        SELECT hypertable_name, column_name, time_interval
          FROM timescaledb_information.dimensions
         WHERE hypertable_schema = 'public' AND hypertable_name = ANY(:names)
        """,
        names=list(HYPERTABLE_CHUNKS),
    )
    assert {r.hypertable_name: (r.column_name, r.time_interval) for r in found} == {
        name: ("execution_time", await session.scalar(text(f"SELECT INTERVAL '{every}'")))
        for name, every in HYPERTABLE_CHUNKS.items()
    }


@pytest.mark.parametrize("table", sorted(HYPERTABLE_CHUNKS))
async def test_hypertable_has_only_the_models_indexes(session: AsyncSession, table: str) -> None:
    """create_default_indexes => false: no `<table>_execution_time_idx` beside the model's."""
    live = {
        r.indexname
        for r in await rows(
            session,
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename = :t",
            t=table,
        )
    }
    declared = {ix.name for ix in Base.metadata.tables[table].indexes} | {f"{table}_pkey"}
    assert live == declared


async def test_every_model_index_exists(session: AsyncSession) -> None:
    live = {
        (r.tablename, r.indexname)
        for r in await rows(session, "SELECT tablename, indexname FROM pg_indexes")
    }
    declared = {(t.name, ix.name) for t in Base.metadata.tables.values() for ix in t.indexes}
    assert declared - live == set()


async def test_every_seed_index_exists(session: AsyncSession) -> None:
    """Every seed index exists, but those the index budget (0010) dropped: no query uses them
    (docs/decisions.md P), and they are really gone."""
    live = {
        r.indexname
        for r in await rows(session, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
    }
    assert SEED_INDEXES - BUDGET_DROPPED - live == set()
    assert BUDGET_DROPPED & live == set()


async def test_no_index_outside_the_models(session: AsyncSession) -> None:
    """The live inventory of the twelve tables is exactly the models' (plus the keys)."""
    tables = list(Base.metadata.tables)
    live = {
        r.indexname
        for r in await rows(
            session,
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY(:t)",
            t=tables,
        )
    }
    keys = {
        c.name
        for t in Base.metadata.tables.values()
        for c in t.constraints
        if c.name and (c.name.endswith("_pkey") or c.name.endswith("_key"))
    }
    declared = {ix.name for t in Base.metadata.tables.values() for ix in t.indexes}
    assert live == declared | keys


async def test_vector_indexes_are_hnsw_cosine(session: AsyncSession) -> None:
    found = await rows(
        session,
        """
        SELECT i.relname AS index_name, t.relname AS table_name, am.amname,
               opc.opcname
          FROM pg_index x
          JOIN pg_class i ON i.oid = x.indexrelid
          JOIN pg_class t ON t.oid = x.indrelid
          JOIN pg_am am ON am.oid = i.relam
          JOIN pg_opclass opc ON opc.oid = x.indclass[0]
         WHERE i.relname = ANY(:names) AND t.relnamespace = 'public'::regnamespace
        """,
        names=list(VECTOR_INDEXES),
    )
    assert {r.index_name: (r.table_name, r.amname, r.opcname) for r in found} == {
        name: (table, "hnsw", "vector_cosine_ops") for name, table in VECTOR_INDEXES.items()
    }


async def test_inserting_outcomes_creates_chunks(session: AsyncSession) -> None:
    graph = await f.create_graph(session)
    count = "SELECT count(*) FROM show_chunks('outcomes')"
    before = await session.scalar(text(count))
    base = f.utcnow() - timedelta(days=40)
    outcomes = [
        f.OutcomeFactory(
            simulation_id=graph.simulation.simulation_id,
            scenario_id=graph.scenario.scenario_id,
            execution_time=base - timedelta(days=d),
        )
        for d in range(3)
    ]
    await f.persist(session, *outcomes)
    after = await session.scalar(text(count))
    assert after == before + 3  # one-day chunks: three days, three new chunks
    located = await rows(
        session,
        """
        SELECT count(DISTINCT tableoid) AS chunks FROM outcomes WHERE outcome_id = ANY(:ids)
        """,
        ids=[o.outcome_id for o in outcomes],
    )
    assert located[0].chunks == 3


async def test_arc_apply_retention_drops_expired_chunks(session: AsyncSession) -> None:
    """The edition-independent maintenance function (0003) drops what the windows expire."""
    graph = await f.create_graph(session)
    old = f.utcnow() - timedelta(days=800)  # past 2 years
    kept = f.utcnow() - timedelta(days=100)  # inside 2 years, past 6 months for tool_usage
    old_outcome = f.OutcomeFactory(
        simulation_id=graph.simulation.simulation_id,
        scenario_id=graph.scenario.scenario_id,
        execution_time=old,
    )
    kept_outcome = f.OutcomeFactory(
        simulation_id=graph.simulation.simulation_id,
        scenario_id=graph.scenario.scenario_id,
        execution_time=kept,
    )
    old_usage = f.ToolUsageFactory(outcome_id=kept_outcome.outcome_id, execution_time=kept)
    old_usage.execution_time = f.utcnow() - timedelta(days=200)  # past 6 months
    old_audit = f.AuditLogFactory()
    await f.persist(session, old_outcome, kept_outcome, old_usage, old_audit)
    await session.execute(
        text("UPDATE audit_log SET \"timestamp\" = now() - INTERVAL '400 days' WHERE log_id = :id"),
        {"id": old_audit.log_id},
    )
    result = {
        r.object: r.dropped for r in await rows(session, "SELECT * FROM arc_apply_retention()")
    }
    assert set(result) == {"outcomes", "failure_patterns", "tool_usage", "audit_log"}
    assert result["outcomes"] >= 1
    assert result["tool_usage"] >= 1
    assert result["audit_log"] >= 1
    left = await rows(
        session,
        """
        SELECT (SELECT count(*) FROM outcomes WHERE outcome_id = :old) AS old_outcome,
               (SELECT count(*) FROM outcomes WHERE outcome_id = :kept) AS kept_outcome,
               (SELECT count(*) FROM tool_usage WHERE usage_id = :usage) AS usage,
               (SELECT count(*) FROM audit_log WHERE log_id = :audit) AS audit
        """,
        old=old_outcome.outcome_id,
        kept=kept_outcome.outcome_id,
        usage=old_usage.usage_id,
        audit=old_audit.log_id,
    )
    assert tuple(left[0]) == (0, 1, 0, 0)


# ---------------------------------------------------------------------------------------------
# Full edition: compression, policies, continuous aggregates
@pytest.mark.full_edition
async def test_compression_settings(session: AsyncSession) -> None:
    found = await rows(
        session,
        """
        SELECT hypertable_name, attname, segmentby_column_index, orderby_column_index,
               orderby_asc
          FROM timescaledb_information.compression_settings
         WHERE hypertable_schema = 'public' AND hypertable_name = ANY(:names)
        """,
        names=list(COMPRESSION),
    )
    segmentby = {r.hypertable_name: r.attname for r in found if r.segmentby_column_index}
    orderby = {
        r.hypertable_name: (r.attname, r.orderby_asc) for r in found if r.orderby_column_index
    }
    assert segmentby == {t: seg for t, (seg, _) in COMPRESSION.items()}
    assert orderby == dict.fromkeys(COMPRESSION, ("execution_time", False))  # DESC


@pytest.mark.full_edition
@pytest.mark.parametrize(
    ("proc", "key", "expected"),
    [
        ("policy_compression", "compress_after", {t: a for t, (_, a) in COMPRESSION.items()}),
        ("policy_retention", "drop_after", RETENTION),
    ],
    ids=["compression", "retention"],
)
async def test_policies(
    session: AsyncSession, proc: str, key: str, expected: dict[str, str]
) -> None:
    for table, window in expected.items():
        found = await rows(
            session,
            """
            SELECT (config ->> :key)::interval = CAST(CAST(:window AS text) AS interval) AS same
              FROM timescaledb_information.jobs
             WHERE proc_name = :proc AND hypertable_schema = 'public' AND hypertable_name = :t
            """,
            key=key,
            window=window,
            proc=proc,
            t=table,
        )
        assert [r.same for r in found] == [True], f"{proc} on {table}"


@pytest.mark.full_edition
async def test_audit_retention_job(session: AsyncSession) -> None:
    found = await rows(
        session,
        "SELECT schedule_interval FROM timescaledb_information.jobs"
        " WHERE proc_name = 'arc_audit_retention_job'",
    )
    assert [r.schedule_interval for r in found] == [timedelta(days=1)]


@pytest.mark.full_edition
async def test_continuous_aggregates_with_refresh_policies(session: AsyncSession) -> None:
    found = await rows(
        session,
        """
        SELECT ca.view_name, ca.materialized_only,
               count(j.job_id) AS policies
          FROM timescaledb_information.continuous_aggregates ca
          LEFT JOIN timescaledb_information.jobs j
            ON j.proc_name = 'policy_refresh_continuous_aggregate'
           AND j.hypertable_name IN (ca.view_name, ca.materialization_hypertable_name)
         WHERE ca.view_schema = 'public'
         GROUP BY ca.view_name, ca.materialized_only
        """,
    )
    # 0010: the daily statistics are read materialized (their views add the recent days from
    # finer aggregates), and the hourly per-scenario cells are read materialized only.
    materialized = {"version_stats_daily", "version_scenario_stats_daily"}
    materialized |= {"version_scenario_stats_hourly", "version_scenario_stats_weekly"}
    assert {r.view_name: (r.materialized_only, r.policies) for r in found} == {
        name: (name in materialized, 1) for name in AGGREGATES
    }


@pytest.mark.full_edition
async def test_compressed_chunk_reads_back_and_ignores_duplicates(
    session: AsyncSession,
) -> None:
    graph = await f.create_graph(session)
    when = f.utcnow() - timedelta(days=20)
    outcomes = [
        f.OutcomeFactory(
            simulation_id=graph.simulation.simulation_id,
            scenario_id=graph.scenario.scenario_id,
            execution_time=when + timedelta(minutes=i),
            reliability_score=i / 10,
            tokens_used=100 + i,
        )
        for i in range(5)
    ]
    await f.persist(session, *outcomes)
    chunk = await session.scalar(
        text("SELECT tableoid::regclass::text FROM outcomes WHERE outcome_id = :id"),
        {"id": outcomes[0].outcome_id},
    )
    await session.execute(text("SELECT compress_chunk(CAST(:c AS regclass))"), {"c": chunk})
    compressed = await session.scalar(
        text(
            "SELECT is_compressed FROM timescaledb_information.chunks"
            " WHERE format('%I.%I', chunk_schema, chunk_name)::regclass = CAST(:c AS regclass)"
        ),
        {"c": chunk},
    )
    assert compressed is True
    session.expunge_all()
    read = await rows(
        session,
        """
        SELECT outcome_id, reliability_score, tokens_used, trajectory ->> 'status' AS status
          FROM outcomes WHERE simulation_id = :sim AND execution_time < now() - INTERVAL '1 day'
         ORDER BY execution_time
        """,
        sim=graph.simulation.simulation_id,
    )
    assert [(r.outcome_id, r.tokens_used, r.status) for r in read] == [
        (o.outcome_id, o.tokens_used, o.status) for o in outcomes
    ]
    assert [r.reliability_score for r in read] == pytest.approx([i / 10 for i in range(5)])
    # ingest replays a batch: the key (id, time) already sits in a compressed chunk
    again = f.column_values(outcomes[2])
    statement = pg_insert(Outcome).values(again).on_conflict_do_nothing()
    result = await session.execute(statement)
    assert result.rowcount == 0  # type: ignore[attr-defined]
    copies = await session.scalar(
        text("SELECT count(*) FROM outcomes WHERE outcome_id = :id AND execution_time = :t"),
        {"id": outcomes[2].outcome_id, "t": outcomes[2].execution_time},
    )
    assert copies == 1
    # a new row lands in the compressed chunk too
    late = f.OutcomeFactory(
        simulation_id=graph.simulation.simulation_id,
        scenario_id=graph.scenario.scenario_id,
        execution_time=when + timedelta(minutes=30),
    )
    await session.execute(insert(Outcome).values(f.column_values(late)))
    assert (
        await session.scalar(
            text("SELECT count(*) FROM outcomes WHERE simulation_id = :s AND execution_time < :t"),
            {"s": graph.simulation.simulation_id, "t": f.utcnow() - timedelta(days=1)},
        )
        == 6
    )


# ---------------------------------------------------------------------------------------------
# Aggregates: continuous (full) or plain materialized views (Apache), same names and columns
@pytest.mark.parametrize("name", sorted(AGGREGATES))
async def test_aggregate_exists_with_the_expected_columns(
    session: AsyncSession, capabilities: TimescaleCapabilities, name: str
) -> None:
    columns = [
        r.attname
        for r in await rows(
            session,
            """
            SELECT attname FROM pg_attribute
             WHERE attrelid = CAST(:n AS regclass) AND attnum > 0 AND NOT attisdropped
             ORDER BY attnum
            """,
            n=name,
        )
    ]
    assert columns == AGGREGATES[name]
    kind = await session.scalar(
        text("SELECT relkind::text FROM pg_class WHERE oid = CAST(:n AS regclass)"), {"n": name}
    )
    # a continuous aggregate is a view over its materialization; the fallback a matview
    assert kind == ("v" if capabilities.continuous_aggregates else "m")


async def _plant_for_aggregates(session: AsyncSession) -> f.Graph:
    """Rows two hours ahead: above any continuous aggregate's watermark (refreshes stop at
    the last full bucket before now), so real-time aggregation must compute them."""
    graph = f.build_graph(execution_time=f.utcnow() + timedelta(hours=2))
    graph.failure_pattern.failure_category = "modal_error"
    graph.tool_usage.tool_name = f"tool_{uuid.uuid4().hex[:12]}"
    return await f.persist_graph(session, graph)


async def _aggregates_see(session: AsyncSession, graph: f.Graph) -> tuple[Any, Any, Any]:
    sim = await session.scalar(
        text("SELECT total_outcomes FROM simulation_performance_hourly WHERE simulation_id = :s"),
        {"s": graph.simulation.simulation_id},
    )
    tool = await session.scalar(
        text("SELECT usage_count FROM tool_performance_daily WHERE tool_name = :t"),
        {"t": graph.tool_usage.tool_name},
    )
    failures = await session.scalar(
        text(
            "SELECT sum(failure_count) FROM failure_trends_daily"
            " WHERE failure_category = 'modal_error' AND day >= now() - INTERVAL '1 day'"
        )
    )
    return sim, tool, failures


async def test_fallback_refresh_makes_new_rows_visible(
    session: AsyncSession, capabilities: TimescaleCapabilities
) -> None:
    if capabilities.continuous_aggregates:
        refreshed = await session.scalar(text("SELECT arc_refresh_fallback_aggregates()"))
        assert refreshed == []  # continuous aggregates refresh themselves; nothing to do
        return
    graph = await _plant_for_aggregates(session)
    before = await _aggregates_see(session, graph)
    assert before[:2] == (None, None)  # a plain view shows nothing until refreshed
    refreshed = await session.scalar(text("SELECT arc_refresh_fallback_aggregates()"))
    assert sorted(refreshed) == sorted(AGGREGATES)
    sim, tool, failures = await _aggregates_see(session, graph)
    assert (sim, tool) == (1, 1)
    assert failures >= 1


@pytest.mark.full_edition
async def test_real_time_aggregation_shows_new_rows_without_refresh(
    session: AsyncSession,
) -> None:
    graph = await _plant_for_aggregates(session)
    sim, tool, failures = await _aggregates_see(session, graph)
    assert (sim, tool) == (1, 1)
    assert failures >= 1


# ---------------------------------------------------------------------------------------------
# Views and functions of 0005
@pytest.mark.parametrize("view", VIEWS)
async def test_view_exists_and_can_be_selected(session: AsyncSession, view: str) -> None:
    await f.create_graph(session)
    kind = await session.scalar(
        text("SELECT relkind::text FROM pg_class WHERE oid = CAST(:v AS regclass)"), {"v": view}
    )
    assert kind == "v"
    await session.execute(text(f"SELECT * FROM {view} LIMIT 5"))


async def test_views_show_planted_rows(session: AsyncSession) -> None:
    graph = await f.create_graph(session)
    active = await rows(
        session,
        "SELECT status, outcomes_recorded, model_name FROM v_dashboard_active_simulations"
        " WHERE simulation_id = :s",
        s=graph.simulation.simulation_id,
    )
    assert [tuple(r) for r in active] == [("running", 1, graph.version.parsed_config["model"])]
    failures = await rows(
        session,
        "SELECT daily_failures FROM v_llm_failure_analysis"
        " WHERE CAST(:sc AS text) = ANY(affected_scenarios)",
        sc=graph.scenario.scenario_id,
    )
    assert len(failures) == 1  # one day, one category
    assert failures[0].daily_failures >= 1
    config_perf = await rows(
        session,
        "SELECT total_executions, error_count FROM v_llm_config_performance WHERE config_id = :c",
        c=graph.configuration.config_id,
    )
    assert [tuple(r) for r in config_perf] == [(1, 1)]


async def _counts_in_window(session: AsyncSession, window: str) -> tuple[int, int]:
    found = await rows(
        session,
        f"""
        SELECT (SELECT count(*) FROM outcomes
                 WHERE execution_time > now() - INTERVAL '{window}') AS outcomes,
               (SELECT count(*) FROM failure_patterns
                 WHERE execution_time > now() - INTERVAL '{window}') AS patterns
        """,
    )
    return found[0].outcomes, found[0].patterns


async def test_trigger_llm_recommendation_analysis_counts_the_window(
    session: AsyncSession,
) -> None:
    base_outcomes, base_patterns = await _counts_in_window(session, "7 days")
    graph = await f.create_graph(session)  # one outcome and one pattern, 5 minutes ago
    extra = f.OutcomeFactory(
        simulation_id=graph.simulation.simulation_id,
        scenario_id=graph.scenario.scenario_id,
        execution_time=f.utcnow() - timedelta(days=2),
    )
    outside = f.OutcomeFactory(
        simulation_id=graph.simulation.simulation_id,
        scenario_id=graph.scenario.scenario_id,
        execution_time=f.utcnow() - timedelta(days=9),
    )
    outside_pattern = f.FailurePatternFactory(
        outcome_id=outside.outcome_id, execution_time=outside.execution_time
    )
    await f.persist(session, extra, outside, outside_pattern)
    user = uuid.uuid4()
    session_id = await session.scalar(
        text("SELECT trigger_llm_recommendation_analysis(INTERVAL '7 days', :u)"), {"u": user}
    )
    assert isinstance(session_id, uuid.UUID)
    (row,) = await rows(
        session,
        "SELECT * FROM llm_recommendation_sessions WHERE session_id = :id",
        id=session_id,
    )
    assert row.session_status == "completed"
    assert row.user_id == user
    assert row.total_outcomes_analyzed == base_outcomes + 2
    assert row.patterns_identified == base_patterns + 1
    assert row.analysis_end_time >= row.analysis_start_time
    assert row.data_window_end - row.data_window_start == timedelta(days=7)


@pytest.mark.parametrize(
    "tenant", [None, "", "not-a-uuid", "tenant"], ids=["unset", "empty", "malformed", "tenant"]
)
async def test_trigger_llm_recommendation_analysis_without_user(
    session: AsyncSession, tenant: str | None
) -> None:
    """user_id NULL: the tenant in app.user_id, else the nil UUID (system) — never an error."""
    expected = NIL_UUID
    if tenant == "tenant":
        tenant_id = uuid.uuid4()
        tenant, expected = str(tenant_id), tenant_id
    if tenant is not None:
        await session.execute(text("SELECT set_config('app.user_id', :v, true)"), {"v": tenant})
    session_id = await session.scalar(text("SELECT trigger_llm_recommendation_analysis()"))
    (row,) = await rows(
        session,
        "SELECT user_id, session_status FROM llm_recommendation_sessions WHERE session_id = :id",
        id=session_id,
    )
    assert tuple(row) == (expected, "completed")
