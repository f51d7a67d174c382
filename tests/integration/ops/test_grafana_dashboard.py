"""The Grafana dashboard runs: every panel's SQL, with Grafana's macros and template variables
substituted the way Grafana does, against a migrated database holding a little planted data.

Grafana interpolates in two steps, mirrored here: the browser replaces template variables
(`$var`, `${var}`, `[[var]]`, and `$__interval`), quoting the values of multi-value variables;
the PostgreSQL data source then expands its macros (`$__timeFilter(col)`,
`$__timeGroupAlias(col, 1h)`, ...) with the semantics of its macros.go, `$__timeGroup` as
`time_bucket` because the provisioned data source has `timescaledb: true`. The result runs
as the panel's SQL; a panel that fails, returns no rows, or lacks the columns it displays
fails its test. Both editions: the aggregates are continuous on one and fallback views on the
other, under the same names.
"""

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.models import LLMRecommendationSession, Recommendation
from tests.conftest import ROOT
from tests.support.planting import (
    Run,
    days_ago,
    make_configuration,
    make_simulation,
    make_version,
    refresh_statistics,
)
from tests.support.scratch import make_dataset, plant, scratch_engine, scratch_url

__all__ = ["scratch_engine", "scratch_url"]

DEPLOY = Path(ROOT) / "deploy" / "grafana"
DASHBOARD = json.loads((DEPLOY / "dashboards" / "arc-eval-db.json").read_text())
DATASOURCES = yaml.safe_load(
    (DEPLOY / "provisioning" / "datasources" / "arc-eval-db.yaml").read_text()
)
SQL_SOURCE = next(
    d for d in DATASOURCES["datasources"] if d["type"] == "grafana-postgresql-datasource"
)
TIMESCALEDB_MACROS = bool(SQL_SOURCE["jsonData"]["timescaledb"])
PANELS = [p for p in DASHBOARD["panels"] if p["type"] != "row"]
VARIABLES = DASHBOARD["templating"]["list"]

# What each panel shows: the columns its SQL must return (time series: `time` plus these).
EXPECTED_COLUMNS: dict[str, set[str]] = {
    "Active simulations": {"active"},
    "Running simulations": {
        "simulation_name",
        "status",
        "model",
        "progress_pct",
        "runtime_seconds",
        "outcomes_recorded",
    },
    "Performance trends": {"avg_reliability", "avg_execution_ms"},
    "Error rate": {"error_rate_pct", "executions"},
    "Error rates by scenario": {
        "scenario_id",
        "executions",
        "errors",
        "timeouts",
        "error_rate_pct",
    },
    "Failure trends": {"metric", "failures"},
    "Cost by model": {"metric", "cost_usd"},
    "Tool performance": {"tool_name", "calls", "success_rate", "avg_duration_ms", "cost_usd"},
    "Pending recommendations": {"created_at", "recommendation_type", "confidence", "description"},
    "Reliability: baseline vs candidate": {"metric", "mean_reliability"},
    "Version comparison by scenario": {
        "scenario_id",
        "baseline_n",
        "candidate_n",
        "baseline_success_pct",
        "candidate_success_pct",
        "baseline_reliability",
        "candidate_reliability",
        "reliability_delta",
    },
    "Pareto frontier": {
        "config_name",
        "version_number",
        "model",
        "mean_reliability",
        "cost_per_execution",
        "p95_latency_ms",
        "on_frontier",
    },
}
NUMERIC_TYPES = {"int2", "int4", "int8", "float4", "float8", "numeric"}
TIME_TYPES = {"timestamptz", "timestamp", "date"}
AUTO_INTERVAL = "10m"  # what Grafana picks for 7 days on a panel about 1000 pixels wide


# --------------------------------------------------------------------------- Grafana's rules
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def interval_seconds(value: str) -> float:
    """gtime.ParseInterval for the units a dashboard uses."""
    found = re.fullmatch(r"(\d+)(ms|s|m|h|d|w)", value.strip().strip("'"))
    if not found:
        raise AssertionError(f"not a Grafana interval: {value!r}")
    return int(found.group(1)) * _UNITS[found.group(2)]


def rfc3339(value: datetime) -> str:
    """Go's time.RFC3339Nano in UTC, as Grafana formats the time range."""
    text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return f"{text}Z"


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime


