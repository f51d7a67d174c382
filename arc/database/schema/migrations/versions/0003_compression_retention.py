"""Compression and retention, edition-aware.

Full edition (license `timescale`): compression settings and policies, retention policies on
the three hypertables, and a daily TimescaleDB job that trims audit_log.
Apache edition: none of those functions exist ("not supported under the apache license"),
so nothing of them is attempted; retention is applied by `arc_apply_retention()`, which
`arc-db maintain` calls (drop_chunks works on both editions). The function exists on both.

Windows (seeds): compression outcomes 7 days (001 #2 and 002 §3A; 002 §4C's 30 days loses),
failure_patterns 14 days, tool_usage 7 days; retention outcomes 2 years, failure_patterns
1 year, tool_usage 6 months, audit_log 1 year (a plain table: rows are deleted, not chunks).

segmentby: outcomes by simulation_id (a simulation's rows land in the same chunks, and the
dashboard filters by simulation); 002's `simulation_id, scenario_id` leaves ~1 row per segment
when each simulation runs each scenario once, which makes the table grow (ENVIRONMENT.md).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> (segmentby, orderby, compress after)
COMPRESSION = {
    "outcomes": ("simulation_id", "execution_time DESC", "7 days"),
    "failure_patterns": ("failure_category", "execution_time DESC", "14 days"),
    "tool_usage": ("tool_name", "execution_time DESC", "7 days"),
}
RETENTION = {"outcomes": "2 years", "failure_patterns": "1 year", "tool_usage": "6 months"}
AUDIT_RETENTION = "1 year"


def _full_edition() -> bool:
    license_ = op.get_bind().execute(text("SELECT current_setting('timescaledb.license', true)"))
    return license_.scalar() == "timescale"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    drops = "\n".join(
        f"    object := '{table}';\n"
        f"    SELECT count(*) INTO dropped FROM drop_chunks('{table}', "
        f"older_than => INTERVAL '{window}');\n"
        "    RETURN NEXT;"
        for table, window in RETENTION.items()
    )
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION arc_apply_retention()
        RETURNS TABLE(object text, dropped bigint)
        LANGUAGE plpgsql AS $$
        BEGIN
        {drops}
            object := 'audit_log';
            DELETE FROM audit_log WHERE "timestamp" < now() - INTERVAL '{AUDIT_RETENTION}';
            GET DIAGNOSTICS dropped = ROW_COUNT;
            RETURN NEXT;
        END;
        $$
        """
    )
    op.execute(
        "COMMENT ON FUNCTION arc_apply_retention() IS "
        "'Drops hypertable chunks and audit rows past their retention window; "
        "run by arc-db maintain (both editions).'"
    )
    if not _full_edition():
        return
    for table, (segmentby, orderby, after) in COMPRESSION.items():
        op.execute(
            f"ALTER TABLE {table} SET (timescaledb.compress, "
            f"timescaledb.compress_segmentby = '{segmentby}', "
            f"timescaledb.compress_orderby = '{orderby}')"
        )
        op.execute(
            f"SELECT add_compression_policy('{table}', INTERVAL '{after}', if_not_exists => true)"
        )
    for table, window in RETENTION.items():
        op.execute(
            f"SELECT add_retention_policy('{table}', INTERVAL '{window}', if_not_exists => true)"
        )
    op.execute(
        f"""
        CREATE OR REPLACE PROCEDURE arc_audit_retention_job(job_id integer, config jsonb)
        LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM audit_log WHERE "timestamp" < now() - INTERVAL '{AUDIT_RETENTION}';
        END;
        $$
        """
    )
    op.execute(
        "SELECT add_job('arc_audit_retention_job', INTERVAL '1 day') "
        "WHERE NOT EXISTS (SELECT 1 FROM timescaledb_information.jobs "
        "WHERE proc_name = 'arc_audit_retention_job')"
    )


def downgrade() -> None:
    if _full_edition():
        op.execute(
            "SELECT delete_job(job_id) FROM timescaledb_information.jobs "
            "WHERE proc_name = 'arc_audit_retention_job'"
        )
        op.execute("DROP PROCEDURE IF EXISTS arc_audit_retention_job(integer, jsonb)")
        for table in RETENTION:
            op.execute(f"SELECT remove_retention_policy('{table}', if_exists => true)")
        for table in COMPRESSION:
            op.execute(f"SELECT remove_compression_policy('{table}', if_exists => true)")
            op.execute(
                f"SELECT decompress_chunk(c, if_compressed => true) FROM show_chunks('{table}') c"
            )
            op.execute(f"ALTER TABLE {table} SET (timescaledb.compress = false)")
    op.execute("DROP FUNCTION IF EXISTS arc_apply_retention()")
