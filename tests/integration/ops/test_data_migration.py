"""migrate_from_postgres: a scratch plain-PostgreSQL source (seed DDL, no hypertables) copied
into a scratch TimescaleDB target migrated to head."""

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.core.engine import build_engine
from arc.database.core.errors import ArcConfigurationError, ArcValidationError
from arc.database.ops.data_migration import migrate_from_postgres, verify_migration
from arc.database.ops.provision import drop_database, ensure_database, with_database
from arc.database.schema import migrate
from tests.conftest import fresh_database_name

# Seed 002 tables as a plain PostgreSQL database would have them (no TimescaleDB, no pgvector,
# no Modal columns on some tables); failure_patterns and tool_usage in seed 004's form
# (no execution_time; failure_patterns.similar_failures).
SOURCE_DDL = [
    """CREATE TABLE configurations (config_id uuid PRIMARY KEY, name text NOT NULL,
        user_id uuid NOT NULL, latest_version_id uuid, is_active boolean DEFAULT true,
        created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now())""",
    """CREATE TABLE config_versions (version_id uuid PRIMARY KEY,
        config_id uuid NOT NULL REFERENCES configurations ON DELETE CASCADE,
        version_number integer NOT NULL, raw_yaml text NOT NULL, parsed_config jsonb NOT NULL,
        config_hash text NOT NULL, generated_by text DEFAULT 'manual',
        is_deleted boolean DEFAULT false, created_at timestamptz DEFAULT now(),
        UNIQUE (config_id, version_number))""",
    """ALTER TABLE configurations ADD CONSTRAINT fk_latest_version FOREIGN KEY
        (latest_version_id) REFERENCES config_versions(version_id) DEFERRABLE INITIALLY DEFERRED""",
    """CREATE TABLE config_diffs (diff_id uuid PRIMARY KEY, config_id uuid NOT NULL
        REFERENCES configurations, version_before uuid NOT NULL REFERENCES config_versions,
        version_after uuid NOT NULL REFERENCES config_versions, diff_yaml text NOT NULL,
        change_summary jsonb, approval_status text DEFAULT 'pending', approved_by uuid,
        created_at timestamptz DEFAULT now())""",
    """CREATE TABLE scenarios (scenario_id text PRIMARY KEY, name text NOT NULL,
        task_prompt text NOT NULL, ground_truth jsonb, difficulty_level text DEFAULT 'medium',
        tags text[], expected_tools jsonb, is_active boolean DEFAULT true,
        estimated_duration_ms integer, created_at timestamptz DEFAULT now())""",
    """CREATE TABLE simulations (simulation_id uuid PRIMARY KEY,
        config_version_id uuid NOT NULL REFERENCES config_versions, scenario_set text[] NOT NULL,
        simulation_name text, status text DEFAULT 'pending', total_scenarios integer NOT NULL,
        completed_scenarios integer DEFAULT 0, overall_score real, execution_time_ms integer,
        total_cost_usd real, metadata jsonb DEFAULT '{}', timeout_ms integer DEFAULT 300000,
        max_retries integer DEFAULT 3, priority integer DEFAULT 5,
        created_at timestamptz DEFAULT now(), started_at timestamptz, completed_at timestamptz)""",
    """CREATE TABLE simulations_scenarios (simulation_id uuid NOT NULL REFERENCES simulations
        ON DELETE CASCADE, scenario_id text NOT NULL REFERENCES scenarios,
        execution_order integer NOT NULL, status text DEFAULT 'pending', started_at timestamptz,
        completed_at timestamptz, retry_count integer DEFAULT 0,
        PRIMARY KEY (simulation_id, scenario_id))""",
    """CREATE TABLE outcomes (outcome_id uuid PRIMARY KEY, simulation_id uuid NOT NULL
        REFERENCES simulations ON DELETE CASCADE, scenario_id text NOT NULL REFERENCES scenarios,
        execution_time timestamptz NOT NULL, status text NOT NULL, reliability_score real NOT NULL,
        execution_time_ms real NOT NULL, tokens_used integer NOT NULL, cost_usd real NOT NULL,
        trajectory jsonb NOT NULL, metrics jsonb DEFAULT '{}', retry_count integer DEFAULT 0,
        error_code text, sandbox_id text, created_at timestamptz DEFAULT now())""",
    """CREATE TABLE failure_patterns (pattern_id uuid PRIMARY KEY, outcome_id uuid NOT NULL
        REFERENCES outcomes ON DELETE CASCADE, failure_type text NOT NULL,
        failure_category text NOT NULL, error_message text,
        recovery_attempted boolean DEFAULT false,
        recovery_successful boolean DEFAULT false, similar_failures integer DEFAULT 0,
        resolution_steps text, created_at timestamptz DEFAULT now())""",
    """CREATE TABLE tool_usage (usage_id uuid PRIMARY KEY, outcome_id uuid NOT NULL
        REFERENCES outcomes ON DELETE CASCADE, tool_name text NOT NULL, call_count integer NOT NULL,
        avg_duration_ms real NOT NULL, success_rate real NOT NULL, tool_sequence jsonb,
        total_cost_usd real DEFAULT 0, error_types text[], created_at timestamptz DEFAULT now())""",
    """CREATE TABLE recommendations (recommendation_id uuid PRIMARY KEY, source_type text NOT NULL,
        source_id uuid NOT NULL, recommendation_type text NOT NULL, description text NOT NULL,
        suggested_yaml_changes text, impact_estimate jsonb, confidence real NOT NULL,
        applied boolean DEFAULT false, applied_at timestamptz, applied_by uuid,
        feedback_score integer, created_at timestamptz DEFAULT now())""",
    """CREATE TABLE audit_log (log_id uuid PRIMARY KEY, table_name text NOT NULL,
        operation text NOT NULL, user_id uuid, old_data jsonb, new_data jsonb, ip_address inet,
        user_agent text, timestamp timestamptz DEFAULT now())""",
]