def substitute_variables(sql: str, values: dict[str, str | list[str]]) -> str:
    """The browser's step: template variables; multi-value ones become quoted lists."""

    def render(name: str) -> str | None:
        if name not in values:
            return None  # not a variable (a macro such as $__timeFilter): left alone
        value = values[name]
        if isinstance(value, list):
            return ",".join("'" + v.replace("'", "''") + "'" for v in value)
        return value.replace("'", "''")

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        rendered = render(name)
        return match.group(0) if rendered is None else rendered

    return re.sub(r"\$(\w+)|\[\[(\w+)\]\]|\$\{(\w+)(?::raw)?\}", replace, sql)


def expand_macros(sql: str, window: TimeRange, *, timescaledb: bool) -> str:
    """The data source's step: macros.go of Grafana's PostgreSQL data source."""

    def time_group(args: list[str]) -> str:
        if len(args) < 2:
            raise AssertionError(f"$__timeGroup needs a column and an interval: {args}")
        seconds = interval_seconds(args[1])
        if timescaledb:
            return f"time_bucket('{seconds:.3f}s',{args[0]})"
        return f"floor(extract(epoch from {args[0]})/{seconds:g})*{seconds:g}"

    def evaluate(name: str, args: list[str]) -> str:
        start, end = rfc3339(window.start), rfc3339(window.end)
        if name == "__time":
            return f'{args[0]} AS "time"'
        if name == "__timeEpoch":
            return f'extract(epoch from {args[0]}) as "time"'
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN '{start}' AND '{end}'"
        if name == "__timeFrom":
            return f"'{start}'"
        if name == "__timeTo":
            return f"'{end}'"
        if name == "__timeGroup":
            return time_group(args)
        if name == "__timeGroupAlias":
            return time_group(args) + ' AS "time"'
        if name == "__unixEpochFilter":
            lo, hi = int(window.start.timestamp()), int(window.end.timestamp())
            return f"{args[0]} >= {lo} AND {args[0]} <= {hi}"
        raise AssertionError(f"unknown macro ${name}")

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "__timeGroup" and sql[match.end() : match.end() + 1] == ",":
            name = "__timeGroupAlias"  # Grafana's pre-5.3 compatibility rule
        args = [a.strip() for a in match.group(2).split(",")]
        return evaluate(name, args)

    return re.sub(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)", replace, sql)


def interpolate(
    sql: str, values: dict[str, str | list[str]], window: TimeRange, *, timescaledb: bool
) -> str:
    out = expand_macros(substitute_variables(sql, values), window, timescaledb=timescaledb)
    left = re.findall(r"\$\{?\w+|\[\[\w+\]\]", out)
    assert not left, f"not substituted: {left}"
    return out


def panel_interval(panel: dict[str, Any]) -> str:
    """$__interval: the automatic interval, raised to the panel's minimum interval."""
    minimum = panel.get("interval")
    if minimum and interval_seconds(minimum) > interval_seconds(AUTO_INTERVAL):
        return str(minimum)
    return AUTO_INTERVAL


