"""create_app(settings): the Starlette application of `arc-db serve`.

The engines are made here (no connection is opened until a request needs one) and disposed
when the application shuts down, after the in-flight requests have finished. Reads for
/readyz and /metrics use the primary; with ARC_DB_READ_URL the replica is checked too.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from starlette.applications import Starlette

from arc.database.core.engine import engine_from_settings, read_engine_from_settings
from arc.database.ops.health import DatabaseHealthChecker, HealthThresholds
from arc.database.ops.prometheus import ArcPrometheusExporter
from arc.database.otel import OtlpReceiver
from arc.database.otel import endpoint as otlp
from arc.database.service import health, metrics
from arc.database.service.settings import ServiceSettings

log = structlog.get_logger("arc.database.service")


def create_app(settings: ServiceSettings) -> Starlette:
    engine = engine_from_settings(settings.database)
    read_engine = read_engine_from_settings(settings.database)
    thresholds = HealthThresholds(
        check_timeout=settings.ready_timeout,
        pool_acquire_timeout=min(HealthThresholds.pool_acquire_timeout, settings.ready_timeout),
    )
    checker = DatabaseHealthChecker(engine, thresholds=thresholds, read_engine=read_engine)
    sampler = health.HealthSampler(checker)
    database_metrics = metrics.DatabaseMetrics(
        ArcPrometheusExporter(),
        engine,
        sampler,
        ttl=settings.metrics_ttl,
        timeout=settings.ready_timeout,
    )
    receiver = OtlpReceiver.from_database(settings.database)  # POST /v1/traces (docs/otel.md)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        log.info(
            "service.started",
            database=settings.database.redacted_url,
            replica=bool(read_engine),
        )
        await receiver.start()
        try:
            yield
        finally:
            await receiver.close()  # writes the traces still buffered
            await engine.dispose()
            if read_engine is not None:
                await read_engine.dispose()
            log.info("service.stopped", engines_disposed=True)

    return Starlette(
        routes=[
            *health.routes(sampler, settings.ready_timeout),
            *metrics.routes(database_metrics),
            *otlp.routes(receiver),
        ],
        lifespan=lifespan,
    )