@dataclass
class Databases:
    source: str
    target: str
    simulations: int
    outcomes: int


async def _fill_source(engine: AsyncEngine, rng: random.Random) -> tuple[int, int]:
    now = datetime.now(UTC).replace(microsecond=0)
    user = uuid.uuid4()
    async with engine.begin() as conn:
        for ddl in SOURCE_DDL:
            await conn.execute(text(ddl))
        configs, versions = [], []
        for c in range(3):
            cid = uuid.uuid4()
            vids = [uuid.uuid4() for _ in range(2)]
            configs.append(
                {"config_id": cid, "name": f"config {c}", "user_id": user, "latest": vids[-1]}
            )
            for n, vid in enumerate(vids, start=1):
                versions.append(
                    {
                        "version_id": vid,
                        "config_id": cid,
                        "n": n,
                        "parsed": f'{{"model": "m{c}", "temperature": 0.{n}}}',
                    }
                )
        await conn.execute(
            text(
                "INSERT INTO configurations (config_id, name, user_id, latest_version_id, "
                "created_at, updated_at) VALUES (:config_id, :name, :user_id, :latest, "
                "now() - interval '30 days', now() - interval '1 day')"
            ),
            configs,
        )
        await conn.execute(
            text(
                "INSERT INTO config_versions (version_id, config_id, version_number, raw_yaml, "
                "parsed_config, config_hash) VALUES (:version_id, :config_id, :n, 'x', "
                "CAST(:parsed AS jsonb), repeat('a', 64))"
            ),
            versions,
        )
        await conn.execute(
            text(
                "INSERT INTO config_diffs (diff_id, config_id, version_before, version_after, "
                "diff_yaml) "
                "SELECT gen_random_uuid(), v1.config_id, v1.version_id, v2.version_id, '-a\n+b' "
                "FROM config_versions v1 JOIN config_versions v2 ON v1.config_id = v2.config_id "
                "AND v1.version_number = 1 AND v2.version_number = 2"
            )
        )
        scenarios = [f"mig_scn_{i}" for i in range(5)]
        await conn.execute(
            text(
                "INSERT INTO scenarios (scenario_id, name, task_prompt, tags) "
                "VALUES (:s, :s, 'a long enough task prompt', ARRAY['t'])"
            ),
            [{"s": s} for s in scenarios],
        )
        sims, links, outcomes, patterns, tools = [], [], [], [], []
        for i in range(12):
            sim = uuid.uuid4()
            status = ["completed", "failed", "running"][i % 3]
            sims.append(
                {
                    "sim": sim,
                    "v": versions[i % len(versions)]["version_id"],
                    "status": status,
                    "done": now - timedelta(days=1) if status == "completed" else None,
                }
            )
            for order, s in enumerate(scenarios, start=1):
                links.append({"sim": sim, "s": s, "o": order})
            for j in range(25):
                oid = uuid.uuid4()
                t = now - timedelta(days=rng.randint(0, 20), minutes=rng.randint(0, 1440))
                st = rng.choice(["success", "success", "error", "timeout"])
                outcomes.append(
                    {
                        "oid": oid,
                        "sim": sim,
                        "s": scenarios[j % 5],
                        "t": t,
                        "st": st,
                        "r": rng.random(),
                        "cost": round(rng.random() / 10, 5),
                        "traj": f'{{"start_time": "{t.isoformat()}", "status": "{st}"}}',
                    }
                )
                if st != "success":
                    patterns.append({"pid": uuid.uuid4(), "oid": oid, "sf": rng.randint(0, 4)})
                tools.append({"uid": uuid.uuid4(), "oid": oid})
        await conn.execute(
            text(
                "INSERT INTO simulations (simulation_id, config_version_id, scenario_set, status, "
                "total_scenarios, created_at, started_at, completed_at) VALUES (:sim, :v, "
                "ARRAY['mig_scn_0'], :status, 5, now() - interval '3 days', "
                "now() - interval '3 days', :done)"
            ),
            sims,
        )
        await conn.execute(
            text(
                "INSERT INTO simulations_scenarios (simulation_id, scenario_id, execution_order) "
                "VALUES (:sim, :s, :o)"
            ),
            links,
        )
        await conn.execute(
            text(
                "INSERT INTO outcomes (outcome_id, simulation_id, scenario_id, execution_time, "
                "status, "
                "reliability_score, execution_time_ms, tokens_used, cost_usd, trajectory) VALUES "
                "(:oid, :sim, :s, :t, :st, :r, 1000, 10, :cost, "
                "CAST(:traj AS jsonb))"
            ),
            outcomes,
        )
        await conn.execute(
            text(
                "INSERT INTO failure_patterns (pattern_id, outcome_id, failure_type, "
                "failure_category, error_message, similar_failures) "
                "VALUES (:pid, :oid, 'boom', 'tool_error', 'it broke', :sf)"
            ),
            patterns,
        )
        await conn.execute(
            text(
                "INSERT INTO tool_usage (usage_id, outcome_id, tool_name, call_count, "
                "avg_duration_ms, "
                "success_rate) VALUES (:uid, :oid, 'search', 1, 10, 0.5)"
            ),
            tools,
        )
        await conn.execute(
            text(
                "INSERT INTO recommendations (recommendation_id, source_type, source_id, "
                "recommendation_type, description, confidence) VALUES (gen_random_uuid(), "
                "'simulation', gen_random_uuid(), 'config_change', 'use a smaller model', 0.8)"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO audit_log (log_id, table_name, operation) "
                "SELECT gen_random_uuid(), 'configurations', 'INSERT' FROM generate_series(1, 7)"
            )
        )
    return len(sims), len(outcomes)


