"""The alerting rules (deploy/prometheus) are valid, unit-tested, and read real metrics.

`promtool check rules` and `promtool check config` validate the files; `promtool test rules`
runs arc-eval-db.rules.test.yml, where every alert has a case that fires it and one that does
not. Every metric a rule or a test series names must be one that ArcPrometheusExporter
exports, of the right type, checked on an exporter fed by a real client, a real health
report and the real database figures of the test database.

promtool comes with Debian's `prometheus` package (or ARC_TEST_PROMTOOL names the binary).
Without it these tests skip and say why; with ARC_TEST_REQUIRE_TOPOLOGY=1 (CI) they fail.
"""

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.client import ArcDBClient
from arc.database.core.engine import build_engine
from arc.database.ops.health import DatabaseHealthChecker
from arc.database.ops.maintenance import compress_old_chunks
from arc.database.ops.prometheus import (
    ArcPrometheusExporter,
    CompressionBacklog,
    database_figures,
)
from tests.conftest import ROOT
from tests.support.planting import Run, days_ago, make_configuration, make_simulation, make_version
from tests.support.scratch import scratch_engine, scratch_url

__all__ = ["scratch_engine", "scratch_url"]

PROMETHEUS = Path(ROOT) / "deploy" / "prometheus"
RULES = PROMETHEUS / "arc-eval-db.rules.yml"
RULE_TESTS = PROMETHEUS / "arc-eval-db.rules.test.yml"
CONFIG = PROMETHEUS / "prometheus.yml"
ALERTS = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
CASES = yaml.safe_load(RULE_TESTS.read_text())["tests"]
METRIC = re.compile(r"\barc_db_[a-zA-Z0-9_]+")


def promtool() -> str:
    """The promtool binary, or a skip (a failure under ARC_TEST_REQUIRE_TOPOLOGY=1)."""
    found = os.environ.get("ARC_TEST_PROMTOOL") or shutil.which("promtool")
    if found:
        return found
    message = (
        "needs promtool to check the alerting rules: install Debian's `prometheus` package "
        "or set ARC_TEST_PROMTOOL"
    )
    if os.environ.get("ARC_TEST_REQUIRE_TOPOLOGY") == "1":
        pytest.fail(message)
    pytest.skip(message)


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120
    )


def test_promtool_checks_the_rules() -> None:
    done = run_promtool("check", "rules", RULES.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in done.stdout


def test_promtool_checks_the_config_and_its_rule_files() -> None:
    done = run_promtool("check", "config", CONFIG.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 1 rule files found" in done.stdout


def test_promtool_unit_tests_pass() -> None:
    done = run_promtool("test", "rules", RULE_TESTS.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """A rule whose threshold moves no longer satisfies its cases: the tests are not vacuous."""
    promtool()
    text = RULES.read_text().replace("> 3 * 3600", "> 30 * 3600")
    assert text != RULES.read_text()
    (tmp_path / RULES.name).write_text(text)
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    done = subprocess.run(
        [promtool(), "test", "rules", RULE_TESTS.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "ArcAggregateStale" in done.stdout + done.stderr


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for case in CASES:
        for check in case["alert_rule_test"]:
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {a["alert"] for a in ALERTS}
    assert names - firing == set(), "alerts never seen firing"
    assert names - silent == set(), "alerts never seen silent"
    assert len(names) == len(ALERTS), "duplicate alert names"
    for alert in ALERTS:
        assert alert["labels"]["severity"] in ("warning", "critical"), alert["alert"]
        assert alert["annotations"]["summary"], alert["alert"]


def _exported_types(body: str) -> dict[str, str]:
    """metric name -> type, from the `# TYPE` lines of the exposition."""
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", body, flags=re.M))


@pytest.fixture
async def exported(database_url: str) -> dict[str, str]:
    """What a worker and `arc-db serve` export together, fed from the test database."""
    exporter = ArcPrometheusExporter()
    client = ArcDBClient(database_url, pool_size=2, max_overflow=0)
    try:
        await client.initialize()
        exporter.update_client(client.get_metrics(), breaker=client.circuit_breaker)
    finally:
        await client.close()
    engine = build_engine(url=database_url, pool_size=2, max_overflow=0)
    try:
        exporter.update_health(await DatabaseHealthChecker(engine).check_all(write_probe=False))
        exporter.update_database(await database_figures(engine))
    finally:
        await engine.dispose()
    body = exporter.render().decode()
    assert "arc_db_database_up 1.0" in body
    assert "arc_db_client_operations_total 1.0" in body  # initialize() was one operation
    return _exported_types(body)


def _uses(expr: str) -> dict[str, set[str]]:
    """metric -> the functions applied to it directly (rate, increase, deriv, none)."""
    found: dict[str, set[str]] = {}
    for match in METRIC.finditer(expr):
        before = expr[: match.start()].rstrip()
        function = re.search(r"(\w+)\($", before)
        found.setdefault(match.group(0), set()).add(function.group(1) if function else "")
    return found


async def test_rules_read_metrics_the_project_exports(exported: dict[str, str]) -> None:
    counters_only = {"rate", "increase"}
    for alert in ALERTS:
        for name, functions in _uses(alert["expr"]).items():
            assert name in exported, f"{alert['alert']}: {name} is not exported"
            if functions & counters_only:
                assert exported[name] == "counter", f"{alert['alert']}: rate() of a {name} gauge"
            else:
                assert exported[name] == "gauge", f"{alert['alert']}: {name} is a counter"
    series: set[str] = set()
    for case in CASES:
        for item in case["input_series"]:
            series.update(METRIC.findall(item["series"]))
    assert series - set(exported) == set(), "test series name metrics nobody exports"


async def test_a_worker_exports_no_database_figures(database_url: str) -> None:
    """Parts appear once updated: a worker's exporter cannot raise ArcDatabaseUnreachable."""
    exporter = ArcPrometheusExporter()
    client = ArcDBClient(database_url, pool_size=1, max_overflow=0)
    try:
        await client.initialize()
        exporter.update_client(client.get_metrics(), breaker=client.circuit_breaker)
    finally:
        await client.close()
    body = exporter.render().decode()
    assert "arc_db_client_circuit_breaker_open 0.0" in body
    assert "arc_db_database_up" not in body
    assert 'arc_db_health_status{check="overall"}' not in body
    empty = ArcPrometheusExporter().render().decode()
    assert "arc_db_client_" not in empty


@pytest.mark.full_edition
async def test_compression_backlog_counts_what_maintenance_would_compress(
    scratch_engine: AsyncEngine,
) -> None:
    """ArcCompressionBehind's figure: an uncompressed outcomes chunk from 20 days ago is due
    (compress_after 7 days) for about 12 days; once compressed, nothing is due."""
    version = await make_version(
        scratch_engine,
        await make_configuration(scratch_engine, user_id=uuid.uuid4()),
        {"model": "gpt-4o", "temperature": 0.3},
    )
    await make_simulation(scratch_engine, version, [Run("backlog_scn", days_ago(20), 0.5)])
    due = (await database_figures(scratch_engine)).compression["outcomes"]
    assert due.chunks == 1
    assert 11 * 86400 < due.overdue_seconds < 14 * 86400
    assert (await compress_old_chunks(scratch_engine))["outcomes"] == 1
    after = (await database_figures(scratch_engine)).compression
    assert after["outcomes"] == CompressionBacklog(0, 0.0)
    assert set(after) == {"outcomes", "failure_patterns", "tool_usage"}
