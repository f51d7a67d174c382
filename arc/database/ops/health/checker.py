"""DatabaseHealthChecker (002 §9C, 001 #8): runs the checks, each healthy / degraded / unhealthy
with reasons. Read-only except the rolled-back write probe.

The checks, one module each under `checks/`: connection_pool (first: when no connection can be
had, the others are reported as skipped), write_performance (optional), extensions,
hypertables, jobs, aggregates, and replica when a read engine is given. A check that raises or
runs past `check_timeout` is reported unhealthy with the reason; it never crashes the health
endpoint.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.core.timescale import TimescaleCapabilities
from arc.database.ops.health.checks import (
    aggregates,
    extensions,
    hypertables,
    jobs,
    pool,
    replica,
    write_performance,
)
from arc.database.ops.health.context import CheckContext
from arc.database.ops.health.report import (
    UNHEALTHY,
    CheckResult,
    HealthReport,
    HealthThresholds,
    worst,
)

log = structlog.get_logger("arc.database.ops.health")

Check = Callable[[CheckContext], Awaitable[CheckResult]]


class DatabaseHealthChecker:
    """Runs the checks on an engine; `check_<name>()` runs one of them."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        thresholds: HealthThresholds | None = None,
        capabilities: TimescaleCapabilities | None = None,
        read_engine: AsyncEngine | None = None,
    ) -> None:
        self.engine = engine
        self.thresholds = thresholds or HealthThresholds()
        self.context = CheckContext(engine, self.thresholds, capabilities, read_engine)

    def pool_stats(self) -> dict[str, Any]:
        return pool.pool_stats(self.engine)

    async def check_connection_pool(self) -> CheckResult:
        return await pool.check(self.context)

    async def check_extensions(self) -> CheckResult:
        return await extensions.check(self.context)

    async def check_write_performance(self, rows: int = 100) -> CheckResult:
        return await write_performance.check(self.context, rows)

    async def check_hypertables(self) -> CheckResult:
        return await hypertables.check(self.context)

    async def check_jobs(self) -> CheckResult:
        return await jobs.check(self.context)

    async def check_aggregates(self) -> CheckResult:
        return await aggregates.check(self.context)

    async def check_replica(self) -> CheckResult:
        return await replica.check(self.context)

    async def _timed(self, name: str, check: Check) -> CheckResult:
        started = time.perf_counter()
        reason: str
        try:
            return await asyncio.wait_for(check(self.context), self.thresholds.check_timeout)
        except TimeoutError:
            reason = f"did not finish within {self.thresholds.check_timeout:g}s"
        except Exception as exc:  # a check must report, never crash the health endpoint
            reason = f"check failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        return CheckResult(name, UNHEALTHY, (reason,), {}, (time.perf_counter() - started) * 1000)

    async def check_all(self, *, write_probe: bool = True) -> HealthReport:
        checks: list[CheckResult] = [await self._timed(pool.NAME, pool.check)]
        named: list[tuple[str, Check]] = [
            (extensions.NAME, extensions.check),
            (hypertables.NAME, hypertables.check),
            (jobs.NAME, jobs.check),
            (aggregates.NAME, aggregates.check),
        ]
        if self.context.read_engine is not None:
            named.append((replica.NAME, replica.check))
        if write_probe:
            named.insert(1, (write_performance.NAME, write_performance.check))
        blocked = checks[0].status == UNHEALTHY  # exhausted, or the server cannot be reached
        for name, check in named:
            if blocked:
                checks.append(CheckResult(name, UNHEALTHY, ("skipped: no connection available",)))
            else:
                checks.append(await self._timed(name, check))
        caps = self.context.capabilities
        edition = caps.edition if caps else "unknown"
        report = HealthReport(
            status=worst([c.status for c in checks]),
            checked_at=datetime.now(UTC),
            edition=edition,
            checks=tuple(checks),
        )
        log.info("health.checked", status=report.status, edition=edition, reasons=report.reasons)
        return report
