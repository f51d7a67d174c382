"""`arc-db export` as a user runs it: a subprocess, its files, its output and its exit codes; the
progress bar on a terminal only."""

import os
import pty
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import ROOT
from tests.integration.export.planted import KEYS, Tenants, exported_ids, plant_tenants, rows_of
from tests.support.scratch import scratch_engine, scratch_url

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


@pytest.fixture(scope="module")
async def tenants(scratch_engine: AsyncEngine) -> Tenants:
    return await plant_tenants(scratch_engine)


def test_export_to_a_file_as_a_tenant(scratch_url: str, tenants: Tenants, tmp_path: Path) -> None:
    path = tmp_path / "outcomes.jsonl"
    done = arc_db(
        "--url", scratch_url, "export", "outcomes", "--format", "jsonl", "-o", str(path),
        "--tenant", str(tenants.tenant_a),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    mine = sorted(str(o["outcome_id"]) for o in tenants.a.outcomes)
    assert sorted(exported_ids(path, "jsonl", "outcome_id")) == mine
    assert f"exported {len(mine):,} outcomes rows as jsonl to {path}" in done.stderr
    assert "as app_user" in done.stderr


def test_export_to_standard_output(scratch_url: str, tenants: Tenants, tmp_path: Path) -> None:
    done = arc_db(
        "--url", scratch_url, "export", "failures", "--tenant", str(tenants.tenant_b),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    path = tmp_path / "stdout.csv"
    path.write_text(done.stdout, encoding="utf-8")
    theirs = sorted(str(r[KEYS["failures"]]) for r in rows_of(tenants.b, "failures"))
    assert sorted(exported_ids(path, "csv", "pattern_id")) == theirs
    assert "to standard output" in done.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["outcomes", "--simulation", "not-a-uuid"], "simulation_id: must be a UUID"),
        (["tool_usage", "--tenant", "x"], "tenant: must be a UUID"),
        (["outcomes", "--since", "2026-02-01", "--until", "2026-01-01"], "since: must be before"),
        (["outcomes", "--until", "last week"], "until: must be an ISO 8601 timestamp"),
        (["outcomes", "-o", "/nonexistent-arc-dir/out.csv"], "output: is in a directory"),
        (["comparison", "--baseline", str(uuid.uuid4())], "candidate: is required"),
        (["outcomes", "--baseline", str(uuid.uuid4())], "baseline: applies to comparison"),
        (
            ["comparison", "--baseline", str(uuid.uuid4()), "--candidate", str(uuid.uuid4())],
            "config_version",  # not found (or another tenant's): the caller's input
        ),
        (["outcomes", "--format", "xlsx"], "invalid choice"),
        (["spreadsheets"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    scratch_url: str, tmp_path: Path, args: list[str], needle: str
) -> None:
    if "-o" not in args:
        args = [*args, "-o", str(tmp_path / "out")]
    done = arc_db("--url", scratch_url, "export", *args)
    assert done.returncode == 2, done.stderr
    assert needle in done.stderr
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_a_database_error_exits_3(tmp_path: Path) -> None:
    done = arc_db(
        "--url", "postgresql://arc:secret@127.0.0.1:9/nowhere", "export", "outcomes",
        "-o", str(tmp_path / "out.csv"),
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "cannot connect" in done.stderr
    assert "secret" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def _run_on_a_terminal(args: list[str]) -> tuple[int, str]:
    """Run arc-db with stderr on a pseudo-terminal; its exit code and what the terminal got."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "TIMESCALE_SERVICE_URL"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "arc.database.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        cwd=ROOT,
        env=env,
    )
    os.close(follower)
    seen = bytearray()
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen.extend(chunk)
    os.close(leader)
    return proc.wait(timeout=120), seen.decode(errors="replace")


def test_the_progress_bar_is_drawn_on_a_terminal_only(
    scratch_url: str, tenants: Tenants, tmp_path: Path
) -> None:
    rows = len(tenants.a.outcomes) + len(tenants.b.outcomes)
    args = ["--url", scratch_url, "export", "outcomes", "--format", "jsonl", "--batch-rows", "20"]
    code, terminal = _run_on_a_terminal([*args, "-o", str(tmp_path / "tty.jsonl")])
    assert code == 0, terminal
    assert "export outcomes [##############################] 100.0%" in terminal
    assert f"{rows:,} of {rows:,} rows" in terminal
    piped = arc_db(*args, "-o", str(tmp_path / "pipe.jsonl"))
    assert piped.returncode == 0, piped.stderr
    assert "export outcomes [" not in piped.stderr
    assert "\r" not in piped.stderr
