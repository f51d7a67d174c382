"""`arc-db compare` as a CI gate on planted data of awkward shapes, written the way an outside
check writes it: history in days already aggregated (a backfill), nobody refreshing anything.

Scenarios with unequal sample sizes, one that only one side ran, one too thin to test,
zero-variance ones (equal and different constants), all-success and all-failure counts, and
effects per metric in its own direction (cost and time: lower is better). Nulls carry the same
values on both sides, so every verdict is known exactly. Both editions.
"""

import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.comparison.results import GATE_KEYS, GATE_SCENARIO_KEYS, GATE_SUMMARY_KEYS
from tests.support.planting import (
    Run,
    make_configuration,
    make_simulation,
    make_version,
    refresh_statistics,
)
from tests.support.scratch import scratch_engine, scratch_url

__all__ = ["scratch_engine", "scratch_url"]

METRICS = ("reliability_score", "success_rate", "execution_time_ms", "cost_usd")
NC, RG, IM, IN = "no_change", "regression", "improvement", "insufficient_data"
NOW = datetime.now(UTC)


@dataclass(frozen=True)
class Side:
    n: int
    rel: tuple[float, ...] = (0.5, 0.6, 0.7)
    ms: tuple[float, ...] = (800.0, 1000.0, 1200.0)
    cost: tuple[float, ...] = (0.008, 0.01, 0.012)
    status: tuple[str, ...] = ("success", "success", "error")


def _all(verdict: str) -> dict[str, str]:
    return dict.fromkeys(METRICS, verdict)


def _only(metric: str, verdict: str) -> dict[str, str]:
    return {**_all(NC), metric: verdict}


# scenario -> (baseline, candidate, expected verdict per metric)
PLAN: dict[str, tuple[Side | None, Side | None, dict[str, str]]] = {
    **{f"gp_null_{k}": (Side(30), Side(12), _all(NC)) for k in range(5)},
    "gp_rel_down": (
        Side(20, rel=(0.75, 0.8, 0.85)),
        Side(24, rel=(0.35, 0.4, 0.45)),
        _only("reliability_score", RG),
    ),
    "gp_rel_up": (
        Side(18, rel=(0.35, 0.4, 0.45)),
        Side(9, rel=(0.75, 0.8, 0.85)),
        _only("reliability_score", IM),
    ),
    "gp_const_same": (
        Side(13, rel=(0.3,), ms=(333.3,), cost=(0.07,), status=("success",)),
        Side(7, rel=(0.3,), ms=(333.3,), cost=(0.07,), status=("success",)),
        _all(NC),
    ),
    "gp_const_apart": (
        Side(10, rel=(0.875,), ms=(500.0,), cost=(0.0625,), status=("success",)),
        Side(8, rel=(0.5,), ms=(800.0,), cost=(0.03125,), status=("error",)),
        {"reliability_score": RG, "success_rate": RG, "execution_time_ms": RG, "cost_usd": IM},
    ),
    "gp_half_const": (
        Side(12, rel=(0.6,), ms=(1000.0,), cost=(0.01,)),
        Side(12),
        _all(NC),
    ),
    "gp_only_base": (Side(10), None, _all(IN)),
    "gp_only_cand": (None, Side(10), _all(IN)),
    "gp_thin": (Side(15), Side(3), _all(IN)),
    "gp_cost_up": (
        Side(15, cost=(0.009, 0.01, 0.011)),
        Side(15, cost=(0.049, 0.05, 0.051)),
        _only("cost_usd", RG),
    ),
    "gp_time_down": (
        Side(15, ms=(1900.0, 2000.0, 2100.0)),
        Side(21, ms=(450.0, 500.0, 550.0)),
        _only("execution_time_ms", IM),
    ),
    "gp_all_success": (Side(12, status=("success",)), Side(21, status=("success",)), _all(NC)),
    "gp_all_failure": (Side(12, status=("error",)), Side(21, status=("timeout",)), _all(NC)),
    "gp_success_lost": (
        Side(15, status=("success",)),
        Side(15, status=("error",)),
        _only("success_rate", RG),
    ),
    "gp_success_won": (
        Side(15, status=("error",)),
        Side(18, status=("success",)),
        _only("success_rate", IM),
    ),
}


def _runs(scenario: str, side: Side | None, days: tuple[float, ...]) -> list[Run]:
    if side is None:
        return []
    runs = []
    for i in range(side.n):
        back = days[i % len(days)]
        at = NOW - timedelta(days=back, minutes=i % 50) if back else NOW - timedelta(minutes=2)
        runs.append(
            Run(
                scenario,
                at,
                side.rel[i % len(side.rel)],
                side.ms[i % len(side.ms)],
                side.cost[i % len(side.cost)],
                side.status[i % len(side.status)],
            )
        )
    return runs