# --------------------------------------------------------------------------- running panels
@dataclass(frozen=True)
class PanelResult:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]

    def column(self, name: str) -> list[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


async def run_sql(engine: AsyncEngine, sql: str) -> PanelResult:
    """Prepared and fetched on the driver, as Grafana's pgx does (no client-side binding)."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        statement = await driver.prepare(sql)
        attributes = statement.get_attributes()
        records = await statement.fetch()
    return PanelResult(
        [a.name for a in attributes],
        [a.type.name for a in attributes],
        [tuple(r) for r in records],
    )


def check_result(panel: dict[str, Any], target: dict[str, Any], result: PanelResult) -> None:
    """What Grafana needs to draw the panel, and the columns the panel shows."""
    title = panel["title"]
    assert result.rows, f"{title}: no rows"
    missing = EXPECTED_COLUMNS[title] - set(result.columns)
    assert not missing, f"{title}: columns {sorted(missing)} missing from {result.columns}"
    shown = {
        o["matcher"]["options"]
        for o in panel.get("fieldConfig", {}).get("overrides", [])
        if o["matcher"]["id"] == "byName"
    }
    unknown = sorted(shown - set(result.columns))
    assert not unknown, f"{title}: overrides name columns {unknown} the SQL does not return"
    types = dict(zip(result.columns, result.types, strict=True))
    if target["format"] == "time_series":
        assert "time" in types, f"{title}: a time series needs a `time` column"
        assert types["time"] in TIME_TYPES | NUMERIC_TYPES, f"{title}: time is {types['time']}"
        times = result.column("time")
        assert None not in times, f"{title}: a NULL time"
        assert times == sorted(times), f"{title}: rows are not sorted by time"
        values = [c for c in result.columns if c not in ("time", "metric")]
        assert values, f"{title}: no value column"
        wrong = {c: types[c] for c in values if types[c] not in NUMERIC_TYPES}
        assert not wrong, f"{title}: value columns must be numeric: {wrong}"
        if "metric" in types:
            assert types["metric"] == "text", f"{title}: metric is {types['metric']}"
    if panel["type"] == "stat":
        assert all(types[c] in NUMERIC_TYPES for c in result.columns), f"{title}: {types}"


async def run_panel(
    engine: AsyncEngine,
    panel: dict[str, Any],
    values: dict[str, str | list[str]],
    window: TimeRange,
) -> PanelResult:
    (target,) = panel["targets"]
    assert target["datasource"]["uid"] == SQL_SOURCE["uid"], panel["title"]
    assert target.get("rawQuery"), panel["title"]
    assert target["format"] in ("time_series", "table"), panel["title"]
    interval = panel_interval(panel)
    scoped: dict[str, str | list[str]] = {
        **values,
        "__interval": interval,
        "__interval_ms": str(int(interval_seconds(interval) * 1000)),
    }
    sql = interpolate(target["rawSql"], scoped, window, timescaledb=TIMESCALEDB_MACROS)
    result = await run_sql(engine, sql)
    check_result(panel, target, result)
    return result


# --------------------------------------------------------------------------- planted data
@dataclass(frozen=True)
class Planted:
    baseline: uuid.UUID
    candidate: uuid.UUID
    # scenario -> (baseline reliabilities, candidate reliabilities)
    reliabilities: dict[str, tuple[list[float], list[float]]]
    models: set[str]


@pytest.fixture(scope="module")
async def planted(scratch_engine: AsyncEngine) -> Planted:
    """The read-path data set (tools, failures, three models), a configuration with a
    baseline and a candidate version run on two scenarios (simulations still running), and a
    pending recommendation; the aggregates refreshed."""
    now = datetime.now(UTC)
    dataset = make_dataset(now - timedelta(days=3), days=3)
    await plant(scratch_engine, dataset)
    config = await make_configuration(scratch_engine, user_id=uuid.uuid4(), name="dash config")
    parsed_1 = {"model": "gpt-4o", "temperature": 0.2}
    baseline = await make_version(scratch_engine, config, parsed_1)
    candidate = await make_version(
        scratch_engine,
        config,
        {"model": "gpt-4o", "temperature": 0.7},
        previous=(baseline, parsed_1),
    )
    reliabilities = {
        "dash_scn_a": ([0.5, 0.75, 0.5, 0.25], [0.75, 0.75, 1.0, 0.5]),
        "dash_scn_b": ([1.0, 0.75, 0.75, 1.0], [0.5, 0.25, 0.5, 0.75]),
    }
    for index, version in enumerate((baseline, candidate)):
        runs = [
            Run(scenario, days_ago(1 + i % 2), r, time_ms=800.0 + 100 * i, cost=0.0625)
            for scenario, pair in reliabilities.items()
            for i, r in enumerate(pair[index])
        ]
        await make_simulation(scratch_engine, version, runs)
    async with scratch_engine.begin() as conn:
        await conn.execute(
            insert(LLMRecommendationSession).values(
                session_id=uuid.uuid4(),
                user_id=uuid.uuid4(),
                analysis_start_time=now - timedelta(minutes=10),
                analysis_end_time=now,
                data_window_start=now - timedelta(days=7),
                data_window_end=now,
                llm_model="dashboard-test-llm",
                total_outcomes_analyzed=16,
            )
        )
        await conn.execute(
            insert(Recommendation).values(
                source_type="pattern_analysis",
                source_id=uuid.uuid4(),
                recommendation_type="config_change",
                description="Lower the temperature back to 0.2 for dash_scn_b",
                confidence=0.9,
                applied=False,
                created_at=now - timedelta(minutes=5),
            )
        )
    await refresh_statistics(scratch_engine)
    models = {str(v["parsed_config"]["model"]) for v in dataset.versions} | {"gpt-4o"}
    return Planted(baseline, candidate, reliabilities, models)


@pytest.fixture(scope="module")
def window() -> TimeRange:
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    return TimeRange(end - timedelta(days=7), end)


@pytest.fixture(scope="module")
async def variable_values(
    scratch_engine: AsyncEngine, planted: Planted, window: TimeRange
) -> dict[str, str | list[str]]:
    """Each variable's own query, run like a panel's; the values a user would pick: every
    model (All), the planted baseline and candidate versions."""
    options: dict[str, list[str]] = {}
    for variable in VARIABLES:
        assert variable["type"] == "query", variable["name"]
        sql = interpolate(variable["query"], {}, window, timescaledb=TIMESCALEDB_MACROS)
        result = await run_sql(scratch_engine, sql)
        column = "__value" if "__value" in result.columns else result.columns[0]
        options[variable["name"]] = [str(v) for v in result.column(column)]
    assert planted.models <= set(options["model"]), options["model"]
    for name, version in (("baseline", planted.baseline), ("candidate", planted.candidate)):
        assert str(version) in options[name], f"${name} does not offer the planted version"
    return {
        "model": options["model"],  # All: Grafana sends every value
        "baseline": str(planted.baseline),
        "candidate": str(planted.candidate),
    }


# --------------------------------------------------------------------------- the tests
def test_every_panel_is_known_and_reads_the_provisioned_source() -> None:
    assert {p["title"] for p in PANELS} == set(EXPECTED_COLUMNS)
    for panel in PANELS:
        assert panel["datasource"]["uid"] == SQL_SOURCE["uid"], panel["title"]
    used = {
        name
        for p in PANELS
        for name in re.findall(r"\$\{?(\w+)", p["targets"][0]["rawSql"])
        if not name.startswith("__")
    }
    assert used <= {v["name"] for v in VARIABLES}, used


@pytest.mark.parametrize("panel", PANELS, ids=lambda p: p["title"])
async def test_panel_sql_runs(
    scratch_engine: AsyncEngine,
    variable_values: dict[str, str | list[str]],
    window: TimeRange,
    panel: dict[str, Any],
) -> None:
    await run_panel(scratch_engine, panel, variable_values, window)


def _panel(title: str) -> dict[str, Any]:
    return next(p for p in PANELS if p["title"] == title)


async def test_version_panels_show_the_planted_versions(
    scratch_engine: AsyncEngine,
    planted: Planted,
    variable_values: dict[str, str | list[str]],
    window: TimeRange,
) -> None:
    """The comparison panels' numbers are the planted ones."""
    table = await run_panel(
        scratch_engine, _panel("Version comparison by scenario"), variable_values, window
    )
    rows = {r[0]: dict(zip(table.columns, r, strict=True)) for r in table.rows}
    assert set(rows) == set(planted.reliabilities)
    for scenario, (base, cand) in planted.reliabilities.items():
        row = rows[scenario]
        assert (row["baseline_n"], row["candidate_n"]) == (len(base), len(cand))
        assert float(row["baseline_reliability"]) == pytest.approx(sum(base) / len(base))
        assert float(row["candidate_reliability"]) == pytest.approx(sum(cand) / len(cand))
        delta = sum(cand) / len(cand) - sum(base) / len(base)
        assert float(row["reliability_delta"]) == pytest.approx(delta)
    assert table.column("scenario_id")[0] == "dash_scn_b"  # the largest loss first
    series = await run_panel(
        scratch_engine, _panel("Reliability: baseline vs candidate"), variable_values, window
    )
    assert set(series.column("metric")) == {"baseline", "candidate"}
    pareto = await run_panel(scratch_engine, _panel("Pareto frontier"), variable_values, window)
    assert pareto.column("executions").count(8) >= 2
    active = await run_panel(scratch_engine, _panel("Active simulations"), variable_values, window)
    assert active.rows[0][0] >= 2


@pytest.mark.parametrize(
    ("title", "break_it", "error"),
    [
        pytest.param(
            "Performance trends",
            lambda sql: sql.replace("AS avg_execution_ms", "AS avg_exec"),
            AssertionError,
            id="a renamed column",
        ),
        pytest.param(
            "Tool performance",
            lambda sql: sql.replace("tool_performance_daily", "tool_performance_hourly"),
            Exception,
            id="a missing relation",
        ),
        pytest.param(
            "Error rate",
            lambda sql: sql.replace("ORDER BY 1", "ORDER BY 1 DESC"),
            AssertionError,
            id="an unsorted time series",
        ),
        pytest.param(
            "Cost by model",
            lambda sql: sql.replace("($model)", "($modl)"),
            AssertionError,
            id="an unknown variable",
        ),
    ],
)
async def test_a_broken_panel_fails(
    scratch_engine: AsyncEngine,
    variable_values: dict[str, str | list[str]],
    window: TimeRange,
    title: str,
    break_it: Callable[[str], str],
    error: type[Exception],
) -> None:
    """The checks above can fail: a panel broken in four ways is caught."""
    panel = json.loads(json.dumps(_panel(title)))
    broken = break_it(panel["targets"][0]["rawSql"])
    assert broken != panel["targets"][0]["rawSql"]
    panel["targets"][0]["rawSql"] = broken
    with pytest.raises(error):
        await run_panel(scratch_engine, panel, variable_values, window)


def test_macros_follow_grafana() -> None:
    """Spot checks of the substitution against Grafana's documented expansions."""
    window = TimeRange(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2026, 1, 9, tzinfo=UTC))
    assert (
        expand_macros("WHERE $__timeFilter(t)", window, timescaledb=True)
        == "WHERE t BETWEEN '2026-01-02T03:04:05Z' AND '2026-01-09T00:00:00Z'"
    )
    assert (
        expand_macros("SELECT $__timeGroupAlias(t, 5m)", window, timescaledb=True)
        == "SELECT time_bucket('300.000s',t) AS \"time\""
    )
    assert (
        expand_macros("SELECT $__timeGroup(t, '1h'), v", window, timescaledb=False)
        == 'SELECT floor(extract(epoch from t)/3600)*3600 AS "time", v'
    )
    assert substitute_variables("IN ($m) AND v = '${v}'", {"m": ["a", "o'b"], "v": "x"}) == (
        "IN ('a','o''b') AND v = 'x'"
    )


