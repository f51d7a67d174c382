"""Every public entry point of the write path and of configuration management, fuzzed.

Arguments are arbitrary JSON-like values, the nasty values the attacker session used (NaN,
infinities, 400-digit and 64-bit integers, NUL, lone surrogates, deep nesting, wrong types,
dates at the ends of the calendar) and valid values mutated a few fields at a time, so that
the calls get past their first check and reach the database. Whatever happens, the only
exceptions are typed (ArcDatabaseError subclasses; a validation error names its field and
rule, an integrity error its field) and a call that fails leaves every table as it was.
"""

import math
import random
import time
import unicodedata
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.analytics import ArcAnalytics
from arc.database.api import ArcAPI
from arc.database.configs.manager import ConfigurationManager
from arc.database.configs.parsing import parse_config
from arc.database.core.engine import session_factory
from arc.database.core.errors import (
    ArcDatabaseError,
    ArcIntegrityError,
    ArcTransientError,
    ArcValidationError,
)
from arc.database.ingest.client import ArcDBClient
from arc.database.ingest.events import ExecutionEventHandler
from tests.support.faults import make_config_version, outcome_dict, scenario, scenario_result

TABLES = (
    "outcomes",
    "tool_usage",
    "failure_patterns",
    "simulations",
    "simulations_scenarios",
    "scenarios",
    "configurations",
    "config_versions",
    "config_diffs",
)
EXAMPLES = 12  # per entry point: ~40 entry points, ~500 calls in all
# Strategies must draw the same way when Hypothesis replays an example: no uuid4() or now()
# in them; a fresh id comes from st.uuids().
MISSING_ID = "00000000-0000-4000-8000-00000000dead"  # a simulation/config that does not exist
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def _deep(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


_WIDE = [c for c in map(chr, range(0x20000, 0x21000)) if unicodedata.category(c)[0] == "L"]
NASTY: list[Any] = [
    math.nan,
    math.inf,
    -math.inf,
    10**400,
    2**63,
    -(2**31) - 1,
    1e39,
    1e14,
    -1,
    0,
    "",
    "\x00",
    "a\x00b",
    "\ud800",
    "abc",
    "5",
    "".join(random.Random(0).choices(_WIDE, k=3000)),
    True,
    b"\xff",
    [],
    {},
    [None],
    _deep(100),
    _deep(5000),
    {"k": math.nan},
    {"k": "\x00"},
    {1: 2, "a": 3},
    datetime(1, 1, 1),
    datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
    "0001-01-01T00:00:00",
    timedelta(days=10**6),
    timedelta(0),
    Decimal("NaN"),
    Decimal("1e400"),
]
json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(codec=None), max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


@dataclass
class World:
    engine: AsyncEngine
    client: ArcDBClient
    version_id: str
    config_id: uuid.UUID
    simulation_id: str
    slug: str
    outcome_id: str


@pytest.fixture(scope="module")
async def world(engine: AsyncEngine, database_url: str) -> AsyncIterator[World]:
    client = ArcDBClient(database_url, log_level="ERROR", application_name="arc-fuzz")
    slug = f"fuzz_{uuid.uuid4().hex[:10]}"
    version = await make_config_version(engine)
    sid = await client.create_simulation(version, [scenario(slug)])
    oid = await client.record_outcome(outcome_dict(sid, slug))
    async with session_factory(engine).begin() as session:
        created = await ConfigurationManager().create_configuration(
            session, uuid.uuid4(), f"fuzz {slug[-10:]}", "model: m\ntemperature: 0.5\n"
        )
    yield World(engine, client, str(version), created.config_id, sid, slug, oid)
    await client.close()


def values(*valid: Any) -> st.SearchStrategy[Any]:
    """A nasty value, any JSON-like value, or one of the valid ones given."""
    options = [st.sampled_from(NASTY), json_like]
    if valid:
        options.append(st.sampled_from(valid))
    return st.one_of(*options)


def mutated(base: dict[str, Any], *valid: Any) -> st.SearchStrategy[Any]:
    """`base` with up to three fields (or unknown ones, of odd types too) replaced by values();
    or anything."""
    keys = st.sampled_from([*base, "unknown_field", "", 1, None])
    changes = st.dictionaries(keys, values(*valid), max_size=3)
    return st.one_of(
        changes.map(lambda c: {**base, **c}), changes.map(lambda c: {**base, **c}), values()
    )


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t}) AS {t}" for t in TABLES)
    async with engine.connect() as conn:
        return dict((await conn.execute(text(sql))).one()._mapping)


