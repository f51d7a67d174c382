"""Inputs that cannot hurt, on a real server.

Two halves: (1) the largest values validation accepts are stored by the database, so the
bounds derived from the models are sufficient (a worst-case text for each index, the ends of
the time range, the longest duration, the largest cost); (2) the values the attacker session
reported now come back as ArcValidationError naming the field, with no row written.
"""

import random
import time
import unicodedata
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.analytics import ArcAnalytics
from arc.database.api import ArcAPI
from arc.database.configs.manager import ConfigurationManager
from arc.database.core.checks import (
    INT32_MAX,
    MAX_COST_USD,
    MAX_DURATION_MS,
    MAX_WINDOW,
    text_limits,
)
from arc.database.core.engine import session_factory
from arc.database.core.errors import ArcIntegrityError, ArcValidationError, translate_error
from arc.database.ingest.client import ArcDBClient
from arc.database.ingest.events import ExecutionEventHandler
from arc.database.ingest.recorder import BatchExecutionRecorder
from arc.database.models import Outcome, Scenario, Simulation
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
# Letters outside the Basic Multilingual Plane: 4 bytes of UTF-8 each, one lexeme each.
WIDE_LETTERS = [
    chr(c) for c in range(0x10000, 0x30000) if unicodedata.category(chr(c)).startswith("L")
]


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t}) AS {t}" for t in TABLES)
    async with engine.connect() as conn:
        return dict((await conn.execute(text(sql))).one()._mapping)


def wide_text(length: int, seed: int = 0) -> str:
    """Random 4-byte characters: what compresses least in an index entry."""
    rng = random.Random(seed)
    return "".join(rng.choice(WIDE_LETTERS) for _ in range(length))


def worst_tsvector_text(length: int) -> str:
    """Text whose tsvector is largest per character: distinct one-letter words of 4-byte
    letters, then distinct two-letter words (6 and 5.3 bytes of tsvector per character)."""
    rng = random.Random(1)
    words = list(WIDE_LETTERS)
    size = 2 * len(words)
    while size < length:
        words.append(rng.choice(WIDE_LETTERS) + rng.choice(WIDE_LETTERS))
        size += 3
    return " ".join(words)[:length]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[ArcDBClient]:
    c = ArcDBClient(database_url, application_name="arc-bad-input")
    yield c
    await c.close()


@pytest.fixture
async def simulation(engine: AsyncEngine, client: ArcDBClient) -> tuple[str, str]:
    slug = f"bad_{uuid.uuid4().hex[:10]}"
    version = await make_config_version(engine)
    return await client.create_simulation(version, [scenario(slug)]), slug


# ----------------------------------------------------------------------------- (1) bounds


async def test_largest_accepted_values_are_stored(
    engine: AsyncEngine, client: ArcDBClient, simulation: tuple[str, str]
) -> None:
    sid, slug = simulation
    longest_id = text_limits(Outcome, "modal_call_id")[1]
    rows = [
        outcome_dict(
            sid,
            slug,
            execution_time=when,
            execution_time_ms=MAX_DURATION_MS,
            cost_usd=MAX_COST_USD,
            tokens_used=INT32_MAX,
            modal_call_id=wide_text(longest_id, seed=i),
            sandbox_logs="".join(random.Random(i).choices("abcdef0123456789", k=2**20)),
        )
        for i, when in enumerate(
            [datetime(1900, 1, 1, tzinfo=UTC), datetime(9998, 12, 31, 23, 59, 59, tzinfo=UTC)]
        )
    ]
    written = await client.record_outcomes_batch(rows, method="values")
    assert written.inserted == 2
    # The sums of the aggregates and of the simulation stay finite REALs.
    status = await ArcAPI(client).get_simulation_status(sid)
    assert status["total_cost_usd"] == pytest.approx(2 * MAX_COST_USD)


async def test_longest_indexed_texts_are_stored(engine: AsyncEngine, client: ArcDBClient) -> None:
    version = await make_config_version(engine)
    prompt_chars = text_limits(Scenario, "task_prompt")[1]
    slug = f"wide_{uuid.uuid4().hex[:10]}"
    wide = {
        "id": slug,
        "name": wide_text(text_limits(Scenario, "name")[1], seed=7),
        "task_prompt": worst_tsvector_text(prompt_chars),
    }
    sid = await client.create_simulation(
        version, [wide], modal_app_id=wide_text(text_limits(Simulation, "modal_app_id")[1])
    )
    async with engine.connect() as conn:
        size = (
            await conn.execute(
                text(
                    "SELECT pg_column_size(to_tsvector('english', name || ' ' || task_prompt)) "
                    "FROM scenarios WHERE scenario_id = :s"
                ),
                {"s": slug},
            )
        ).scalar_one()
    assert size < 1_048_575  # the tsvector limit, with the worst text at its longest
    assert uuid.UUID(sid)