def test_compose_mounts_the_provisioning() -> None:
    """docker/compose.yml (not run here) mounts what Grafana and Prometheus read, at the
    images' documented paths."""
    compose = yaml.safe_load((Path(ROOT) / "docker" / "compose.yml").read_text())
    services = compose["services"]
    for name in ("grafana", "prometheus"):
        assert services[name]["profiles"] == ["observability"]
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("../"):
                assert (Path(ROOT) / "docker" / source).resolve().exists(), volume
    grafana = {v.split(":")[0]: v.split(":")[1] for v in services["grafana"]["volumes"]}
    for kind in ("datasources", "dashboards"):
        source = f"../deploy/grafana/provisioning/{kind}"
        assert grafana[source] == f"/etc/grafana/provisioning/{kind}"
    providers = yaml.safe_load(
        (DEPLOY / "provisioning" / "dashboards" / "arc-eval-db.yaml").read_text()
    )["providers"]
    assert grafana["../deploy/grafana/dashboards"] == providers[0]["options"]["path"]
    env = services["grafana"]["environment"]
    used = set(re.findall(r"\$__env\{(\w+)\}", json.dumps(DATASOURCES)))
    assert used <= set(env), used - set(env)
    prometheus = {v.split(":")[0]: v.split(":")[1] for v in services["prometheus"]["volumes"]}
    config = prometheus["../deploy/prometheus/prometheus.yml"]
    assert config == "/etc/prometheus/prometheus.yml"
    rules = yaml.safe_load((Path(ROOT) / "deploy" / "prometheus" / "prometheus.yml").read_text())
    for rule_file in rules["rule_files"]:
        assert prometheus[f"../deploy/prometheus/{rule_file}"] == f"/etc/prometheus/{rule_file}"