async def only_typed_errors(engine: AsyncEngine, call: Callable[[], Awaitable[Any]]) -> None:
    """Run `call`: success, or a typed error that names the field; nothing half written."""
    before = await row_counts(engine)
    started = time.perf_counter()
    error: ArcDatabaseError | None = None
    try:
        await call()
    except ArcDatabaseError as exc:  # anything else fails the test with its traceback
        error = exc
    assert time.perf_counter() - started < 5
    if error is None:
        return
    assert not isinstance(error, ArcTransientError), error
    if isinstance(error, ArcValidationError):
        assert error.field, error
        assert error.rule, error
    if isinstance(error, ArcIntegrityError):
        assert error.field, error
    assert await row_counts(engine) == before


Entry = Callable[[World, st.DataObject], Callable[[], Awaitable[Any]]]


def _result(w: World, data: st.DataObject) -> Any:
    base = scenario_result(scenario(w.slug))
    trajectory = data.draw(mutated(base["trajectory"]))
    steps = data.draw(st.lists(mutated(base["trajectory"]["full_trajectory"][0]), max_size=2))
    if isinstance(trajectory, dict):
        trajectory["full_trajectory"] = steps
    score = data.draw(mutated(base["reliability_score"]))
    return data.draw(mutated({**base, "trajectory": trajectory, "reliability_score": score}))


def _sid(w: World) -> st.SearchStrategy[Any]:
    return values(w.simulation_id, MISSING_ID)


def _outcome(w: World) -> st.SearchStrategy[Any]:
    return mutated(outcome_dict(w.simulation_id, w.slug), w.simulation_id, w.slug)


# ----------------------------------------------------------------------------- ArcAPI


