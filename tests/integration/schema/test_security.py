"""Row-level security and grants, exercised as the real roles (migrations 0006 and 0009).

Rows are seeded as the owner (the login role of the test connection, which owns the tables
and is not subject to RLS); the test then switches, inside its rolled-back transaction, to
`SET LOCAL ROLE app_user|app_readonly|app_admin` with the tenant in `app.user_id`.
test_security_matrix.py probes every relation for every role from the catalog; this module
holds the named cases: the findings of issue 12, references across tenants, signed tenant
tokens, `acting_as` and the pool, and the exactness of 0009's downgrade.
"""

import asyncio
import hashlib
import hmac
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from arc.database.core.engine import build_engine
from arc.database.core.errors import ArcValidationError
from arc.database.core.tenancy import acting_as, install_tenant_reset, issue_tenant_token
from arc.database.models import Base, Scenario
from arc.database.ops.provision import drop_database, ensure_database, with_database
from arc.database.schema import migrate
from tests import factories as f
from tests.conftest import fresh_database_name
from tests.support.topology import on_database, pgbouncer_url  # noqa: F401 (a fixture)

INSUFFICIENT_PRIVILEGE = "42501"
ROLES = ("app_user", "app_admin", "app_readonly", "app_worker")
TENANT_TABLES = (
    "configurations",
    "config_versions",
    "config_diffs",
    "simulations",
    "simulations_scenarios",
    "llm_recommendation_sessions",
    "recommendations",
)
# table -> the column that identifies a seeded row
KEY = {
    "configurations": "config_id",
    "config_versions": "version_id",
    "config_diffs": "diff_id",
    "simulations": "simulation_id",
    "simulations_scenarios": "simulation_id",
    "llm_recommendation_sessions": "session_id",
    "recommendations": "recommendation_id",
}


@dataclass
class Tenant:
    user_id: uuid.UUID
    graph: f.Graph
    llm_session: Any
    recommendation: Any

    def key(self, table: str) -> Any:
        """The identifying value of this tenant's seeded row of `table`."""
        g = self.graph
        return {
            "configurations": g.configuration.config_id,
            "config_versions": g.version.version_id,
            "config_diffs": g.diff.diff_id,
            "simulations": g.simulation.simulation_id,
            "simulations_scenarios": g.simulation.simulation_id,
            "llm_recommendation_sessions": self.llm_session.session_id,
            "recommendations": self.recommendation.recommendation_id,
        }[table]


@dataclass
class World:
    a: Tenant
    b: Tenant
    spare_scenario: Scenario


@pytest.fixture(scope="module", autouse=True)
async def _warm(engine: AsyncEngine) -> None:
    await f.warm_hypertables(engine)


@pytest.fixture
async def world(session: AsyncSession) -> World:
    tenants = []
    for _ in range(2):
        user = uuid.uuid4()
        graph = f.build_graph(user_id=user)
        llm = f.LLMRecommendationSessionFactory(user_id=user)
        recommendation = f.RecommendationFactory(
            config_id=graph.configuration.config_id,
            source_type="time_series_analysis",
            source_id=llm.session_id,
        )
        await f.persist(session, *graph.rows(), llm, recommendation)
        tenants.append(Tenant(user, graph, llm, recommendation))
    spare = f.ScenarioFactory()
    await f.persist(session, spare)
    return World(tenants[0], tenants[1], spare)


async def become(session: AsyncSession, role: str, user_id: uuid.UUID | str | None) -> None:
    """Switch this transaction to `role` acting for tenant `user_id` ('' or None: no tenant)."""
    await session.execute(text(f"SET LOCAL ROLE {role}"))
    await session.execute(
        text(
            "SELECT set_config('app.user_id', :u, true), set_config('app.tenant_token', '', true)"
        ),
        {"u": str(user_id or "")},
    )


async def visible(session: AsyncSession, table: str, keys: list[Any]) -> set[Any]:
    col = KEY[table]
    rows = await session.execute(
        text(f"SELECT {col} FROM {table} WHERE {col} = ANY(:keys)"), {"keys": keys}
    )
    return set(rows.scalars())


async def _in_savepoint(session: AsyncSession, sql: Any, params: Any = None) -> Any:
    async with session.begin_nested():
        return await session.execute(sql, params)


def _pg(exc: DBAPIError) -> tuple[str | None, str]:
    return getattr(exc.orig, "sqlstate", None), str(exc.orig)


# new rows a tenant might write, pointing at `owner`'s parents
NEW_ROW: dict[str, Callable[[Tenant, Scenario], Base]] = {
    "configurations": lambda t, s: f.ConfigurationFactory(user_id=t.user_id),
    "config_versions": lambda t, s: f.ConfigVersionFactory(
        config_id=t.graph.configuration.config_id, version_number=7
    ),
    "config_diffs": lambda t, s: f.ConfigDiffFactory(
        config_id=t.graph.configuration.config_id,
        version_before=t.graph.version.version_id,
        version_after=t.graph.previous_version.version_id,
    ),
    "simulations": lambda t, s: f.SimulationFactory(config_version_id=t.graph.version.version_id),
    "simulations_scenarios": lambda t, s: f.SimulationScenarioFactory(
        simulation_id=t.graph.simulation.simulation_id, scenario_id=s.scenario_id
    ),
    "llm_recommendation_sessions": lambda t, s: f.LLMRecommendationSessionFactory(
        user_id=t.user_id
    ),
    "recommendations": lambda t, s: f.RecommendationFactory(
        config_id=t.graph.configuration.config_id,
        source_type="time_series_analysis",
        source_id=t.llm_session.session_id,
    ),
}


def _insert(table: str, obj: Base) -> Any:
    return insert(Base.metadata.tables[table]).values(f.column_values(obj))


async def test_roles_exist_as_group_roles(session: AsyncSession) -> None:
    rows = await session.execute(
        text("SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY(:r)"),
        {"r": list(ROLES)},
    )
    assert {r[0]: r[1] for r in rows} == dict.fromkeys(ROLES, False)