@dataclass(frozen=True)
class Planted:
    baseline: uuid.UUID
    candidate: uuid.UUID
    tenant: uuid.UUID
    other_version: uuid.UUID


@pytest.fixture(scope="module")
async def planted(scratch_engine: AsyncEngine) -> Planted:
    """The baseline ran two to five days ago and was aggregated; the candidate ran three days
    ago and yesterday (into aggregated days: a backfill) and now. Nothing refreshes after."""
    tenant = uuid.uuid4()
    config = await make_configuration(scratch_engine, user_id=tenant, name="gate planted")
    v1 = await make_version(scratch_engine, config, {"model": "a", "temperature": 0.7})
    v2 = await make_version(
        scratch_engine,
        config,
        {"model": "a", "temperature": 0.3},
        previous=(v1, {}),
        change_summary={"changed": {"temperature": {"before": 0.7, "after": 0.3}}},
    )
    for scenario, (base, _, _) in PLAN.items():
        if base is not None:
            await make_simulation(scratch_engine, v1, _runs(scenario, base, (5, 4, 3, 2)))
    await refresh_statistics(scratch_engine)
    candidate = [r for s, (_, c, _) in PLAN.items() for r in _runs(s, c, (3, 1, 0))]
    await make_simulation(scratch_engine, v2, candidate)
    other = await make_configuration(scratch_engine, user_id=uuid.uuid4(), name="other tenant")
    ov = await make_version(scratch_engine, other, {"model": "b", "temperature": 0.5})
    await make_simulation(scratch_engine, ov, _runs("gp_null_0", Side(10), (2,)))
    return Planted(v1, v2, tenant, ov)


def arc_db(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arc.database.cli", "--url", url, *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _refuse_constants(name: str) -> Any:
    raise AssertionError(f"{name} is not JSON")


@pytest.mark.parametrize("metric", METRICS)
def test_the_gate_on_a_backfill_nobody_refreshed(
    scratch_url: str, planted: Planted, metric: str
) -> None:
    done = arc_db(
        scratch_url,
        "compare",
        "--baseline",
        str(planted.baseline),
        "--candidate",
        str(planted.candidate),
        "--metric",
        metric,
        "--json",
    )
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout, parse_constant=_refuse_constants)  # one strict object
    regressed = any(expected[metric] == RG for _, _, expected in PLAN.values())
    assert done.returncode == (1 if regressed else 0), done.stderr
    assert tuple(report) == GATE_KEYS
    assert tuple(report["summary"]) == GATE_SUMMARY_KEYS
    assert report["metric"] == metric
    assert report["alpha"] == 0.05
    rows = {r["scenario_id"]: r for r in report["scenarios"]}
    assert set(rows) == set(PLAN)
    for scenario, (base, cand, expected) in PLAN.items():
        row = rows[scenario]
        assert tuple(row) == GATE_SCENARIO_KEYS
        assert row["verdict"] == expected[metric], row
        assert (row["baseline_n"], row["candidate_n"]) == (
            base.n if base else 0,
            cand.n if cand else 0,
        ), row
        if row["delta"] is not None:
            assert row["delta"] == pytest.approx(
                row["candidate_mean"] - row["baseline_mean"], abs=1e-12
            )
        if row["verdict"] == IN:
            assert row["p_value"] is None
            assert row["q_value"] is None
    summary = report["summary"]
    for key, verdict in (
        ("regressions", RG),
        ("improvements", IM),
        ("no_change", NC),
        ("insufficient_data", IN),
    ):
        assert summary[key] == sum(1 for _, _, e in PLAN.values() if e[metric] == verdict)
    assert summary["verdict"] == (RG if regressed else IM)
    assert summary["ci_low"] <= summary["delta"] <= summary["ci_high"]


def test_the_table_lists_the_worst_regressions_first(scratch_url: str, planted: Planted) -> None:
    done = arc_db(
        scratch_url,
        "compare",
        "--baseline",
        str(planted.baseline),
        "--candidate",
        str(planted.candidate),
    )
    assert done.returncode == 1, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("gp_")]
    verdicts = [r[1] for r in rows]
    assert verdicts[:2] == [RG, RG]
    order = {RG: 0, IM: 1, NC: 2, IN: 3}
    assert verdicts == sorted(verdicts, key=order.__getitem__)


