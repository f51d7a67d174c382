"""Run the Alembic migrations from code (`deploy_schema()`, `arc-db migrate`, tests).

`locked_migration` holds pg_advisory_lock on a fixed key on its own connection for the whole
Alembic run, so of several concurrent runners one applies the revisions and the others wait,
then find nothing to do. Every deployer goes through it (`arc-db migrate`,
`ArcDBClient.deploy_schema()`, the demo); `upgrade`/`downgrade` alone take no lock (the test
fixtures, which own their database).
"""

import importlib.resources
import time
from pathlib import Path
from typing import Any

import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from arc.database.core.errors import ArcConfigurationError
from arc.database.core.settings import to_psycopg_url, url_wants_pgbouncer

log = structlog.get_logger(__name__)

MIGRATION_LOCK_KEY = 0x4152_4344  # "ARCD"


def migrations_dir() -> Path:
    """The revisions shipped inside the package (a wheel carries them; no checkout needed)."""
    return Path(str(importlib.resources.files("arc.database.schema").joinpath("migrations")))


def alembic_config(url: str | None = None) -> Config:
    """Alembic configuration pointing at this package's migrations and, if given, `url`.

    Built in code, so it works from an installed wheel in any directory; the checkout's
    `alembic.ini` points at the same folder for `alembic upgrade head`.
    """
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.attributes["url"] = url
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Blocking; call it from a thread (asyncio.to_thread) inside an event loop."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def _libpq_url(url: str) -> str:
    """The URL for libpq (psycopg): our own parameters (pgbouncer=...) removed."""
    return (
        make_url(to_psycopg_url(url))
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


def _current_revision(conn: Any) -> str | None:
    exists = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()[0]
    if not exists:
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return head or "base"


def locked_migration(url: str, action: str, revision: str | None = None) -> str:
    """upgrade / downgrade / current under a session advisory lock. Blocking (Alembic runs
    its own event loop): call it from a thread inside async code. Returns a one-line summary.
    """
    import psycopg

    if action not in ("upgrade", "downgrade", "current"):
        raise ArcConfigurationError("action", "must be upgrade, downgrade or current")
    if url_wants_pgbouncer(url):
        # A session advisory lock and Alembic's multi-statement DDL need one server session:
        # through a transaction pooler, the lock would be held by whichever backend served it.
        raise ArcConfigurationError(
            "database URL",
            "points at PgBouncer (pgbouncer=true): migrate with the server's direct URL",
        )
    head = head_revision()
    with psycopg.connect(
        _libpq_url(url), autocommit=True, connect_timeout=10, application_name="arc-db-migrate"
    ) as lock:
        waited = time.perf_counter()
        lock.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        waited_s = time.perf_counter() - waited
        try:
            before = _current_revision(lock)
            if action == "current":
                return f"current: {before or 'base'}" + (" (head)" if before == head else "")
            if action == "upgrade":
                target = revision or "head"
                if before == head and target in ("head", head):
                    log.info("migrate.nothing_to_do", revision=before, waited_s=round(waited_s, 2))
                    return f"already at {before} (head): nothing to do"
                upgrade(url, target)
            else:
                downgrade(url, revision or "-1")
            after = _current_revision(lock)
            log.info(
                "migrate.applied",
                action=action,
                before=before,
                after=after,
                waited_s=round(waited_s, 2),
            )
            suffix = " (head)" if after == head else ""
            verb = "upgraded" if action == "upgrade" else "downgraded"
            return f"{verb} {before or 'base'} -> {after or 'base'}{suffix}"
        finally:
            lock.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
