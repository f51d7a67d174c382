"""The security matrix, generated from the catalog (revision 0009; docs/security.md).

Every table, view, materialized view and continuous aggregate of `public` that exists when the
test runs (a relation added later is covered without touching this file) is probed as a LOGIN
member of each group role {app_user, app_readonly, app_admin, app_worker}, acting as
{the tenant whose rows are probed (own), another tenant (other), no tenant (none)}, with
{select, insert, update, delete}; the outcome must be the one EXPECTED below says.

The database holds the data of two tenants, A (the victim, whose rows are probed) and B, plus
shared scenarios. Outcomes, and how each is observed:

- deny: the statement fails for lack of privilege (42501; for a view or aggregate, any
  refusal while the role holds no privilege on it);
- rows: it reaches A's rows: what the role reads, or how many rows its UPDATE/DELETE touches,
  changes when A's data is removed;
- hidden: it does not reach A's rows: the same result with and without A's data;
- any: allowed, contents not judged (shared or operational relations);
- ok / filter: an INSERT of a row of A's succeeds / is refused by row-level security;
- safe (views nobody has classified yet): denied, or allowed and tenant-safe (below).

On top of that, whatever a tenant role (app_user, app_readonly) may read or write must not
depend on anyone else's data: acting as T it gets the same answer in a database holding only
T's data (no tenant: none at all). That is checked for every relation it reaches, including
relations not named in EXPECTED. Unnamed relations are expected closed to every role.

"Removing a tenant's data" deletes the rows its seeding added to every base table (found by
primary key from the catalog), inside a savepoint. Probes run inside savepoints that are rolled
back, with foreign keys and triggers off (session_replication_role = replica, set by the
superuser before switching role): a DELETE then counts the rows it reaches instead of stopping
at a reference. Privileges and row-level security apply as always.
"""

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from arc.database.core.engine import build_engine
from arc.database.models import Base
from arc.database.models.aggregates import ALL_AGGREGATES
from arc.database.ops.maintenance import refresh_aggregates
from arc.database.ops.provision import drop_database, ensure_database, with_database
from arc.database.schema import migrate
from tests import factories as f
from tests.conftest import app_url, fresh_database_name
from tests.support.roles import LoginRole, login_roles

ROLES = ("app_user", "app_readonly", "app_admin", "app_worker")
TENANT_ROLES = ("app_user", "app_readonly")
CASES = ("own", "other", "none")
OPS = ("select", "insert", "update", "delete")
DENY, ROWS, HIDDEN, ANY, OK, FILTER, SAFE = "deny", "rows", "hidden", "any", "ok", "filter", "safe"

Triple = tuple[str, str, str]  # (own, other, none)
Expectation = dict[str, Triple]  # op -> outcomes


def _all(outcome: str) -> Triple:
    return (outcome, outcome, outcome)


CLOSED: Expectation = {op: _all(DENY) for op in OPS}
READ_ANY: Expectation = {**CLOSED, "select": _all(ANY)}
READ_OWN: Expectation = {**CLOSED, "select": (ROWS, HIDDEN, HIDDEN)}
READ_ALL: Expectation = {**CLOSED, "select": _all(ROWS)}
EVERYTHING: Expectation = {
    "select": _all(ROWS),
    "insert": _all(OK),
    "update": _all(ROWS),
    "delete": _all(ROWS),
}