async def test_the_gate_counts_outcomes_written_into_aggregated_buckets(
    scratch_engine: AsyncEngine, scratch_url: str, capabilities: Any
) -> None:
    """A second pair of versions: the candidate backfilled into aggregated days after the
    refresh. `--no-refresh` reads the statistics as they are (on the Apache edition that is
    without the backfill); the gate's own freshness step counts it. Then a late outcome into a
    simulation that already existed: the full edition counts it at once (TimescaleDB logged
    the invalidation), the Apache edition after `--refresh`."""
    config = await make_configuration(scratch_engine, user_id=uuid.uuid4(), name="late rows")
    v1 = await make_version(scratch_engine, config, {"model": "a", "temperature": 0.5})
    v2 = await make_version(scratch_engine, config, {"model": "a", "temperature": 0.1})
    base = Side(12, rel=(0.8,))
    await make_simulation(scratch_engine, v1, _runs("gp_null_0", base, (3, 2)))
    await refresh_statistics(scratch_engine)
    sim = await make_simulation(scratch_engine, v2, _runs("gp_null_0", Side(10, rel=(0.2,)), (3,)))
    args = ["compare", "--baseline", str(v1), "--candidate", str(v2), "--json"]

    def candidate_n(*extra: str) -> int:
        done = arc_db(scratch_url, *args, *extra)
        assert done.returncode in (0, 1), done.stderr
        (row,) = json.loads(done.stdout)["scenarios"]
        return int(row["candidate_n"])

    if not capabilities.continuous_aggregates:
        assert candidate_n("--no-refresh") == 0  # the fallback view predates the backfill
    assert candidate_n() == 10
    late = NOW - timedelta(days=3, minutes=30)
    async with scratch_engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO outcomes (outcome_id, execution_time, simulation_id, scenario_id,"
                " status, reliability_score, execution_time_ms, tokens_used, cost_usd,"
                " trajectory) VALUES (gen_random_uuid(), :at, :sim, 'gp_null_0', 'success',"
                " 0.2, 1000, 100, 0.01, CAST(:trajectory AS jsonb))"
            ),
            {
                "at": late,
                "sim": sim,
                "trajectory": json.dumps({"start_time": late.isoformat(), "status": "success"}),
            },
        )
    if capabilities.continuous_aggregates:
        assert candidate_n() == 11
    else:
        assert candidate_n("--refresh") == 11


@pytest.mark.parametrize(
    "extra",
    [
        ["--candidate", "BASELINE"],  # the same version twice
        ["--candidate", "OTHER"],  # another tenant's version, acting as the tenant
        ["--candidate", str(uuid.uuid4())],
        ["--metric", "p99_latency"],
        ["--alpha", "nan"],
        ["--alpha", "0"],
        ["--since", "0001-01-01"],
        ["--since", "2026-02-30"],
        ["--scenario", "Not An Id"],
        ["--min-samples", "1"],
    ],
)
def test_bad_input_through_the_gate_is_status_2_without_a_traceback(
    scratch_url: str, planted: Planted, extra: list[str]
) -> None:
    given = {"BASELINE": str(planted.baseline), "OTHER": str(planted.other_version)}
    extra = [given.get(a, a) for a in extra]
    args = ["--baseline", str(planted.baseline), "--tenant", str(planted.tenant)]
    if extra[0] != "--candidate":
        args += ["--candidate", str(planted.candidate)]
    done = arc_db(scratch_url, "compare", *args, *extra, "--json")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith(("arc-db: error:", "usage:")), done.stderr


def test_an_empty_window_is_insufficient_data_and_passes(
    scratch_url: str, planted: Planted
) -> None:
    done = arc_db(
        scratch_url,
        "compare",
        "--baseline",
        str(planted.baseline),
        "--candidate",
        str(planted.candidate),
        "--since",
        "2030-01-01T00:00:00+00:00",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["scenarios"] == []
    assert report["summary"]["verdict"] == IN
    assert report["summary"]["delta"] is None


def test_the_tenant_sees_its_own_comparison(scratch_url: str, planted: Planted) -> None:
    done = arc_db(
        scratch_url,
        "compare",
        "--baseline",
        str(planted.baseline),
        "--candidate",
        str(planted.candidate),
        "--tenant",
        str(planted.tenant),
        "--json",
    )
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["summary"]["regressions"] == 2


def test_pareto_counts_the_backfill(scratch_url: str, planted: Planted) -> None:
    done = arc_db(scratch_url, "pareto", "--json")
    assert done.returncode == 0, done.stderr
    runs = {
        uuid.UUID(v["version_id"]): v["executions"] for v in json.loads(done.stdout)["versions"]
    }
    assert runs[planted.candidate] == sum(c.n for _, c, _ in PLAN.values() if c)
    assert runs[planted.baseline] == sum(b.n for b, _, _ in PLAN.values() if b)
