"""compare_versions / compare_simulations on planted effects, through the real database.

Known regressions on REGRESS, improvements on IMPROVE, no effect elsewhere, for every metric;
sample sizes give a power near 1, so the comparison must flag exactly those scenarios. Part of
the data is aggregated, part read in real time. Bad input gets typed errors, another tenant's
versions are not found, and an empty window is insufficient_data.
"""

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.comparison import VersionComparator
from arc.database.core.errors import ArcNotFoundError, ArcValidationError
from tests.support.planting import (
    Run,
    days_ago,
    make_configuration,
    make_simulation,
    make_version,
    refresh_statistics,
)
from tests.support.scratch import scratch_engine, scratch_url

__all__ = ["scratch_engine", "scratch_url"]

SCENARIOS = [f"cmp_s{i:02d}" for i in range(40)]
REGRESS = set(SCENARIOS[:4])
IMPROVE = set(SCENARIOS[4:11])
RUNS = 30  # per scenario and side
TENANT = uuid.UUID("00000000-0000-4000-8000-00000000000a")
OTHER_TENANT = uuid.UUID("00000000-0000-4000-8000-00000000000b")


def _effect(scenario: str) -> int:
    """-1 regression, +1 improvement, 0 none (in the metric's 'better' sense)."""
    return -1 if scenario in REGRESS else 1 if scenario in IMPROVE else 0


def _runs(rng: random.Random, candidate: bool) -> list[Run]:
    runs = []
    for s in SCENARIOS:
        e = _effect(s) if candidate else 0
        for i in range(RUNS):
            # half aggregated (two days ago), half real time (now)
            at = days_ago(2) if i % 2 else datetime.now(UTC) - timedelta(minutes=5)
            success = rng.random() < {-1: 0.02, 0: 0.5, 1: 0.98}[e]
            runs.append(
                Run(
                    scenario_id=s,
                    at=at - timedelta(seconds=rng.randrange(600)),
                    reliability=min(1.0, max(0.0, rng.gauss(0.6 + 0.25 * e, 0.08))),
                    time_ms=rng.lognormvariate(8.0 - 0.7 * e, 0.2),
                    cost=rng.lognormvariate(-4.0 - 0.7 * e, 0.2),
                    status="success" if success else "error",
                )
            )
    return runs


@dataclass(frozen=True)
class World:
    baseline: uuid.UUID
    candidate: uuid.UUID
    baseline_sims: tuple[uuid.UUID, uuid.UUID]
    candidate_sim: uuid.UUID
    other_tenant_version: uuid.UUID
    empty_version: uuid.UUID


@pytest.fixture(scope="module")
async def world(scratch_engine: AsyncEngine) -> World:
    # A fixed seed: BH at alpha 0.05 lets a null scenario through at the false discovery rate
    # (tests/unit/comparison checks that rate over many seeds); this seed has none.
    rng = random.Random(29)
    config = await make_configuration(scratch_engine, user_id=TENANT, name="cmp agent")
    v1 = await make_version(scratch_engine, config, {"model": "m", "temperature": 0.7})
    v2 = await make_version(
        scratch_engine,
        config,
        {"model": "m", "temperature": 0.2},
        previous=(v1, {}),
        change_summary={"changed": {"temperature": {"before": 0.7, "after": 0.2}}},
    )
    b1 = await make_simulation(scratch_engine, v1, _runs(rng, False))
    b2 = await make_simulation(scratch_engine, v1, _runs(rng, False))
    c1 = await make_simulation(scratch_engine, v2, _runs(rng, True))
    other = await make_configuration(scratch_engine, user_id=OTHER_TENANT, name="other agent")
    ov = await make_version(scratch_engine, other, {"model": "m", "temperature": 0.5})
    await make_simulation(scratch_engine, ov, _runs(rng, False))
    empty = await make_version(scratch_engine, config, {"model": "m2", "temperature": 0.1})
    await refresh_statistics(scratch_engine)
    return World(v1, v2, (b1, b2), c1, ov, empty)


@pytest.mark.parametrize(
    "metric", ["reliability_score", "success_rate", "execution_time_ms", "cost_usd"]
)
async def test_planted_effects_are_found_exactly(
    scratch_engine: AsyncEngine, world: World, metric: str
) -> None:
    result = await VersionComparator(scratch_engine).compare_versions(
        world.baseline, world.candidate, metric=metric
    )
    by_verdict: dict[str, set[str]] = {}
    for row in result.scenarios:
        by_verdict.setdefault(row.verdict, set()).add(row.scenario_id)
    assert by_verdict.get("regression", set()) == REGRESS
    assert by_verdict.get("improvement", set()) == IMPROVE
    assert by_verdict.get("no_change", set()) == set(SCENARIOS) - REGRESS - IMPROVE
    assert result.regressed
    assert result.summary.verdict == "regression"
    assert (result.summary.regressions, result.summary.improvements) == (4, 7)
    assert result.summary.scenarios_compared == 40
    row = result.scenario(next(iter(REGRESS)))
    assert row.baseline.n == 2 * RUNS
    assert row.candidate.n == RUNS
    assert row.delta == pytest.approx(row.candidate.mean - row.baseline.mean)
    assert row.ci_low < row.delta < row.ci_high
    assert row.q_value >= row.p_value
    higher_is_better = metric in ("reliability_score", "success_rate")
    assert (row.delta < 0) == higher_is_better  # a regression moves the wrong way
    json = result.as_dict()
    assert set(json) >= {"metric", "alpha", "baseline", "candidate", "scenarios", "summary"}
    assert json["baseline"]["version_id"] == str(world.baseline)