# ------------------------------------------------------------------ the expectation table
# kind -> role -> op -> (own, other, none)
KINDS: dict[str, dict[str, Expectation]] = {
    # the tables a tenant owns (row-level security)
    "tenant": {
        "app_user": {
            "select": (ROWS, HIDDEN, HIDDEN),
            "insert": (OK, FILTER, FILTER),
            "update": (ROWS, HIDDEN, HIDDEN),
            "delete": _all(DENY),
        },
        "app_readonly": READ_OWN,
        "app_admin": EVERYTHING,
        "app_worker": CLOSED,  # see WORKER
    },
    # audit_log: each tenant reads the trail of its own changes; nobody writes it directly
    "audit": {
        "app_user": READ_OWN,
        "app_readonly": READ_OWN,
        "app_admin": READ_ALL,
        "app_worker": CLOSED,
    },
    # hypertables: tenant roles read them only through the v_* views
    "measurement": {
        "app_user": CLOSED,
        "app_readonly": CLOSED,
        "app_admin": EVERYTHING,
        "app_worker": CLOSED,  # see WORKER
    },
    # scenarios: shared by every tenant, registered by the worker, curated by app_admin
    "shared": {
        "app_user": READ_ANY,
        "app_readonly": READ_ANY,
        "app_admin": {op: _all(ANY) for op in OPS} | {"insert": _all(OK)},
        "app_worker": {**READ_ANY, "insert": _all(OK)},
    },
    "schema": {  # alembic_version
        "app_user": READ_ANY,
        "app_readonly": READ_ANY,
        "app_admin": READ_ANY,
        "app_worker": CLOSED,
    },
    "secret": {role: CLOSED for role in ROLES},  # tenant_token_config: its owner only
    # views for tenants: each shows the caller's own rows
    "tenant_view": {
        "app_user": READ_OWN,
        "app_readonly": READ_OWN,
        "app_admin": READ_ALL,
        "app_worker": CLOSED,
    },
    # aggregates mix tenants and cannot carry RLS: read through the v_* views only
    "aggregate": {
        "app_user": CLOSED,
        "app_readonly": CLOSED,
        "app_admin": READ_ANY,
        "app_worker": CLOSED,
    },
    "monitoring": {  # pg_stat_statements
        "app_user": CLOSED,
        "app_readonly": CLOSED,
        "app_admin": READ_ANY,
        "app_worker": CLOSED,
    },
    # a v_* view nobody has classified yet: at least tenant-safe
    "new_view": {
        "app_user": {**CLOSED, "select": _all(SAFE)},
        "app_readonly": {**CLOSED, "select": _all(SAFE)},
        "app_admin": {**CLOSED, "select": _all(SAFE)},
        "app_worker": {**CLOSED, "select": _all(SAFE)},
    },
    "unknown": {role: CLOSED for role in ROLES},
}
RELATIONS = {
    **dict.fromkeys(
        (
            "configurations",
            "config_versions",
            "config_diffs",
            "simulations",
            "simulations_scenarios",
            "llm_recommendation_sessions",
            "recommendations",
        ),
        "tenant",
    ),
    "audit_log": "audit",
    **dict.fromkeys(("outcomes", "tool_usage", "failure_patterns"), "measurement"),
    "scenarios": "shared",
    "alembic_version": "schema",
    "tenant_token_config": "secret",
    **dict.fromkeys(
        (
            "v_outcomes",
            "v_tool_usage",
            "v_failure_patterns",
            "v_llm_failure_analysis",
            "v_llm_config_performance",
            "v_llm_scenario_trends",
            "v_dashboard_active_simulations",
            "v_dashboard_pending_recommendations",
            "v_dashboard_performance_trends",
            "v_dashboard_cost_analysis",
            "v_system_performance",
            "v_active_simulations",
            "v_error_rates",
            "v_outcome_stats_hourly",
            "v_version_scenario_stats_daily",
            "v_version_stats_daily",
            "v_version_scenario_stats_weekly",
            "v_config_pareto",
        ),
        "tenant_view",
    ),
    **dict.fromkeys(ALL_AGGREGATES, "aggregate"),
    **dict.fromkeys(("pg_stat_statements", "pg_stat_statements_info"), "monitoring"),
}
# The ingest worker: every tenant's rows (a platform service), exactly what the write path does.
WORKER_READS: Expectation = READ_ALL  # column subsets, see test_worker_role.py
WORKER_WRITES: Expectation = {**READ_ALL, "insert": _all(OK), "update": _all(ROWS)}
WORKER_APPENDS: Expectation = {**READ_ALL, "insert": _all(OK)}
WORKER = {
    "configurations": WORKER_READS,
    "config_versions": WORKER_READS,
    "simulations": WORKER_WRITES,
    "simulations_scenarios": WORKER_WRITES,
    "outcomes": WORKER_APPENDS,
    "tool_usage": WORKER_APPENDS,
    "failure_patterns": WORKER_APPENDS,
}


def kind_of(relation: str) -> str:
    if relation in RELATIONS:
        return RELATIONS[relation]
    return "new_view" if relation.startswith("v_") else "unknown"


def expected(relation: str, role: str) -> Expectation:
    if role == "app_worker" and relation in WORKER:
        return WORKER[relation]
    return KINDS[kind_of(relation)][role]


def test_the_expectation_table_is_complete() -> None:
    for kind, roles in KINDS.items():
        assert set(roles) == set(ROLES), kind
        for role, ops in roles.items():
            assert set(ops) == set(OPS), (kind, role)
    assert set(RELATIONS.values()) <= set(KINDS)