def api_start_simulation(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
    scen = d.draw(st.lists(mutated(scenario("fuzz_new_scenario")), max_size=2) | values())
    args = [d.draw(values()) for _ in range(5)]
    version = d.draw(values(w.version_id))
    return lambda: ArcAPI(w.client).start_simulation(version, scen, *args)


def api_record_batch_outcomes(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
    results = [_result(w, d) for _ in range(d.draw(st.integers(1, 3)))]
    ids = d.draw(
        st.none()
        | st.lists(values("call-1"), min_size=len(results), max_size=len(results))
        | values()
    )
    sid = d.draw(_sid(w))
    return lambda: ArcAPI(w.client).record_batch_outcomes(sid, results, ids)


def api_record_scenario_outcome(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
    result, sid = _result(w, d), d.draw(_sid(w))
    call_id, sandbox = d.draw(values(None, "call-1")), d.draw(values(None, "sb-1"))
    return lambda: ArcAPI(w.client).record_scenario_outcome(sid, result, call_id, sandbox)


def api_complete_simulation(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
    suite = d.draw(
        mutated({"overall_score": 0.5, "total_cost": 1.0, "execution_time": 2.0, "summary": {}})
        | st.none()
    )
    sid = d.draw(_sid(w))
    return lambda: ArcAPI(w.client).complete_simulation(sid, suite)


def api_fail_simulation(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
    sid, reason = d.draw(_sid(w)), d.draw(values("boom"))
    return lambda: ArcAPI(w.client).fail_simulation(sid, reason)


def api_get_simulation_status(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
    sid = d.draw(_sid(w))
    return lambda: ArcAPI(w.client).get_simulation_status(sid)


def api_get_scenario_outcomes(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
    sid, status, scen = d.draw(_sid(w)), d.draw(values(None, "error")), d.draw(values(None, w.slug))
    return lambda: ArcAPI(w.client).get_scenario_outcomes(sid, status, scen)


# ----------------------------------------------------------------------------- ArcDBClient


def client_create_simulation(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
    scen = d.draw(st.lists(values(w.slug), max_size=2) | values())
    version = d.draw(values(w.version_id))
    kwargs = {
        k: d.draw(values())
        for k in d.draw(
            st.sets(
                st.sampled_from(
                    [
                        "simulation_name",
                        "modal_app_id",
                        "modal_environment",
                        "sandbox_instances",
                        "metadata",
                        "status",
                        "priority",
                        "timeout_ms",
                        "max_retries",
                    ]
                ),
                max_size=3,
            )
        )
    }
    return lambda: w.client.create_simulation(version, scen, **kwargs)


def client_record_execution_start(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
    data = d.draw(
        mutated(
            {"config_version_id": w.version_id, "scenario_set": [w.slug], "modal_app_id": "app"}
        )
        | mutated({"config_id": w.version_id, "scenario_id": w.slug, "started_at": "2025-01-01"})
    )
    return lambda: w.client.record_execution_start(data)


def client_record_outcome(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
    data = d.draw(_outcome(w))
    return lambda: w.client.record_outcome(data)


def client_record_outcomes_batch(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
    rows = d.draw(st.lists(_outcome(w), min_size=1, max_size=3) | values())
    return lambda: w.client.record_outcomes_batch(rows)


def client_record_execution_outcome(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
    base = outcome_dict(w.simulation_id, w.slug)
    del base["simulation_id"], base["scenario_id"]
    data = d.draw(mutated({**base, "execution_id": w.simulation_id}, w.simulation_id))
    return lambda: w.client.record_execution_outcome(data)


def client_record_tool_usage(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
    base = {"outcome_id": w.outcome_id, "tool_name": "search", "call_count": 2,
            "avg_duration_ms": 10.0, "success_rate": 0.5}  # fmt: skip
    events = d.draw(st.lists(mutated(base, w.outcome_id), max_size=2) | mutated(base) | values())
    return lambda: w.client.record_tool_usage(events)


def client_record_failure_pattern(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
    base = {"outcome_id": w.outcome_id, "error_type": "timeout", "failure_category": "timeout",
            "error_message": "took too long"}  # fmt: skip
    data = d.draw(mutated(base, w.outcome_id) | mutated({**base, "execution_id": w.simulation_id}))
    return lambda: w.client.record_failure_pattern(data)


def client_get_simulation_performance(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
    sid, window = d.draw(_sid(w)), d.draw(values(timedelta(hours=1)) | st.timedeltas())
    return lambda: w.client.get_simulation_performance(sid, window)


def client_get_recent_failures(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
    limit = d.draw(values(10))
    return lambda: w.client.get_recent_failures(limit)


# ----------------------------------------------------------------------------- configurations

YAML = st.sampled_from(
    [
        "model: m\ntemperature: 0.7\n",
        "model: m\ntemperature: 1\na0: &a0 [x,x,x,x,x,x,x,x,x]\n"
        + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)),
        "model: m\ntemperature: .nan\n",
        "model: m\ntemperature: 1\nx: " + "[" * 3000 + "]" * 3000 + "\n",
        "model: m\ntemperature: 1\nx: " + "9" * 5000 + "\n",
        'model: "a\\0"\ntemperature: 1\n',
        "model: m\ntemperature: 1\nx: &a {b: *a}\n",
    ]
)


def _config(w: World, d: st.DataObject) -> Any:
    return d.draw(
        YAML
        | mutated({"model": "m", "temperature": 0.3, "tools": ["search"]})
        | st.text(max_size=60)
    )


def _in_transaction(
    w: World, work: Callable[[Any], Awaitable[Any]]
) -> Callable[[], Awaitable[Any]]:
    async def call() -> Any:
        async with session_factory(w.engine).begin() as session:
            return await work(session)

    return call


def configs_create_configuration(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
    fresh = f"fuzz config {d.draw(st.uuids()).hex[:12]}"
    config, name = _config(w, d), d.draw(values(fresh))
    user, app = d.draw(values() | st.uuids()), d.draw(values(None, "app"))
    return _in_transaction(
        w, lambda s: ConfigurationManager().create_configuration(s, user, name, config, app)
    )


def configs_create_config_version(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
    config, config_id = _config(w, d), d.draw(values(w.config_id))
    deployment, embedding = d.draw(values(None, "dep-1")), d.draw(values(None, [0.5] * 1536))
    return _in_transaction(
        w,
        lambda s: ConfigurationManager().create_config_version(
            s, config_id, config, modal_deployment_id=deployment, embedding=embedding
        ),
    )


def configs_propose_config_version(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
    config, config_id = _config(w, d), d.draw(values(w.config_id))
    generated_by = d.draw(values("llm_recommendation"))
    return _in_transaction(
        w,
        lambda s: ConfigurationManager().propose_config_version(
            s, config_id, config, generated_by=generated_by
        ),
    )


def configs_parse_config(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
    config = _config(w, d)

    async def call() -> Any:
        return parse_config(config)

    return call


# ----------------------------------------------------------------------------- analytics

_WINDOW = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 8, tzinfo=UTC))


Strategy = Callable[[World], st.SearchStrategy[Any]]


def _panel(name: str, *positional: Strategy, **optional: Strategy) -> Entry:
    """An ArcAnalytics method: a window first (if it takes one), its positional arguments,
    and each optional keyword argument or not."""

    def entry(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
        analytics = ArcAnalytics(w.engine)
        method = getattr(analytics, name)
        args = [d.draw(strategy(w)) for strategy in positional]
        kwargs = {
            k: d.draw(strategy(w)) for k, strategy in optional.items() if d.draw(st.booleans())
        }
        return lambda: method(*args, **kwargs)

    entry.__name__ = f"analytics_{name}"
    return entry


def _start(w: World) -> st.SearchStrategy[Any]:
    return values(_WINDOW[0])


def _end(w: World) -> st.SearchStrategy[Any]:
    return values(_WINDOW[1])


def _ids(w: World) -> st.SearchStrategy[Any]:
    return values([w.simulation_id], [MISSING_ID]) | st.lists(values(w.simulation_id), max_size=2)


ANALYTICS = [
    _panel(
        "get_simulation_performance",
        lambda w: values(uuid.UUID(w.simulation_id)),
        time_range=lambda w: values(timedelta(hours=2)) | st.timedeltas(),
        end=_end,
    ),
    _panel("performance_trends", _start, _end, simulation_ids=_ids),
    _panel("cost_breakdown", _start, _end, per_day=lambda w: values(True)),
    _panel("config_performance", _start, _end, config_id=lambda w: values(w.config_id)),
    _panel("failure_trends", _start, _end, category=lambda w: values("timeout")),
    _panel(
        "tool_performance",
        _start,
        _end,
        tool_names=lambda w: values(["search"]),
        per_day=lambda w: values(True),
    ),
    _panel(
        "error_rates",
        _start,
        _end,
        min_runs=lambda w: values(2),
        scenario_ids=lambda w: values([w.slug]),
    ),
    _panel("scenario_difficulty_trends", _start, _end, scenario_ids=lambda w: values([w.slug])),
    _panel("active_simulations", limit=lambda w: values(5)),
    _panel(
        "recent_failures",
        limit=lambda w: values(5),
        since=_start,
        simulation_id=lambda w: values(uuid.UUID(w.simulation_id)),
    ),
    _panel(
        "pending_recommendations",
        min_confidence=lambda w: values(0.5),
        limit=lambda w: values(5),
    ),
    _panel("dashboard", days=lambda w: values(3), end=_end),
]


# ----------------------------------------------------------------------------- events


def _event(event_type: str, w: World, d: st.DataObject) -> Any:
    now = NOW.isoformat()
    common = {"event_type": event_type, "simulation_id": w.simulation_id, "timestamp": now}
    bases: dict[str, dict[str, Any]] = {
        "execution_started": {"config_version_id": w.version_id, "scenario_set": [w.slug],
                              "metadata": {"a": 1}, "priority": 5},
        "scenario_started": {"scenario_id": w.slug, "modal_call_id": "call-1"},
        "scenario_completed": {"scenario_id": w.slug, "outcome_id": str(d.draw(st.uuids())),
                               "status": "success", "reliability_score": 0.9,
                               "execution_time_ms": 10.0, "tokens_used": 5, "cost_usd": 0.01,
                               "trajectory": {"start_time": now, "status": "success"}},
        "execution_completed": {"overall_score": 0.9, "execution_time_ms": 100},
        "execution_failed": {"error_message": "boom", "error_category": "system_error"},
    }  # fmt: skip
    return d.draw(mutated({**common, **bases[event_type]}, w.simulation_id, w.slug))


def _handler_entry(event_type: str) -> Entry:
    def entry(w: World, d: st.DataObject) -> Callable[[], Awaitable[Any]]:
        event = _event(event_type, w, d)
        handler = ExecutionEventHandler(w.engine)
        return lambda: getattr(handler, f"handle_{event_type}")(event)

    entry.__name__ = f"events_{event_type}"
    return entry


EVENTS = [
    _handler_entry(kind)
    for kind in (
        "execution_started",
        "scenario_started",
        "scenario_completed",
        "execution_completed",
        "execution_failed",
    )
]

ENTRIES: list[Entry] = [
    api_start_simulation,
    api_record_batch_outcomes,
    api_record_scenario_outcome,
    api_complete_simulation,
    api_fail_simulation,
    api_get_simulation_status,
    api_get_scenario_outcomes,
    client_create_simulation,
    client_record_execution_start,
    client_record_outcome,
    client_record_outcomes_batch,
    client_record_execution_outcome,
    client_record_tool_usage,
    client_record_failure_pattern,
    client_get_simulation_performance,
    client_get_recent_failures,
    configs_create_configuration,
    configs_create_config_version,
    configs_propose_config_version,
    configs_parse_config,
    *ANALYTICS,
    *EVENTS,
]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.__name__)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_only_typed_errors_and_nothing_half_written(
    world: World, entry: Entry, data: st.DataObject
) -> None:
    await only_typed_errors(world.engine, entry(world, data))
