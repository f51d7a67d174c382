"""Row-level security and grants, exercised as the real roles (migration 0006).

Rows are seeded as the owner (the login role of the test connection, which owns the tables
and is not subject to RLS); the test then switches, inside its rolled-back transaction, to
`SET LOCAL ROLE app_user|app_readonly|app_admin` with the tenant in `app.user_id`.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from arc.database.core.engine import build_engine
from arc.database.models import Base, Scenario
from tests import factories as f

INSUFFICIENT_PRIVILEGE = "42501"
ROLES = ("app_user", "app_admin", "app_readonly")
TENANT_TABLES = (
    "configurations",
    "config_versions",
    "config_diffs",
    "simulations",
    "simulations_scenarios",
    "llm_recommendation_sessions",
)
# table -> the column that identifies a seeded row
KEY = {
    "configurations": "config_id",
    "config_versions": "version_id",
    "config_diffs": "diff_id",
    "simulations": "simulation_id",
    "simulations_scenarios": "simulation_id",
    "llm_recommendation_sessions": "session_id",
}


@dataclass
class Tenant:
    user_id: uuid.UUID
    graph: f.Graph
    llm_session: Any

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
        await f.persist(session, *graph.rows(), llm)
        tenants.append(Tenant(user, graph, llm))
    spare = f.ScenarioFactory()
    await f.persist(session, spare)
    return World(tenants[0], tenants[1], spare)


async def become(session: AsyncSession, role: str, user_id: uuid.UUID | str | None) -> None:
    """Switch this transaction to `role` acting for tenant `user_id` ('' or None: no tenant)."""
    await session.execute(text(f"SET LOCAL ROLE {role}"))
    await session.execute(
        text("SELECT set_config('app.user_id', :u, true)"), {"u": str(user_id or "")}
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

    The committed warm-up graph guarantees there is something the tenant must not see."""
    fresh = build_engine(url=database_url, pool_size=1, max_overflow=0)  # a new connection
    try:
        async with fresh.connect() as conn:
            assert await conn.scalar(text("SELECT current_setting('app.user_id', true)")) is None
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