async def test_rls_is_enabled_on_the_tenant_tables(session: AsyncSession) -> None:
    rows = await session.execute(
        text(
            "SELECT relname FROM pg_class WHERE relrowsecurity"
            " AND relnamespace = 'public'::regnamespace AND relkind = 'r'"
        )
    )
    assert set(TENANT_TABLES) <= set(rows.scalars())


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_tenant_sees_only_its_rows(session: AsyncSession, world: World, table: str) -> None:
    keys = [world.a.key(table), world.b.key(table)]
    assert await visible(session, table, keys) == set(keys)  # the owner sees both
    await become(session, "app_user", world.a.user_id)
    assert await visible(session, table, keys) == {world.a.key(table)}
    await become(session, "app_user", world.b.user_id)
    assert await visible(session, table, keys) == {world.b.key(table)}


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_tenant_writes_its_own_rows(session: AsyncSession, world: World, table: str) -> None:
    obj = NEW_ROW[table](world.a, world.spare_scenario)
    await become(session, "app_user", world.a.user_id)
    await session.execute(_insert(table, obj))
    col = KEY[table]
    assert await visible(session, table, [f.column_values(obj)[col]]) == {f.column_values(obj)[col]}


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_insert_for_another_tenant_is_refused(
    session: AsyncSession, world: World, table: str
) -> None:
    obj = NEW_ROW[table](world.b, world.spare_scenario)
    await become(session, "app_user", world.a.user_id)
    with pytest.raises(DBAPIError) as caught:
        await _in_savepoint(session, _insert(table, obj))
    sqlstate, message = _pg(caught.value)
    assert sqlstate == INSUFFICIENT_PRIVILEGE
    assert "row-level security" in message


async def test_update_reaches_only_own_rows(session: AsyncSession, world: World) -> None:
    await become(session, "app_user", world.a.user_id)
    result = await session.execute(
        text("UPDATE configurations SET is_active = false WHERE config_id = ANY(:ids)"),
        {"ids": [world.a.key("configurations"), world.b.key("configurations")]},
    )
    assert result.rowcount == 1  # type: ignore[attr-defined]
    await session.execute(text("RESET ROLE"))
    rows = await session.execute(
        text("SELECT config_id, is_active FROM configurations WHERE config_id = ANY(:ids)"),
        {"ids": [world.a.key("configurations"), world.b.key("configurations")]},
    )
    assert {r[0]: r[1] for r in rows} == {
        world.a.key("configurations"): False,
        world.b.key("configurations"): True,
    }


async def test_moving_a_row_to_another_tenant_is_refused(
    session: AsyncSession, world: World
) -> None:
    await become(session, "app_user", world.a.user_id)
    with pytest.raises(DBAPIError) as caught:
        await _in_savepoint(
            session,
            text("UPDATE configurations SET user_id = :b WHERE config_id = :id"),
            {"b": world.b.user_id, "id": world.a.key("configurations")},
        )
    assert _pg(caught.value)[0] == INSUFFICIENT_PRIVILEGE


async def test_app_user_cannot_delete(session: AsyncSession, world: World) -> None:
    """Seed 004 grants app_user SELECT, INSERT, UPDATE: removal is soft (is_active/is_deleted)."""
    await become(session, "app_user", world.a.user_id)
    with pytest.raises(DBAPIError) as caught:
        await _in_savepoint(
            session,
            text("DELETE FROM configurations WHERE config_id = :id"),
            {"id": world.a.key("configurations")},
        )
    assert _pg(caught.value)[0] == INSUFFICIENT_PRIVILEGE


@pytest.mark.parametrize("setting", ["", None, "not-a-uuid"], ids=["empty", "reset", "malformed"])
@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_no_tenant_means_no_rows(
    session: AsyncSession, world: World, table: str, setting: str | None
) -> None:
    await become(session, "app_user", setting or "")
    if setting is None:
        await session.execute(text("RESET app.user_id"))
    keys = [world.a.key(table), world.b.key(table)]
    assert await visible(session, table, keys) == set()


async def test_never_set_tenant_means_no_rows_not_an_error(database_url: str) -> None:
    """On a brand-new connection app.user_id does not exist at all; still no error, no rows.

    Through PgBouncer the server connection may have served another client's transaction that
    set it transaction-locally: it then reads '' (defined, empty), which is no tenant too.
    The committed warm-up graph guarantees there is something the tenant must not see."""
    fresh = build_engine(url=database_url, pool_size=1, max_overflow=0)  # a new connection
    try:
        async with fresh.connect() as conn:
            setting = await conn.scalar(text("SELECT current_setting('app.user_id', true)"))
            assert setting in (None, "")
            owner_count = await conn.scalar(text("SELECT count(*) FROM configurations"))
            await conn.execute(text("SET ROLE app_user"))
            tenant_counts = [
                await conn.scalar(text(f"SELECT count(*) FROM {t}")) for t in TENANT_TABLES
            ]
    finally:
        await fresh.dispose()
    assert owner_count is not None
    assert owner_count > 0
    assert tenant_counts == [0] * len(TENANT_TABLES)


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_readonly_reads_its_tenant_and_cannot_write(
    session: AsyncSession, world: World, table: str
) -> None:
    keys = [world.a.key(table), world.b.key(table)]
    await become(session, "app_readonly", world.a.user_id)
    assert await visible(session, table, keys) == {world.a.key(table)}
    obj = NEW_ROW[table](world.a, world.spare_scenario)
    with pytest.raises(DBAPIError) as caught:
        await _in_savepoint(session, _insert(table, obj))
    assert _pg(caught.value)[0] == INSUFFICIENT_PRIVILEGE
    col = KEY[table]
    with pytest.raises(DBAPIError) as caught:
        await _in_savepoint(
            session, text(f"UPDATE {table} SET {col} = {col} WHERE {col} = :k"), {"k": keys[0]}
        )
    assert _pg(caught.value)[0] == INSUFFICIENT_PRIVILEGE


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_admin_sees_and_writes_every_tenant(
    session: AsyncSession, world: World, table: str
) -> None:
    keys = [world.a.key(table), world.b.key(table)]
    await become(session, "app_admin", world.a.user_id)
    assert await visible(session, table, keys) == set(keys)
    await become(session, "app_admin", "")
    assert await visible(session, table, keys) == set(keys)
    await session.execute(_insert(table, NEW_ROW[table](world.b, world.spare_scenario)))


