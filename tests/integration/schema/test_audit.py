"""Audit triggers of migration 0006 on configurations, config_versions and config_diffs.

Every INSERT, UPDATE and DELETE leaves one audit_log row with the table, the operation, the
row before/after (embedding left out) and the tenant from `app.user_id` (NULL when it is unset
or malformed, and the write still succeeds). app_user cannot touch audit_log directly.
The SECURITY DEFINER functions (the trigger among them, revision 0009) are read from the catalog
and attacked as app_user with temporary tables shadowing every table of public.
"""

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from arc.database.core.engine import build_engine
from tests import factories as f

AUDITED = ("configurations", "config_versions", "config_diffs")


@dataclass(frozen=True)
class Target:
    """How to write one row of an audited table, given the persisted graph."""

    key: str
    update: str  # SET clause
    new_row: Callable[[f.Graph], Any]


TARGETS = {
    "configurations": Target(
        "config_id",
        "is_active = false, updated_at = now() + interval '1 second'",
        lambda g: f.ConfigurationFactory(),
    ),
    "config_versions": Target(
        "version_id",
        "is_deleted = true",
        lambda g: f.ConfigVersionFactory(
            config_id=g.configuration.config_id, version_number=5, embedded=True
        ),
    ),
    "config_diffs": Target(
        "diff_id",
        "approval_status = 'approved'",
        lambda g: f.ConfigDiffFactory(
            config_id=g.configuration.config_id,
            version_before=g.version.version_id,
            version_after=g.previous_version.version_id,
        ),
    ),
}


@pytest.fixture(scope="module", autouse=True)
async def _warm(engine: AsyncEngine) -> None:
    await f.warm_hypertables(engine)


@pytest.fixture
async def graph(session: AsyncSession) -> f.Graph:
    return await f.create_graph(session)


async def set_tenant(session: AsyncSession, value: str) -> None:
    await session.execute(text("SELECT set_config('app.user_id', :v, true)"), {"v": value})


async def audit_rows(session: AsyncSession, table: str, key: str, value: Any) -> list[Any]:
    """This row's audit trail, oldest first."""
    rows = await session.execute(
        text(
            """
            SELECT operation, user_id, old_data, new_data, user_agent, modal_call_context
              FROM audit_log
             WHERE table_name = :table
               AND (new_data ->> :key = :value OR old_data ->> :key = :value)
             ORDER BY "timestamp", CASE operation WHEN 'INSERT' THEN 0
                                                  WHEN 'UPDATE' THEN 1 ELSE 2 END
            """
        ),
        {"table": table, "key": key, "value": str(value)},
    )
    return list(rows)


async def write_all_three(session: AsyncSession, table: str, graph: f.Graph) -> Any:
    """INSERT, UPDATE, DELETE one new row of `table`; returns its key."""
    target = TARGETS[table]
    obj = target.new_row(graph)
    await f.persist(session, obj)
    key = getattr(obj, target.key)
    await session.execute(
        text(f"UPDATE {table} SET {target.update} WHERE {target.key} = :k"), {"k": key}
    )
    await session.execute(text(f"DELETE FROM {table} WHERE {target.key} = :k"), {"k": key})
    return key


@pytest.mark.parametrize("table", AUDITED)
async def test_insert_update_delete_are_audited(
    session: AsyncSession, graph: f.Graph, table: str
) -> None:
    tenant = uuid.uuid4()
    await set_tenant(session, str(tenant))
    key_col = TARGETS[table].key
    key = await write_all_three(session, table, graph)
    trail = await audit_rows(session, table, key_col, key)
    assert [r.operation for r in trail] == ["INSERT", "UPDATE", "DELETE"]
    insert_, update, delete = trail
    assert insert_.old_data is None
    assert insert_.new_data[key_col] == str(key)
    assert update.old_data[key_col] == str(key)
    assert update.new_data[key_col] == str(key)
    assert update.old_data != update.new_data  # the change is recorded
    assert delete.new_data is None
    assert delete.old_data[key_col] == str(key)
    assert {r.user_id for r in trail} == {tenant}


async def test_update_records_before_and_after(session: AsyncSession, graph: f.Graph) -> None:
    diff_id = graph.diff.diff_id
    await session.execute(
        text("UPDATE config_diffs SET approval_status = 'rejected' WHERE diff_id = :id"),
        {"id": diff_id},
    )
    trail = await audit_rows(session, "config_diffs", "diff_id", diff_id)
    update = trail[-1]
    assert update.operation == "UPDATE"
    assert update.old_data["approval_status"] == "pending"
    assert update.new_data["approval_status"] == "rejected"