# ------------------------------------------------------------------ the database
@dataclass
class Tenant:
    user_id: uuid.UUID
    graph: dict[str, Any]
    keys: dict[str, list[str]] = field(default_factory=dict)  # table -> primary keys (text)


@dataclass
class World:
    url: str
    logins: dict[str, LoginRole]
    tenants: dict[str, Tenant]  # "A", "B"
    spare_scenario: str
    relations: list[tuple[str, str]]  # (name, relkind)
    pk: dict[str, str]  # base table -> its key expression (text)


@pytest.fixture(scope="module")
def matrix_url(server_url: str) -> Iterator[str]:
    url = with_database(server_url, fresh_database_name("arc_matrix"))
    asyncio.run(ensure_database(url))
    try:
        migrate.upgrade(url)
        yield url
    finally:
        asyncio.run(drop_database(url))


@pytest.fixture(scope="module")
def logins(server_url: str) -> Iterator[dict[str, LoginRole]]:
    with login_roles(server_url) as roles:
        yield roles


@pytest.fixture(scope="module")
async def matrix_engine(matrix_url: str) -> AsyncIterator[AsyncEngine]:
    """The owner's engine, through PgBouncer on the pooled pass: every probe switches role and
    tenant inside its own transaction (SET LOCAL ROLE, set_config(..., true))."""
    engine = build_engine(url=app_url(matrix_url), pool_size=2, max_overflow=0)
    yield engine
    await engine.dispose()


def _tenant_rows(user: uuid.UUID, scenario: str, tag: str) -> tuple[dict[str, Any], list[Any]]:
    """A tenant's graph, shaped so that every tenant view has something to show: a running
    simulation, 12 outcomes of one scenario today (v_error_rates wants 10) and one 15 days ago,
    a failure pattern, tool usage, a pending confident recommendation of its own session."""
    now = f.utcnow()
    config = f.ConfigurationFactory(user_id=user)
    previous = f.ConfigVersionFactory(config_id=config.config_id, version_number=1)
    version = f.ConfigVersionFactory(config_id=config.config_id, version_number=2)
    config.latest_version_id = version.version_id
    diff = f.ConfigDiffFactory(
        config_id=config.config_id,
        version_before=previous.version_id,
        version_after=version.version_id,
    )
    simulation = f.SimulationFactory(config_version_id=version.version_id, scenario_set=[scenario])
    link = f.SimulationScenarioFactory(simulation_id=simulation.simulation_id, scenario_id=scenario)
    outcomes = [
        f.OutcomeFactory(
            simulation_id=simulation.simulation_id,
            scenario_id=scenario,
            execution_time=now - timedelta(milliseconds=i),
            status="error" if i % 3 == 0 else "success",
            reliability_score=0.25 * (i % 4),
            execution_time_ms=100.0 + i,
        )
        for i in range(12)
    ]
    # and one in a whole week before this one: the weekly statistics (0012) hold it once the
    # world's aggregates are refreshed
    outcomes.append(
        f.OutcomeFactory(
            simulation_id=simulation.simulation_id,
            scenario_id=scenario,
            execution_time=now - timedelta(days=15),
        )
    )
    tool = f.ToolUsageFactory(
        outcome_id=outcomes[0].outcome_id,
        execution_time=outcomes[0].execution_time,
        tool_name=f"tool_{tag}",
    )
    failure = f.FailurePatternFactory(
        outcome_id=outcomes[0].outcome_id,
        execution_time=outcomes[0].execution_time,
        error_message=f"failure of tenant {tag}",
    )
    session = f.LLMRecommendationSessionFactory(user_id=user)
    recommendation = f.RecommendationFactory(
        config_id=config.config_id,
        source_type="time_series_analysis",
        source_id=session.session_id,
        confidence=0.78,
    )
    graph = {
        "config": config,
        "previous": previous,
        "version": version,
        "diff": diff,
        "simulation": simulation,
        "outcome": outcomes[0],
        "session": session,
        "scenario": scenario,
    }
    rows = [config, previous, version, diff, simulation, link, *outcomes, tool, failure]
    return graph, [*rows, session, recommendation]


