"""Analytics: dashboard panels, similarity search, embeddings and failure clustering.

The panels (`ArcAnalytics`) are grouped by what they read: `aggregate_panels` (the hourly and
daily aggregates), `simulation_panels` (tables with no aggregate), `recommendation_panels`;
`sources` decides once per server whether to read an aggregate or its raw equivalent.

Freshness contract
------------------
Every method answers from one of two sources, chosen per server (`source="auto"`):

* Full edition (continuous aggregates present): the aggregates `simulation_performance_hourly`,
  `failure_trends_daily` and `tool_performance_daily`. They are real-time aggregates
  (`materialized_only = false`): buckets after the aggregate's watermark are computed from the
  hypertable at query time, so a row committed a moment ago is in the next answer. The refresh
  policy (every 30 minutes, window now-7 days .. now-1 hour) materialises older buckets and
  folds in late rows up to 7 days old. A row written or changed further back than that
  (a backfill, an import, a re-clustered failure pattern) is visible once that range is
  refreshed: `arc-db maintain --refresh-since ...` or `maintenance.refresh_aggregates(...)`.
* Apache edition: the plain fallback materialized views are only as fresh as the last
  `SELECT arc_refresh_fallback_aggregates()`, so analytics does not read them; it runs the
  aggregate's own `time_bucket` query on the raw hypertables instead, restricted to the
  requested window: always fresh, same columns, same numbers.

Both paths then apply the same outer query (roll-ups, joins), so they return the same results
for the same rows (up to float rounding). Windows are `[start, end)` widened to whole buckets:
an hourly answer covers every hour the window touches, a daily one every UTC day.
Active simulations, pending recommendations, scenario trends and per-scenario error rates have
no aggregate in the schema and always read the tables (indexed, small windows).
"""

from arc.database.analytics.aggregate_panels import (
    ConfigPerformance,
    CostBreakdown,
    DailyPerformance,
    FailureTrend,
    HourlyMetrics,
    PerformanceSummary,
    SimulationPerformance,
    ToolPerformance,
)
from arc.database.analytics.dashboard import ArcAnalytics, Dashboard
from arc.database.analytics.recommendation_panels import PendingRecommendation
from arc.database.analytics.simulation_panels import (
    ActiveSimulation,
    RecentFailure,
    ScenarioErrorRate,
    ScenarioTrend,
)
from arc.database.analytics.sources import AGGREGATES, Source
from arc.database.analytics.windows import ceil_time, floor_time

__all__ = [
    "AGGREGATES",
    "ActiveSimulation",
    "ArcAnalytics",
    "ConfigPerformance",
    "CostBreakdown",
    "DailyPerformance",
    "Dashboard",
    "FailureTrend",
    "HourlyMetrics",
    "PendingRecommendation",
    "PerformanceSummary",
    "RecentFailure",
    "ScenarioErrorRate",
    "ScenarioTrend",
    "SimulationPerformance",
    "Source",
    "ToolPerformance",
    "ceil_time",
    "floor_time",
]
