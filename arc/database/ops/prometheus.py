"""Prometheus export of the client metrics, the health figures and the database's own figures.

Needs the optional extra `arc-eval-db[prometheus]` (prometheus_client), imported only when an
exporter is created, with a clear error when it is missing. The exporter keeps its own
registry (pass one to share). A sandbox worker calls
`update_client(client.get_metrics(), breaker=client.circuit_breaker)`; `arc-db serve` calls
`update_health(await DatabaseHealthChecker(engine).check_all(write_probe=False))` and
`update_database(await database_figures(engine))` at scrape time; then `render()` (text
exposition format) or `serve(port)`.

What the client counts since it started (operations, failures, retries, rows, circuit
openings) is exported as counters (`*_total`), so `rate()` and `increase()` in the alerting
rules (deploy/prometheus/arc-eval-db.rules.yml) survive a worker's restart; states and sizes
are gauges. Each part appears once it has been updated: a worker exports no database figures
(no false `arc_db_database_up 0`), the service no client figures. Per-entity gauges (jobs,
aggregates, hypertables) are rebuilt from each report that carries their check's figures, so
a dropped job disappears instead of keeping its last value; a check that failed to report
leaves the previous values in place.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.core.errors import ArcConfigurationError
from arc.database.core.retry import CircuitBreaker
from arc.database.core.timescale import detect_async
from arc.database.ops.health import EXIT_CODES, HealthReport

# The text format generate_latest() writes by default (prometheus_client's own server sends it).
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _client_module() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise ArcConfigurationError(
            "prometheus_client", "is not installed: pip install 'arc-eval-db[prometheus]'"
        ) from exc
    return prometheus_client


@dataclass(frozen=True)
class CompressionBacklog:
    """Chunks of one hypertable past its policy's compress_after that are not compressed."""

    chunks: int
    overdue_seconds: float  # how long the oldest of them has been due (0 when none)


@dataclass(frozen=True)
class DatabaseFigures:
    """What the health checks do not report and the alerting rules need."""

    database_bytes: int
    max_connections: int
    connections: dict[str, int] = field(default_factory=dict)  # client backends by state
    compression: dict[str, CompressionBacklog] = field(default_factory=dict)  # full edition


_SIZE = text(
    "SELECT pg_database_size(current_database()) AS bytes, "
    "current_setting('max_connections')::int AS max_connections"
)
# Another role's sessions show a NULL state without pg_read_all_stats: counted as "unknown".
_CONNECTIONS = text(
    "SELECT coalesce(state, 'unknown') AS state, count(*) AS n FROM pg_stat_activity "
    "WHERE backend_type = 'client backend' GROUP BY 1"
)
# What maintenance.compress_old_chunks would compress, counted per policy.
_COMPRESSION_BACKLOG = text(
    """
    SELECT j.hypertable_name,
           count(c.chunk_name) AS chunks,
           coalesce(extract(epoch FROM now() - min(
               c.range_end + (j.config ->> 'compress_after')::interval)), 0) AS overdue_s
    FROM timescaledb_information.jobs j
    LEFT JOIN timescaledb_information.chunks c
      ON c.hypertable_schema = j.hypertable_schema
     AND c.hypertable_name = j.hypertable_name
     AND NOT c.is_compressed
     AND c.range_end < now() - (j.config ->> 'compress_after')::interval
    WHERE j.proc_name = 'policy_compression' AND j.hypertable_schema = 'public'
    GROUP BY 1
    """
)


async def database_figures(engine: AsyncEngine) -> DatabaseFigures:
    """Size, connection slots and the compression backlog: a few catalog reads."""
    async with engine.connect() as conn:
        size = (await conn.execute(_SIZE)).one()
        connections = {r.state: int(r.n) for r in (await conn.execute(_CONNECTIONS)).all()}
        backlog: dict[str, CompressionBacklog] = {}
        if (await detect_async(conn)).compression:
            for r in (await conn.execute(_COMPRESSION_BACKLOG)).all():
                backlog[r.hypertable_name] = CompressionBacklog(
                    int(r.chunks), max(0.0, float(r.overdue_s))
                )
    return DatabaseFigures(int(size.bytes), int(size.max_connections), connections, backlog)


def _families() -> Any:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    return CounterMetricFamily, GaugeMetricFamily


