"""Dashboard aggregates: simulation_performance_hourly, failure_trends_daily, tool_performance_daily.

Full edition: continuous aggregates with real-time aggregation (materialized_only = false:
rows newer than the last refresh are computed from the hypertable at query time) and refresh
policies. They are created WITH NO DATA, which TimescaleDB allows inside a transaction, so the
revision is atomic; only the initial refresh (never allowed in a transaction) runs in an
autocommit block afterwards and converges when rerun.

Apache edition: plain materialized views with the same names and columns (a unique index each,
for REFRESH ... CONCURRENTLY), refreshed by `arc_refresh_fallback_aggregates()` (called by
`arc-db maintain`), which records the refresh time in the view's comment.

Every output column is named (two unnamed SUMs would collide in a continuous aggregate).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name -> (query, unique key of the fallback view, refresh policy start offset)
AGGREGATES = {
    "simulation_performance_hourly": (
        """
        SELECT
            time_bucket(INTERVAL '1 hour', execution_time) AS hour,
            simulation_id,
            count(*) AS total_outcomes,
            avg(reliability_score) AS avg_reliability,
            avg(execution_time_ms) AS avg_execution_time,
            sum(cost_usd) AS total_cost,
            sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS error_count
        FROM outcomes
        GROUP BY hour, simulation_id
        """,
        "hour, simulation_id",
    ),
    "failure_trends_daily": (
        """
        SELECT
            time_bucket(INTERVAL '1 day', execution_time) AS day,
            failure_category,
            count(*) AS failure_count,
            avg(cluster_confidence) AS avg_confidence,
            count(DISTINCT pattern_cluster_id) AS unique_patterns
        FROM failure_patterns
        GROUP BY day, failure_category
        """,
        "day, failure_category",
    ),
    "tool_performance_daily": (
        """
        SELECT
            time_bucket(INTERVAL '1 day', execution_time) AS day,
            tool_name,
            avg(success_rate) AS avg_success_rate,
            avg(avg_duration_ms) AS avg_duration,
            sum(total_cost_usd) AS daily_cost,
            count(*) AS usage_count
        FROM tool_usage
        GROUP BY day, tool_name
        """,
        "day, tool_name",
    ),
}
# Late rows (a retried batch, an import) up to a week old are picked up by the next policy run.
POLICY = "start_offset => INTERVAL '7 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes'"


def _full_edition() -> bool:
    license_ = op.get_bind().execute(text("SELECT current_setting('timescaledb.license', true)"))
    return license_.scalar() == "timescale"


def upgrade() -> None:
    full = _full_edition()
    for name, (query, key) in AGGREGATES.items():
        if full:
            op.execute(
                f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name} "
                "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS "
                f"{query} WITH NO DATA"
            )
        else:
            op.execute(f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name} AS {query} WITH NO DATA")
            op.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {name}_key ON {name} ({key})")
    op.execute(
        """
        CREATE OR REPLACE FUNCTION arc_refresh_fallback_aggregates()
        RETURNS text[]
        LANGUAGE plpgsql AS $$
        DECLARE
            view_name text;
            refreshed text[] := ARRAY[]::text[];
        BEGIN
            FOREACH view_name IN ARRAY ARRAY[
                'simulation_performance_hourly', 'failure_trends_daily', 'tool_performance_daily'
            ] LOOP
                -- Continuous aggregates refresh themselves (policies); only plain views here.
                CONTINUE WHEN NOT EXISTS (
                    SELECT 1 FROM pg_matviews WHERE schemaname = 'public' AND matviewname = view_name
                );
                IF (SELECT ispopulated FROM pg_matviews
                    WHERE schemaname = 'public' AND matviewname = view_name) THEN
                    EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY %I', view_name);
                ELSE
                    EXECUTE format('REFRESH MATERIALIZED VIEW %I', view_name);
                END IF;
                EXECUTE format('COMMENT ON MATERIALIZED VIEW %I IS %L', view_name,
                               'arc:refreshed_at=' || clock_timestamp()::text);
                refreshed := refreshed || view_name;
            END LOOP;
            RETURN refreshed;
        END;
        $$
        """
    )
    if full:
        # Materialise what the database already holds (an upgraded or imported database),
        # then add the policies: a policy job starting at once would collide with this refresh.
        with op.get_context().autocommit_block():
            for name in AGGREGATES:
                op.execute(f"CALL refresh_continuous_aggregate('{name}', NULL, NULL)")
        for name in AGGREGATES:
            op.execute(
                f"SELECT add_continuous_aggregate_policy('{name}', {POLICY}, if_not_exists => true)"
            )
    else:
        op.execute("SELECT arc_refresh_fallback_aggregates()")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS arc_refresh_fallback_aggregates()")
    for name in reversed(list(AGGREGATES)):
        # Dropping a continuous aggregate also removes its refresh policy.
        op.execute(f"DROP MATERIALIZED VIEW IF EXISTS {name} CASCADE")
