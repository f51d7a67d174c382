"""Comparison statistics: sufficient statistics of outcomes, real-time on both editions.

Three aggregates of the same statistics block, at three grains:

- `outcome_stats_hourly`          (hour, config_version_id, simulation_id, scenario_id)
- `version_scenario_stats_daily`  (day, config_version_id, scenario_id)
- `version_stats_daily`           (day, config_version_id)

config_version_id comes from a join to simulations (it never changes for a simulation, so it
is functionally dependent on simulation_id and adds no rows). The statistics per cell:
`n`; `success_n`, `error_n`, `timeout_n`; for reliability_score, execution_time_ms and cost_usd
the sum (`sum_*`) and the sum of squared deviations from the cell's mean (`ss_*` =
var_pop * n, computed by PostgreSQL's numerically stable float8 accumulator); `sum_tokens`;
min and max execution time; and, except at the version x scenario grain (read by every version
comparison, kept narrow), `latency_hist`, a fixed log-scale histogram of execution_time_ms: `histogram(ln(max(ms, 1)), 0, ln(1e7), 70)`, i.e. 10 buckets per decade from
1 ms to 10^7 ms plus an underflow and an overflow slot (72 counts). Cells combine exactly:
means from sums, and SS_total = sum(ss_i) + sum(n_i * (mean_i - mean)^2) without the
cancellation that raw sums of squares suffer.

Full edition: continuous aggregates, real-time (materialized_only = false), refresh policy
every 30 minutes over [now - 7 days, now - 1 hour]. Apache edition: plain materialized views
with the same names and columns, holding only buckets that had ended when they were refreshed
(`WHERE execution_time < time_bucket(width, now())`), refreshed by
arc_refresh_fallback_aggregates(), which stamps the refresh time into the view's comment.

Readers use the views `v_outcome_stats_hourly`, `v_version_scenario_stats_daily` and
`v_version_stats_daily`, which are the same on both editions:
- real-time: on the Apache edition a view is the materialized buckets before the refresh
  stamp's bucket plus the same aggregation over the raw rows from there on (what TimescaleDB's
  real-time aggregation does for a continuous aggregate); raw outcomes are never scanned for
  materialized buckets;
- tenant-safe: rows are limited to the configuration versions the caller may read
  (`arc_visible_version_ids()` runs as the invoker, so row-level security on config_versions
  decides). Tenant roles get SELECT on the views, never on the aggregates themselves.

`arc_latency_quantile(counts, q)` reads a quantile off a (summed) histogram: the geometric
midpoint of the bucket holding the nearest-rank quantile, within a factor of 10^(1/20) (12.2%)
of the exact percentile_disc. `v_config_pareto`: every configuration version over the last 30
days with mean reliability, cost per execution and p95 latency, whether it is on the Pareto
frontier, and the versions that dominate it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

import math
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LATENCY_BUCKETS = 70
LATENCY_LN_MAX = math.log(1e7)  # 10^7 ms; ln(1 ms) = 0 is the lower edge

STATISTICS = """
    count(*) AS n,
    sum(CASE WHEN o.status = 'success' THEN 1 ELSE 0 END) AS success_n,
    sum(CASE WHEN o.status = 'error' THEN 1 ELSE 0 END) AS error_n,
    sum(CASE WHEN o.status = 'timeout' THEN 1 ELSE 0 END) AS timeout_n,
    sum(o.reliability_score::float8) AS sum_reliability,
    var_pop(o.reliability_score::float8) * count(*) AS ss_reliability,
    sum(o.execution_time_ms::float8) AS sum_time_ms,
    var_pop(o.execution_time_ms::float8) * count(*) AS ss_time_ms,
    min(o.execution_time_ms::float8) AS min_time_ms,
    max(o.execution_time_ms::float8) AS max_time_ms,
    sum(o.cost_usd::float8) AS sum_cost,
    var_pop(o.cost_usd::float8) * count(*) AS ss_cost,
    sum(o.tokens_used::bigint) AS sum_tokens"""
LATENCY_HISTOGRAM = f"""histogram(ln(greatest(o.execution_time_ms, 1)::float8), 0.0,
              {LATENCY_LN_MAX!r}, {LATENCY_BUCKETS}) AS latency_hist"""

# name -> (bucket width, bucket column, key columns (select list), key column names,
#          with the latency histogram). The version x scenario grain, read by every version
# comparison, leaves the histogram out: it would make each row 2.5 times wider.
AGGREGATES: dict[str, tuple[str, str, str, str, bool]] = {
    "outcome_stats_hourly": (
        "1 hour",
        "hour",
        "s.config_version_id, o.simulation_id, o.scenario_id",
        "config_version_id, simulation_id, scenario_id",
        True,
    ),
    "version_scenario_stats_daily": (
        "1 day",
        "day",
        "s.config_version_id, o.scenario_id",
        "config_version_id, scenario_id",
        False,
    ),
    "version_stats_daily": ("1 day", "day", "s.config_version_id", "config_version_id", True),
}
POLICY = (
    "start_offset => INTERVAL '7 days', end_offset => INTERVAL '1 hour', "
    "schedule_interval => INTERVAL '30 minutes'"
)
ROLES = ("app_user", "app_admin", "app_readonly")
FALLBACK_VIEWS_0004 = (
    "simulation_performance_hourly",
    "failure_trends_daily",
    "tool_performance_daily",
)


def _query(name: str, where: str = "") -> str:
    width, bucket, keys, _, histogram = AGGREGATES[name]
    n_keys = len(keys.split(","))
    group = ", ".join(str(i) for i in range(1, n_keys + 2))
    columns = f"{STATISTICS},\n    {LATENCY_HISTOGRAM}" if histogram else STATISTICS
    return f"""
        SELECT time_bucket(INTERVAL '{width}', o.execution_time) AS {bucket}, {keys},
        {columns}
        FROM outcomes o
        JOIN simulations s ON s.simulation_id = o.simulation_id
        {where}
        GROUP BY {group}
    """


def _refresh_function(views: Sequence[str], stamp: str = "now()") -> str:
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
                -- now() is the time the views' own now() saw: the watermark of the refresh.
                EXECUTE format('COMMENT ON MATERIALIZED VIEW %I IS %L', view_name,
                               'arc:refreshed_at=' || {stamp}::text);
                refreshed := refreshed || view_name;
            END LOOP;
            RETURN refreshed;
        END;
        $$
    """