@pytest.fixture
async def dbs(server_url: str) -> AsyncIterator[Databases]:
    source = with_database(server_url, fresh_database_name("arc_mig_src"))
    target = with_database(server_url, fresh_database_name("arc_mig_dst"))
    await ensure_database(source)
    await ensure_database(target)
    try:
        await asyncio.to_thread(migrate.upgrade, target)
        engine = build_engine(url=source, pool_size=1)
        try:
            sims, outcomes = await _fill_source(engine, random.Random(7))
        finally:
            await engine.dispose()
        yield Databases(source, target, sims, outcomes)
    finally:
        await drop_database(source)
        await drop_database(target)


async def _scalar(url: str, sql: str) -> object:
    engine = build_engine(url=url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql))).scalar()
    finally:
        await engine.dispose()


async def test_migrate_copies_everything_and_is_idempotent(dbs: Databases) -> None:
    calls: list[tuple[str, int, int]] = []
    report = await migrate_from_postgres(
        dbs.source, dbs.target, batch_size=64, progress=lambda t, d, n: calls.append((t, d, n))
    )
    assert report.ok, (report.mismatches, report.rejected_rows)
    t = report.tables
    assert t["outcomes"].copied == t["outcomes"].source_rows == dbs.outcomes == 300
    assert t["simulations"].copied == 12
    assert t["simulations_scenarios"].copied == 60
    assert t["tool_usage"].copied == 300
    assert t["failure_patterns"].copied == t["failure_patterns"].source_rows > 0
    assert t["configurations"].copied == 3
    assert t["config_versions"].copied == 6
    assert t["config_diffs"].copied == 3
    assert t["recommendations"].copied == 1
    assert t["llm_recommendation_sessions"].absent_in_source
    assert "execution_metadata" in t["outcomes"].defaulted_columns
    assert all(r.missing_in_target == 0 for r in t.values())
    # progress: outcomes in pages of 64 -> 5 calls ending at 300/300
    outcome_calls = [c for c in calls if c[0] == "outcomes"]
    assert len(outcome_calls) == 5
    assert outcome_calls[-1] == ("outcomes", 300, 300)
    # bridged columns: time taken from the outcome, similar_failures renamed
    mismatched_time = await _scalar(
        dbs.target,
        "SELECT count(*) FROM failure_patterns fp JOIN outcomes o "
        "ON o.outcome_id = fp.outcome_id WHERE o.execution_time <> fp.execution_time",
    )
    assert mismatched_time == 0
    src_sf = await _scalar(dbs.source, "SELECT sum(similar_failures) FROM failure_patterns")
    assert (
        await _scalar(dbs.target, "SELECT sum(similar_failures_count) FROM failure_patterns")
        == src_sf
    )
    # the circular key is restored
    assert (
        await _scalar(
            dbs.target, "SELECT count(*) FROM configurations WHERE latest_version_id IS NOT NULL"
        )
        == 3
    )
    # rerun: nothing copied twice
    again = await migrate_from_postgres(dbs.source, dbs.target, batch_size=100)
    assert again.ok
    assert again.copied == 0
    assert again.tables["outcomes"].already_present == 300
    assert await _scalar(dbs.target, "SELECT count(*) FROM outcomes") == 300
    total_cost = "SELECT round(sum(cost_usd::float8)::numeric, 6) FROM outcomes"
    assert await _scalar(dbs.source, total_cost) == await _scalar(dbs.target, total_cost)


