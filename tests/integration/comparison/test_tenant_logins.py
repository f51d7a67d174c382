"""Comparisons as a deployment runs them for tenants: LOGIN roles that are members of app_user
and app_readonly, acting as a tenant. Row-level security alone decides: another tenant's
version or simulation is not found, the frontier, the change effects and the dashboard panels
hold the tenant's versions only, and `arc-db compare --tenant` as such a login answers for its
own versions and refuses another tenant's with status 2 (the freshness step, which needs the
owner's rights, is skipped with a note)."""

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.comparison import VersionComparator
from arc.database.comparison.panels import ComparisonPanels
from arc.database.core.engine import build_engine
from arc.database.core.errors import ArcNotFoundError
from arc.database.core.tenancy import acting_as
from arc.database.ops.provision import with_database
from tests.support.planting import (
    Run,
    days_ago,
    make_configuration,
    make_simulation,
    make_version,
    refresh_statistics,
)
from tests.support.roles import LoginRole, login_roles
from tests.support.scratch import scratch_engine, scratch_url

__all__ = ["scratch_engine", "scratch_url"]

SCENARIOS = [f"tenant_s{i}" for i in range(4)]


@dataclass(frozen=True)
class Tenant:
    user: uuid.UUID
    baseline: uuid.UUID
    candidate: uuid.UUID
    simulation: uuid.UUID


async def _tenant(engine: AsyncEngine, shift: float) -> Tenant:
    user = uuid.uuid4()
    config = await make_configuration(engine, user_id=user)
    v1 = await make_version(engine, config, {"model": "m", "temperature": 0.7})
    v2 = await make_version(
        engine,
        config,
        {"model": "m", "temperature": 0.2},
        previous=(v1, {}),
        change_summary={"changed": {"temperature": {"before": 0.7, "after": 0.2}}},
    )
    runs = [Run(s, days_ago(1), 0.5 + 0.01 * (k % 5)) for s in SCENARIOS for k in range(10)]
    sim = await make_simulation(engine, v1, runs)
    shifted = [Run(r.scenario_id, r.at, r.reliability + shift) for r in runs]
    await make_simulation(engine, v2, shifted)
    return Tenant(user, v1, v2, sim)


@dataclass(frozen=True)
class Tenants:
    a: Tenant
    b: Tenant


@pytest.fixture(scope="module")
async def tenants(scratch_engine: AsyncEngine) -> Tenants:
    a = await _tenant(scratch_engine, -0.3)
    b = await _tenant(scratch_engine, 0.3)
    await refresh_statistics(scratch_engine)
    return Tenants(a, b)


@pytest.fixture(scope="module")
def logins(server_url: str) -> Iterator[dict[str, LoginRole]]:
    with login_roles(server_url, ("app_user", "app_readonly")) as roles:
        yield roles


def _direct(server_url: str, scratch_url: str) -> str:
    """The scratch database on the server itself (new logins are unknown to a pooler)."""
    return with_database(server_url, make_url(scratch_url).database or "")


@pytest.mark.parametrize("group", ["app_user", "app_readonly"])
async def test_a_tenant_login_compares_its_own_versions_only(
    server_url: str, scratch_url: str, logins: dict[str, LoginRole], tenants: Tenants, group: str
) -> None:
    a, b = tenants.a, tenants.b
    engine = build_engine(url=logins[group].url(_direct(server_url, scratch_url)), pool_size=1)
    try:
        async with acting_as(engine, a.user) as conn:
            comparator = VersionComparator(conn)
            own = await comparator.compare_versions(a.baseline, a.candidate)
            assert own.summary.regressions == len(SCENARIOS)
            for other in (b.baseline, b.candidate):
                with pytest.raises(ArcNotFoundError):
                    await comparator.compare_versions(a.baseline, other)
                with pytest.raises(ArcNotFoundError):
                    await comparator.compare_versions(other, a.candidate)
            with pytest.raises(ArcNotFoundError):
                await comparator.compare_simulations(a.simulation, b.simulation)
            versions = {p.version_id for p in await comparator.pareto_frontier()}
            assert versions == {a.baseline, a.candidate}
            effects = await comparator.change_effects()
            assert {c.version_after for c in effects.changes} == {a.candidate}
            board = await ComparisonPanels(conn).board(baseline=a.baseline, candidate=a.candidate)
            assert {p.version_id for p in board.pareto} == versions
            assert board.comparison is not None
            assert board.comparison.regressed
        async with acting_as(engine, b.user) as conn:
            theirs = await VersionComparator(conn).compare_versions(b.baseline, b.candidate)
            assert theirs.summary.improvements == len(SCENARIOS)
            with pytest.raises(ArcNotFoundError):
                await VersionComparator(conn).compare_versions(a.baseline, a.candidate)
        async with acting_as(engine, None) as conn:  # no tenant: nothing is visible
            with pytest.raises(ArcNotFoundError):
                await VersionComparator(conn).compare_versions(a.baseline, a.candidate)
    finally:
        await engine.dispose()


def _gate(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arc.database.cli", "--url", url, "compare", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_gate_as_a_tenant_login(
    server_url: str, scratch_url: str, logins: dict[str, LoginRole], tenants: Tenants
) -> None:
    a, b = tenants.a, tenants.b
    url = logins["app_user"].url(_direct(server_url, scratch_url))
    own = _gate(url, "--baseline", str(a.baseline), "--candidate", str(a.candidate))
    assert own.returncode == 2, own.stderr  # no tenant given: nothing is visible to the login
    own = _gate(
        url, "--baseline", str(a.baseline), "--candidate", str(a.candidate), "--tenant", str(a.user)
    )
    assert own.returncode == 1, own.stderr
    assert json.loads(own.stdout)["summary"]["regressions"] == len(SCENARIOS)
    assert "statistics not refreshed" in own.stderr  # a tenant login may not refresh
    theirs = _gate(
        url, "--baseline", str(a.baseline), "--candidate", str(b.candidate), "--tenant", str(a.user)
    )
    assert theirs.returncode == 2, theirs.stderr
    assert "not found" in theirs.stderr
    assert "Traceback" not in theirs.stderr
    assert theirs.stdout == ""
