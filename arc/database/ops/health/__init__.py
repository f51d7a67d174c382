"""Database health: small checks (`checks/`, one module each) and one runner (`checker`)."""

from arc.database.ops.health.checker import DatabaseHealthChecker
from arc.database.ops.health.report import (
    DEGRADED,
    EXIT_CODES,
    HEALTHY,
    UNHEALTHY,
    CheckResult,
    HealthReport,
    HealthThresholds,
    worst,
)

__all__ = [
    "DEGRADED",
    "EXIT_CODES",
    "HEALTHY",
    "UNHEALTHY",
    "CheckResult",
    "DatabaseHealthChecker",
    "HealthReport",
    "HealthThresholds",
    "worst",
]