FUNCTIONS = [
    """
CREATE OR REPLACE FUNCTION arc_visible_version_ids() RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY INVOKER AS $$
BEGIN
    -- plpgsql is never inlined: this runs as the caller, so row-level security on
    -- config_versions decides what a tenant role sees (the owner and app_admin see all).
    RETURN QUERY SELECT cv.version_id FROM public.config_versions cv;
END;
$$
""",
    """
CREATE OR REPLACE FUNCTION arc_fallback_watermark(view_name text, width interval)
RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    -- The first bucket a fallback view does not hold: the bucket of its last refresh.
    SELECT COALESCE(
        (SELECT time_bucket(width, substring(
                    obj_description(c.oid, 'pg_class') FROM 'arc:refreshed_at=(.*)$')::timestamptz)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_matviews m ON m.schemaname = n.nspname AND m.matviewname = c.relname
         WHERE n.nspname = 'public' AND c.relname = view_name AND m.ispopulated),
        '-infinity'::timestamptz)
$$
""",
    f"""
CREATE OR REPLACE FUNCTION arc_latency_quantile(counts bigint[], q double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT AS $$
    -- Nearest rank: the first bucket whose cumulative count reaches ceil(q * total).
    WITH c AS (
        SELECT i, sum(x) OVER (ORDER BY i) AS cum, sum(x) OVER () AS total
        FROM unnest(counts) WITH ORDINALITY AS u(x, i)
    )
    SELECT CASE
               WHEN i = 1 THEN 1.0
               WHEN i = {LATENCY_BUCKETS + 2} THEN exp({LATENCY_LN_MAX!r})
               ELSE exp((i - 1.5) * {LATENCY_LN_MAX!r} / {LATENCY_BUCKETS})
           END
    FROM c
    WHERE total > 0 AND q >= 0 AND q <= 1 AND cum >= GREATEST(1, ceil(q * total - 1e-9))
    ORDER BY i
    LIMIT 1
$$
""",
]

