"""Index budget and dashboards at 10M outcomes (issue 10).

1. The index budget: every index of outcomes, tool_usage and failure_patterns earns its place
   with a query that uses it; the others go (docs/decisions.md P1-P9, measured by
   `python -m bench ingest --index-budget`: COPY into a twin hypertable with the primary key
   only, then with each index, same run). Dropped, with no query of the code using them:

   - outcomes: the three GIN indexes (trajectory, metrics, execution_metadata: no containment
     query anywhere), idx_outcomes_scenario_time and idx_outcomes_performance_analysis
     (per-scenario reads go to the statistics aggregates), idx_outcomes_simulation_status
     (idx_outcomes_simulation_time has the same leading column), idx_outcomes_active_failures
     (failures are read newest first through idx_outcomes_time_status) and
     idx_outcomes_modal_call (no lookup by Modal call). The bound that index put on
     modal_call_id (a btree entry holds 2,704 bytes: 500 characters) becomes a CHECK, so
     validation accepts exactly what it did (adding it reads the stored rows once).
   - tool_usage: idx_tool_usage_outcome (every join goes from the usage row to its outcome,
     through the outcomes primary key) and idx_tool_usage_tool_time (the tool panels read the
     aggregates; a filter on one of a handful of tools selects too much for an index to pay).
   - failure_patterns: idx_failure_patterns_outcome (as for tool_usage) and the full-text GIN
     idx_failure_patterns_text_search (failures are searched by embedding,
     idx_error_embedding_cosine; no text-search query exists).

2. Aggregates that keep what a dashboard read aggregates from raw rows small. A real-time
   aggregate recomputes, on every read, the buckets after its watermark from the hypertable:
   with a daily bucket that is the whole current day (up to 330,000 rows at 10M outcomes a
   month), with an hourly one up to 70 minutes (16,000 rows). New:

   - `version_stats_15m` (quarter, config_version_id) and `version_scenario_stats_15m`
     (quarter, config_version_id, scenario_id): 0007's statistics block (with the latency
     histogram for the first) in 15-minute buckets, refreshed every 5 minutes up to 5 minutes
     ago: at most 25 minutes of raw rows at read time; and `version_scenario_stats_hourly`
     (hour, config_version_id, scenario_id), read materialized only, which spares the
     per-scenario view 96 quarter-hour cells a key at the end of a day. They serve the days
     the daily aggregates have not materialized yet (normally today); no retention of their
     own (one more job each on every database, and they hold no more rows than 0007's).
   - `tool_performance_hourly` (hour, tool_name) and `failure_trends_hourly` (hour,
     failure_category, pattern_cluster_id): the sums and counts behind the tool and failure
     panels' averages (distinct clusters per day are counted over the second's rows), so those
     panels stop reading the daily aggregates of 0004 and their whole-day real-time part.

   Full edition: continuous aggregates, real-time, created WITH NO DATA in the transaction,
   refreshed in an autocommit block, with a policy every 5 minutes over
   [now - 7 days, now - 5 minutes] (HOURLY_POLICY), which simulation_performance_hourly and
   outcome_stats_hourly get too (0004/0007's, every 30 minutes up to an hour ago, left up to
   2.5 hours of raw rows to every read). Rows more than 5 minutes late for a bucket already
   materialized count after the next refresh. Apache edition: plain materialized views with
   the same names and columns and a unique index, refreshed by
   arc_refresh_fallback_aggregates() (analytics reads the raw hypertables there, as before).
   Like every aggregate since 0009 they mix tenants: SELECT for app_admin, nothing for tenant
   roles, who read the v_* views.

3. Full edition: the daily statistics aggregates of 0007 (version_stats_daily,
   version_scenario_stats_daily) become materialized-only, and their views
   (v_version_stats_daily, v_version_scenario_stats_daily: same columns, same tenant filter)
   add the days after the last materialized one, rolled up from the finer aggregates (hourly
   cells up to the last materialized hour, then quarter-hour cells in real time).
   Still fresh to the last committed row; cells combine exactly as the comparison reader
   combines them (sums, and SS = sum(ss) + sum(n (mean - grand)^2)). The performance,
   cost-by-model and configuration panels, the version comparison and the Pareto frontier read
   these views. The Apache edition's views are unchanged.

4. Full edition: outcomes compress with `orderby = scenario_id, status, execution_time DESC`
   (was execution_time DESC; segmentby simulation_id unchanged): a compressed batch of one
   simulation keeps each scenario's runs together, and they share prompt, tool plan and most
   text. On the dashboard benchmark's trajectories that is 90 % saved instead of 82 %; time
   filters still skip batches by their min/max execution_time. Existing compressed chunks keep
   their settings (TimescaleDB stores them per chunk); new ones use these.

Downgrade restores 0009's state exactly: indexes as 0002 made them, the CHECK gone, the new
aggregates dropped, 0007's views, real-time daily aggregates and refresh function, 0004/0007's
policies, the compression order of 0003.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

from arc.database.schema.revisions import earlier_revision

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


REV_0007 = earlier_revision("0007_comparison_stats.py")

# ------------------------------------------------------------------------------ the budget
# table -> index -> its definition (0002's), which downgrade restores.
DROPPED: dict[str, dict[str, str]] = {
    "outcomes": {
        "idx_outcomes_trajectory_gin": (
            "CREATE INDEX idx_outcomes_trajectory_gin ON outcomes USING gin (trajectory)"
        ),
        "idx_outcomes_metrics_gin": (
            "CREATE INDEX idx_outcomes_metrics_gin ON outcomes USING gin (metrics) "
            "WHERE (metrics <> '{}'::jsonb)"
        ),
        "idx_outcomes_metadata_gin": (
            "CREATE INDEX idx_outcomes_metadata_gin ON outcomes USING gin (execution_metadata)"
        ),
        "idx_outcomes_scenario_time": (
            "CREATE INDEX idx_outcomes_scenario_time ON outcomes "
            "USING btree (scenario_id, execution_time DESC)"
        ),
        "idx_outcomes_performance_analysis": (
            "CREATE INDEX idx_outcomes_performance_analysis ON outcomes USING btree "
            "(scenario_id, status, reliability_score, execution_time_ms, cost_usd)"
        ),
        "idx_outcomes_simulation_status": (
            "CREATE INDEX idx_outcomes_simulation_status ON outcomes "
            "USING btree (simulation_id, status)"
        ),
        "idx_outcomes_active_failures": (
            "CREATE INDEX idx_outcomes_active_failures ON outcomes USING btree "
            "(outcome_id, scenario_id, reliability_score) WHERE (status = 'error'::text)"
        ),
        "idx_outcomes_modal_call": (
            "CREATE INDEX idx_outcomes_modal_call ON outcomes USING btree (modal_call_id) "
            "WHERE (modal_call_id IS NOT NULL)"
        ),
    },
    "tool_usage": {
        "idx_tool_usage_outcome": (
            "CREATE INDEX idx_tool_usage_outcome ON tool_usage USING btree (outcome_id)"
        ),
        "idx_tool_usage_tool_time": (
            "CREATE INDEX idx_tool_usage_tool_time ON tool_usage "
            "USING btree (tool_name, execution_time DESC)"
        ),
    },
    "failure_patterns": {
        "idx_failure_patterns_outcome": (
            "CREATE INDEX idx_failure_patterns_outcome ON failure_patterns USING btree (outcome_id)"
        ),
        "idx_failure_patterns_text_search": (
            "CREATE INDEX idx_failure_patterns_text_search ON failure_patterns USING gin "
            "(to_tsvector('english'::regconfig, "
            "((failure_type || ' '::text) || COALESCE(error_message, ''::text))))"
        ),
    },
}
# table -> index -> definition: indexes this revision adds (none: nothing cheaper was needed).
CREATED: dict[str, dict[str, str]] = {}
# Compression of outcomes (full edition): a simulation's rows (segmentby, unchanged) sorted by
# scenario and status before time, so that a 1,000-row batch holds the runs of each scenario
# next to each other: they share prompt, plan and most of their text, which the compressor then
# finds within its window (docs/decisions.md). Chunks compressed before keep their settings.
COMPRESS_ORDERBY = "scenario_id, status, execution_time DESC"
COMPRESS_ORDERBY_0003 = "execution_time DESC"
# The bound idx_outcomes_modal_call put on modal_call_id, kept as a CHECK.
MODAL_CALL_CHECK = "outcomes_modal_call_id_length_check"
MODAL_CALL_CHARS = 500

# ------------------------------------------------------------------------------ aggregates
# Hourly aggregates refresh every 5 minutes up to 5 minutes ago (TimescaleDB never materializes
# the current, incomplete bucket): what a read aggregates from raw rows is at most the current
# hour plus 10 minutes, and rows up to 5 minutes late are still read in real time; a row later
# than that counts once the next refresh (5 minutes on) has run. 0004/0007's policy (every 30
# minutes up to an hour ago) left up to 2.5 hours to aggregate at read time.
HOURLY_POLICY = (
    "start_offset => INTERVAL '7 days', end_offset => INTERVAL '5 minutes', "
    "schedule_interval => INTERVAL '5 minutes'"
)
# The quarter-hour aggregates get the same policy: at most 25 minutes of raw rows at read time.
# The existing hourly aggregates the dashboards read get the hourly policy.
REPOLICIED = ("simulation_performance_hourly", "outcome_stats_hourly")


def _statistics(width: str, bucket: str, keys: str, histogram: bool) -> str:
    """0007's statistics block per (bucket, keys...), from outcomes joined to simulations."""
    columns = REV_0007.STATISTICS
    if histogram:
        columns += f",\n        {REV_0007.LATENCY_HISTOGRAM}"
    n_keys = len(keys.split(","))
    return f"""
        SELECT time_bucket(INTERVAL '{width}', o.execution_time) AS {bucket}, {keys},
        {columns}
        FROM outcomes o
        JOIN simulations s ON s.simulation_id = o.simulation_id
        GROUP BY {", ".join(str(i) for i in range(1, n_keys + 2))}
        """


