"""ArcAnalytics: every panel family behind one object, and the dashboard that shows them."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from arc.database.analytics.aggregate_panels import (
    AggregatePanels,
    CostBreakdown,
    DailyPerformance,
    FailureTrend,
    ToolPerformance,
)
from arc.database.analytics.recommendation_panels import (
    PendingRecommendation,
    RecommendationPanels,
)
from arc.database.analytics.simulation_panels import ActiveSimulation, SimulationPanels
from arc.database.analytics.windows import check_moment
from arc.database.core.errors import ArcValidationError


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard shows, for one window."""

    start: datetime
    end: datetime
    source: str
    performance: tuple[DailyPerformance, ...]
    cost: tuple[CostBreakdown, ...]
    tools: tuple[ToolPerformance, ...]
    failures: tuple[FailureTrend, ...]
    active: tuple[ActiveSimulation, ...]
    recommendations: tuple[PendingRecommendation, ...]


class ArcAnalytics(AggregatePanels, SimulationPanels, RecommendationPanels):
    """Typed read queries. Each method is one read-only transaction on the engine."""

    async def dashboard(self, *, days: int = 30, end: datetime | None = None) -> Dashboard:
        """The dashboard's panels for the last `days` days."""
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3660:
            raise ArcValidationError("days", "must be an integer from 1 to 3660", value=days)
        stop = datetime.now(UTC) if end is None else check_moment(end, "end")
        start = stop - timedelta(days=days)
        return Dashboard(
            start=start,
            end=stop,
            source=await self.source(),
            performance=await self.performance_trends(start, stop),
            cost=await self.cost_breakdown(start, stop, per_day=False),
            tools=await self.tool_performance(start, stop),
            failures=await self.failure_trends(start, stop),
            active=await self.active_simulations(),
            recommendations=await self.pending_recommendations(),
        )
