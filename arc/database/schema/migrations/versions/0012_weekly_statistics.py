"""Weekly statistics cells for version comparisons (issue 8's benchmark goal).

A comparison of two versions combines one statistics cell per (version, scenario, day): 30,000
cells for two versions over 500 scenarios and 30 days, and grouping them was most of the
comparison's time (`python -m bench compare`, docs/decisions.md K34). New:

- `version_scenario_stats_weekly` (week, config_version_id, scenario_id): 0007's statistics
  block per week (time_bucket('7 days'): weeks start on Monday), computed from the outcomes
  like the daily aggregate, so every week cell is exact on its own.
  Full edition: a continuous aggregate, read materialized only, refreshed over the last 21 days
  every 30 minutes up to an hour ago (the daily policy's window and rhythm, plus the two weeks a
  late row into the daily window can touch). TimescaleDB materializes a week only once it is
  whole. Apache edition: a plain materialized view of the weeks before the current one,
  refreshed with the others by arc_refresh_fallback_aggregates().
- `v_version_scenario_stats_weekly`: the tenant view (security barrier, the versions the caller
  may read), like the daily one. The aggregate itself: SELECT for app_admin only.
- `arc_refresh_fallback_aggregate(view)`: the refresh of one fallback view with its
  `arc:refreshed_at=` stamp, which arc_refresh_fallback_aggregates() now calls per view and the
  comparison's freshness step calls for the views it reads (it carried a copy of the loop body).

The comparison reader takes the whole weeks of its window that the weekly aggregate holds for
the compared versions and the days around them from the daily view: at most 12 daily cells per
key plus one per week.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

from arc.database.schema.revisions import earlier_revision

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REV_0007 = earlier_revision("0007_comparison_stats.py")
REV_0010 = earlier_revision("0010_index_budget.py")

WEEKLY = "version_scenario_stats_weekly"
QUERY = REV_0010._statistics("7 days", "week", "s.config_version_id, o.scenario_id", False)
POLICY = (
    "start_offset => INTERVAL '21 days', end_offset => INTERVAL '1 hour', "
    "schedule_interval => INTERVAL '30 minutes'"
)
# The refresh order of the fallback views (the weekly one last: it is read after the daily).
ALL_FALLBACK_VIEWS = (*REV_0010.ALL_FALLBACK_VIEWS, WEEKLY)

REFRESH_ONE = """
CREATE OR REPLACE FUNCTION arc_refresh_fallback_aggregate(view_name text)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    -- Continuous aggregates refresh themselves (policies); only plain views here.
    IF NOT EXISTS (SELECT 1 FROM pg_matviews
                   WHERE schemaname = 'public' AND matviewname = view_name) THEN
        RETURN false;
    END IF;
    IF (SELECT ispopulated FROM pg_matviews
        WHERE schemaname = 'public' AND matviewname = view_name) THEN
        EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY public.%I', view_name);
    ELSE
        EXECUTE format('REFRESH MATERIALIZED VIEW public.%I', view_name);
    END IF;
    -- now() is the time the views' own now() saw: the watermark of the refresh.
    EXECUTE format('COMMENT ON MATERIALIZED VIEW public.%I IS %L', view_name,
                   'arc:refreshed_at=' || now()::text);
    RETURN true;
END;
$$
"""


def _refresh_all(views: Sequence[str]) -> str:
    names = ", ".join(f"'{v}'" for v in views)
    return f"""
        CREATE OR REPLACE FUNCTION arc_refresh_fallback_aggregates()
        RETURNS text[]
        LANGUAGE plpgsql AS $$
        DECLARE
            view_name text;
            refreshed text[] := ARRAY[]::text[];
        BEGIN
            FOREACH view_name IN ARRAY ARRAY[{names}] LOOP
                IF arc_refresh_fallback_aggregate(view_name) THEN
                    refreshed := refreshed || view_name;
                END IF;
            END LOOP;
            RETURN refreshed;
        END;
        $$
    """


def _full_edition() -> bool:
    license_ = op.get_bind().execute(text("SELECT current_setting('timescaledb.license', true)"))
    return license_.scalar() == "timescale"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    full = _full_edition()
    if full:
        op.execute(
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {WEEKLY} "
            "WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS "
            f"{QUERY} WITH NO DATA"
        )
    else:
        whole_weeks = QUERY.replace(
            "GROUP BY", "WHERE o.execution_time < time_bucket(INTERVAL '7 days', now())\nGROUP BY"
        )
        op.execute(f"CREATE MATERIALIZED VIEW IF NOT EXISTS {WEEKLY} AS {whole_weeks} WITH NO DATA")
        op.execute(
            f"CREATE UNIQUE INDEX IF NOT EXISTS {WEEKLY}_key "
            f"ON {WEEKLY} (week, config_version_id, scenario_id)"
        )
        op.execute(
            f"CREATE INDEX IF NOT EXISTS {WEEKLY}_version ON {WEEKLY} (config_version_id, week DESC)"
        )
    visible = "config_version_id IN (SELECT arc_visible_version_ids())"
    op.execute(
        f"CREATE OR REPLACE VIEW v_{WEEKLY} WITH (security_barrier = true) AS "
        f"SELECT * FROM public.{WEEKLY} WHERE {visible}"
    )
    op.execute(f"GRANT SELECT ON v_{WEEKLY} TO {', '.join(REV_0007.ROLES)}")
    op.execute(f"GRANT SELECT ON {WEEKLY} TO app_admin")
    op.execute(REFRESH_ONE)
    op.execute(_refresh_all(ALL_FALLBACK_VIEWS))
    if full:
        with op.get_context().autocommit_block():
            op.execute(f"CALL refresh_continuous_aggregate('{WEEKLY}', NULL, NULL)")
        # First run one interval on, as in 0010 (a downgrade right after must not meet it).
        op.execute(
            f"SELECT add_continuous_aggregate_policy('{WEEKLY}', {POLICY}, "
            "initial_start => now() + INTERVAL '30 minutes', if_not_exists => true)"
        )
    else:
        op.execute(f"SELECT arc_refresh_fallback_aggregate('{WEEKLY}')")


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.execute(REV_0007._refresh_function(REV_0010.ALL_FALLBACK_VIEWS))
    op.execute("DROP FUNCTION IF EXISTS arc_refresh_fallback_aggregate(text)")
    op.execute(f"DROP VIEW IF EXISTS v_{WEEKLY}")
    # Dropping a continuous aggregate also removes its refresh policy.
    op.execute(f"DROP MATERIALIZED VIEW IF EXISTS {WEEKLY} CASCADE")