# Read materialized only: the hours between the daily aggregate's last day and the
# quarter-hour aggregate's real-time tail (see ROLLED_UP).
MATERIALIZED_ONLY = ("version_scenario_stats_hourly",)
# name -> (query, unique key of the fallback view)
AGGREGATES: dict[str, tuple[str, str]] = {
    "version_stats_15m": (
        _statistics("15 minutes", "quarter", "s.config_version_id", True),
        "(quarter, config_version_id)",
    ),
    "version_scenario_stats_15m": (
        _statistics("15 minutes", "quarter", "s.config_version_id, o.scenario_id", False),
        "(quarter, config_version_id, scenario_id)",
    ),
    "version_scenario_stats_hourly": (
        _statistics("1 hour", "hour", "s.config_version_id, o.scenario_id", False),
        "(hour, config_version_id, scenario_id)",
    ),
    "tool_performance_hourly": (
        """
        SELECT time_bucket(INTERVAL '1 hour', execution_time) AS hour, tool_name,
               count(*) AS usage_count,
               sum(success_rate::float8) AS sum_success_rate,
               sum(avg_duration_ms::float8) AS sum_duration_ms,
               sum(total_cost_usd::float8) AS total_cost
        FROM tool_usage
        GROUP BY 1, 2
        """,
        "(hour, tool_name)",
    ),
    "failure_trends_hourly": (
        """
        SELECT time_bucket(INTERVAL '1 hour', execution_time) AS hour, failure_category,
               pattern_cluster_id,
               count(*) AS failure_count,
               sum(cluster_confidence::float8) AS sum_confidence,
               count(cluster_confidence) AS confidence_n
        FROM failure_patterns
        GROUP BY 1, 2, 3
        """,
        # pattern_cluster_id may be NULL (not clustered yet): one such row per hour and category
        "(hour, failure_category, pattern_cluster_id) NULLS NOT DISTINCT",
    ),
}
ALL_FALLBACK_VIEWS = (*REV_0007.FALLBACK_VIEWS_0004, *REV_0007.AGGREGATES, *AGGREGATES)

