"""DatabaseHealthChecker: healthy on a fresh database, and degraded / unhealthy when the
condition is caused for real: an exhausted pool, a failing background job, a stale aggregate."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.core.engine import build_engine
from arc.database.core.timescale import TimescaleCapabilities
from arc.database.models import Configuration, Outcome, ToolUsage
from arc.database.ops.health import (
    DEGRADED,
    HEALTHY,
    UNHEALTHY,
    DatabaseHealthChecker,
    HealthThresholds,
)
from tests.support.scratch import scratch_engine, scratch_url, settle_refresh_policies

__all__ = ["scratch_engine", "scratch_url"]


async def test_fresh_database_is_healthy_and_probe_leaves_nothing(
    scratch_engine: AsyncEngine, capabilities: TimescaleCapabilities
) -> None:
    if capabilities.full_edition:
        await settle_refresh_policies(scratch_engine)
    report = await DatabaseHealthChecker(scratch_engine).check_all()
    assert report.status == HEALTHY, report.reasons
    assert report.exit_code == 0
    assert {c.name for c in report.checks} == {
        "connection_pool",
        "extensions",
        "write_performance",
        "hypertables",
        "jobs",
        "aggregates",
    }
    ext = report.check("extensions").details
    assert {"timescaledb", "vector", "uuid-ossp"} <= set(ext["extensions"])
    assert ext["capabilities"]["edition"] == capabilities.edition
    write = report.check("write_performance").details
    assert write["rows"] == 100
    assert write["rolled_back"] is True
    assert write["throughput_per_second"] > 0
    async with scratch_engine.connect() as conn:
        outcomes = (await conn.execute(select(func.count()).select_from(Outcome))).scalar_one()
        configs = (await conn.execute(select(func.count()).select_from(Configuration))).scalar_one()
        audit = (await conn.execute(text("SELECT count(*) FROM audit_log"))).scalar_one()
    assert (outcomes, configs, audit) == (0, 0, 0)
    tables = report.check("hypertables").details["hypertables"]
    assert set(tables) == {"outcomes", "failure_patterns", "tool_usage"}
    pool = report.check("connection_pool").details
    assert pool["capacity"] == 10
    assert "acquire_ms" in pool


async def test_exhausted_pool_is_unhealthy(scratch_url: str) -> None:
    engine = build_engine(url=scratch_url, pool_size=1, max_overflow=0, pool_timeout=30)
    try:
        checker = DatabaseHealthChecker(
            engine, thresholds=HealthThresholds(pool_acquire_timeout=0.5)
        )
        async with engine.connect() as held:
            await held.execute(text("SELECT 1"))
            report = await checker.check_all()
        assert report.status == UNHEALTHY
        assert report.exit_code == 2
        pool = report.check("connection_pool")
        assert pool.status == UNHEALTHY
        assert any(r.startswith("pool exhausted") for r in pool.reasons)
        assert pool.details["checkedout"] == 1
        assert pool.details["capacity"] == 1
        assert report.check("write_performance").reasons == ("skipped: no connection available",)
        # the held connection is back: the same checker is healthy on the pool again
        again = await checker.check_connection_pool()
        assert again.status == HEALTHY
    finally:
        await engine.dispose()


@pytest.mark.full_edition
async def test_failed_job_degrades_then_unhealthy(scratch_engine: AsyncEngine) -> None:
    async with scratch_engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE OR REPLACE PROCEDURE arc_test_failing_job(job_id int, config jsonb) "
                "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'arc test job exploded'; END $$"
            )
        )
        job = (
            await conn.execute(
                text(
                    "SELECT add_job('arc_test_failing_job', INTERVAL '1 day', "
                    "initial_start => now())"
                )
            )
        ).scalar_one()
    try:
        for _ in range(100):  # the scheduler picks the job up within a second
            async with scratch_engine.connect() as conn:
                status = (
                    await conn.execute(
                        text(
                            "SELECT last_run_status FROM timescaledb_information.job_stats "
                            "WHERE job_id = :j"
                        ),
                        {"j": job},
                    )
                ).scalar()
            if status == "Failed":
                break
            await asyncio.sleep(0.1)
        assert status == "Failed"
        jobs = await DatabaseHealthChecker(scratch_engine).check_jobs()
        assert jobs.status == DEGRADED
        assert any(f"job {job}" in r and "arc test job exploded" in r for r in jobs.reasons)
        strict = DatabaseHealthChecker(
            scratch_engine, thresholds=HealthThresholds(job_consecutive_failures_unhealthy=1)
        )
        assert (await strict.check_jobs()).status == UNHEALTHY
        report = await strict.check_all(write_probe=False)
        assert report.status == UNHEALTHY
        assert report.exit_code == 2
    finally:
        async with scratch_engine.begin() as conn:
            await conn.execute(text("SELECT delete_job(:j)"), {"j": job})
            await conn.execute(text("DROP PROCEDURE arc_test_failing_job(int, jsonb)"))


async def _plant_tool_usage(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            insert(ToolUsage).values(
                usage_id=uuid.uuid4(),
                outcome_id=uuid.uuid4(),
                execution_time=now - timedelta(days=2),
                tool_name="health_probe_tool",
                call_count=1,
                avg_duration_ms=5.0,
                success_rate=1.0,
            )
        )


async def test_stale_aggregate_is_reported(
    scratch_engine: AsyncEngine, capabilities: TimescaleCapabilities
) -> None:
    """Full edition: a paused / removed refresh policy. Apache: a never-refreshed view."""
    await _plant_tool_usage(scratch_engine)
    checker = DatabaseHealthChecker(scratch_engine)
    if capabilities.full_edition:
        async with scratch_engine.begin() as conn:
            job = (
                await conn.execute(
                    text(
                        "SELECT job_id FROM timescaledb_information.jobs "
                        "WHERE hypertable_name = 'tool_performance_daily'"
                    )
                )
            ).scalar_one()
            await conn.execute(text("SELECT alter_job(:j, scheduled => false)"), {"j": job})
        paused = await checker.check_aggregates()
        assert paused.status == DEGRADED
        assert any("tool_performance_daily" in r and "paused" in r for r in paused.reasons)
        async with scratch_engine.begin() as conn:
            await conn.execute(
                text("SELECT remove_continuous_aggregate_policy('tool_performance_daily')")
            )
        removed = await checker.check_aggregates()
        assert any("no refresh policy" in r for r in removed.reasons)
        assert (await checker.check_all(write_probe=False)).exit_code == 1
    else:
        async with scratch_engine.begin() as conn:
            await conn.execute(
                text("REFRESH MATERIALIZED VIEW tool_performance_daily WITH NO DATA")
            )
        never = await checker.check_aggregates()
        assert never.status == UNHEALTHY
        assert any("never been refreshed" in r for r in never.reasons)
        stamp = (datetime.now(UTC) - timedelta(hours=5)).isoformat(sep=" ")
        async with scratch_engine.begin() as conn:
            await conn.execute(text("REFRESH MATERIALIZED VIEW tool_performance_daily"))
            await conn.execute(
                text(
                    "COMMENT ON MATERIALIZED VIEW tool_performance_daily "
                    f"IS 'arc:refreshed_at={stamp}'"
                )
            )
        old = await checker.check_aggregates()
        assert old.status == DEGRADED
        assert any("tool_performance_daily" in r and "5h ago" in r for r in old.reasons)
        assert (await checker.check_all(write_probe=False)).exit_code == 1
        async with scratch_engine.begin() as conn:
            await conn.execute(text("SELECT arc_refresh_fallback_aggregates()"))
        assert (await checker.check_aggregates()).status == HEALTHY


async def test_hypertable_sizes_and_compression(
    scratch_engine: AsyncEngine, capabilities: TimescaleCapabilities
) -> None:
    await _plant_tool_usage(scratch_engine)
    checker = DatabaseHealthChecker(scratch_engine)
    if capabilities.compression:
        async with scratch_engine.begin() as conn:
            await conn.execute(
                text(
                    "SELECT compress_chunk(c, if_not_compressed => true) "
                    "FROM show_chunks('tool_usage') c"
                )
            )
    result = await checker.check_hypertables()
    tool = result.details["hypertables"]["tool_usage"]
    assert tool["chunks"] >= 1
    assert tool["total_bytes"] > 0
    if capabilities.compression:
        assert tool["compressed_chunks"] == tool["chunks"]
        assert tool["before_compression_bytes"] > 0
        assert tool["after_compression_bytes"] > 0
        assert tool["compression_ratio"] == pytest.approx(
            tool["before_compression_bytes"] / tool["after_compression_bytes"], rel=0.01
        )
    else:
        assert "compression_ratio" not in tool
