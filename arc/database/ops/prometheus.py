"""Prometheus export of the client metrics and the health figures.

Needs the optional extra `arc-eval-db[prometheus]` (prometheus_client), imported only when an
exporter is created, with a clear error when it is missing. The exporter keeps its own
registry (pass one to share): call `update_client(client.get_metrics())` and
`update_health(await DatabaseHealthChecker(engine).check_all())` when scraping or on a timer,
then `render()` (text exposition format) or `serve(port)`.
"""

from collections.abc import Mapping
from typing import Any

from arc.database.core.errors import ArcConfigurationError
from arc.database.ops.health import EXIT_CODES, HealthReport


def _client_module() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise ArcConfigurationError(
            "prometheus_client", "is not installed: pip install 'arc-eval-db[prometheus]'"
        ) from exc
    return prometheus_client


class ArcPrometheusExporter:
    """Gauges mirroring get_metrics() and a HealthReport (status 0/1/2 = healthy/degraded/
    unhealthy, the `arc-db health` exit codes)."""

    def __init__(self, registry: Any = None, *, namespace: str = "arc_db") -> None:
        pc = _client_module()
        self._pc = pc
        self.registry = registry if registry is not None else pc.CollectorRegistry()

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
            return pc.Gauge(name, doc, labels, namespace=namespace, registry=self.registry)

        self.success_rate = gauge("client_success_rate_percent", "Share of successful operations")
        self.operations = gauge("client_operations", "Operations since the client started")
        self.failed = gauge("client_failed_operations", "Failed operations", ("error_type",))
        self.retries = gauge("client_retries", "Retried attempts")
        self.query_ms = gauge("client_query_time_ms", "Query time (recent window)", ("stat",))
        self.rows = gauge("client_rows", "Rows written by outcome", ("result",))
        self.pool = gauge("pool_connections", "Connection pool figures", ("figure",))
        self.health = gauge("health_status", "0 healthy, 1 degraded, 2 unhealthy", ("check",))
        self.check_ms = gauge("health_check_duration_ms", "Duration of a health check", ("check",))
        self.write_rate = gauge("health_write_rows_per_second", "Rolled-back write probe rate")
        self.chunks = gauge("hypertable_chunks", "Chunks per hypertable", ("hypertable", "state"))
        self.bytes = gauge("hypertable_bytes", "Hypertable size", ("hypertable", "stage"))
        self.ratio = gauge("hypertable_compression_ratio", "Before/after bytes", ("hypertable",))
        self.job_failed = gauge(
            "job_last_run_failed", "1 when the job's last run failed", ("job_id", "proc_name")
        )
        self.aggregate_lag = gauge(
            "aggregate_refresh_lag_seconds", "Age of the last refresh", ("aggregate",)
        )

    def update_client(self, metrics: Mapping[str, Any]) -> None:
        """From ArcDBClient.get_metrics() (a dict; seed 000/003 keys)."""
        self.success_rate.set(float(metrics.get("success_rate", 0.0)))
        self.operations.set(float(metrics.get("total_operations", 0)))
        for error_type, count in dict(metrics.get("failures_by_type") or {}).items():
            self.failed.labels(error_type=str(error_type)).set(float(count))
        self.retries.set(float(metrics.get("retries", 0)))
        self.query_ms.labels(stat="avg").set(float(metrics.get("avg_query_time", 0.0)))
        self.query_ms.labels(stat="p95").set(float(metrics.get("p95_query_time", 0.0)))
        for result in ("inserted", "duplicate", "rejected"):
            self.rows.labels(result=result).set(float(metrics.get(f"rows_{result}", 0)))
        for key, value in dict(metrics.get("pool_stats") or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                self.pool.labels(figure=str(key)).set(float(value))

    def update_health(self, report: HealthReport) -> None:
        self.health.labels(check="overall").set(EXIT_CODES[report.status])
        for check in report.checks:
            self.health.labels(check=check.name).set(EXIT_CODES[check.status])
            self.check_ms.labels(check=check.name).set(check.duration_ms)
        details = {c.name: c.details for c in report.checks}
        rate = details.get("write_performance", {}).get("throughput_per_second")
        if isinstance(rate, int | float):
            self.write_rate.set(float(rate))
        for name, info in details.get("hypertables", {}).get("hypertables", {}).items():
            self.chunks.labels(hypertable=name, state="total").set(info["chunks"])
            self.chunks.labels(hypertable=name, state="compressed").set(info["compressed_chunks"])
            self.bytes.labels(hypertable=name, stage="total").set(info["total_bytes"])
            for stage in ("before_compression", "after_compression"):
                if f"{stage}_bytes" in info:
                    self.bytes.labels(hypertable=name, stage=stage).set(info[f"{stage}_bytes"])
            if "compression_ratio" in info:
                self.ratio.labels(hypertable=name).set(info["compression_ratio"])
        for job in details.get("jobs", {}).get("jobs", []):
            self.job_failed.labels(job_id=str(job["job_id"]), proc_name=job["proc_name"]).set(
                1 if job["last_run_status"] == "Failed" else 0
            )
        for name, info in details.get("aggregates", {}).get("aggregates", {}).items():
            if isinstance(info.get("lag_seconds"), int | float):
                self.aggregate_lag.labels(aggregate=name).set(info["lag_seconds"])

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        rendered: bytes = self._pc.generate_latest(self.registry)
        return rendered

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        """Expose /metrics on a background HTTP server (loopback unless told otherwise)."""
        self._pc.start_http_server(port, addr=addr, registry=self.registry)