# The daily statistics aggregates whose views add the days after the last materialized one,
# rolled up from finer aggregates: daily -> (sources coarse to fine as (aggregate, bucket column,
# bucket width), key columns, with the histogram). Each source covers the time from the end of
# the previous one's materialized buckets on; all but the last are read materialized only, the
# last one in real time. Per key that is at most 25 hourly and a handful of quarter-hour cells
# plus 25 minutes of raw rows, whatever the time of day.
ROLLED_UP: dict[str, tuple[tuple[tuple[str, str, str], ...], tuple[str, ...], bool]] = {
    "version_stats_daily": (
        (("version_stats_15m", "quarter", "15 minutes"),),
        ("config_version_id",),
        True,
    ),
    "version_scenario_stats_daily": (
        (
            ("version_scenario_stats_hourly", "hour", "1 hour"),
            ("version_scenario_stats_15m", "quarter", "15 minutes"),
        ),
        ("config_version_id", "scenario_id"),
        False,
    ),
}
MEASURES = ("reliability", "time_ms", "cost")
HISTOGRAM_SLOTS = REV_0007.LATENCY_BUCKETS + 2


def _rolled_up(daily: str) -> str:
    """Days after the last materialized one, from the finer aggregates, with the daily
    aggregate's columns: sums add up, SS combine exactly."""
    sources, keys, histogram = ROLLED_UP[daily]
    key = ", ".join(keys)
    stats = (
        "n, success_n, error_n, timeout_n, sum_reliability, ss_reliability, sum_time_ms, "
        "ss_time_ms, min_time_ms, max_time_ms, sum_cost, ss_cost, sum_tokens"
        + (", latency_hist" if histogram else "")
    )
    mark = (
        f"(SELECT COALESCE(max(d.day) + INTERVAL '1 day', '-infinity'::timestamptz) "
        f"FROM public.{daily} d)"
    )
    branches = []
    for i, (source, bucket, width) in enumerate(sources):
        bounds = [f"{bucket} >= {mark}"]
        if i + 1 < len(sources):  # read materialized only; the next source starts after it
            following = (
                f"(SELECT GREATEST({mark}, COALESCE(max(c.{bucket}) + INTERVAL '{width}', "
                f"'-infinity'::timestamptz)) FROM public.{source} c)"
            )
            bounds.append(f"{bucket} < {following}")
        else:
            bounds = [f"{bucket} >= {mark}"] + [
                f"{bucket} >= (SELECT GREATEST({mark}, COALESCE(max(c.{b}) + INTERVAL '{w}', "
                f"'-infinity'::timestamptz)) FROM public.{s} c)"
                for s, b, w in sources[:i]
            ]
        # OFFSET 0 keeps the readers' filters out of an aggregate's real-time part: there,
        # pushed down as expressions of execution_time, they made the planner expect one row
        # and join the rows to simulations one by one.
        branches.append(
            f"(SELECT {bucket} AS at, {key}, {stats} FROM public.{source} "
            f"WHERE {' AND '.join(bounds)} OFFSET 0)"
        )
    grand = ",\n".join(f"sum(h.sum_{m}) OVER w / sum(h.n) OVER w AS grand_{m}" for m in MEASURES)
    combined = []
    for m in MEASURES:
        combined.append(f"sum(sum_{m}) AS sum_{m}")
        combined.append(f"sum(ss_{m} + n * (sum_{m} / n - grand_{m}) ^ 2) AS ss_{m}")
        if m == "time_ms":
            combined += ["min(min_time_ms) AS min_time_ms", "max(max_time_ms) AS max_time_ms"]
    columns = ",\n".join(
        [
            "sum(n)::bigint AS n",
            "sum(success_n)::bigint AS success_n",
            "sum(error_n)::bigint AS error_n",
            "sum(timeout_n)::bigint AS timeout_n",
            *combined,
            "sum(sum_tokens) AS sum_tokens",
        ]
    )
    if histogram:
        columns += f""",
        (SELECT array_agg(t.total ORDER BY t.slot)::integer[]
         FROM (SELECT (u.p - 1) % {HISTOGRAM_SLOTS} AS slot, sum(u.x)::integer AS total
               FROM unnest(array_agg(latency_hist)) WITH ORDINALITY AS u(x, p)
               GROUP BY 1) t) AS latency_hist"""
    return f"""
        SELECT day, {key},
        {columns}
        FROM (
            SELECT time_bucket(INTERVAL '1 day', h.at) AS day, h.*,
            {grand}
            FROM ({" UNION ALL ".join(branches)}) h
            WINDOW w AS (PARTITION BY time_bucket(INTERVAL '1 day', h.at), {key})
        ) cells
        GROUP BY day, {key}
    """