PARETO = """
CREATE OR REPLACE VIEW v_config_pareto WITH (security_invoker = true) AS
WITH window_rows AS (
    SELECT * FROM v_version_stats_daily
    WHERE day >= time_bucket(INTERVAL '1 day', now() - INTERVAL '30 days')
),
versions AS (
    SELECT config_version_id, sum(n)::bigint AS executions,
           sum(sum_reliability) / sum(n) AS mean_reliability,
           sum(sum_cost) / sum(n) AS cost_per_execution
    FROM window_rows GROUP BY config_version_id
),
latency AS (
    SELECT config_version_id, array_agg(total ORDER BY i) AS hist
    FROM (
        SELECT w.config_version_id, u.i, sum(u.x)::bigint AS total
        FROM window_rows w, unnest(w.latency_hist) WITH ORDINALITY AS u(x, i)
        GROUP BY 1, 2
    ) per_bucket
    GROUP BY config_version_id
),
points AS (
    SELECT v.*, arc_latency_quantile(l.hist, 0.95) AS p95_latency_ms
    FROM versions v JOIN latency l USING (config_version_id)
)
SELECT p.config_version_id, cv.config_id, c.name AS config_name, cv.version_number,
       cv.parsed_config ->> 'model' AS model, p.executions, p.mean_reliability,
       p.cost_per_execution, p.p95_latency_ms,
       NOT EXISTS (
           SELECT 1 FROM points d
           WHERE d.mean_reliability >= p.mean_reliability
             AND d.cost_per_execution <= p.cost_per_execution
             AND d.p95_latency_ms <= p.p95_latency_ms
             AND (d.mean_reliability > p.mean_reliability
                  OR d.cost_per_execution < p.cost_per_execution
                  OR d.p95_latency_ms < p.p95_latency_ms)
       ) AS on_frontier,
       ARRAY(
           SELECT d.config_version_id FROM points d
           WHERE d.mean_reliability >= p.mean_reliability
             AND d.cost_per_execution <= p.cost_per_execution
             AND d.p95_latency_ms <= p.p95_latency_ms
             AND (d.mean_reliability > p.mean_reliability
                  OR d.cost_per_execution < p.cost_per_execution
                  OR d.p95_latency_ms < p.p95_latency_ms)
           ORDER BY d.config_version_id
       ) AS dominated_by
FROM points p
JOIN config_versions cv ON cv.version_id = p.config_version_id
JOIN configurations c ON c.config_id = cv.config_id
"""


def _full_edition() -> bool:
    license_ = op.get_bind().execute(text("SELECT current_setting('timescaledb.license', true)"))
    return license_.scalar() == "timescale"


def _view(name: str, full: bool) -> str:
    width, bucket, _, _, _ = AGGREGATES[name]
    visible = "config_version_id IN (SELECT arc_visible_version_ids())"
    if full:
        body = f"SELECT * FROM {name} WHERE {visible}"
    else:
        # A scalar subquery: evaluated once per query, usable for index and chunk exclusion.
        mark = f"(SELECT arc_fallback_watermark('{name}', INTERVAL '{width}'))"
        raw = _query(name, f"WHERE o.execution_time >= {mark}")
        body = (
            f"SELECT * FROM (SELECT * FROM {name} WHERE {bucket} < {mark} "
            f"UNION ALL {raw}) realtime WHERE {visible}"
        )
    return f"CREATE OR REPLACE VIEW v_{name} WITH (security_barrier = true) AS {body}"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    full = _full_edition()
    for name, (width, bucket, _, key_names, _) in AGGREGATES.items():
        if full:
            op.execute(
                f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name} "
                "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS "
                f"{_query(name)} WITH NO DATA"
            )
        else:
            ended = f"WHERE o.execution_time < time_bucket(INTERVAL '{width}', now())"
            op.execute(
                f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name} AS {_query(name, ended)} "
                "WITH NO DATA"
            )
            op.execute(
                f"CREATE UNIQUE INDEX IF NOT EXISTS {name}_key ON {name} ({bucket}, {key_names})"
            )
            op.execute(
                f"CREATE INDEX IF NOT EXISTS {name}_version ON {name} "
                f"(config_version_id, {bucket} DESC)"
            )
    for function in FUNCTIONS:
        op.execute(function)
    op.execute(_refresh_function((*FALLBACK_VIEWS_0004, *AGGREGATES)))
    for name in AGGREGATES:
        op.execute(_view(name, full))
    op.execute(PARETO)
    views = ", ".join(f"v_{name}" for name in AGGREGATES)
    op.execute(f"GRANT SELECT ON {views}, v_config_pareto TO {', '.join(ROLES)}")
    op.execute(f"GRANT SELECT ON {', '.join(AGGREGATES)} TO app_admin")
    if full:
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
    op.execute("DROP VIEW IF EXISTS v_config_pareto")
    for name in reversed(list(AGGREGATES)):
        op.execute(f"DROP VIEW IF EXISTS v_{name}")
    op.execute(_refresh_function(FALLBACK_VIEWS_0004, stamp="clock_timestamp()"))
    op.execute("DROP FUNCTION IF EXISTS arc_latency_quantile(bigint[], double precision)")
    op.execute("DROP FUNCTION IF EXISTS arc_fallback_watermark(text, interval)")
    op.execute("DROP FUNCTION IF EXISTS arc_visible_version_ids()")
    for name in reversed(list(AGGREGATES)):
        # Dropping a continuous aggregate also removes its refresh policy.
        op.execute(f"DROP MATERIALIZED VIEW IF EXISTS {name} CASCADE")