async def test_embedding_is_left_out_of_the_copy(session: AsyncSession, graph: f.Graph) -> None:
    version = f.ConfigVersionFactory(
        config_id=graph.configuration.config_id, version_number=6, embedded=True
    )
    await f.persist(session, version)
    stored = await session.scalar(
        text("SELECT embedding IS NOT NULL FROM config_versions WHERE version_id = :id"),
        {"id": version.version_id},
    )
    assert stored is True
    (row,) = await audit_rows(session, "config_versions", "version_id", version.version_id)
    assert "embedding" not in row.new_data
    assert row.new_data["config_hash"] == version.config_hash
    assert row.new_data["parsed_config"] == version.parsed_config


@pytest.mark.parametrize(
    "setting", ["", "not-a-uuid", "1234", "'; DROP TABLE audit_log; --"], ids=repr
)
async def test_unset_or_malformed_user_id_is_null_and_the_write_succeeds(
    session: AsyncSession, setting: str
) -> None:
    await set_tenant(session, setting)
    config = f.ConfigurationFactory()
    await f.persist(session, config)
    (row,) = await audit_rows(session, "configurations", "config_id", config.config_id)
    assert row.operation == "INSERT"
    assert row.user_id is None


async def test_never_set_user_id_is_null(database_url: str) -> None:
    """A brand-new connection, where app.user_id has never existed: audited with NULL.

    (Through PgBouncer the server connection may be a reused one, where a transaction-local
    setting of another client's transaction left it defined and empty: '' is no tenant too.)"""
    fresh = build_engine(url=database_url, pool_size=1, max_overflow=0)
    try:
        async with fresh.connect() as conn:
            trans = await conn.begin()
            setting = await conn.scalar(text("SELECT current_setting('app.user_id', true)"))
            assert setting in (None, "")
            session = AsyncSession(bind=conn)
            config = f.ConfigurationFactory()
            await f.persist(session, config)
            (row,) = await audit_rows(session, "configurations", "config_id", config.config_id)
            await trans.rollback()
    finally:
        await fresh.dispose()
    assert row.user_id is None


async def test_application_name_and_modal_context_are_recorded(session: AsyncSession) -> None:
    context = {"app_id": "arc-eval-sandbox", "call_id": "fc-123"}
    await session.execute(
        text("SELECT set_config('app.modal_call_context', :c, true)"), {"c": json.dumps(context)}
    )
    config = f.ConfigurationFactory()
    await f.persist(session, config)
    (row,) = await audit_rows(session, "configurations", "config_id", config.config_id)
    assert row.user_agent == await session.scalar(
        text("SELECT current_setting('application_name')")
    )
    assert row.modal_call_context == context


async def test_tables_without_trigger_are_not_audited(
    session: AsyncSession, graph: f.Graph
) -> None:
    found = await session.scalar(
        text("SELECT count(*) FROM audit_log WHERE new_data ->> 'simulation_id' = :id"),
        {"id": str(graph.simulation.simulation_id)},
    )
    assert found == 0


async def test_app_user_writes_are_audited_through_the_trigger(
    session: AsyncSession,
) -> None:
    """app_user cannot write audit_log, yet its own changes are recorded (SECURITY DEFINER)."""
    tenant = uuid.uuid4()
    await session.execute(text("SET LOCAL ROLE app_user"))
    await set_tenant(session, str(tenant))
    config = f.ConfigurationFactory(user_id=tenant)
    await session.execute(
        text("INSERT INTO configurations (config_id, name, user_id) VALUES (:id, :name, :user)"),
        {"id": config.config_id, "name": config.name, "user": tenant},
    )
    await session.execute(text("RESET ROLE"))
    (row,) = await audit_rows(session, "configurations", "config_id", config.config_id)
    assert row.user_id == tenant