async def test_admin_can_delete(session: AsyncSession, world: World) -> None:
    await become(session, "app_admin", "")
    deleted = await session.execute(
        text("DELETE FROM llm_recommendation_sessions WHERE session_id = :id"),
        {"id": world.b.key("llm_recommendation_sessions")},
    )
    assert deleted.rowcount == 1  # type: ignore[attr-defined]


async def test_views_show_a_tenant_only_its_rows(session: AsyncSession, world: World) -> None:
    """The 0005 views are security_invoker: a view does not bypass the tenant policies."""
    sims = [world.a.key("simulations"), world.b.key("simulations")]
    await become(session, "app_user", world.a.user_id)
    rows = await session.execute(
        text("SELECT simulation_id FROM v_active_simulations WHERE simulation_id = ANY(:s)"),
        {"s": sims},
    )
    assert set(rows.scalars()) == {world.a.key("simulations")}


async def test_validate_user_access_as_admin(session: AsyncSession) -> None:
    check = text("SELECT validate_user_access(:t)")
    await become(session, "app_admin", uuid.uuid4())
    assert await session.scalar(check, {"t": uuid.uuid4()}) is True


async def test_validate_user_access_for_own_tenant(session: AsyncSession) -> None:
    a = uuid.uuid4()
    await become(session, "app_user", a)
    assert await session.scalar(text("SELECT validate_user_access(:t)"), {"t": a}) is True


async def test_validate_user_access_denies_another_tenant(session: AsyncSession) -> None:
    """A tenant asking about another tenant gets false, whatever the login role may be."""
    await become(session, "app_user", uuid.uuid4())
    other = uuid.uuid4()
    assert await session.scalar(text("SELECT validate_user_access(:t)"), {"t": other}) is False


async def test_validate_user_access_without_tenant_is_false_not_error(
    session: AsyncSession,
) -> None:
    await become(session, "app_readonly", "")
    assert await session.scalar(text("SELECT validate_user_access(:t)"), {"t": uuid.uuid4()}) in (
        False,
        None,
    )


# ---------------------------------------------------------------------------------------------
# Issue 12 (item 4): what an attacker session did as app_user acting as tenant A, one by one.
async def _denied(session: AsyncSession, sql: str, params: Any = None) -> str:
    """The statement fails; returns its SQLSTATE."""
    with pytest.raises(DBAPIError) as caught:
        await _in_savepoint(session, text(sql), params)
    return str(_pg(caught.value)[0])


async def _count(session: AsyncSession, sql: str, params: Any = None) -> int:
    return int((await session.execute(text(sql), params)).scalar_one())


@pytest.mark.parametrize("table", ["outcomes", "tool_usage", "failure_patterns"])
@pytest.mark.parametrize("role", ["app_user", "app_readonly"])
async def test_tenant_roles_hold_nothing_on_the_hypertables(
    session: AsyncSession, world: World, table: str, role: str
) -> None:
    """RLS is impossible on them (compression refuses it, chunks never get it): no privilege
    at all, for the table and therefore for every chunk of it."""
    await become(session, role, world.a.user_id)
    for sql in (
        f"SELECT 1 FROM {table} LIMIT 1",
        f"UPDATE {table} SET execution_time = execution_time",
        f"DELETE FROM {table}",
        f"INSERT INTO {table} DEFAULT VALUES",
    ):
        assert await _denied(session, sql) == INSUFFICIENT_PRIVILEGE, sql


async def test_finding_outcomes_of_another_tenant_are_not_readable(
    session: AsyncSession, world: World
) -> None:
    own, other = world.a.graph.outcome.outcome_id, world.b.graph.outcome.outcome_id
    await become(session, "app_user", world.a.user_id)
    seen = "SELECT count(*) FROM v_outcomes WHERE outcome_id = :o"
    assert await _count(session, seen, {"o": own}) == 1
    assert await _count(session, seen, {"o": other}) == 0


async def test_finding_failure_texts_of_another_tenant_are_not_readable(
    session: AsyncSession, world: World
) -> None:
    """Also through v_llm_failure_analysis, whose sample_errors carry the texts."""
    marks = {}
    for tenant, mark in ((world.a, "own failure text"), (world.b, "their failure text")):
        await session.execute(
            text("UPDATE failure_patterns SET error_message = :m WHERE pattern_id = :p"),
            {"m": f"{mark} {uuid.uuid4()}", "p": tenant.graph.failure_pattern.pattern_id},
        )
        marks[mark] = tenant.graph.failure_pattern.pattern_id
    await become(session, "app_user", world.a.user_id)
    texts = set(
        (await session.execute(text("SELECT error_message FROM v_failure_patterns"))).scalars()
    )
    samples = (
        await session.execute(
            text("SELECT array_to_string(sample_errors, '|') FROM v_llm_failure_analysis")
        )
    ).scalars()
    everything = " ".join([*texts, *(s or "" for s in samples)])
    assert "own failure text" in everything
    assert "their failure text" not in everything


async def test_finding_tool_usage_of_another_tenant_is_not_readable(
    session: AsyncSession, world: World
) -> None:
    ids = [world.a.graph.tool_usage.usage_id, world.b.graph.tool_usage.usage_id]
    await become(session, "app_user", world.a.user_id)
    seen = await session.execute(
        text("SELECT usage_id FROM v_tool_usage WHERE usage_id = ANY(:ids)"), {"ids": ids}
    )
    assert set(seen.scalars()) == {world.a.graph.tool_usage.usage_id}


@pytest.mark.parametrize(
    "aggregate", ["simulation_performance_hourly", "failure_trends_daily", "tool_performance_daily"]
)
async def test_finding_the_dashboard_aggregates_are_closed_to_tenants(
    session: AsyncSession, world: World, aggregate: str
) -> None:
    """They mix every tenant's rows and cannot carry RLS."""
    for role in ("app_user", "app_readonly"):
        await become(session, role, world.a.user_id)
        assert await _denied(session, f"SELECT 1 FROM {aggregate} LIMIT 1") == "42501"


async def test_finding_outcomes_cannot_be_written_into_another_tenants_simulation(
    session: AsyncSession, world: World
) -> None:
    row = f.OutcomeFactory(
        simulation_id=world.b.graph.simulation.simulation_id,
        scenario_id=world.b.graph.scenario.scenario_id,
    )
    await become(session, "app_user", world.a.user_id)
    with pytest.raises(DBAPIError) as caught:
        await _in_savepoint(session, _insert("outcomes", row))
    assert _pg(caught.value)[0] == INSUFFICIENT_PRIVILEGE
    assert (
        await _denied(
            session,
            "UPDATE outcomes SET reliability_score = 0 WHERE outcome_id = :o",
            {"o": world.b.graph.outcome.outcome_id},
        )
        == INSUFFICIENT_PRIVILEGE
    )


