"""/healthz and /readyz.

/healthz is liveness: the process answers; it never touches the database, so a database
outage does not get the service restarted. /readyz is the health checker without its write
probe (nothing is written, not even rolled back): 200 when healthy or degraded (degraded
still serves), 503 when unhealthy or when the checks do not finish within the ready timeout.
Probes that arrive together share one run of the checker (HealthSampler).
"""

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from arc.database.ops.health import (
    UNHEALTHY,
    CheckResult,
    DatabaseHealthChecker,
    HealthReport,
)

READY_MAX_AGE = 1.0  # seconds a report answers further probes


def json_response(body: Any, status_code: int = 200) -> Response:
    """JSON that tolerates what reports hold (datetimes, UUIDs) as strings."""
    return Response(
        json.dumps(body, default=str), status_code=status_code, media_type="application/json"
    )


def timed_out(timeout: float) -> HealthReport:
    """The report for a run of the checks that did not finish in time: unhealthy."""
    reason = f"the health checks did not finish within {timeout:g}s"
    return HealthReport(
        status=UNHEALTHY,
        checked_at=datetime.now(UTC),
        edition="unknown",
        checks=(CheckResult("checker", UNHEALTHY, (reason,)),),
    )


class HealthSampler:
    """Runs the checker one run at a time; a report younger than `max_age` is reused, so a
    burst of probes or scrapes costs the database one run."""

    def __init__(self, checker: DatabaseHealthChecker) -> None:
        self.checker = checker
        self._lock = asyncio.Lock()
        self._report: HealthReport | None = None
        self._taken = 0.0

    async def report(self, max_age: float) -> HealthReport:
        async with self._lock:
            if self._report is None or time.monotonic() - self._taken > max_age:
                self._report = await self.checker.check_all(write_probe=False)
                self._taken = time.monotonic()
            return self._report


def routes(sampler: HealthSampler, ready_timeout: float) -> list[Route]:
    async def healthz(_: Request) -> Response:
        return json_response({"status": "alive"})

    async def readyz(_: Request) -> Response:
        try:
            report = await asyncio.wait_for(sampler.report(READY_MAX_AGE), ready_timeout)
        except TimeoutError:
            report = timed_out(ready_timeout)
        return json_response(report.as_dict(), 503 if report.status == UNHEALTHY else 200)

    return [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]