def _daily_view(daily: str) -> str:
    visible = "config_version_id IN (SELECT arc_visible_version_ids())"
    body = (
        f"SELECT * FROM (SELECT * FROM public.{daily} UNION ALL ({_rolled_up(daily)})) "
        f"realtime WHERE {visible}"
    )
    return f"CREATE OR REPLACE VIEW v_{daily} WITH (security_barrier = true) AS {body}"


def _alter_policy(name: str, every: str, end_offset: str) -> str:
    """Change an aggregate's refresh policy in place (alter_job: no job is removed, so none
    can be running while it is deleted)."""
    return f"""
        SELECT alter_job(j.job_id, schedule_interval => INTERVAL '{every}',
                         config => jsonb_set(j.config, '{{end_offset}}', to_jsonb('{end_offset}'::text)))
        FROM timescaledb_information.jobs j
        JOIN timescaledb_information.continuous_aggregates ca
          ON j.hypertable_name IN (ca.view_name, ca.materialization_hypertable_name)
        WHERE j.proc_name = 'policy_refresh_continuous_aggregate' AND ca.view_name = '{name}'
    """


def _full_edition() -> bool:
    license_ = op.get_bind().execute(text("SELECT current_setting('timescaledb.license', true)"))
    return license_.scalar() == "timescale"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    for indexes in DROPPED.values():
        for name in indexes:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    for indexes in CREATED.values():
        for sql in indexes.values():
            op.execute(sql)
    op.execute(
        f"ALTER TABLE outcomes ADD CONSTRAINT {MODAL_CALL_CHECK} "
        f"CHECK (length(modal_call_id) <= {MODAL_CALL_CHARS})"
    )

    full = _full_edition()
    for name, (query, key) in AGGREGATES.items():
        if full:
            only = "true" if name in MATERIALIZED_ONLY else "false"
            op.execute(
                f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name} "
                f"WITH (timescaledb.continuous, timescaledb.materialized_only = {only}) AS "
                f"{query} WITH NO DATA"
            )
        else:
            op.execute(f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name} AS {query} WITH NO DATA")
            op.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {name}_key ON {name} {key}")
    op.execute(f"GRANT SELECT ON {', '.join(AGGREGATES)} TO app_admin")
    op.execute(REV_0007._refresh_function(ALL_FALLBACK_VIEWS))
    if full:
        op.execute(
            f"ALTER TABLE outcomes SET (timescaledb.compress_orderby = '{COMPRESS_ORDERBY}')"
        )
        for daily in ROLLED_UP:
            op.execute(
                f"ALTER MATERIALIZED VIEW {daily} SET (timescaledb.materialized_only = true)"
            )
            op.execute(_daily_view(daily))
        with op.get_context().autocommit_block():
            for name in AGGREGATES:
                op.execute(f"CALL refresh_continuous_aggregate('{name}', NULL, NULL)")
        for name in AGGREGATES:
            # First run one interval on: the initial refresh above has just done its work, and
            # a job started at once could collide with a downgrade right after (the migration
            # tests walk straight back down).
            op.execute(
                f"SELECT add_continuous_aggregate_policy('{name}', {HOURLY_POLICY}, "
                "initial_start => now() + INTERVAL '5 minutes', if_not_exists => true)"
            )
        for name in REPOLICIED:
            op.execute(_alter_policy(name, "5 minutes", "00:05:00"))
    else:
        op.execute("SELECT arc_refresh_fallback_aggregates()")


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    full = _full_edition()
    if full:
        op.execute(
            f"ALTER TABLE outcomes SET (timescaledb.compress_orderby = '{COMPRESS_ORDERBY_0003}')"
        )
        for name in REPOLICIED:
            op.execute(_alter_policy(name, "30 minutes", "01:00:00"))
        for daily in ROLLED_UP:
            op.execute(REV_0007._view(daily, True))
            op.execute(
                f"ALTER MATERIALIZED VIEW {daily} SET (timescaledb.materialized_only = false)"
            )
    op.execute(REV_0007._refresh_function((*REV_0007.FALLBACK_VIEWS_0004, *REV_0007.AGGREGATES)))
    for name in reversed(list(AGGREGATES)):
        # Dropping a continuous aggregate also removes its refresh policy.
        op.execute(f"DROP MATERIALIZED VIEW IF EXISTS {name} CASCADE")
    op.execute(f"ALTER TABLE outcomes DROP CONSTRAINT IF EXISTS {MODAL_CALL_CHECK}")
    for indexes in CREATED.values():
        for name in indexes:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    for indexes in DROPPED.values():
        for sql in indexes.values():
            op.execute(sql)
