"""The migrations are the schema's source of truth: they walk up and down, and match the models."""

import asyncio
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from arc.database.core.settings import to_psycopg_url
from arc.database.models import Base
from arc.database.ops.provision import drop_database, ensure_database, with_database
from arc.database.schema import migrate
from tests.conftest import fresh_database_name

# What `downgrade base` must leave: nothing of ours (Alembic keeps its version table).
LEFTOVERS_SQL = """
SELECT 'relation ' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p', 'i', 'S')
   AND c.relname NOT IN ('alembic_version', 'alembic_version_pkc')
UNION ALL
SELECT 'function ' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'public'
UNION ALL
SELECT 'extension ' || extname FROM pg_extension WHERE extname <> 'plpgsql'
UNION ALL
SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname LIKE '%timescaledb%'
"""


@pytest.fixture
def scratch_url(server_url: str) -> Iterator[str]:
    url = with_database(server_url, fresh_database_name("arc_mig"))
    asyncio.run(ensure_database(url))
    try:
        yield url
    finally:
        asyncio.run(drop_database(url))


def _sync_engine(url: str):  # type: ignore[no-untyped-def]
    return create_engine(to_psycopg_url(url))


def test_every_revision_walks_up_and_down(scratch_url: str) -> None:
    config = migrate.alembic_config(scratch_url)
    revisions = [s.revision for s in ScriptDirectory.from_config(config).walk_revisions()]
    revisions.reverse()  # base -> head
    assert revisions[0] == "0001"
    for rev in revisions:
        command.upgrade(config, rev)
    command.downgrade(config, "base")
    eng = _sync_engine(scratch_url)
    with eng.connect() as conn:
        leftovers = conn.execute(text(LEFTOVERS_SQL)).scalars().all()
    eng.dispose()
    assert leftovers == []
    # step by step up, then one step down and up again at every revision
    for rev in revisions:
        command.upgrade(config, rev)
        command.downgrade(config, "-1")
        command.upgrade(config, rev)
    command.downgrade(config, "base")
    command.upgrade(config, "head")


def test_models_match_migrated_database(database_url: str) -> None:
    eng = _sync_engine(database_url)
    with eng.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"include_object": _include_object, "compare_type": True},
        )
        diff = compare_metadata(context, Base.metadata)
    eng.dispose()
    assert diff == []


def _include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    return not (type_ == "table" and reflected and compare_to is None)