async def test_a_tenant_reads_only_its_own_audit_rows(session: AsyncSession) -> None:
    """audit_log holds whole rows of every tenant: RLS keeps each tenant to its own changes."""
    tenants = [uuid.uuid4(), uuid.uuid4()]
    configs = [f.ConfigurationFactory(user_id=t) for t in tenants]
    for tenant, config in zip(tenants, configs, strict=True):
        await set_tenant(session, str(tenant))
        await f.persist(session, config)
    await session.execute(text("SET LOCAL ROLE app_user"))
    await set_tenant(session, str(tenants[0]))
    seen = set(
        (
            await session.execute(
                text(
                    "SELECT new_data ->> 'config_id' FROM audit_log "
                    "WHERE table_name = 'configurations' AND new_data ->> 'config_id' = ANY(:ids)"
                ),
                {"ids": [str(c.config_id) for c in configs]},
            )
        ).scalars()
    )
    await session.execute(text("RESET ROLE"))
    assert seen == {str(configs[0].config_id)}


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO audit_log (table_name, operation) VALUES ('configurations', 'INSERT')",
        "UPDATE audit_log SET user_id = NULL WHERE log_id = :id",
        "DELETE FROM audit_log WHERE log_id = :id",
    ],
    ids=["insert", "update", "delete"],
)
async def test_app_user_cannot_write_audit_log(session: AsyncSession, sql: str) -> None:
    config = f.ConfigurationFactory()
    await f.persist(session, config)
    (row_id,) = (
        await session.execute(
            text("SELECT log_id FROM audit_log WHERE new_data ->> 'config_id' = :id"),
            {"id": str(config.config_id)},
        )
    ).one()
    await session.execute(text("SET LOCAL ROLE app_user"))
    with pytest.raises(DBAPIError) as caught:
        await _in_savepoint(session, sql, {"id": row_id})
    assert getattr(caught.value.orig, "sqlstate", None) == "42501"
    await session.execute(text("RESET ROLE"))
    still = await session.scalar(
        text("SELECT count(*) FROM audit_log WHERE log_id = :id"), {"id": row_id}
    )
    assert still == 1


async def _in_savepoint(session: AsyncSession, sql: str, params: dict[str, Any]) -> None:
    async with session.begin_nested():
        await session.execute(text(sql), params if ":id" in sql else {})


# ---------------------------------------------------------------------------------------------
# SECURITY DEFINER functions run as their owner (a superuser on most self-hosted servers).
# Revision 0009 pins their search_path with pg_temp last and schema-qualifies what they use.
# Which functions those are is read from the catalog (prosecdef), never listed here: a new one
# is checked for its search_path, and the attack below fails until it exercises it.
DEFINERS_SQL = """
SELECT p.oid::regprocedure::text AS signature, p.proname, p.proconfig
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE p.prosecdef
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_%'
   -- an extension's own functions (TimescaleDB's) are the extension's to pin, not ours
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                   AND d.objid = p.oid AND d.deptype = 'e')
"""
LOOT = (
    "CREATE TEMP TABLE loot (who text, audit_rows bigint)",
    "GRANT ALL ON pg_temp.loot TO PUBLIC",
    """
CREATE FUNCTION pg_temp.steal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- runs as whoever fires it: with the owner's rights, it could do anything
    INSERT INTO pg_temp.loot SELECT current_user, (SELECT count(*) FROM public.audit_log);
    DELETE FROM public.audit_log;
    RETURN NEW;
END;
$$
""",
)


async def _definers(session: AsyncSession) -> dict[str, list[str] | None]:
    """signature -> proconfig of every SECURITY DEFINER function of ours, from the catalog."""
    rows = await session.execute(text(DEFINERS_SQL))
    return {r.signature: r.proconfig for r in rows}


def _search_path_problem(config: list[str] | None) -> str | None:
    """Why a function's settings do not pin a safe search_path (None: they do)."""
    paths = [c.split("=", 1)[1] for c in config or () if c.startswith("search_path=")]
    if not paths:
        return "no search_path of its own: the caller's applies (pg_temp first by default)"
    schemas = [s.strip().strip('"') for s in paths[0].split(",")]
    if schemas[-1] != "pg_temp":
        return f"search_path {paths[0]!r}: pg_temp is searched before these unless it is last"
    if "$user" in schemas:
        return f"search_path {paths[0]!r}: $user lets the caller's role name pick a schema"
    return None


def test_the_search_path_rule_rejects_what_the_finding_showed() -> None:
    """The rule itself: 0006's setting (pg_temp implicitly first) and no setting at all fail."""
    assert _search_path_problem(["search_path=pg_catalog, public"]) is not None
    assert _search_path_problem(None) is not None
    assert _search_path_problem(["search_path=pg_temp, pg_catalog, public"]) is not None
    assert _search_path_problem(['search_path="$user", public, pg_temp']) is not None
    assert _search_path_problem(["search_path=pg_catalog, public, pg_temp"]) is None


