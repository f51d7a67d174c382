"""`arc-db compare` as a CI gate, the Pareto frontier (library and view), change effects."""

import json
import random
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.comparison import VersionComparator
from tests.integration.comparison.test_compare import IMPROVE, REGRESS, World, world
from tests.support.planting import (
    Run,
    make_configuration,
    make_simulation,
    make_version,
    refresh_statistics,
)
from tests.support.scratch import scratch_engine, scratch_url

__all__ = ["scratch_engine", "scratch_url", "world"]

SUMMARY_KEYS = {
    "regressions",
    "improvements",
    "no_change",
    "insufficient_data",
    "delta",
    "ci_low",
    "ci_high",
    "verdict",
}
SCENARIO_KEYS = {
    "scenario_id",
    "baseline_n",
    "candidate_n",
    "baseline_mean",
    "candidate_mean",
    "delta",
    "ci_low",
    "ci_high",
    "p_value",
    "q_value",
    "verdict",
}


def arc_db(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arc.database.cli", "--url", url, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_gate_fails_on_a_regression_with_one_json_object(
    scratch_url: str, world: World
) -> None:
    done = arc_db(
        scratch_url,
        "compare",
        "--baseline",
        str(world.baseline),
        "--candidate",
        str(world.candidate),
        "--json",
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)  # exactly one JSON document on stdout
    assert {"metric", "alpha", "baseline", "candidate", "scenarios", "summary"} <= set(report)
    assert report["baseline"]["version_id"] == str(world.baseline)
    assert report["candidate"]["version_id"] == str(world.candidate)
    assert set(report["summary"]) >= SUMMARY_KEYS
    for row in report["scenarios"]:
        assert set(row) >= SCENARIO_KEYS
        if row["delta"] is not None:
            assert row["delta"] == pytest.approx(row["candidate_mean"] - row["baseline_mean"])
    regressed = {r["scenario_id"] for r in report["scenarios"] if r["verdict"] == "regression"}
    assert regressed == REGRESS
    assert report["summary"]["regressions"] == len(REGRESS)


def test_the_gate_passes_without_a_regression_and_prints_a_table(
    scratch_url: str, world: World
) -> None:
    args = ["--baseline", str(world.baseline), "--candidate", str(world.candidate)]
    only_improved = [a for s in sorted(IMPROVE) for a in ("--scenario", s)]
    done = arc_db(scratch_url, "compare", *args, *only_improved)
    assert done.returncode == 0, done.stderr
    assert "IMPROVEMENT" in done.stdout
    table = arc_db(scratch_url, "compare", *args, "--metric", "execution_time_ms")
    assert table.returncode == 1
    rows = [line.split()[0] for line in table.stdout.splitlines() if line.startswith("cmp_s")]
    assert set(rows[: len(REGRESS)]) == REGRESS  # worst regressions first


@pytest.mark.parametrize(
    "extra",
    [
        ["--candidate", str(uuid.uuid4())],
        ["--candidate", "not-a-uuid"],
        ["--metric", "accuracy"],
        ["--alpha", "1.5"],
        ["--since", "yesterday"],
    ],
)
def test_the_gate_reports_bad_input_with_status_2(
    scratch_url: str, world: World, extra: list[str]
) -> None:
    args = ["--baseline", str(world.baseline), "--candidate", str(world.candidate)]
    if extra[0] == "--candidate":
        args = args[:2]
    done = arc_db(scratch_url, "compare", *args, *extra)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr


async def test_pareto_library_view_and_cli_agree(
    scratch_engine: AsyncEngine, scratch_url: str, world: World
) -> None:
    month_ago = datetime.now(UTC) - timedelta(days=30)
    points = await VersionComparator(scratch_engine).pareto_frontier(since=month_ago)
    library = {p.version_id: (p.on_frontier, set(p.dominated_by)) for p in points}
    async with scratch_engine.connect() as conn:
        view = {
            r.config_version_id: (r.on_frontier, set(r.dominated_by))
            for r in await conn.execute(
                text("SELECT config_version_id, on_frontier, dominated_by FROM v_config_pareto")
            )
        }
    assert library == view
    assert {world.baseline, world.candidate} <= set(library)
    assert any(on for on, _ in library.values())
    for on, dominators in library.values():
        assert on == (not dominators)
    done = arc_db(scratch_url, "pareto", "--json")
    assert done.returncode == 0, done.stderr
    cli = {uuid.UUID(v["version_id"]) for v in json.loads(done.stdout)["versions"]}
    assert cli == set(library)


async def test_change_effects_aggregate_per_key_and_direction(
    scratch_engine: AsyncEngine,
) -> None:
    """Three configurations lower their temperature (each change improves reliability on
    every scenario), two switch model to 'slow-model' (each regresses)."""
    rng = random.Random(5)
    user = uuid.uuid4()
    scenarios = [f"eff_s{i}" for i in range(8)]

    def runs(mean: float) -> list[Run]:
        at = datetime.now(UTC) - timedelta(hours=2)
        return [
            Run(s, at, min(1.0, max(0.0, rng.gauss(mean, 0.05))))
            for s in scenarios
            for _ in range(8)
        ]

    async def change(before: dict, after: dict, shift: float, summary: dict) -> None:
        config = await make_configuration(scratch_engine, user_id=user)
        v1 = await make_version(scratch_engine, config, before)
        v2 = await make_version(
            scratch_engine, config, after, previous=(v1, before), change_summary=summary
        )
        await make_simulation(scratch_engine, v1, runs(0.6))
        await make_simulation(scratch_engine, v2, runs(0.6 + shift))

    lowered = {"changed": {"temperature": {"before": 0.9, "after": 0.3}}}
    for _ in range(3):
        await change(
            {"model": "m", "temperature": 0.9}, {"model": "m", "temperature": 0.3}, 0.1, lowered
        )
    switched = {"changed": {"model": {"before": "m", "after": "slow-model"}}}
    for _ in range(2):
        await change(
            {"model": "m", "temperature": 0.5},
            {"model": "slow-model", "temperature": 0.5},
            -0.2,
            switched,
        )
    await refresh_statistics(scratch_engine)
    effects = await VersionComparator(scratch_engine).change_effects(user_id=user)
    temperature = effects.effect("temperature", "lowered")
    assert (temperature.changes, temperature.improvements, temperature.regressions) == (3, 3, 0)
    assert temperature.median_delta == pytest.approx(0.1, abs=0.03)
    model = effects.effect("model", "set")
    assert model.value == "slow-model"
    assert (model.changes, model.regressions) == (2, 2)
    assert "3 changes, 3 significant improvements" in temperature.describe("reliability_score")
    assert len(effects.changes) == 5
    other = await VersionComparator(scratch_engine).change_effects(user_id=uuid.uuid4())
    assert other.effects == ()