async def _keys(conn: AsyncConnection, pk: dict[str, str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for table, key in pk.items():
        rows = await conn.execute(text(f"SELECT {key} FROM public.{table} x"))
        found[table] = {r[0] for r in rows}
    return found


async def _relations(conn: AsyncConnection) -> list[tuple[str, str]]:
    """Every table, partitioned table, view (continuous aggregates are views), materialized
    view (the Apache edition's aggregates) and foreign table of public: (name, relkind)."""
    rows = await conn.execute(
        text(
            "SELECT relname, relkind::text FROM pg_class "
            "WHERE relnamespace = 'public'::regnamespace "
            "AND relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY relname"
        )
    )
    return [(r.relname, r.relkind) for r in rows]


@pytest.fixture(scope="module")
async def world(matrix_url: str, matrix_engine: AsyncEngine, logins: dict[str, LoginRole]) -> World:
    async with matrix_engine.connect() as conn:
        relations = await _relations(conn)
        pk: dict[str, str] = {}
        for name, relkind in relations:
            if relkind not in ("r", "p"):
                continue
            columns = (
                await conn.execute(
                    text(
                        "SELECT array_agg(a.attname::text ORDER BY k.ord) FROM pg_index i "
                        "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord) "
                        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                        "WHERE i.indrelid = CAST(:t AS regclass) AND i.indisprimary"
                    ),
                    {"t": f"public.{name}"},
                )
            ).scalar()
            cols = ", ".join(f'x."{c}"' for c in columns) if columns else "x.*"
            pk[name] = f"CAST(ROW({cols}) AS text)"
    scenarios = [f.ScenarioFactory() for _ in range(3)]  # shared: nobody's data
    async with AsyncSession(matrix_engine, expire_on_commit=False) as s, s.begin():
        await f.persist(s, *scenarios)
    async with matrix_engine.connect() as conn:
        before = await _keys(conn, pk)
    tenants: dict[str, Tenant] = {}
    for index, name in enumerate(("A", "B")):
        user = uuid.uuid4()
        graph, rows = _tenant_rows(user, scenarios[index].scenario_id, name)
        async with AsyncSession(matrix_engine, expire_on_commit=False) as s, s.begin():
            # as the tenant, so the audit trail of its rows is its own
            await s.execute(text("SELECT set_config('app.user_id', :u, true)"), {"u": str(user)})
            await f.persist(s, *rows)
        async with matrix_engine.connect() as conn:
            after = await _keys(conn, pk)
        keys = {t: sorted(after[t] - before[t]) for t in pk if after[t] - before[t]}
        tenants[name] = Tenant(user, graph, keys)
        before = after
    await refresh_aggregates(matrix_engine)  # what only a materialised aggregate shows
    return World(matrix_url, logins, tenants, scenarios[2].scenario_id, relations, pk)


# ------------------------------------------------------------------ probing
@dataclass(frozen=True)
class Result:
    value: Any = None  # sorted row texts (select) or the row count (update, delete)
    sqlstate: str | None = None
    message: str = ""

    @property
    def allowed(self) -> bool:
        return self.sqlstate is None

    @property
    def filtered(self) -> bool:
        return self.sqlstate == "42501" and "row-level security" in self.message


WORLDS = {"all": (), "A": ("B",), "B": ("A",), "none": ("A", "B")}
ACTING = {"own": "A", "other": "B", "none": None}
# the worlds each case needs: the full one, the one without the victim (does it reach A's
# rows?) and the one with only the actor's data (does anything else leak in?)
NEEDED = {"own": ("all", "B", "A"), "other": ("all", "B"), "none": ("all", "B", "none")}
OWN_WORLD = {"own": "A", "other": "B", "none": "none"}


async def _attempt(conn: AsyncConnection, sql: str, params: Any = None, *, rows: bool) -> Result:
    savepoint = await conn.begin_nested()
    try:
        result = await conn.execute(text(sql), params)
        value: Any = sorted(str(r[0]) for r in result) if rows else result.rowcount
    except DBAPIError as exc:
        await savepoint.rollback()
        return Result(sqlstate=getattr(exc.orig, "sqlstate", None) or "?", message=str(exc.orig))
    await savepoint.rollback()
    return Result(value=value)


async def _insert(conn: AsyncConnection, relation: str, row: Any) -> Result:
    savepoint = await conn.begin_nested()
    try:
        if row is None:
            await conn.execute(text(f"INSERT INTO public.{relation} DEFAULT VALUES"))
        else:
            table = Base.metadata.tables[relation]
            await conn.execute(insert(table).values(f.column_values(row)))
    except DBAPIError as exc:
        await savepoint.rollback()
        return Result(sqlstate=getattr(exc.orig, "sqlstate", None) or "?", message=str(exc.orig))
    await savepoint.rollback()
    return Result(value=1)


def _victim_row(relation: str, w: World) -> Any:
    """A new row of `relation` belonging to tenant A (None: INSERT ... DEFAULT VALUES)."""
    g = w.tenants["A"].graph
    makers = {
        "configurations": lambda: f.ConfigurationFactory(user_id=w.tenants["A"].user_id),
        "config_versions": lambda: f.ConfigVersionFactory(
            config_id=g["config"].config_id, version_number=9
        ),
        "config_diffs": lambda: f.ConfigDiffFactory(
            config_id=g["config"].config_id,
            version_before=g["previous"].version_id,
            version_after=g["version"].version_id,
        ),
        "simulations": lambda: f.SimulationFactory(config_version_id=g["version"].version_id),
        "simulations_scenarios": lambda: f.SimulationScenarioFactory(
            simulation_id=g["simulation"].simulation_id, scenario_id=w.spare_scenario
        ),
        "llm_recommendation_sessions": lambda: f.LLMRecommendationSessionFactory(
            user_id=w.tenants["A"].user_id
        ),
        "recommendations": lambda: f.RecommendationFactory(
            config_id=g["config"].config_id,
            source_type="time_series_analysis",
            source_id=g["session"].session_id,
        ),
        "audit_log": lambda: f.AuditLogFactory(user_id=w.tenants["A"].user_id),
        "outcomes": lambda: f.OutcomeFactory(
            simulation_id=g["simulation"].simulation_id, scenario_id=g["scenario"]
        ),
        "tool_usage": lambda: f.ToolUsageFactory(
            outcome_id=g["outcome"].outcome_id, execution_time=g["outcome"].execution_time
        ),
        "failure_patterns": lambda: f.FailurePatternFactory(
            outcome_id=g["outcome"].outcome_id, execution_time=g["outcome"].execution_time
        ),
        "scenarios": lambda: f.ScenarioFactory(),
    }
    maker = makers.get(relation)
    return maker() if maker is not None else None


async def _columns(conn: AsyncConnection, relation: str, login: str, privilege: str) -> list[str]:
    rows = await conn.execute(
        text(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = CAST(:r AS regclass) "
            "AND attnum > 0 AND NOT attisdropped "
            "AND has_column_privilege(:login, attrelid, attnum, :p) ORDER BY attnum"
        ),
        {"r": f"public.{relation}", "login": login, "p": privilege},
    )
    return [r[0] for r in rows]


async def _first_column(conn: AsyncConnection, relation: str) -> str:
    return str(
        (
            await conn.execute(
                text(
                    "SELECT attname::text FROM pg_attribute WHERE attrelid = CAST(:r AS regclass) "
                    "AND attnum > 0 AND NOT attisdropped ORDER BY attnum LIMIT 1"
                ),
                {"r": f"public.{relation}"},
            )
        ).scalar_one()
    )


@dataclass
class Probes:
    """The statements of one role on one relation (what it may read, which column an UPDATE
    touches), and whether the role holds each privilege at all."""

    select: str
    update: str
    delete: str
    privileges: dict[str, bool]


async def _probes(conn: AsyncConnection, relation: str, login: str) -> Probes:
    readable = await _columns(conn, relation, login, "SELECT")
    listed = ", ".join(f'x."{c}"' for c in readable) if readable else "NULL"
    updatable = await _columns(conn, relation, login, "UPDATE")
    column = updatable[0] if updatable else await _first_column(conn, relation)
    privileges = {}
    for op in OPS:
        held = await conn.execute(
            text(
                "SELECT has_table_privilege(:login, CAST(:r AS regclass), :p) "
                "OR (:p IN ('SELECT', 'INSERT', 'UPDATE') "
                "AND has_any_column_privilege(:login, CAST(:r AS regclass), :p))"
            ),
            {"login": login, "r": f"public.{relation}", "p": op.upper()},
        )
        privileges[op] = bool(held.scalar())
    return Probes(
        select=f"SELECT CAST(ROW({listed}) AS text) FROM public.{relation} x",
        update=f'UPDATE public.{relation} SET "{column}" = "{column}"',
        delete=f"DELETE FROM public.{relation}",
        privileges=privileges,
    )


async def _remove(conn: AsyncConnection, w: World, tenants: tuple[str, ...]) -> None:
    for name in tenants:
        for table, keys in w.tenants[name].keys.items():
            await conn.execute(
                text(f"DELETE FROM public.{table} x WHERE {w.pk[table]} = ANY(:keys)"),
                {"keys": keys},
            )


async def _act(conn: AsyncConnection, login: str, tenant: Tenant | None) -> None:
    await conn.execute(text(f"SET LOCAL ROLE {login}"))
    await conn.execute(
        text(
            "SELECT set_config('app.user_id', :u, true), set_config('app.tenant_token', '', true)"
        ),
        {"u": str(tenant.user_id) if tenant else ""},
    )


Observed = dict[tuple[str, str, str, str], Result]  # (relation, case, op, world)


async def observe(conn: AsyncConnection, w: World, role: str) -> tuple[Observed, dict[str, Probes]]:
    login = w.logins[role].name
    await conn.execute(text("SET LOCAL session_replication_role = replica"))
    names = [name for name, _ in w.relations]
    probes = {name: await _probes(conn, name, login) for name in names}
    seen: Observed = {}
    for world_name, removed in WORLDS.items():
        world_savepoint = await conn.begin_nested()
        await _remove(conn, w, removed)
        for case in CASES:
            if world_name not in NEEDED[case]:
                continue
            acting = ACTING[case]
            act_savepoint = await conn.begin_nested()
            await _act(conn, login, w.tenants[acting] if acting else None)
            for name in names:
                p = probes[name]
                for op, sql, rows in (
                    ("select", p.select, True),
                    ("update", p.update, False),
                    ("delete", p.delete, False),
                ):
                    first = seen.get((name, case, op, "all"))
                    if world_name != "all" and (first is None or not first.allowed):
                        continue  # a denial is observed once, in the full world
                    seen[(name, case, op, world_name)] = await _attempt(conn, sql, rows=rows)
                if world_name == "all":
                    seen[(name, case, "insert", "all")] = await _insert(
                        conn, name, _victim_row(name, w)
                    )
            await act_savepoint.rollback()
        await world_savepoint.rollback()
    return seen, probes


def judge(relation: str, relkind: str, role: str, seen: Observed, probes: Probes) -> list[str]:
    """What differs from the expectation, one line per (case, op)."""
    problems: list[str] = []
    rules = expected(relation, role)
    for op in OPS:
        for case, want in zip(CASES, rules[op], strict=True):
            full = seen[(relation, case, op, "all")]
            where = f"{relation} [{kind_of(relation)}] {role} {case} {op}"

            def fail(why: str, where: str = where, full: Result = full) -> None:
                problems.append(f"{where}: {why} (got {full.sqlstate or 'allowed'})")

            denied = not full.allowed and not full.filtered
            if want == DENY:
                if full.allowed or full.filtered:
                    fail("expected a denial")
                elif full.sqlstate != "42501" and (relkind in ("r", "p") or probes.privileges[op]):
                    fail(f"expected a privilege denial: {full.message[:120]}")
                continue
            if want == SAFE and denied:
                continue
            if want == FILTER:
                if not full.filtered:
                    fail("expected a refusal by row-level security")
                continue
            if not full.allowed:
                fail(f"expected it allowed: {full.message[:160]}")
                continue
            if op != "insert":
                without_victim = seen[(relation, case, op, "B")].value
                if want == ROWS and full.value == without_victim:
                    fail("does not reach the victim's rows")
                if want == HIDDEN and full.value != without_victim:
                    fail("reaches the victim's rows")
            if role in TENANT_ROLES and op != "insert":
                alone = seen[(relation, case, op, OWN_WORLD[case])].value
                if full.value != alone:
                    fail("depends on another tenant's data")
    return problems


@pytest.mark.parametrize("role", ROLES)
async def test_security_matrix(world: World, matrix_engine: AsyncEngine, role: str) -> None:
    # one snapshot: a refresh policy committing meanwhile changes nothing we read
    async with matrix_engine.connect() as plain:
        conn = await plain.execution_options(isolation_level="REPEATABLE READ")
        transaction = await conn.begin()
        try:
            seen, probes = await observe(conn, world, role)
        finally:
            await transaction.rollback()
    problems = [
        problem
        for name, relkind in world.relations
        for problem in judge(name, relkind, role, seen, probes[name])
    ]
    assert problems == []


async def test_a_relation_added_later_is_enumerated_and_judged(
    world: World, matrix_engine: AsyncEngine
) -> None:
    """What the matrix is for: relations nobody lists here. Inside a rolled-back transaction,
    a new table granted to app_user and a new v_* view exposing every tenant's outcomes with
    its owner's rights (granted to the tenant roles) are found by the same enumeration and
    judged with the same rules: the table is expected closed, the view caught leaking."""
    async with matrix_engine.connect() as conn:
        await conn.begin()
        try:
            await conn.execute(text("CREATE TABLE public.zz_added_later (note text)"))
            await conn.execute(text("INSERT INTO public.zz_added_later VALUES ('anyone')"))
            await conn.execute(text("GRANT SELECT ON public.zz_added_later TO app_user"))
            await conn.execute(
                text("CREATE VIEW public.v_zz_added_later AS SELECT outcome_id FROM outcomes")
            )
            await conn.execute(
                text("GRANT SELECT ON public.v_zz_added_later TO app_user, app_readonly")
            )
            added = [r for r in await _relations(conn) if r[0] not in dict(world.relations)]
            assert sorted(added) == [("v_zz_added_later", "v"), ("zz_added_later", "r")]
            later = dataclasses.replace(world, relations=added)
            seen, probes = await observe(conn, later, "app_user")
            problems = [
                problem
                for name, relkind in added
                for problem in judge(name, relkind, "app_user", seen, probes[name])
            ]
        finally:
            await conn.rollback()
    assert "zz_added_later [unknown] app_user own select: expected a denial (got allowed)" in (
        problems
    )
    leaks = [p for p in problems if p.startswith("v_zz_added_later [new_view] app_user")]
    assert leaks
    assert all("depends on another tenant's data" in p for p in leaks)


async def test_every_named_relation_exists(world: World) -> None:
    """An expectation for a relation that is not there tests nothing (a rename would slip)."""
    present = {name for name, _ in world.relations}
    optional = {"pg_stat_statements", "pg_stat_statements_info"}  # only when preloaded
    assert set(RELATIONS) - optional <= present


# ------------------------------------------------------------------ below public
# TimescaleDB keeps the rows in relations of its own schemas (chunks, compressed chunks,
# materialization hypertables) and reads them through internal views with the owner's rights
# (`_direct_view_*`, `_partial_view_*`); GRANTs on a hypertable or aggregate are copied to them.
INTERNAL_SCHEMAS = "n.nspname NOT IN ('public', 'pg_catalog', 'information_schema') "
GRANTED_TO_ROLE = f"""
SELECT n.nspname || '.' || c.relname AS relation,
       array_remove(ARRAY[
           CASE WHEN has_table_privilege(:login, c.oid, 'SELECT') THEN 'SELECT' END,
           CASE WHEN has_table_privilege(:login, c.oid, 'INSERT') THEN 'INSERT' END,
           CASE WHEN has_table_privilege(:login, c.oid, 'UPDATE') THEN 'UPDATE' END,
           CASE WHEN has_table_privilege(:login, c.oid, 'DELETE') THEN 'DELETE' END,
           CASE WHEN has_table_privilege(:login, c.oid, 'TRUNCATE') THEN 'TRUNCATE' END,
           CASE WHEN has_table_privilege(:login, c.oid, 'TRIGGER') THEN 'TRIGGER' END
       ], NULL) AS privileges
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {INTERNAL_SCHEMAS} AND n.nspname NOT LIKE 'pg\\_toast%'
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND has_table_privilege(:login, c.oid, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,TRIGGER')
  -- what TimescaleDB opens to everyone (job statistics, catalogs) is not ours to close
  AND NOT EXISTS (SELECT 1 FROM aclexplode(COALESCE(c.relacl, acldefault('r', c.relowner))) a
                  WHERE a.grantee = 0)
ORDER BY 1
"""


async def _chunks(conn: AsyncConnection) -> list[str]:
    rows = await conn.execute(
        text(
            "SELECT format('%I.%I', chunk_schema, chunk_name) FROM timescaledb_information.chunks "
            "WHERE hypertable_schema = 'public' ORDER BY 1"
        )
    )
    return [r[0] for r in rows]


@pytest.mark.parametrize("role", ROLES)
async def test_timescaledb_internals_hold_only_what_the_role_holds_above(
    world: World, matrix_engine: AsyncEngine, role: str
) -> None:
    """Tenant roles: nothing below public. The worker: the chunks of the hypertables it
    appends to, SELECT and INSERT only. app_admin: what it may do on the hypertables, and
    SELECT on the aggregates' internals (it reads the aggregates, all tenants' rows)."""
    async with matrix_engine.connect() as conn:
        granted = {
            r.relation: set(r.privileges)
            for r in await conn.execute(text(GRANTED_TO_ROLE), {"login": world.logins[role].name})
        }
        chunks = set(await _chunks(conn))
    assert chunks, "the seeded tenants left no chunks to check"
    if role in TENANT_ROLES:
        assert granted == {}
        return
    data = ("_hyper_", "compress_hyper_", "_compressed_hypertable_")
    aggregate = ("_materialized_hypertable_", "_direct_view_", "_partial_view_")
    for relation, privileges in granted.items():
        name = relation.split(".", 1)[1]
        if role == "app_admin" and name.startswith(aggregate):
            assert privileges == {"SELECT"}, relation  # it reads the aggregates
            continue
        assert name.startswith(data), relation
        writes = (
            {"SELECT", "INSERT"}
            if role == "app_worker"
            else {"SELECT", "INSERT", "UPDATE", "DELETE"}
        )
        assert privileges <= writes, relation
    assert chunks <= set(granted)  # the write path needs them


@pytest.mark.parametrize("role", TENANT_ROLES)
async def test_tenant_roles_cannot_read_chunks_directly(
    world: World, matrix_engine: AsyncEngine, role: str
) -> None:
    """The attack 0009 closes: RLS is never copied to chunks, so a SELECT grant on a
    hypertable read every tenant's rows from `_timescaledb_internal._hyper_*`."""
    async with matrix_engine.connect() as conn:
        await conn.begin()
        chunks = await _chunks(conn)
        await conn.execute(text(f"SET LOCAL ROLE {world.logins[role].name}"))
        for chunk in chunks:
            result = await _attempt(conn, f"SELECT count(*) FROM {chunk}", rows=True)
            assert result.sqlstate == "42501", chunk
        await conn.rollback()


@pytest.mark.full_edition
async def test_compressed_chunks_stay_tenant_safe_and_writable_by_the_worker(
    world: World, matrix_engine: AsyncEngine
) -> None:
    """Compression and tenant isolation together (TimescaleDB refuses RLS on a compressed
    hypertable, which is why tenant roles read views): a compressed outcome of A is read by A
    through v_outcomes and by nobody else; its compressed chunk is closed to tenant roles; the
    worker still records a late outcome into the compressed chunk's range."""
    a, b = world.tenants["A"], world.tenants["B"]
    old = f.OutcomeFactory(
        simulation_id=a.graph["simulation"].simulation_id,
        scenario_id=a.graph["scenario"],
        execution_time=f.utcnow() - timedelta(days=9),
    )
    late = f.OutcomeFactory(
        simulation_id=a.graph["simulation"].simulation_id,
        scenario_id=a.graph["scenario"],
        execution_time=old.execution_time + timedelta(seconds=1),
    )
    async with matrix_engine.connect() as conn:
        await conn.begin()
        await conn.execute(insert(Base.metadata.tables["outcomes"]).values(f.column_values(old)))
        compressed = (
            (
                await conn.execute(
                    text(
                        "SELECT compress_chunk(c) FROM show_chunks('outcomes', "
                        "older_than => now() - INTERVAL '8 days') c"
                    )
                )
            )
            .scalars()
            .all()
        )
        assert compressed
        internal = (
            (
                await conn.execute(
                    text(
                        "SELECT format('%I.%I', cc.schema_name, cc.table_name) "
                        "FROM _timescaledb_catalog.chunk c "
                        "JOIN _timescaledb_catalog.chunk cc ON cc.id = c.compressed_chunk_id"
                    )
                )
            )
            .scalars()
            .all()
        )
        assert internal, "compression left no compressed chunk to check"

        async def seen_by(role: str, tenant: Tenant | None) -> set[uuid.UUID]:
            savepoint = await conn.begin_nested()
            await _act(conn, world.logins[role].name, tenant)
            rows = await conn.execute(
                text("SELECT outcome_id FROM v_outcomes WHERE outcome_id = ANY(:ids)"),
                {"ids": [old.outcome_id, late.outcome_id]},
            )
            found = set(rows.scalars())
            await savepoint.rollback()
            return found

        assert await seen_by("app_user", a) == {old.outcome_id}
        assert await seen_by("app_user", b) == set()
        assert await seen_by("app_readonly", None) == set()
        for role in TENANT_ROLES:
            savepoint = await conn.begin_nested()
            await _act(conn, world.logins[role].name, a)
            for relation in internal:
                result = await _attempt(conn, f"SELECT count(*) FROM {relation}", rows=True)
                assert result.sqlstate == "42501", (role, relation)
            await savepoint.rollback()
        savepoint = await conn.begin_nested()
        await _act(conn, world.logins["app_worker"].name, None)
        await conn.execute(insert(Base.metadata.tables["outcomes"]).values(f.column_values(late)))
        await savepoint.commit()  # RELEASE SAVEPOINT: the row stays
        await conn.execute(text("RESET ROLE"))
        assert await seen_by("app_user", a) == {old.outcome_id, late.outcome_id}
        await conn.rollback()