async def test_every_security_definer_function_pins_its_search_path(session: AsyncSession) -> None:
    definers = await _definers(session)
    assert definers, "no SECURITY DEFINER function found: the query is wrong"
    problems = {sig: _search_path_problem(config) for sig, config in definers.items()}
    assert {sig: why for sig, why in problems.items() if why is not None} == {}


async def _shadow_every_table(session: AsyncSession, planted_key: bytes) -> None:
    """As the current role: a temporary table of the same name for every table of public,
    each with a trigger that records who fired it (and wipes the real audit trail); the
    shadow tenant_token_config holds a key the attacker knows."""
    for statement in LOOT:
        await session.execute(text(statement))
    tables = (
        await session.execute(
            text(
                "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                "AND relkind IN ('r', 'p') ORDER BY 1"
            )
        )
    ).scalars()
    for table in list(tables):
        # the columns from the catalog: LIKE would need SELECT on tables the role cannot read
        columns = await session.scalar(
            text(
                "SELECT string_agg(format('%I %s', attname, format_type(atttypid, atttypmod)), "
                "', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) "
                "AND attnum > 0 AND NOT attisdropped"
            ),
            {"t": f"public.{table}"},
        )
        await session.execute(text(f"CREATE TEMP TABLE {table} ({columns})"))
        if table == "tenant_token_config":
            await session.execute(
                text(
                    "INSERT INTO pg_temp.tenant_token_config (singleton, secret, required, "
                    "rotated_at) VALUES (true, :k, false, now())"
                ),
                {"k": planted_key},
            )
        await session.execute(
            text(
                f"CREATE TRIGGER steal BEFORE INSERT OR UPDATE OR DELETE ON pg_temp.{table} "
                "FOR EACH ROW EXECUTE FUNCTION pg_temp.steal()"
            )
        )


async def _loot(session: AsyncSession) -> list[Any]:
    return list(await session.execute(text("SELECT who, audit_rows FROM pg_temp.loot")))


async def test_temp_audit_log_does_not_run_a_tenants_code_as_the_owner(
    session: AsyncSession, graph: f.Graph
) -> None:
    """The attack of the finding: app_user shadows audit_log with a temporary table carrying
    a trigger, then updates its own configuration; the audit insert must go to public.audit_log
    and the tenant's trigger must never run (before 0009 it ran as the owner)."""
    tenant = graph.configuration.user_id
    await session.execute(text("SET LOCAL ROLE app_user"))
    await set_tenant(session, str(tenant))
    for statement in LOOT:
        await session.execute(text(statement))
    await session.execute(
        text("CREATE TEMP TABLE audit_log (LIKE public.audit_log INCLUDING DEFAULTS)")
    )
    await session.execute(
        text(
            "CREATE TRIGGER steal BEFORE INSERT ON pg_temp.audit_log "
            "FOR EACH ROW EXECUTE FUNCTION pg_temp.steal()"
        )
    )
    updated = await session.execute(
        text("UPDATE configurations SET is_active = false WHERE config_id = :id"),
        {"id": graph.configuration.config_id},
    )
    assert updated.rowcount == 1  # type: ignore[attr-defined]
    assert await _loot(session) == []
    assert await session.scalar(text("SELECT count(*) FROM pg_temp.audit_log")) == 0
    await session.execute(text("RESET ROLE"))
    await session.execute(text("DROP TABLE pg_temp.audit_log"))  # audit_rows reads audit_log
    trail = await audit_rows(session, "configurations", "config_id", graph.configuration.config_id)
    assert [r.operation for r in trail] == ["INSERT", "UPDATE"]
    assert trail[-1].user_id == tenant