async def test_the_same_comparison_on_simulations(
    scratch_engine: AsyncEngine, world: World
) -> None:
    result = await VersionComparator(scratch_engine).compare_simulations(
        world.baseline_sims[0], world.candidate_sim
    )
    regressed = {r.scenario_id for r in result.scenarios if r.verdict == "regression"}
    assert regressed == REGRESS
    assert result.baseline.simulation_id == world.baseline_sims[0]
    assert result.baseline.version_id == world.baseline
    # two simulations of the same version: nothing differs
    same = await VersionComparator(scratch_engine).compare_simulations(*world.baseline_sims)
    assert same.summary.verdict == "no_change"


async def test_scenario_filter_and_window(scratch_engine: AsyncEngine, world: World) -> None:
    comparator = VersionComparator(scratch_engine)
    some = sorted(REGRESS)[:2] + sorted(IMPROVE)[:1]
    result = await comparator.compare_versions(world.baseline, world.candidate, scenarios=some)
    assert [r.scenario_id for r in result.scenarios] == sorted(some)
    # a window of last week's days holds nothing: insufficient data, no exception
    week_ago = datetime.now(UTC) - timedelta(days=10)
    empty = await comparator.compare_versions(
        world.baseline, world.candidate, since=week_ago, until=week_ago + timedelta(days=3)
    )
    assert empty.summary.verdict == "insufficient_data"
    assert not empty.regressed
    # today only: the real-time half of the data
    today = await comparator.compare_versions(
        world.baseline, world.candidate, since=datetime.now(UTC) - timedelta(hours=1)
    )
    assert today.window_start is not None
    assert today.scenario(sorted(REGRESS)[0]).candidate.n == RUNS // 2


async def test_a_version_without_outcomes_is_insufficient_data(
    scratch_engine: AsyncEngine, world: World
) -> None:
    result = await VersionComparator(scratch_engine).compare_versions(
        world.baseline, world.empty_version, metric="cost_usd"
    )
    assert result.summary.verdict == "insufficient_data"
    assert {r.verdict for r in result.scenarios} == {"insufficient_data"}
    assert all(r.candidate.n == 0 for r in result.scenarios)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"metric": "accuracy"}, "metric"),
        ({"alpha": 0}, "alpha"),
        ({"alpha": "0.05"}, "alpha"),
        ({"min_samples": 1}, "min_samples"),
        ({"scenarios": "cmp_s00"}, "scenarios"),
        ({"scenarios": ["Bad Id"]}, "scenarios"),
        ({"since": "yesterday"}, "since"),
        (
            {"since": datetime(2026, 1, 2, tzinfo=UTC), "until": datetime(2026, 1, 1, tzinfo=UTC)},
            "since",
        ),
        ({"until": datetime(1, 1, 1, tzinfo=UTC)}, "until"),
    ],
)
async def test_bad_input_is_a_typed_error_naming_the_field(
    scratch_engine: AsyncEngine, world: World, kwargs: dict, field: str
) -> None:
    with pytest.raises(ArcValidationError) as caught:
        await VersionComparator(scratch_engine).compare_versions(
            world.baseline, world.candidate, **kwargs
        )
    assert caught.value.field == field


async def test_unknown_same_or_malformed_versions(
    scratch_engine: AsyncEngine, world: World
) -> None:
    comparator = VersionComparator(scratch_engine)
    with pytest.raises(ArcNotFoundError):
        await comparator.compare_versions(world.baseline, uuid.uuid4())
    with pytest.raises(ArcValidationError) as same:
        await comparator.compare_versions(world.baseline, world.baseline)
    assert same.value.field == "candidate_version_id"
    with pytest.raises(ArcValidationError) as malformed:
        await comparator.compare_versions("not-a-uuid", world.candidate)
    assert malformed.value.field == "baseline_version_id"
    with pytest.raises(ArcNotFoundError):
        await comparator.compare_simulations(uuid.uuid4(), world.candidate_sim)


async def _as_tenant(engine: AsyncEngine, tenant: uuid.UUID, role: str = "app_user"):  # type: ignore[no-untyped-def]
    conn = await engine.connect()
    await conn.begin()
    await conn.execute(text(f"SET LOCAL ROLE {role}"))
    await conn.execute(text("SELECT set_config('app.user_id', :t, true)"), {"t": str(tenant)})
    return conn


@pytest.mark.parametrize("role", ["app_user", "app_readonly"])
async def test_another_tenants_versions_are_not_found(
    scratch_engine: AsyncEngine, world: World, role: str
) -> None:
    conn = await _as_tenant(scratch_engine, TENANT, role)
    try:
        comparator = VersionComparator(conn)
        own = await comparator.compare_versions(world.baseline, world.candidate)
        assert own.summary.regressions == 4
        with pytest.raises(ArcNotFoundError):
            await comparator.compare_versions(world.baseline, world.other_tenant_version)
        visible = (
            (
                await conn.execute(
                    text("SELECT DISTINCT config_version_id FROM v_version_scenario_stats_daily")
                )
            )
            .scalars()
            .all()
        )
        assert world.other_tenant_version not in visible
        assert world.baseline in visible
        points = await comparator.pareto_frontier()
        assert world.other_tenant_version not in {p.version_id for p in points}
    finally:
        await conn.rollback()
        await conn.close()
    other = await _as_tenant(scratch_engine, OTHER_TENANT, role)
    try:
        with pytest.raises(ArcNotFoundError):
            await VersionComparator(other).compare_versions(world.baseline, world.candidate)
    finally:
        await other.rollback()
        await other.close()
