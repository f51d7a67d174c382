"""Audit triggers of migration 0006 on configurations, config_versions and config_diffs.

Every INSERT, UPDATE and DELETE leaves one audit_log row with the table, the operation, the
row before/after (embedding left out) and the tenant from `app.user_id` (NULL when it is unset
or malformed, and the write still succeeds). app_user cannot touch audit_log directly.
"""

import json
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
    """A brand-new connection, where app.user_id has never existed: audited with NULL."""
    fresh = build_engine(url=database_url, pool_size=1, max_overflow=0)
    try:
        async with fresh.connect() as conn:
            trans = await conn.begin()
            assert await conn.scalar(text("SELECT current_setting('app.user_id', true)")) is None
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
