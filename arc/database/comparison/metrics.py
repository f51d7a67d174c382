"""The metrics a comparison can test, and which direction is better for each."""

from dataclasses import dataclass

from arc.database.core.errors import ArcValidationError


@dataclass(frozen=True)
class Metric:
    name: str
    column: str | None  # the sum_/ss_ columns of the statistics views; None for counts
    higher_is_better: bool
    unit: str

    @property
    def is_proportion(self) -> bool:
        return self.column is None

    def better(self, delta: float) -> bool:
        return delta > 0 if self.higher_is_better else delta < 0


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("reliability_score", "reliability", True, ""),
        Metric("success_rate", None, True, ""),
        Metric("execution_time_ms", "time_ms", False, "ms"),
        Metric("cost_usd", "cost", False, "USD"),
    )
}


def metric_named(name: object) -> Metric:
    if not isinstance(name, str) or name not in METRICS:
        raise ArcValidationError("metric", f"must be one of {', '.join(METRICS)}", value=name)
    return METRICS[name]