class _ClientFigures:
    """A collector of the latest client snapshot: cumulative figures as counters (mirrored:
    prometheus_client's Counter can only be incremented), states as gauges. Nothing is
    exported before the first update, so a process without a client exports none of them."""

    def __init__(self, namespace: str) -> None:
        self._counter, self._gauge = _families()
        self._prefix = f"{namespace}_"
        self.metrics: Mapping[str, Any] | None = None
        self.breaker: CircuitBreaker | None = None

    def collect(self) -> Iterator[Any]:
        m = self.metrics
        if m is None:
            return
        p = self._prefix
        operations = self._counter(p + "client_operations", "Operations since the client started")
        operations.add_metric([], float(m.get("total_operations", 0)))
        failed = self._counter(
            p + "client_failed_operations", "Failed operations", labels=["error_type"]
        )
        for error_type, count in dict(m.get("failures_by_type") or {}).items():
            failed.add_metric([str(error_type)], float(count))
        retries = self._counter(p + "client_retries", "Retried attempts")
        retries.add_metric([], float(m.get("retries", 0)))
        rows = self._counter(p + "client_rows", "Rows written, by outcome", labels=["result"])
        for result in ("inserted", "duplicate", "rejected"):
            rows.add_metric([result], float(m.get(f"rows_{result}", 0)))
        if m.get("success_rate") is not None:  # no sample before the first operation
            yield self._gauge(
                p + "client_success_rate_percent",
                "Share of successful operations",
                value=float(m["success_rate"]),
            )
        query = self._gauge(
            p + "client_query_time_ms", "Query time (recent window)", labels=["stat"]
        )
        query.add_metric(["avg"], float(m.get("avg_query_time", 0.0)))
        query.add_metric(["p95"], float(m.get("p95_query_time", 0.0)))
        pool = self._gauge(p + "pool_connections", "Connection pool figures", labels=["figure"])
        for key, value in dict(m.get("pool_stats") or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                pool.add_metric([str(key)], float(value))
        yield from (operations, failed, retries, rows, query, pool)
        if self.breaker is not None:
            yield self._gauge(
                p + "client_circuit_breaker_open",
                "1 while the circuit breaker is open or half-open",
                value=0 if self.breaker.state == "closed" else 1,
            )
            yield self._gauge(
                p + "client_circuit_breaker_consecutive_failures",
                "Operations failed in a row",
                value=self.breaker.consecutive_failures,
            )
            yield self._counter(
                p + "client_circuit_breaker_opened",
                "Times the circuit breaker opened",
                value=self.breaker.times_opened,
            )


class _DatabaseFigures:
    """A collector of the latest DatabaseFigures; nothing before the first update."""

    def __init__(self, namespace: str) -> None:
        self._counter, self._gauge = _families()
        self._prefix = f"{namespace}_"
        self.figures: DatabaseFigures | None = None
        self.collections = 0  # 0: never collected, nothing to export

    def collect(self) -> Iterator[Any]:
        if not self.collections:
            return
        p, f = self._prefix, self.figures
        yield self._gauge(
            p + "database_up", "1 when the last collection read the database", value=int(bool(f))
        )
        yield self._counter(
            p + "database_collections",
            "Times the database-side figures were read (scrapes answered from a cache do not)",
            value=self.collections,
        )
        if f is None:
            return
        yield self._gauge(p + "database_bytes", "pg_database_size", value=f.database_bytes)
        yield self._gauge(p + "server_max_connections", "The limit", value=f.max_connections)
        connections = self._gauge(
            p + "server_connections", "Client backends connected to the server", labels=["state"]
        )
        for state, count in sorted(f.connections.items()):
            connections.add_metric([state], count)
        backlog = self._gauge(
            p + "compression_backlog_chunks",
            "Chunks past the policy's compress_after, not compressed",
            labels=["hypertable"],
        )
        overdue = self._gauge(
            p + "compression_overdue_seconds",
            "How long the oldest uncompressed chunk has been due for compression",
            labels=["hypertable"],
        )
        for name, b in sorted(f.compression.items()):
            backlog.add_metric([name], b.chunks)
            overdue.add_metric([name], b.overdue_seconds)
        yield from (connections, backlog, overdue)


class ArcPrometheusExporter:
    """Metrics of a client (ArcDBClient.get_metrics() and its circuit breaker), of a
    HealthReport (status 0/1/2 = healthy/degraded/unhealthy, the `arc-db health` exit codes)
    and of DatabaseFigures. Each part appears once it has been updated: a sandbox worker
    exports no database figures (no false `arc_db_database_up 0`), the service no client."""

    content_type = TEXT_CONTENT_TYPE  # what render() produces

    def __init__(self, registry: Any = None, *, namespace: str = "arc_db") -> None:
        pc = _client_module()
        self._pc = pc
        self.registry = registry if registry is not None else pc.CollectorRegistry()

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
            return pc.Gauge(name, doc, labels, namespace=namespace, registry=self.registry)

        self.client = _ClientFigures(namespace)
        self.database = _DatabaseFigures(namespace)
        self.registry.register(self.client)
        self.registry.register(self.database)
        # the health checks: labelled gauges export no sample until set
        self.health = gauge("health_status", "0 healthy, 1 degraded, 2 unhealthy", ("check",))
        self.check_ms = gauge("health_check_duration_ms", "Duration of a health check", ("check",))
        self.write_rate = gauge(
            "health_write_rows_per_second", "Rolled-back write probe rate", ("probe",)
        )
        self.chunks = gauge("hypertable_chunks", "Chunks per hypertable", ("hypertable", "state"))
        self.bytes = gauge("hypertable_bytes", "Hypertable size", ("hypertable", "stage"))
        self.ratio = gauge("hypertable_compression_ratio", "Before/after bytes", ("hypertable",))
        self.job_failed = gauge(
            "job_last_run_failed", "1 when the job's last run failed", ("job_id", "proc_name")
        )
        self.job_consecutive = gauge(
            "job_consecutive_failures", "Failed runs in a row", ("job_id", "proc_name")
        )
        self.aggregate_lag = gauge(
            "aggregate_refresh_lag_seconds", "Age of the last refresh", ("aggregate",)
        )

    def update_client(
        self, metrics: Mapping[str, Any], *, breaker: CircuitBreaker | None = None
    ) -> None:
        """From ArcDBClient.get_metrics() (a dict; seed 000/003 keys) and, to export the
        circuit's state, the client's `circuit_breaker`."""
        self.client.metrics = dict(metrics)
        if breaker is not None:
            self.client.breaker = breaker

    def update_health(self, report: HealthReport) -> None:
        """The statuses are exactly the report's (a check no longer run disappears)."""
        self.health.clear()
        self.check_ms.clear()
        self.health.labels(check="overall").set(EXIT_CODES[report.status])
        for check in report.checks:
            self.health.labels(check=check.name).set(EXIT_CODES[check.status])
            self.check_ms.labels(check=check.name).set(check.duration_ms)
        details = {c.name: c.details for c in report.checks}
        rate = details.get("write_performance", {}).get("throughput_per_second")
        if isinstance(rate, int | float):
            self.write_rate.labels(probe="outcomes").set(float(rate))
        # A check that failed (timeout, no connection) reports no details: keep what we had.
        if details.get("hypertables"):
            self._hypertables(details["hypertables"].get("hypertables", {}))
        if details.get("jobs"):
            self._jobs(details["jobs"].get("jobs", []))  # none on the Apache edition
        if details.get("aggregates"):
            self.aggregate_lag.clear()
            for name, info in details["aggregates"].get("aggregates", {}).items():
                if isinstance(info.get("lag_seconds"), int | float):
                    self.aggregate_lag.labels(aggregate=name).set(info["lag_seconds"])

    def _hypertables(self, tables: Mapping[str, Any]) -> None:
        for family in (self.chunks, self.bytes, self.ratio):
            family.clear()
        for name, info in tables.items():
            self.chunks.labels(hypertable=name, state="total").set(info["chunks"])
            self.chunks.labels(hypertable=name, state="compressed").set(info["compressed_chunks"])
            self.bytes.labels(hypertable=name, stage="total").set(info["total_bytes"])
            for stage in ("before_compression", "after_compression"):
                if f"{stage}_bytes" in info:
                    self.bytes.labels(hypertable=name, stage=stage).set(info[f"{stage}_bytes"])
            if "compression_ratio" in info:
                self.ratio.labels(hypertable=name).set(info["compression_ratio"])

    def _jobs(self, jobs: list[Mapping[str, Any]]) -> None:
        self.job_failed.clear()
        self.job_consecutive.clear()
        for job in jobs:
            labels = {"job_id": str(job["job_id"]), "proc_name": job["proc_name"]}
            self.job_failed.labels(**labels).set(1 if job["last_run_status"] == "Failed" else 0)
            self.job_consecutive.labels(**labels).set(int(job.get("consecutive_failures") or 0))

    def update_database(self, figures: DatabaseFigures | None) -> None:
        """From database_figures(); None when the database could not be read."""
        self.database.collections += 1
        self.database.figures = figures

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        rendered: bytes = self._pc.generate_latest(self.registry)
        return rendered

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        """Expose /metrics on a background HTTP server (loopback unless told otherwise)."""
        self._pc.start_http_server(port, addr=addr, registry=self.registry)
