"""`arc-db` as a user runs it: a subprocess, its output and its exit codes."""

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from arc.database.core.settings import to_psycopg_url
from arc.database.core.timescale import TimescaleCapabilities
from arc.database.models.aggregates import ALL_AGGREGATES
from arc.database.ops.provision import drop_database, ensure_database, with_database
from arc.database.schema.migrate import head_revision
from tests.conftest import ROOT, fresh_database_name
from tests.support.scratch import scratch_engine, scratch_url, settle_refresh_policies

__all__ = ["scratch_engine", "scratch_url"]


def arc_db(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TIMESCALE_SERVICE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "arc.database.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )


@pytest.fixture
def empty_url(server_url: str) -> Iterator[str]:
    """A database that exists but has no schema yet."""
    url = with_database(server_url, fresh_database_name("arc_cli"))
    asyncio.run(ensure_database(url))
    try:
        yield url
    finally:
        asyncio.run(drop_database(url))


def test_migrate_current_reports_head(scratch_url: str) -> None:
    done = arc_db("--url", scratch_url, "migrate", "current")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"current: {head_revision()} (head)"


def test_concurrent_migrations_apply_once(empty_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TIMESCALE_SERVICE_URL"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "arc.database.cli", "--url", empty_url, "migrate", "upgrade"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        for _ in range(3)
    ]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    for p in procs:
        p.stdout.close()  # type: ignore[union-attr]
        p.stderr.close()  # type: ignore[union-attr]
    assert [code for code, _, _ in results] == [0, 0, 0], results
    outputs = sorted(out.strip() for _, out, _ in results)
    head = head_revision()
    assert outputs.count(f"upgraded base -> {head} (head)") == 1, outputs
    assert outputs.count(f"already at {head} (head): nothing to do") == 2, outputs
    engine = create_engine(to_psycopg_url(empty_url))
    with engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    engine.dispose()
    assert versions == [head]


async def test_health_json_and_exit_codes(
    scratch_url: str, scratch_engine: object, capabilities: TimescaleCapabilities
) -> None:
    if capabilities.full_edition:
        await settle_refresh_policies(scratch_engine)  # type: ignore[arg-type]
    done = await asyncio.to_thread(arc_db, "--url", scratch_url, "health", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "healthy"
    assert report["edition"] == capabilities.edition
    table = await asyncio.to_thread(arc_db, "--url", scratch_url, "health")
    assert table.returncode == 0
    assert "database health: HEALTHY" in table.stdout
    assert "write probe: 100 rows" in table.stdout
    degraded = await asyncio.to_thread(
        arc_db, "--url", scratch_url, "health", "--min-write-rows-per-second", "1e12"
    )
    assert degraded.returncode == 1
    assert "DEGRADED" in degraded.stdout
    assert "below" in degraded.stdout


def test_unreachable_server_is_one_line_and_redacted() -> None:
    url = "postgresql://arc:supersecret@127.0.0.1:1/nothing"
    health = arc_db("--url", url, "health")
    assert health.returncode == 2  # unreachable = unhealthy
    assert "UNHEALTHY" in health.stdout
    assert "skipped: no connection available" in health.stdout
    for command in (("maintain",), ("migrate", "upgrade")):
        done = arc_db("--url", url, *command)
        assert done.returncode == 3, command
        assert "Traceback" not in done.stderr
        assert "supersecret" not in done.stderr + done.stdout
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 2, lines
        assert lines[0].startswith("arc-db: error: cannot connect to the database"), lines
        assert "***" in lines[0]
        assert lines[1].startswith("hint: ")


def test_missing_url_is_a_usage_error() -> None:
    done = arc_db("health")
    assert done.returncode == 2
    assert "no database URL" in done.stderr
    assert "TIMESCALE_SERVICE_URL" in done.stderr


def test_maintain_runs_on_either_edition(
    scratch_url: str, capabilities: TimescaleCapabilities
) -> None:
    done = arc_db("--url", scratch_url, "maintain", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["edition"] == capabilities.edition
    assert set(report["dropped_chunks"]) == {
        "outcomes",
        "failure_patterns",
        "tool_usage",
        "audit_log",
    }
    if capabilities.full_edition:
        assert any("refresh by policy" in s for s in report["skipped"])
    else:
        assert report["refreshed"] == list(ALL_AGGREGATES)
        assert any("compression" in s for s in report["skipped"])


def test_demo_creates_migrates_and_reports(server_url: str) -> None:
    url = with_database(server_url, fresh_database_name("arc_demo_t"))
    try:
        done = arc_db(
            "--url",
            url,
            "demo",
            "--scenarios",
            "12",
            "--simulations",
            "1",
            "--seed",
            "3",
            timeout=180,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        out = done.stdout
        assert "database: created" in out
        assert "(head)" in out
        assert "recorded 60 outcomes" in out  # four configurations and a version 2, 12 each
        for panel in (
            "Performance trends",
            "Cost by model",
            "Tool performance",
            "Version comparison",
            "Pareto frontier",
            "Recommendation loop",
            "Health:",
        ):
            assert panel in out
        again = arc_db("--url", url, "demo", "--scenarios", "12", "--simulations", "1", timeout=180)
        assert again.returncode == 0, again.stderr[-2000:]
        assert "database: exists" in again.stdout
        assert "nothing to do" in again.stdout
    finally:
        asyncio.run(drop_database(url))


def test_bench_command_reaches_the_benchmarks() -> None:
    done = arc_db("bench", "no_such_benchmark")
    assert done.returncode == 2
    assert "unknown benchmark" in done.stdout