async def test_finding_recommendations_of_another_tenant_are_out_of_reach(
    session: AsyncSession, world: World
) -> None:
    await become(session, "app_user", world.a.user_id)
    assert await visible(session, "recommendations", [world.b.key("recommendations")]) == set()
    changed = await session.execute(
        text("UPDATE recommendations SET feedback_score = 1 WHERE recommendation_id = :r"),
        {"r": world.b.key("recommendations")},
    )
    assert changed.rowcount == 0  # type: ignore[attr-defined]
    pending = await session.execute(
        text("SELECT recommendation_id FROM v_dashboard_pending_recommendations")
    )
    assert world.b.key("recommendations") not in set(pending.scalars())


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE scenarios SET task_prompt = 'rewritten by a tenant' WHERE scenario_id = :s",
        "INSERT INTO scenarios (scenario_id, name, task_prompt) VALUES (:s || '_x', 'abc', "
        "'a new shared scenario')",
        "DELETE FROM scenarios WHERE scenario_id = :s",
        "UPDATE alembic_version SET version_num = version_num",
        "INSERT INTO alembic_version VALUES ('9999')",
        "DELETE FROM alembic_version",
    ],
)
@pytest.mark.parametrize("role", ["app_user", "app_readonly"])
async def test_finding_shared_tables_are_read_only_for_tenants(
    session: AsyncSession, world: World, role: str, sql: str
) -> None:
    await become(session, role, world.a.user_id)
    params = {"s": world.spare_scenario.scenario_id} if ":s" in sql else {}
    assert await _denied(session, sql, params) == INSUFFICIENT_PRIVILEGE
    assert (
        await _count(
            session,
            "SELECT count(*) FROM scenarios WHERE scenario_id = :s",
            {"s": world.spare_scenario.scenario_id},
        )
        == 1
    )


