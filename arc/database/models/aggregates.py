"""The aggregates the migrations create (0004, 0007, 0010, 0012) and the hypertable each reads.

Continuous aggregates on the full edition, plain materialized views (refreshed by
arc_refresh_fallback_aggregates()) on the Apache edition; not ORM models, but part of the schema
every reader and operator refers to.
"""

from datetime import timedelta

# 0004: the dashboard aggregates.
DASHBOARD_AGGREGATES = {
    "simulation_performance_hourly": "outcomes",
    "failure_trends_daily": "failure_patterns",
    "tool_performance_daily": "tool_usage",
}
# 0007: the comparison statistics, read through their v_<name> views.
STATISTICS_AGGREGATES = {
    "outcome_stats_hourly": "outcomes",
    "version_scenario_stats_daily": "outcomes",
    "version_stats_daily": "outcomes",
}
# 0010: quarter-hour statistics (what the daily statistics views add for the days not
# materialized yet) and the hourly sums of the tool and failure panels.
RECENT_AGGREGATES = {
    "version_stats_15m": "outcomes",
    "version_scenario_stats_15m": "outcomes",
    "version_scenario_stats_hourly": "outcomes",
    "tool_performance_hourly": "tool_usage",
    "failure_trends_hourly": "failure_patterns",
}
# 0012: whole weeks of the version x scenario statistics (what a comparison reads for the weeks
# its window covers; the days around them come from the daily view).
WEEKLY_AGGREGATES = {"version_scenario_stats_weekly": "outcomes"}
AGGREGATE_SOURCES = (
    DASHBOARD_AGGREGATES | STATISTICS_AGGREGATES | RECENT_AGGREGATES | WEEKLY_AGGREGATES
)
ALL_AGGREGATES = tuple(AGGREGATE_SOURCES)
# The width of each one's time buckets (a refresh materialises whole buckets only).
BUCKET_WIDTHS: dict[str, timedelta] = {
    "simulation_performance_hourly": timedelta(hours=1),
    "failure_trends_daily": timedelta(days=1),
    "tool_performance_daily": timedelta(days=1),
    "outcome_stats_hourly": timedelta(hours=1),
    "version_scenario_stats_daily": timedelta(days=1),
    "version_stats_daily": timedelta(days=1),
    "version_stats_15m": timedelta(minutes=15),
    "version_scenario_stats_15m": timedelta(minutes=15),
    "version_scenario_stats_hourly": timedelta(hours=1),
    "tool_performance_hourly": timedelta(hours=1),
    "failure_trends_hourly": timedelta(hours=1),
    "version_scenario_stats_weekly": timedelta(days=7),
}
