"""Health statuses, thresholds, and the results a check and a run report."""

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

HEALTHY = "healthy"
DEGRADED = "degraded"
UNHEALTHY = "unhealthy"
_RANK = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}
EXIT_CODES = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}


def worst(statuses: list[str]) -> str:
    return max(statuses, key=lambda s: _RANK[s], default=HEALTHY)


@dataclass(frozen=True)
class HealthThresholds:
    """When a figure turns a check degraded or unhealthy. All configurable."""

    min_write_rows_per_second: float = 50.0  # seed 002 §9C: below 50 rows/s is degraded
    max_write_batch_ms: float = 10_000.0  # a 100-row batch slower than this is unhealthy
    pool_utilisation_degraded: float = 0.8  # share of pool_size + max_overflow checked out
    pool_acquire_timeout: float = 2.0  # seconds; no connection by then = exhausted
    job_consecutive_failures_unhealthy: int = 3  # a failing job is degraded, 3 in a row worse
    aggregate_lag_degraded: timedelta = timedelta(hours=3)  # policy runs every 30 min
    aggregate_lag_unhealthy: timedelta = timedelta(hours=25)
    replica_lag_degraded_s: float = 30.0  # dashboards behind by more than this
    replica_lag_unhealthy_s: float = 300.0
    check_timeout: float = 15.0  # seconds per check


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str
    reasons: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "reasons": list(self.reasons),
            "details": self.details,
            "duration_ms": round(self.duration_ms, 2),
        }


@dataclass(frozen=True)
class HealthReport:
    status: str
    checked_at: datetime
    edition: str
    checks: tuple[CheckResult, ...]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    @property
    def reasons(self) -> list[str]:
        return [f"{c.name}: {r}" for c in self.checks for r in c.reasons]

    def check(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checked_at": self.checked_at.isoformat(),
            "edition": self.edition,
            "reasons": self.reasons,
            "checks": [c.as_dict() for c in self.checks],
        }


class Collector:
    """Accumulates one check's status, reasons and details, and times it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.status = HEALTHY
        self.reasons: list[str] = []
        self.details: dict[str, Any] = {}
        self._started = time.perf_counter()

    def flag(self, status: str, reason: str) -> None:
        self.status = worst([self.status, status])
        self.reasons.append(reason)

    def result(self) -> CheckResult:
        return CheckResult(
            self.name,
            self.status,
            tuple(self.reasons),
            self.details,
            (time.perf_counter() - self._started) * 1000,
        )


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def ago(lag: timedelta) -> str:
    seconds = int(lag.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}min"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