async def test_index_key_too_large_is_mapped_to_its_column(engine: AsyncEngine) -> None:
    """A refusal that bypasses validation (raw SQL) still names the field and the table."""
    version = await make_config_version(engine)
    key = "".join(random.Random(3).choices("abcdefghijklmnopqrstuvwxyz0123456789", k=3000))
    with pytest.raises(DBAPIError) as info:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO simulations (config_version_id, scenario_set, total_scenarios,"
                    " modal_app_id) VALUES (:v, ARRAY['x'], 1, :m)"
                ),
                {"v": version, "m": key},
            )
    error = translate_error(info.value)
    assert isinstance(error, ArcIntegrityError)
    assert (error.field, error.table, error.sqlstate) == (
        "modal_app_id,created_at",
        "simulations",
        "54000",
    )


# ----------------------------------------------------------------------------- (2) findings


async def refused_without_writes(engine: AsyncEngine, call: Any) -> ArcValidationError:
    before = await row_counts(engine)
    started = time.perf_counter()
    with pytest.raises(ArcValidationError) as info:
        await call
    assert time.perf_counter() - started < 2
    assert await row_counts(engine) == before
    assert info.value.field
    assert info.value.rule
    return info.value


def _usage(**counts: Any) -> dict[str, Any]:
    result = scenario_result(scenario("x"))
    result["trajectory"]["token_usage"] = counts
    return result


@pytest.mark.parametrize(
    ("counts", "field"),
    [
        ({"total_tokens": "abc"}, "trajectory.token_usage.total_tokens"),
        ({"total_tokens": float("nan")}, "trajectory.token_usage.total_tokens"),
        ({"prompt_tokens": "abc"}, "trajectory.token_usage.prompt_tokens"),
        ({"prompt_tokens": float("nan")}, "trajectory.token_usage.prompt_tokens"),
        ({"completion_tokens": float("inf")}, "trajectory.token_usage.completion_tokens"),
    ],
)
async def test_api_token_counts(
    engine: AsyncEngine,
    client: ArcDBClient,
    simulation: tuple[str, str],
    counts: dict[str, Any],
    field: str,
) -> None:
    sid, slug = simulation
    result = _usage(**counts)
    result["scenario"]["id"] = slug
    error = await refused_without_writes(
        engine, ArcAPI(client).record_scenario_outcome(sid, result)
    )
    assert error.field == field


async def test_one_row_out_of_range_refuses_the_batch_before_writing(
    engine: AsyncEngine, client: ArcDBClient, simulation: tuple[str, str]
) -> None:
    sid, slug = simulation
    results = [scenario_result(scenario(slug)) for _ in range(3)]
    del results[1]["trajectory"]["execution_time_seconds"]
    results[1]["execution_time_ms"] = 1e14
    error = await refused_without_writes(engine, ArcAPI(client).record_batch_outcomes(sid, results))
    assert (error.field, error.index) == ("execution_time_ms", 1)


async def test_one_row_out_of_range_does_not_sink_a_skip_batch_or_the_recorder(
    engine: AsyncEngine, client: ArcDBClient, simulation: tuple[str, str]
) -> None:
    """The finding: 1e14 ms passed validation, overflowed a datetime in write_bundle, and the
    whole on_invalid="skip" batch raised; the recorder dead-lettered 100 good rows."""
    sid, slug = simulation
    rows = [outcome_dict(sid, slug) for _ in range(100)]
    rows.insert(40, outcome_dict(sid, slug, execution_time_ms=1e14))
    result = await client.record_outcomes_batch(rows, on_invalid="skip")
    assert result.inserted == 100
    assert [(e.field, e.index) for e in result.rejected] == [("execution_time_ms", 40)]

    recorder = BatchExecutionRecorder(client, batch_size=50, flush_interval=0.05)
    async with recorder:
        for row in [outcome_dict(sid, slug) for _ in range(100)]:
            await recorder.record_outcome(row)
        bad = await recorder.record_outcome(outcome_dict(sid, slug, execution_time_ms=1e14))
    assert bad is None
    assert [getattr(d.error, "field", None) for d in recorder.dead_letters] == ["execution_time_ms"]
    assert recorder.stats()["inserted"] == 100
    stored = await engine.connect()
    try:
        n = (
            await stored.execute(
                text("SELECT count(*) FROM outcomes WHERE simulation_id = :s"), {"s": sid}
            )
        ).scalar_one()
    finally:
        await stored.close()
    assert n == 200


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"execution_time": datetime(1, 1, 1, tzinfo=UTC)}, "execution_time"),
        ({"created_at": "0001-01-01T00:00:00"}, "created_at"),
        ({"modal_call_id": wide_text(10_000)}, "modal_call_id"),
        ({"execution_time_ms": 1e30}, "execution_time_ms"),
        (
            {
                "trajectory": {
                    "start_time": "x",
                    "status": "y",
                    "v": [[[[[[]]]]]] * 2 + [{"k": "\x00"}],
                }
            },
            "trajectory",
        ),
    ],
)
async def test_database_refusals_are_validation_errors_now(
    engine: AsyncEngine,
    client: ArcDBClient,
    simulation: tuple[str, str],
    override: dict[str, Any],
    field: str,
) -> None:
    sid, slug = simulation
    error = await refused_without_writes(
        engine, client.record_outcome(outcome_dict(sid, slug, **override))
    )
    assert error.field == field


