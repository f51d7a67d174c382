"""Every factory builds rows that the migrated database accepts, and they read back unchanged."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from arc.database.models import Base
from tests import factories as f


@pytest.fixture(scope="module", autouse=True)
async def _warm(engine: AsyncEngine) -> None:
    await f.warm_hypertables(engine)


def _graph_rows(pick: str) -> Callable[[], tuple[list[Base], Base]]:
    def build() -> tuple[list[Base], Base]:
        graph = f.build_graph()
        return graph.rows(), getattr(graph, pick)

    return build


def _alone(factory_cls: Any, **kwargs: Any) -> Callable[[], tuple[list[Base], Base]]:
    def build() -> tuple[list[Base], Base]:
        obj = factory_cls(**kwargs)
        return [obj], obj

    return build


# model -> how to build it with whatever parents it needs (the last object is the one checked)
BUILDERS: dict[str, Callable[[], tuple[list[Base], Base]]] = {
    "configurations": _graph_rows("configuration"),
    "config_versions": _graph_rows("version"),
    "config_diffs": _graph_rows("diff"),
    "scenarios": _alone(f.ScenarioFactory),
    "simulations": _graph_rows("simulation"),
    "simulations_scenarios": _graph_rows("simulation_scenario"),
    "outcomes": _graph_rows("outcome"),
    "failure_patterns": _graph_rows("failure_pattern"),
    "tool_usage": _graph_rows("tool_usage"),
    "recommendations": _alone(f.RecommendationFactory),
    "llm_recommendation_sessions": _alone(f.LLMRecommendationSessionFactory),
    "audit_log": _alone(f.AuditLogFactory),
}


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float):
        return actual == pytest.approx(expected, rel=1e-6)
    if isinstance(expected, list) and expected and isinstance(expected[0], float):
        return list(actual) == pytest.approx(expected, rel=1e-5, abs=1e-7)
    if isinstance(expected, str):
        return expected == str(actual)  # INET reads back as ipaddress.IPv4Address
    if isinstance(expected, datetime):
        return abs((actual - expected).total_seconds()) < 1e-5
    return bool(expected == actual)


def test_every_table_has_a_builder() -> None:
    assert set(BUILDERS) == set(Base.metadata.tables)


@pytest.mark.parametrize("table", sorted(BUILDERS))
async def test_factory_rows_are_accepted_and_read_back(session: AsyncSession, table: str) -> None:
    rows, target = BUILDERS[table]()
    await f.persist(session, *rows)
    await session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))  # the deferred key, checked now
    mapper = inspect(type(target))
    identity = mapper.primary_key_from_instance(target)
    sent = {
        attr.key: getattr(target, attr.key)
        for attr in mapper.column_attrs
        if attr.key in target.__dict__
    }
    session.expunge_all()
    loaded = await session.get(type(target), tuple(identity))
    assert loaded is not None
    assert type(loaded).__tablename__ == table
    for key, value in sent.items():
        got = getattr(loaded, key)
        assert _same(value, got), f"{table}.{key}: sent {value!r}, read {got!r}"
    # server defaults filled what the factory left out
    if "created_at" in {a.key for a in mapper.column_attrs} and "created_at" not in sent:
        assert loaded.created_at is not None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "factory_cls",
    [f.ConfigVersionFactory, f.ScenarioFactory, f.OutcomeFactory, f.FailurePatternFactory],
    ids=lambda c: c.__name__,
)
async def test_embedded_trait_stores_a_vector(session: AsyncSession, factory_cls: Any) -> None:
    graph = f.build_graph()
    parents = {
        "ConfigVersionFactory": {"config_id": graph.configuration.config_id, "version_number": 9},
        "ScenarioFactory": {},
        "OutcomeFactory": {
            "simulation_id": graph.simulation.simulation_id,
            "scenario_id": graph.scenario.scenario_id,
        },
        "FailurePatternFactory": {"outcome_id": graph.outcome.outcome_id},
    }[factory_cls.__name__]
    obj = factory_cls(embedded=True, **parents)
    await f.persist(session, *graph.rows(), obj)
    column = {
        "ConfigVersionFactory": "embedding",
        "ScenarioFactory": "scenario_embedding",
        "OutcomeFactory": "trajectory_embedding",
        "FailurePatternFactory": "error_embedding",
    }[factory_cls.__name__]
    table = type(obj).__tablename__
    pk = inspect(type(obj)).primary_key[0].name
    dims = (
        await session.execute(
            text(f"SELECT vector_dims({column}) FROM {table} WHERE {pk} = :id"),
            {"id": getattr(obj, pk)},
        )
    ).scalar_one()
    assert dims == 1536


async def test_graph_is_coherent(session: AsyncSession) -> None:
    graph = await f.create_graph(session)
    await session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    row = (
        await session.execute(
            text(
                """
                SELECT c.name, cv.version_number, s.status, o.status AS outcome_status,
                       fp.failure_category, tu.tool_name, d.version_before = pv.version_id AS ok
                  FROM configurations c
                  JOIN config_versions cv ON cv.version_id = c.latest_version_id
                  JOIN simulations s ON s.config_version_id = cv.version_id
                  JOIN simulations_scenarios ss ON ss.simulation_id = s.simulation_id
                  JOIN outcomes o ON o.simulation_id = s.simulation_id
                       AND o.scenario_id = ss.scenario_id
                  JOIN failure_patterns fp ON fp.outcome_id = o.outcome_id
                       AND fp.execution_time = o.execution_time
                  JOIN tool_usage tu ON tu.outcome_id = o.outcome_id
                  JOIN config_diffs d ON d.version_after = cv.version_id
                  JOIN config_versions pv ON pv.config_id = c.config_id AND pv.version_number = 1
                 WHERE c.config_id = :id
                """
            ),
            {"id": graph.configuration.config_id},
        )
    ).one()
    assert row.version_number == 2
    assert row.status == "running"
    assert row.outcome_status == "error"
    assert row.failure_category == "tool_error"
    assert row.tool_name == "weather_api"
    assert row.ok is True


def test_config_hash_is_sha256_of_parsed_config() -> None:
    version = f.ConfigVersionFactory()
    assert len(version.config_hash) == 64
    assert version.config_hash == f.sha256_hex(version.parsed_config)
    assert {"model", "temperature"} <= set(version.parsed_config)
    assert 0 <= version.parsed_config["temperature"] <= 2


def test_scenario_ids_look_like_the_seeds() -> None:
    ids = {f.ScenarioFactory().scenario_id for _ in range(10)}
    assert len(ids) == 10
    assert all(any(i.startswith(b) for b in f.SCENARIO_BASES) for i in ids)