# ---------------------------------------------------------------------------------------------
# A tenant's row may refer only to the tenant's own rows. Foreign keys are checked with the
# owner's rights, past RLS: without these rules a row of A could point into B's data.
CROSS_REFERENCES: dict[str, Callable[[World], tuple[str, Base]]] = {
    "diff between another tenant's versions": lambda w: (
        "config_diffs",
        f.ConfigDiffFactory(
            config_id=w.a.graph.configuration.config_id,
            version_before=w.b.graph.previous_version.version_id,
            version_after=w.b.graph.version.version_id,
        ),
    ),
    "diff to another tenant's version": lambda w: (
        "config_diffs",
        f.ConfigDiffFactory(
            config_id=w.a.graph.configuration.config_id,
            version_before=w.a.graph.version.version_id,
            version_after=w.b.graph.version.version_id,
        ),
    ),
    "diff applying another tenant's recommendation": lambda w: (
        "config_diffs",
        f.ConfigDiffFactory(
            config_id=w.a.graph.configuration.config_id,
            version_before=w.a.graph.previous_version.version_id,
            version_after=w.a.graph.version.version_id,
            recommendation_id=w.b.recommendation.recommendation_id,
        ),
    ),
    "configuration whose latest version is another tenant's": lambda w: (
        "configurations",
        f.ConfigurationFactory(user_id=w.a.user_id, latest_version_id=w.b.graph.version.version_id),
    ),
    "recommendation citing another tenant's session": lambda w: (
        "recommendations",
        f.RecommendationFactory(
            config_id=w.a.graph.configuration.config_id,
            source_type="time_series_analysis",
            source_id=w.b.llm_session.session_id,
        ),
    ),
    "recommendation citing another tenant's simulation": lambda w: (
        "recommendations",
        f.RecommendationFactory(
            config_id=w.a.graph.configuration.config_id,
            source_type="simulation",
            source_id=w.b.graph.simulation.simulation_id,
        ),
    ),
    "recommendation without configuration in another tenant's session": lambda w: (
        "recommendations",
        f.RecommendationFactory(
            config_id=None, source_type="time_series_analysis", source_id=w.b.llm_session.session_id
        ),
    ),
    "recommendation about another tenant's configuration": lambda w: (
        "recommendations",
        f.RecommendationFactory(
            config_id=w.b.graph.configuration.config_id,
            source_type="time_series_analysis",
            source_id=w.a.llm_session.session_id,
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(CROSS_REFERENCES))
async def test_a_row_cannot_point_into_another_tenant(
    session: AsyncSession, world: World, case: str
) -> None:
    table, row = CROSS_REFERENCES[case](world)
    await become(session, "app_user", world.a.user_id)
    with pytest.raises(DBAPIError) as caught:
        await _in_savepoint(session, _insert(table, row))
    sqlstate, message = _pg(caught.value)
    assert sqlstate == INSUFFICIENT_PRIVILEGE
    assert "row-level security" in message


async def test_own_references_are_accepted(session: AsyncSession, world: World) -> None:
    """The same shapes within one tenant: a latest version of its own, a recommendation with no
    configuration in its own session (visible to it), one citing its own simulation."""
    a = world.a
    await become(session, "app_user", a.user_id)
    config = f.ConfigurationFactory(user_id=a.user_id)
    version = f.ConfigVersionFactory(config_id=config.config_id, version_number=1)
    await session.execute(_insert("configurations", config))
    await session.execute(_insert("config_versions", version))
    moved = await session.execute(
        text("UPDATE configurations SET latest_version_id = :v WHERE config_id = :c"),
        {"v": version.version_id, "c": config.config_id},
    )
    assert moved.rowcount == 1  # type: ignore[attr-defined]
    loose = f.RecommendationFactory(
        config_id=None, source_type="pattern_analysis", source_id=a.llm_session.session_id
    )
    cited = f.RecommendationFactory(
        config_id=a.graph.configuration.config_id,
        source_type="simulation",
        source_id=a.graph.simulation.simulation_id,
    )
    for row in (loose, cited):
        await session.execute(_insert("recommendations", row))
    assert await visible(
        session, "recommendations", [loose.recommendation_id, cited.recommendation_id]
    ) == {loose.recommendation_id, cited.recommendation_id}


async def test_a_configuration_cannot_be_pointed_at_another_tenants_version(
    session: AsyncSession, world: World
) -> None:
    await become(session, "app_user", world.a.user_id)
    with pytest.raises(DBAPIError) as caught:
        await _in_savepoint(
            session,
            text("UPDATE configurations SET latest_version_id = :v WHERE config_id = :c"),
            {"v": world.b.graph.version.version_id, "c": world.a.key("configurations")},
        )
    assert "row-level security" in _pg(caught.value)[1]


async def test_moving_a_recommendation_to_another_tenant_is_refused(
    session: AsyncSession, world: World
) -> None:
    await become(session, "app_user", world.a.user_id)
    with pytest.raises(DBAPIError) as caught:
        await _in_savepoint(
            session,
            text("UPDATE recommendations SET config_id = :c WHERE recommendation_id = :r"),
            {"c": world.b.key("configurations"), "r": world.a.key("recommendations")},
        )
    assert _pg(caught.value)[0] == INSUFFICIENT_PRIVILEGE


# ---------------------------------------------------------------------------------------------
# Roles: no DDL, no way around RLS and triggers, no privileged functions.
async def test_no_application_role_can_do_ddl_or_bypass_rls(session: AsyncSession) -> None:
    rows = await session.execute(
        text(
            "SELECT rolname, rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls "
            "OR rolreplication OR rolcanlogin AS special, "
            "has_schema_privilege(rolname, 'public', 'CREATE') AS create_in_public, "
            "has_database_privilege(rolname, current_database(), 'CREATE') AS create_schema "
            "FROM pg_roles WHERE rolname = ANY(:r)"
        ),
        {"r": list(ROLES)},
    )
    assert {
        r.rolname: (r.special, r.create_in_public, r.create_schema) for r in rows
    } == dict.fromkeys(ROLES, (False, False, False))


async def test_no_role_may_truncate_trigger_or_reference(session: AsyncSession) -> None:
    """TRUNCATE skips RLS and the audit triggers; TRIGGER runs the grantee's code as whoever
    writes the table; REFERENCES is not needed by anyone."""
    rows = await session.execute(
        text(
            "SELECT r.rolname, c.relname, p.privilege FROM pg_class c "
            "CROSS JOIN pg_roles r CROSS JOIN unnest(ARRAY['TRUNCATE', 'TRIGGER', 'REFERENCES']) "
            "AS p(privilege) "
            "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm') "
            "AND r.rolname = ANY(:r) AND has_table_privilege(r.rolname, c.oid, p.privilege)"
        ),
        {"r": list(ROLES)},
    )
    assert list(rows) == []


# function -> the roles (among ours, and PUBLIC) that may EXECUTE it
PRIVILEGED_FUNCTIONS = {
    "arc_audit_row()": set(),
    "arc_hmac_sha256(bytea, text)": set(),
    "arc_tenant_token_user(text)": set(),
    "arc_issue_tenant_token(uuid, interval)": {"app_admin"},
    "arc_rotate_tenant_token_key()": {"app_admin"},
    "arc_require_tenant_tokens(boolean)": {"app_admin"},
}


@pytest.mark.parametrize("function", sorted(PRIVILEGED_FUNCTIONS))
async def test_who_may_execute_the_privileged_functions(
    session: AsyncSession, function: str
) -> None:
    rows = await session.execute(
        text(
            "SELECT r.rolname FROM pg_roles r WHERE r.rolname = ANY(:r) "
            "AND has_function_privilege(r.rolname, CAST(:f AS regprocedure), 'EXECUTE')"
        ),
        {"r": list(ROLES), "f": f"public.{function}"},
    )
    public = await session.scalar(
        text(
            "SELECT EXISTS (SELECT 1 FROM pg_proc p, aclexplode(COALESCE(p.proacl, "
            "acldefault('f', p.proowner))) a WHERE p.oid = CAST(:f AS regprocedure) "
            "AND a.grantee = 0)"
        ),
        {"f": f"public.{function}"},
    )
    assert public is False
    assert set(rows.scalars()) == PRIVILEGED_FUNCTIONS[function]


async def test_monitoring_views_are_closed_to_tenants_and_the_worker(
    session: AsyncSession,
) -> None:
    """pg_stat_statements shows every statement of the login (0001 installs it when preloaded)."""
    present = await session.scalar(text("SELECT to_regclass('public.pg_stat_statements')"))
    if present is None:
        pytest.skip("pg_stat_statements is not installed on this server (not preloaded)")
    for role in ("app_user", "app_readonly", "app_worker"):
        await become(session, role, uuid.uuid4())
        assert await _denied(session, "SELECT count(*) FROM pg_stat_statements") == "42501"
        assert await _denied(session, "SELECT count(*) FROM pg_stat_statements(true)") == "42501"
        await session.execute(text("RESET ROLE"))
    for role in ROLES:
        await become(session, role, None)
        assert await _denied(session, "SELECT pg_stat_statements_reset()") == "42501"
        await session.execute(text("RESET ROLE"))


# ---------------------------------------------------------------------------------------------
# Signed tenant tokens (0009): `app.tenant_token`, when present, decides who the session is.
async def _issue(session: AsyncSession, user: uuid.UUID, ttl: str = "15 minutes") -> str:
    await become(session, "app_admin", None)
    token = await session.scalar(
        text("SELECT arc_issue_tenant_token(:u, CAST(CAST(:ttl AS text) AS interval))"),
        {"u": user, "ttl": ttl},
    )
    await session.execute(text("RESET ROLE"))
    return str(token)


async def _present(
    session: AsyncSession, role: str, token: str, claimed: uuid.UUID | None = None
) -> uuid.UUID | None:
    """Act as `role` with `token` (and a bare claim beside it); returns who the database says
    the session is."""
    await session.execute(text(f"SET LOCAL ROLE {role}"))
    await session.execute(
        text(
            "SELECT set_config('app.tenant_token', :t, true), set_config('app.user_id', :u, true)"
        ),
        {"t": token, "u": str(claimed or "")},
    )
    found = await session.scalar(text("SELECT arc_current_user_id()"))
    return found if found is None else uuid.UUID(str(found))


async def _sign(session: AsyncSession, payload: str, database: str | None = None) -> str:
    """A token signed with this database's real key (read as the owner), for crafted payloads."""
    key = await session.scalar(text("SELECT secret FROM tenant_token_config"))
    database = database or await session.scalar(text("SELECT current_database()"))
    mac = hmac.new(key, f"{database}:{payload}".encode(), hashlib.sha256).hexdigest()
    return f"{payload}.{mac}"


@pytest.mark.parametrize("key_length", [0, 20, 64, 65, 200])
async def test_hmac_is_rfc_2104_sha256(session: AsyncSession, key_length: int) -> None:
    key = bytes(range(256))[:key_length]
    message = f"message of {key_length} ✓"
    ours = await session.scalar(text("SELECT arc_hmac_sha256(:k, :m)"), {"k": key, "m": message})
    assert ours == hmac.new(key, message.encode(), hashlib.sha256).digest()


async def test_a_token_acts_as_its_user_and_nobody_else(
    session: AsyncSession, world: World
) -> None:
    token = await _issue(session, world.a.user_id)
    assert await _present(session, "app_user", token, claimed=world.b.user_id) == world.a.user_id
    keys = [world.a.key("configurations"), world.b.key("configurations")]
    assert await visible(session, "configurations", keys) == {world.a.key("configurations")}


FORGERIES: dict[str, Callable[[str, World], str]] = {
    "another user, same signature": lambda t, w: t.replace(str(w.a.user_id), str(w.b.user_id)),
    "later expiry, same signature": lambda t, w: ".".join(
        [t.split(".")[0], str(int(t.split(".")[1]) + 3600), t.split(".")[2]]
    ),
    "signature cut short": lambda t, w: t[:-2],
    "signature flipped": lambda t, w: t[:-1] + ("0" if t[-1] != "0" else "1"),
    "not a token": lambda t, w: "00000000-0000-0000-0000-000000000000",
    "upper case": lambda t, w: t.upper(),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
async def test_a_forged_token_is_nobody(session: AsyncSession, world: World, forgery: str) -> None:
    token = FORGERIES[forgery](await _issue(session, world.a.user_id), world)
    assert await _present(session, "app_user", token, claimed=world.a.user_id) is None
    assert await visible(session, "configurations", [world.a.key("configurations")]) == set()


async def test_an_expired_token_is_nobody(session: AsyncSession, world: World) -> None:
    expired = await _sign(session, f"{world.a.user_id}.{int(time.time()) - 1}")
    fresh = await _sign(session, f"{world.a.user_id}.{int(time.time()) + 60}")
    assert await _present(session, "app_user", fresh) == world.a.user_id  # the crafting is right
    await session.execute(text("RESET ROLE"))
    assert await _present(session, "app_user", expired) is None


async def test_a_token_of_another_database_is_nobody(session: AsyncSession, world: World) -> None:
    """The database's name is signed too: a token does not travel between databases."""
    token = await _sign(session, f"{world.a.user_id}.{int(time.time()) + 60}", "another_db")
    assert await _present(session, "app_user", token) is None


async def test_rotating_the_key_ends_every_token(session: AsyncSession, world: World) -> None:
    token = await _issue(session, world.a.user_id)
    await become(session, "app_admin", None)
    await session.execute(text("SELECT arc_rotate_tenant_token_key()"))
    await session.execute(text("RESET ROLE"))
    assert await _present(session, "app_user", token) is None


async def test_required_tokens_make_a_bare_user_id_nobody(
    session: AsyncSession, world: World
) -> None:
    token = await _issue(session, world.a.user_id)
    await become(session, "app_admin", None)
    await session.execute(text("SELECT arc_require_tenant_tokens(true)"))
    await become(session, "app_user", world.a.user_id)
    assert await visible(session, "configurations", [world.a.key("configurations")]) == set()
    await session.execute(text("RESET ROLE"))
    assert await _present(session, "app_user", token) == world.a.user_id
    assert await visible(session, "configurations", [world.a.key("configurations")]) == {
        world.a.key("configurations")
    }


@pytest.mark.parametrize("role", ["app_user", "app_readonly", "app_worker"])
async def test_only_app_admin_administers_tokens(session: AsyncSession, role: str) -> None:
    await become(session, role, None)
    for sql in (
        f"SELECT arc_issue_tenant_token('{uuid.uuid4()}')",
        "SELECT arc_rotate_tenant_token_key()",
        "SELECT arc_require_tenant_tokens(false)",
        "SELECT arc_tenant_token_user('x')",
        "SELECT arc_hmac_sha256('\\x00', 'x')",
    ):
        assert await _denied(session, sql) == INSUFFICIENT_PRIVILEGE, sql


@pytest.mark.parametrize("role", ROLES)
async def test_nobody_but_the_owner_reads_the_key(session: AsyncSession, role: str) -> None:
    await become(session, role, None)
    assert await _denied(session, "SELECT secret FROM tenant_token_config") == "42501"


@pytest.mark.parametrize("ttl", ["0 seconds", "-1 minute", "25 hours"])
async def test_token_lifetime_is_bounded(session: AsyncSession, ttl: str) -> None:
    await become(session, "app_admin", None)
    with pytest.raises(DBAPIError) as caught:
        await _in_savepoint(
            session,
            text("SELECT arc_issue_tenant_token(:u, CAST(CAST(:ttl AS text) AS interval))"),
            {"u": uuid.uuid4(), "ttl": ttl},
        )
    assert _pg(caught.value)[0] == "22023"


# ---------------------------------------------------------------------------------------------
# acting_as, the library's one way to act as a tenant, and the pool.
@dataclass
class Committed:
    """Two tenants' graphs committed (the other tests' rows live in rolled-back transactions,
    invisible to the engines below)."""

    a: f.Graph
    b: f.Graph

    def config_ids(self) -> list[uuid.UUID]:
        return [self.a.configuration.config_id, self.b.configuration.config_id]


@pytest.fixture(scope="module")
def direct_url(server_url: str, database_url: str) -> str:
    """The test database on the server itself (not through a pooler): these tests are about
    SQLAlchemy's pool and the role a connection logs in with."""
    return with_database(server_url, str(make_url(database_url).database))


@pytest.fixture(scope="module")
async def committed(engine: AsyncEngine) -> Committed:
    async with AsyncSession(engine, expire_on_commit=False) as s, s.begin():
        a = await f.create_graph(s, user_id=uuid.uuid4())
        b = await f.create_graph(s, user_id=uuid.uuid4())
    return Committed(a, b)


def _engine_as(url: str, role: str | None) -> AsyncEngine:
    settings = {"jit": "off", "timezone": "UTC"} | ({"role": role} if role else {})
    return build_engine(url=url, pool_size=1, max_overflow=0, server_settings=settings)


@pytest.fixture
async def tenant_engine(direct_url: str) -> AsyncIterator[AsyncEngine]:
    engine = _engine_as(direct_url, "app_user")
    yield engine
    await engine.dispose()


async def _own_configs(conn: Any, committed: Committed) -> set[uuid.UUID]:
    rows = await conn.execute(
        text("SELECT config_id FROM configurations WHERE config_id = ANY(:ids)"),
        {"ids": committed.config_ids()},
    )
    return set(rows.scalars())


async def _settings(conn: Any) -> tuple[str | None, str | None]:
    row = (
        await conn.execute(
            text(
                "SELECT current_setting('app.user_id', true), "
                "current_setting('app.tenant_token', true)"
            )
        )
    ).one()
    return row[0] or None, row[1] or None


async def test_acting_as_on_an_engine_is_one_transaction(
    tenant_engine: AsyncEngine, committed: Committed
) -> None:
    user = committed.a.configuration.user_id
    async with acting_as(tenant_engine, user) as conn:
        assert await _own_configs(conn, committed) == {committed.a.configuration.config_id}
    async with tenant_engine.connect() as conn:  # the same pooled connection
        assert await _settings(conn) == (None, None)
        assert await _own_configs(conn, committed) == set()


async def test_acting_as_joins_an_open_transaction_and_puts_its_settings_back(
    tenant_engine: AsyncEngine, committed: Committed
) -> None:
    async with tenant_engine.connect() as conn:
        await conn.begin()
        await conn.execute(
            text("SELECT set_config('app.user_id', :u, true)"),
            {"u": str(committed.b.configuration.user_id)},
        )
        async with acting_as(conn, committed.a.configuration.user_id) as joined:
            assert joined is conn
            assert await _own_configs(conn, committed) == {committed.a.configuration.config_id}
        assert await _settings(conn) == (str(committed.b.configuration.user_id), None)
        await conn.rollback()


async def test_acting_as_on_a_session_and_on_a_bare_connection(
    tenant_engine: AsyncEngine, committed: Committed
) -> None:
    user = committed.a.configuration.user_id
    async with AsyncSession(tenant_engine) as session:
        async with acting_as(session, user) as s:
            assert await _own_configs(s, committed) == {committed.a.configuration.config_id}
        assert not session.in_transaction()
    async with tenant_engine.connect() as conn:
        async with acting_as(conn, user):
            assert await _own_configs(conn, committed) == {committed.a.configuration.config_id}
        assert not conn.in_transaction()
        assert await _settings(conn) == (None, None)
        await conn.rollback()


async def test_acting_as_with_a_token(
    engine: AsyncEngine, tenant_engine: AsyncEngine, committed: Committed
) -> None:
    async with engine.connect() as owner:  # the owner may sign, like app_admin
        token = await issue_tenant_token(
            owner, committed.a.configuration.user_id, timedelta(minutes=1)
        )
        await owner.rollback()
    async with acting_as(tenant_engine, token=token) as conn:
        assert await _own_configs(conn, committed) == {committed.a.configuration.config_id}
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    with pytest.raises(ArcValidationError) as caught:
        async with acting_as(tenant_engine, token=forged):
            pass
    assert caught.value.field == "token"


@pytest.mark.parametrize(
    ("user_id", "token", "field"),
    [("not-a-uuid", None, "user_id"), (uuid.uuid4(), "a.b.c", "token"), (None, "", "token")],
)
async def test_acting_as_refuses_a_bad_claim(
    tenant_engine: AsyncEngine, user_id: Any, token: Any, field: str
) -> None:
    with pytest.raises(ArcValidationError) as caught:
        async with acting_as(tenant_engine, user_id, token=token):
            pass
    assert caught.value.field == field


async def test_acting_as_refuses_a_bare_user_where_tokens_are_required(
    direct_url: str, committed: Committed
) -> None:
    owner = _engine_as(direct_url, None)
    try:
        async with owner.connect() as conn:
            await conn.begin()
            await conn.execute(text("UPDATE tenant_token_config SET required = true"))
            await conn.execute(text("SET LOCAL ROLE app_user"))
            with pytest.raises(ArcValidationError) as caught:
                async with acting_as(conn, committed.a.configuration.user_id):
                    pass
            assert "requires signed tenant tokens" in caught.value.rule
            await conn.rollback()
    finally:
        await owner.dispose()


async def test_a_session_level_tenant_does_not_survive_into_the_next_checkout(
    direct_url: str, committed: Committed
) -> None:
    """The finding: `SET app.user_id` (session level) stays on the pooled connection and the
    next checkout acts as that tenant. install_tenant_reset clears it at every checkout, and
    the reset is not undone by a rollback of the next transaction."""
    leaky = _engine_as(direct_url, "app_user")
    user = str(committed.a.configuration.user_id)
    try:
        async with leaky.connect() as conn:
            await conn.execute(text(f"SET app.user_id = '{user}'"))
            await conn.commit()
        async with leaky.connect() as conn:
            assert (await _settings(conn))[0] == user  # without the reset: leaked
            await conn.rollback()
        install_tenant_reset(leaky)
        install_tenant_reset(leaky)  # idempotent
        async with leaky.connect() as conn:
            assert await _settings(conn) == (None, None)
            await conn.execute(text(f"SET app.user_id = '{user}'"))
            await conn.commit()
        async with leaky.connect() as conn:
            await conn.rollback()  # the reset happened outside this transaction
            assert await _settings(conn) == (None, None)
            assert await _own_configs(conn, committed) == set()
            await conn.rollback()
    finally:
        await leaky.dispose()


async def _on_backend(
    engine: AsyncEngine, backend: int, body: Callable[[AsyncConnection], Awaitable[Any]]
) -> Any:
    """Run `body` in a transaction of `engine` that PgBouncer puts on server connection
    `backend` (a pid). PgBouncer hands out its idle server connections last-in first-out, so
    this is normally the first try; other tests' transactions on the same pool may take it."""
    for _ in range(50):
        async with engine.begin() as conn:
            if await conn.scalar(text("SELECT pg_backend_pid()")) == backend:
                return await body(conn)
        await asyncio.sleep(0.01)
    raise AssertionError(f"PgBouncer never handed out server connection {backend} again")


async def test_nothing_leaks_to_the_next_client_through_pgbouncer(
    pgbouncer_url: str,  # noqa: F811 (the fixture imported above)
    database_url: str,
    committed: Committed,
) -> None:
    """PgBouncer in transaction mode gives the server connection of a finished transaction to
    whichever client comes next. acting_as's settings end with the transaction: the next
    transaction on that very server connection (same backend pid), from another client, acts as
    nobody. The probe can see a leak: a session-level SET, made the same way, is seen by the
    next client, who then reads the tenant's rows. (The pooled login is the owner, as in the
    pooled pass; `SET LOCAL ROLE app_user` makes each transaction a tenant role's.)"""
    url = on_database(pgbouncer_url, database_url)
    first = build_engine(url=url, pool_size=1, max_overflow=0)
    second = build_engine(url=url, pool_size=1, max_overflow=0)
    user = str(committed.a.configuration.user_id)
    own = {committed.a.configuration.config_id}

    async def as_tenant_role(conn: AsyncConnection) -> tuple[Any, Any, set[uuid.UUID]]:
        await conn.execute(text("SET LOCAL ROLE app_user"))
        user_id, token = (
            await conn.execute(
                text(
                    "SELECT current_setting('app.user_id', true), "
                    "current_setting('app.tenant_token', true)"
                )
            )
        ).one()
        return user_id, token, await _own_configs(conn, committed)

    try:
        async with acting_as(first, user) as conn:
            await conn.execute(text("SET LOCAL ROLE app_user"))
            assert await _own_configs(conn, committed) == own
            backend = await conn.scalar(text("SELECT pg_backend_pid()"))
        user_id, token, seen = await _on_backend(second, backend, as_tenant_role)
        assert user_id in (None, "")  # '' once a transaction-local value has ended
        assert token in (None, "")
        assert seen == set()
        # the same client's next checkout, wherever PgBouncer puts it
        async with first.begin() as conn:
            assert (await as_tenant_role(conn))[2] == set()

        async def leak(conn: AsyncConnection) -> None:
            await conn.execute(text(f"SET app.user_id = '{user}'"))  # session level: stays

        async def clean(conn: AsyncConnection) -> None:
            await conn.execute(text("RESET app.user_id"))

        await _on_backend(first, backend, leak)
        try:
            user_id, _, seen = await _on_backend(second, backend, as_tenant_role)
            assert (user_id, seen) == (user, own)  # leaked to another client
        finally:
            await _on_backend(second, backend, clean)
        user_id, _, seen = await _on_backend(second, backend, as_tenant_role)
        assert (user_id in (None, ""), seen) == (True, set())
    finally:
        await first.dispose()
        await second.dispose()


# ---------------------------------------------------------------------------------------------
# 0009's downgrade puts back exactly what 0008 had.
SNAPSHOT = {
    "relations": """
        SELECT n.nspname, c.relname, c.relkind::text, c.relrowsecurity, c.relforcerowsecurity,
               COALESCE(c.reloptions::text, ''),
               ARRAY(SELECT a.grantee::regrole::text || ' ' || a.privilege_type
                     FROM aclexplode(c.relacl) a ORDER BY 1)::text
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
          AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
    """,
    "columns": """
        SELECT c.relname, a.attname, a.attacl::text FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        WHERE c.relnamespace = 'public'::regnamespace AND a.attacl IS NOT NULL
    """,
    "policies": """
        SELECT polrelid::regclass::text, polname, polcmd::text, polpermissive,
               ARRAY(SELECT r::regrole::text FROM unnest(polroles) r ORDER BY 1)::text,
               pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid)
        FROM pg_policy
    """,
    "functions": """
        SELECT p.oid::regprocedure::text, p.prosrc, COALESCE(p.proconfig::text, ''),
               p.prosecdef, p.provolatile::text, l.lanname,
               ARRAY(SELECT a.grantee::regrole::text || ' ' || a.privilege_type
                     FROM aclexplode(COALESCE(p.proacl, acldefault('f', p.proowner))) a
                     ORDER BY 1)::text
        FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
        WHERE p.pronamespace = 'public'::regnamespace
    """,
    "views": "SELECT viewname, definition FROM pg_views WHERE schemaname = 'public'",
    "triggers": """
        SELECT tgrelid::regclass::text, tgname, tgfoid::regprocedure::text, tgenabled::text
        FROM pg_trigger WHERE NOT tgisinternal
    """,
    "schema": "SELECT nspacl::text FROM pg_namespace WHERE nspname = 'public'",
    "database": "SELECT datacl::text FROM pg_database WHERE datname = current_database()",
}


async def _snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = build_engine(url=url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            return {
                name: sorted(tuple(r) for r in await conn.execute(text(sql)))
                for name, sql in SNAPSHOT.items()
            }
    finally:
        await engine.dispose()


async def test_0009_downgrade_restores_0008_exactly(server_url: str) -> None:
    """Privileges (of relations, chunks, columns, schema, functions), policies, views, function
    bodies and settings, triggers: the same after 0008 -> 0009 -> 0008. Rows are planted first
    so that chunks exist and their privileges are compared too."""
    url = with_database(server_url, fresh_database_name("arc_sec_down"))
    await ensure_database(url)
    try:
        await asyncio.to_thread(migrate.upgrade, url, "0008")
        engine = build_engine(url=url, pool_size=1, max_overflow=0)
        try:
            async with AsyncSession(engine) as s, s.begin():
                await f.create_graph(s)
        finally:
            await engine.dispose()
        before = await _snapshot(url)
        await asyncio.to_thread(migrate.upgrade, url, "0009")
        between = await _snapshot(url)
        await asyncio.to_thread(migrate.downgrade, url, "0008")
        after = await _snapshot(url)
    finally:
        await drop_database(url)
    assert between != before  # the revision did something
    for name in SNAPSHOT:
        assert after[name] == before[name], name