async def test_partial_run_resumes_and_verification_finds_gaps(dbs: Databases) -> None:
    first = await migrate_from_postgres(
        dbs.source,
        dbs.target,
        tables=["configurations", "config_versions", "scenarios", "simulations"],
    )
    assert first.tables.keys() == {"configurations", "config_versions", "scenarios", "simulations"}
    full = await verify_migration(dbs.source, dbs.target)
    assert not full.ok
    assert full.tables["outcomes"].missing_in_target == 300
    assert len(full.simulation_mismatches) == dbs.simulations
    # a lost page: delete some target outcomes after a full copy, verification sees it, rerun heals
    await migrate_from_postgres(dbs.source, dbs.target, batch_size=1000)
    engine = build_engine(url=dbs.target, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "DELETE FROM outcomes WHERE outcome_id IN "
                    "(SELECT outcome_id FROM outcomes LIMIT 10)"
                )
            )
    finally:
        await engine.dispose()
    damaged = await verify_migration(dbs.source, dbs.target)
    assert damaged.tables["outcomes"].missing_in_target == 10
    assert damaged.simulation_mismatches
    healed = await migrate_from_postgres(dbs.source, dbs.target)
    assert healed.tables["outcomes"].copied == 10
    assert healed.ok


async def test_bad_rows_are_rejected_and_reported(dbs: Databases) -> None:
    engine = build_engine(url=dbs.source, pool_size=1)
    try:
        async with engine.begin() as conn:  # the plain source has no CHECKs; the target does
            await conn.execute(
                text(
                    "UPDATE outcomes SET reliability_score = 1.5 WHERE outcome_id IN "
                    "(SELECT outcome_id FROM outcomes ORDER BY execution_time LIMIT 2)"
                )
            )
    finally:
        await engine.dispose()
    report = await migrate_from_postgres(dbs.source, dbs.target, batch_size=50)
    assert not report.ok
    assert report.tables["outcomes"].rejected == 2
    assert report.tables["outcomes"].copied == 298
    assert {r.table for r in report.rejected_rows} == {"outcomes"}
    assert all("reliability_score" in r.reason for r in report.rejected_rows)
    assert report.tables["outcomes"].missing_in_target == 2


async def test_refuses_unmigrated_target_and_bad_arguments(server_url: str) -> None:
    empty = with_database(server_url, fresh_database_name("arc_mig_empty"))
    await ensure_database(empty)
    try:
        with pytest.raises(ArcConfigurationError):
            await migrate_from_postgres(empty, empty)
    finally:
        await drop_database(empty)
    with pytest.raises(ArcValidationError):
        await migrate_from_postgres(empty, empty, tables=["nope"])
    with pytest.raises(ArcValidationError):
        await migrate_from_postgres(empty, empty, batch_size=0)