async def test_oversized_scenario_and_simulation_texts(
    engine: AsyncEngine, client: ArcDBClient
) -> None:
    version = await make_config_version(engine)
    huge = {**scenario("huge_prompt"), "task_prompt": worst_tsvector_text(400_000)}
    error = await refused_without_writes(engine, client.create_simulation(version, [huge]))
    assert error.field == "scenario.task_prompt"
    error = await refused_without_writes(
        engine, client.create_simulation(version, ["x"], modal_app_id=wide_text(3000))
    )
    assert error.field == "modal_app_id"


async def test_analytics_arguments(engine: AsyncEngine) -> None:
    analytics = ArcAnalytics(engine)
    now = datetime.now(UTC)
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "limit": lambda: analytics.recent_failures(limit="5"),
        "simulation_id": lambda: analytics.recent_failures(simulation_id="abc"),
        "time_range": lambda: analytics.get_simulation_performance(uuid.uuid4(), MAX_WINDOW * 1000),
        "end": lambda: analytics.dashboard(end=datetime(1, 1, 2, tzinfo=UTC)),
        "simulation_ids": lambda: analytics.performance_trends(
            now - timedelta(days=1), now, simulation_ids="abc"
        ),
        "category": lambda: analytics.failure_trends(
            now - timedelta(days=1), now, category="a\x00"
        ),
        "tool_names[0]": lambda: analytics.tool_performance(
            now - timedelta(days=1), now, tool_names=[1]
        ),
        "scenario_ids": lambda: analytics.scenario_difficulty_trends(
            now - timedelta(days=1), now, scenario_ids="ab"
        ),
        "min_runs": lambda: analytics.error_rates(now - timedelta(days=1), now, min_runs=2**70),
        "config_id": lambda: analytics.config_performance(
            now - timedelta(days=1), now, config_id="abc"
        ),
        "start": lambda: analytics.cost_breakdown(datetime(1, 1, 1, tzinfo=UTC), now),
    }
    for field, call in calls.items():
        error = await refused_without_writes(engine, call())
        assert error.field == field


async def test_alias_bomb_reaches_no_table(engine: AsyncEngine) -> None:
    bomb = "model: m\ntemperature: 1\na0: &a0 [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)
    )
    assert len(bomb) < 600
    async with session_factory(engine).begin() as session:
        error = await refused_without_writes(
            engine,
            ConfigurationManager().create_configuration(session, uuid.uuid4(), "bomb one", bomb),
        )
    assert error.field == "raw_yaml"


async def test_event_with_values_the_row_cannot_hold(
    engine: AsyncEngine, simulation: tuple[str, str]
) -> None:
    sid, slug = simulation
    handler = ExecutionEventHandler(engine)
    event = {
        "event_type": "scenario_completed",
        "simulation_id": sid,
        "timestamp": datetime.now(UTC).isoformat(),
        "scenario_id": slug,
        "outcome_id": str(uuid.uuid4()),
        "status": "success",
        "reliability_score": 0.5,
        "execution_time_ms": 1e14,
        "tokens_used": 1,
        "cost_usd": 0.0,
        "trajectory": {"start_time": "x", "status": "success"},
    }
    error = await refused_without_writes(engine, handler.handle_scenario_completed(event))
    assert error.field == "execution_time_ms"