async def test_shadowing_every_table_reaches_no_definer_function(
    session: AsyncSession, graph: f.Graph
) -> None:
    """The general form, for every SECURITY DEFINER function: with every table of public
    shadowed by a trapped temporary one (and a tenant_token_config holding a key the attacker
    knows), writes to the audited tables, token checks and the token administration run
    against the real tables and never fire a trap. The catalog says which functions are
    SECURITY DEFINER; function statistics of this transaction prove each of them ran under
    the traps (a new one fails here until the attack reaches it)."""
    tenant = graph.configuration.user_id
    forged_key = b"k" * 64
    definers = set(await _definers(session))
    await session.execute(text("SET LOCAL track_functions = 'all'"))  # superuser only
    await session.execute(text("SET LOCAL ROLE app_user"))
    await _shadow_every_table(session, forged_key)
    # a token for the victim signed with the attacker's key: worth nothing
    database = await session.scalar(text("SELECT current_database()"))
    payload = f"{tenant}.{int(time.time()) + 600}"
    mac = hmac.new(forged_key, f"{database}:{payload}".encode(), hashlib.sha256).hexdigest()
    await session.execute(
        text("SELECT set_config('app.tenant_token', :t, true)"), {"t": f"{payload}.{mac}"}
    )
    assert await session.scalar(text("SELECT arc_current_user_id()")) is None
    assert await session.scalar(text("SELECT count(*) FROM public.configurations")) == 0
    # the audited tables, written by their tenant
    await session.execute(text("SELECT set_config('app.tenant_token', '', true)"))
    await set_tenant(session, str(tenant))
    for table, target in TARGETS.items():
        key = {
            "configurations": graph.configuration.config_id,
            "config_versions": graph.version.version_id,
            "config_diffs": graph.diff.diff_id,
        }[table]
        done = await session.execute(
            text(f"UPDATE public.{table} SET {target.update} WHERE {target.key} = :k"), {"k": key}
        )
        assert done.rowcount == 1  # type: ignore[attr-defined]
    assert await _loot(session) == []
    # the token administration, by app_admin with the same traps
    await session.execute(text("RESET ROLE"))
    real_key = await session.scalar(text("SELECT secret FROM public.tenant_token_config"))
    await session.execute(text("SET LOCAL ROLE app_admin"))  # the traps are still in place
    token = await session.scalar(text("SELECT arc_issue_tenant_token(:u)"), {"u": tenant})
    await session.execute(text("SELECT arc_require_tenant_tokens(false)"))
    await session.execute(text("SELECT arc_rotate_tenant_token_key()"))
    await session.execute(text("RESET ROLE"))
    assert await _loot(session) == []
    user, expiry, signature = token.split(".")
    expected = hmac.new(real_key, f"{database}:{user}.{expiry}".encode(), hashlib.sha256)
    assert signature == expected.hexdigest()  # signed with the real key, not the planted one
    assert await session.scalar(text("SELECT secret FROM public.tenant_token_config")) != real_key
    assert (
        await session.scalar(text("SELECT secret FROM pg_temp.tenant_token_config")) == forged_key
    )
    assert await session.scalar(text("SELECT count(*) FROM public.audit_log")) > 0
    called = set(
        (
            await session.execute(
                text(
                    "SELECT funcid::regprocedure::text FROM pg_stat_xact_user_functions "
                    "WHERE calls > 0"
                )
            )
        ).scalars()
    )
    assert definers - called == set(), "SECURITY DEFINER functions the attack never reached"


@pytest.mark.parametrize("role", ["app_user", "app_admin", "app_readonly"])
async def test_no_role_can_attach_the_audit_function_to_a_table_of_its_own(
    session: AsyncSession, role: str
) -> None:
    """Creating a trigger needs EXECUTE on its function: with it, a temporary table named
    configurations would write forged audit rows as the owner."""
    await session.execute(text(f"SET LOCAL ROLE {role}"))
    await session.execute(text("CREATE TEMP TABLE configurations (LIKE public.configurations)"))
    with pytest.raises(DBAPIError) as caught:
        async with session.begin_nested():
            await session.execute(
                text(
                    "CREATE TRIGGER forge AFTER INSERT ON pg_temp.configurations "
                    "FOR EACH ROW EXECUTE FUNCTION public.arc_audit_row()"
                )
            )
    assert getattr(caught.value.orig, "sqlstate", None) == "42501"


async def test_the_audit_function_refuses_tables_it_does_not_audit(session: AsyncSession) -> None:
    """Even its owner cannot make it audit another table (defence in depth)."""
    await session.execute(text("CREATE TEMP TABLE configurations (LIKE public.configurations)"))
    await session.execute(
        text(
            "CREATE TRIGGER forge AFTER INSERT ON pg_temp.configurations "
            "FOR EACH ROW EXECUTE FUNCTION public.arc_audit_row()"
        )
    )
    config = f.ConfigurationFactory()
    with pytest.raises(DBAPIError) as caught:
        async with session.begin_nested():
            await session.execute(
                text(
                    "INSERT INTO pg_temp.configurations (config_id, name, user_id) "
                    "VALUES (:c, :n, :u)"
                ),
                {"c": config.config_id, "n": config.name, "u": config.user_id},
            )
    assert getattr(caught.value.orig, "sqlstate", None) == "42501"
    assert "audits public.configurations" in str(caught.value.orig)
