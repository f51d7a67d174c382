"""Comparisons of configuration versions: scenario by scenario, with significance tests.

`VersionComparator(bind)` offers compare_versions, compare_simulations, pareto_frontier and
change_effects, read from the statistics views of migration 0007. `statistics` holds the tests
(scipy, behind the `analysis` extra), `evaluation` turns statistics into verdicts, `render`
prints them for people, `panels` (ComparisonPanels) shapes them for a dashboard, and
`freshness` brings the statistics up to date before the CI gate reads them. docs/comparison.md
has the whole contract.
"""

from arc.database.comparison.comparator import VersionComparator
from arc.database.comparison.effects import ChangeEffects
from arc.database.comparison.metrics import METRICS, Metric
from arc.database.comparison.panels import ComparisonBoard, ComparisonPanels
from arc.database.comparison.results import (
    ChangeComparison,
    ChangeEffect,
    Comparison,
    ComparisonSummary,
    ParetoPoint,
    ScenarioComparison,
    SideStats,
    Subject,
)

__all__ = [
    "METRICS",
    "ChangeComparison",
    "ChangeEffect",
    "ChangeEffects",
    "Comparison",
    "ComparisonBoard",
    "ComparisonPanels",
    "ComparisonSummary",
    "Metric",
    "ParetoPoint",
    "ScenarioComparison",
    "SideStats",
    "Subject",
    "VersionComparator",
]
