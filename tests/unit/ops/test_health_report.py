"""Health report helpers and the Prometheus export, without a database."""

from datetime import UTC, datetime

import pytest

from arc.database.core.errors import ArcConfigurationError
from arc.database.ops.health import CheckResult, HealthReport, worst
from arc.database.ops.health.checks.aggregates import _parse_stamp


def test_health_helpers() -> None:
    assert worst(["healthy", "degraded", "healthy"]) == "degraded"
    assert worst([]) == "healthy"
    stamp = _parse_stamp("arc:refreshed_at=2026-11-22 00:47:19.123456+00")
    assert stamp == datetime(2026, 11, 22, 0, 47, 19, 123456, tzinfo=UTC)
    assert _parse_stamp(None) is None
    assert _parse_stamp("something else") is None
    report = HealthReport(
        status="unhealthy",
        checked_at=datetime.now(UTC),
        edition="apache",
        checks=(CheckResult("jobs", "unhealthy", ("job 7 failed",)),),
    )
    assert report.exit_code == 2
    assert report.as_dict()["reasons"] == ["jobs: job 7 failed"]


def test_prometheus_export_of_client_and_health() -> None:
    from prometheus_client import CollectorRegistry

    from arc.database.ops.prometheus import ArcPrometheusExporter

    exporter = ArcPrometheusExporter(CollectorRegistry())
    exporter.update_client(
        {
            "success_rate": 97.5,
            "total_operations": 40,
            "failures_by_type": {"ArcTransientError": 1},
            "avg_query_time": 3.5,
            "p95_query_time": 9.0,
            "rows_inserted": 100,
            "pool_stats": {"checked_out": 2, "size": 20},
        }
    )
    report = HealthReport(
        status="degraded",
        checked_at=datetime.now(UTC),
        edition="full",
        checks=(
            CheckResult(
                "hypertables",
                "healthy",
                details={
                    "hypertables": {
                        "outcomes": {
                            "chunks": 4,
                            "compressed_chunks": 3,
                            "total_bytes": 1000,
                            "compression_ratio": 5.0,
                        }
                    }
                },
            ),
            CheckResult(
                "jobs",
                "degraded",
                ("job 9 failed",),
                {
                    "jobs": [
                        {
                            "job_id": 9,
                            "proc_name": "policy_compression",
                            "last_run_status": "Failed",
                        }
                    ]
                },
            ),
        ),
    )
    exporter.update_health(report)
    body = exporter.render().decode()
    assert "arc_db_client_success_rate_percent 97.5" in body
    assert 'arc_db_pool_connections{figure="checked_out"} 2.0' in body
    assert 'arc_db_health_status{check="overall"} 1.0' in body
    assert 'arc_db_hypertable_compression_ratio{hypertable="outcomes"} 5.0' in body
    assert 'arc_db_job_last_run_failed{job_id="9",proc_name="policy_compression"} 1.0' in body


def test_prometheus_missing_extra_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from arc.database.ops.prometheus import ArcPrometheusExporter

    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ArcConfigurationError) as err:
        ArcPrometheusExporter()
    assert "arc-eval-db[prometheus]" in str(err.value)
