"""Extensions: timescaledb, vector, uuid-ossp, btree_gin, and pg_stat_statements where allowed.

TimescaleDB is required (the time-series tables are hypertables); the migration stops with a
clear message on a server that does not have it. pg_stat_statements is created only where the
server preloads it: without `shared_preload_libraries` its views raise on every read.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXTENSIONS = ("timescaledb", "uuid-ossp", "vector", "btree_gin")


def upgrade() -> None:
    bind = op.get_bind()
    available = set(bind.execute(text("SELECT name FROM pg_available_extensions")).scalars())
    missing = [name for name in EXTENSIONS if name not in available]
    if missing:
        raise RuntimeError(
            f"the server lacks the extension(s) {', '.join(missing)}: arc-eval-db needs "
            "TimescaleDB and pgvector (use the timescale/timescaledb-ha image, Timescale Cloud, "
            "or scripts/localdb.sh)"
        )
    for name in EXTENSIONS:
        op.execute(f'CREATE EXTENSION IF NOT EXISTS "{name}"')
    preload = bind.execute(text("SELECT current_setting('shared_preload_libraries')")).scalar_one()
    if "pg_stat_statements" in available and "pg_stat_statements" in preload:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def downgrade() -> None:
    op.execute("DROP EXTENSION IF EXISTS pg_stat_statements")
    for name in reversed(EXTENSIONS):
        op.execute(f'DROP EXTENSION IF EXISTS "{name}"')
