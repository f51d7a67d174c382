"""/metrics: the database-side figures in the Prometheus text format.

Read at scrape time, at most once per `ttl` seconds and one collection at a time, so a
scrape storm (many Prometheus replicas, a dashboard refreshing) costs the database one
collection per ttl. A collection is the health checker without its write probe (shared with
/readyz) plus database_figures(); it is bounded by the ready timeout, and a database that
cannot be read is reported (`arc_db_database_up 0`, health unhealthy), never a 500.

The client-side figures (ingest errors, retries, the circuit breaker, the pool) belong to the
processes that own an ArcDBClient: they export them with ArcPrometheusExporter.update_client.
"""

import asyncio
import time

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from arc.database.core.logging import redact_text
from arc.database.ops.prometheus import ArcPrometheusExporter, DatabaseFigures, database_figures
from arc.database.service.health import HealthSampler, timed_out

log = structlog.get_logger("arc.database.service")


class DatabaseMetrics:
    """The exporter, refreshed from the database when its figures are older than `ttl`."""

    def __init__(
        self,
        exporter: ArcPrometheusExporter,
        engine: AsyncEngine,
        sampler: HealthSampler,
        *,
        ttl: float,
        timeout: float,
    ) -> None:
        self.exporter = exporter
        self.engine = engine
        self.sampler = sampler
        self.ttl = ttl
        self.timeout = timeout
        self._lock = asyncio.Lock()
        self._collected: float | None = None

    async def render(self) -> bytes:
        async with self._lock:
            if self._collected is None or time.monotonic() - self._collected >= self.ttl:
                await self._collect()
                self._collected = time.monotonic()
        return self.exporter.render()

    async def _collect(self) -> None:
        deadline = time.monotonic() + self.timeout
        try:
            report = await asyncio.wait_for(self.sampler.report(self.ttl), self.timeout)
        except TimeoutError:
            report = timed_out(self.timeout)
        self.exporter.update_health(report)
        figures: DatabaseFigures | None = None
        try:
            remaining = max(0.1, deadline - time.monotonic())
            figures = await asyncio.wait_for(database_figures(self.engine), remaining)
        except Exception as exc:  # a scrape reports the database down, never fails
            log.warning(
                "service.database_unreadable",
                error=redact_text(f"{type(exc).__name__}: {exc}")[:300],
            )
        self.exporter.update_database(figures)


def routes(metrics: DatabaseMetrics) -> list[Route]:
    async def scrape(_: Request) -> Response:
        body = await metrics.render()
        return Response(body, media_type=metrics.exporter.content_type)

    return [Route("/metrics", scrape, methods=["GET"])]
