"""Similarity search returns the planted nearest neighbours; failures cluster sensibly."""

import hashlib
import math
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.analytics import ArcAnalytics
from arc.database.analytics.similarity import SimilaritySearch
from arc.database.core.errors import ArcNotFoundError, ArcValidationError
from arc.database.models import (
    EMBEDDING_DIMENSIONS,
    Configuration,
    ConfigVersion,
    FailurePattern,
    Outcome,
    Scenario,
    Simulation,
)
from arc.database.ops.maintenance import refresh_aggregates
from tests.support.scratch import scratch_engine, scratch_url

__all__ = ["scratch_engine", "scratch_url"]


def unit(seed: int) -> list[float]:
    rng = random.Random(seed)
    raw = [rng.gauss(0, 1) for _ in range(EMBEDDING_DIMENSIONS)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def near(base: list[float], noise: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    raw = [x + rng.gauss(0, noise) for x in base]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


@pytest.fixture(scope="module")
async def world(scratch_engine: AsyncEngine) -> AsyncIterator[dict[str, object]]:
    """A configuration with versions, scenarios, a simulation and outcomes to search in."""
    config_id, sim_id = uuid.uuid4(), uuid.uuid4()
    versions = [uuid.uuid4() for _ in range(4)]
    scenario_ids = [f"sim_scn_{i}_{uuid.uuid4().hex[:6]}" for i in range(3)]
    async with scratch_engine.begin() as conn:
        await conn.execute(
            insert(Configuration).values(
                config_id=config_id, name="sim config", user_id=uuid.uuid4()
            )
        )
        await conn.execute(
            insert(ConfigVersion),
            [
                {
                    "version_id": v,
                    "config_id": config_id,
                    "version_number": i + 1,
                    "raw_yaml": f"model: m{i}\ntemperature: 0.1\n",
                    "parsed_config": {"model": f"m{i}", "temperature": 0.1},
                    "config_hash": hashlib.sha256(str(v).encode()).hexdigest(),
                }
                for i, v in enumerate(versions)
            ],
        )
        await conn.execute(
            insert(Scenario),
            [
                {"scenario_id": s, "name": f"scenario {s}", "task_prompt": "a task prompt here"}
                for s in scenario_ids
            ],
        )
        await conn.execute(
            insert(Simulation).values(
                simulation_id=sim_id,
                config_version_id=versions[0],
                scenario_set=scenario_ids,
                total_scenarios=3,
            )
        )
    return {"config_id": config_id, "versions": versions, "scenarios": scenario_ids, "sim": sim_id}


async def test_configs_like_returns_planted_neighbours(
    scratch_engine: AsyncEngine, world: dict[str, object]
) -> None:
    search = SimilaritySearch(scratch_engine)
    versions: list[uuid.UUID] = world["versions"]  # type: ignore[assignment]
    anchor = unit(1)
    vectors = [anchor, near(anchor, 0.01, 2), near(anchor, 0.05, 3), unit(99)]
    for version, vector in zip(versions, vectors, strict=True):
        await search.set_config_embedding(version, vector)
    found = await search.configs_like(versions[0], limit=3, config_id=world["config_id"])  # type: ignore[arg-type]
    assert [f.version_id for f in found] == [versions[1], versions[2], versions[3]]
    assert found[0].distance < found[1].distance < found[2].distance
    assert found[0].distance == pytest.approx(
        1 - sum(a * b for a, b in zip(anchor, vectors[1], strict=True)), abs=1e-4
    )
    by_text = await search.configs_like(vectors[2], limit=1, config_id=world["config_id"])  # type: ignore[arg-type]
    assert by_text[0].version_id == versions[2]
    assert by_text[0].distance == pytest.approx(0.0, abs=1e-5)


async def test_scenarios_like_by_text(
    scratch_engine: AsyncEngine, world: dict[str, object]
) -> None:
    search = SimilaritySearch(scratch_engine)
    ids: list[str] = world["scenarios"]  # type: ignore[assignment]
    texts = [
        "Book a flight from Paris to Tokyo next Monday",
        "What is the weather forecast in Berlin tomorrow",
        "Compute compound interest on 1000 dollars",
    ]
    for scenario_id, value in zip(ids, texts, strict=True):
        await search.set_scenario_embedding(scenario_id, value)
    found = await search.scenarios_like("weather forecast for Berlin on Friday", limit=3)
    mine = [f for f in found if f.scenario_id in ids]
    assert mine[0].scenario_id == ids[1]


async def test_trajectories_like_with_filters(
    scratch_engine: AsyncEngine, world: dict[str, object]
) -> None:
    search = SimilaritySearch(scratch_engine)
    sim: uuid.UUID = world["sim"]  # type: ignore[assignment]
    scenario = world["scenarios"][0]  # type: ignore[index]
    now = datetime.now(UTC)
    rows = []
    for i, (status, text_) in enumerate(
        [
            ("error", "status error\nstep weather_api error HTTP 503"),
            ("error", "status error\nstep weather_api error HTTP 502"),
            ("success", "status success\nstep calculator success"),
        ]
    ):
        rows.append(
            {
                "outcome_id": uuid.uuid4(),
                "execution_time": now - timedelta(minutes=i),
                "simulation_id": sim,
                "scenario_id": scenario,
                "status": status,
                "reliability_score": 0.5,
                "execution_time_ms": 1.0,
                "tokens_used": 1,
                "cost_usd": 0.0,
                "trajectory": {"start_time": now.isoformat(), "status": status},
                "trajectory_embedding": (await search.provider.embed([text_]))[0],
            }
        )
    async with scratch_engine.begin() as conn:
        await conn.execute(insert(Outcome), rows)
    found = await search.trajectories_like(
        "status error\nstep weather_api error HTTP 503", simulation_id=sim, limit=2
    )
    assert [f.outcome_id for f in found] == [rows[0]["outcome_id"], rows[1]["outcome_id"]]
    assert found[0].distance == pytest.approx(0.0, abs=1e-5)
    ok = await search.trajectories_like(
        "status error", simulation_id=sim, status="success", limit=5
    )
    assert [f.outcome_id for f in ok] == [rows[2]["outcome_id"]]
    windowed = await search.trajectories_like(
        "status error", simulation_id=sim, since=now - timedelta(seconds=30), limit=5
    )
    assert [f.outcome_id for f in windowed] == [rows[0]["outcome_id"]]


async def test_failures_cluster_and_are_found(
    scratch_engine: AsyncEngine, world: dict[str, object]
) -> None:
    """Similar errors share a cluster, different ones do not; counts and confidence follow."""
    search = SimilaritySearch(scratch_engine)
    when = datetime.now(UTC) - timedelta(days=20)
    messages = [
        ("timeout", "Timeout after 30s waiting for weather_api response"),
        ("timeout", "Timeout after 45s waiting for weather_api response"),
        ("timeout", "Timeout after 31s waiting for weather_api response"),
        ("model_error", "Model output could not be parsed as JSON: unexpected token"),
        ("tool_error", "flight_search returned HTTP 503: Service Unavailable"),
    ]
    rows = [
        {
            "pattern_id": uuid.uuid4(),
            "outcome_id": uuid.uuid4(),
            "execution_time": when + timedelta(seconds=i),
            "failure_type": f"{category}_x",
            "failure_category": category,
            "error_message": message,
        }
        for i, (category, message) in enumerate(messages)
    ]
    async with scratch_engine.begin() as conn:
        await conn.execute(insert(FailurePattern), rows)
    report = await search.embed_missing()
    assert report.failure_patterns >= 5
    async with scratch_engine.connect() as conn:
        stored = {
            r.pattern_id: r
            for r in (
                await conn.execute(
                    select(
                        FailurePattern.pattern_id,
                        FailurePattern.pattern_cluster_id,
                        FailurePattern.cluster_confidence,
                        FailurePattern.similar_failures_count,
                    ).where(FailurePattern.pattern_id.in_([r["pattern_id"] for r in rows]))
                )
            ).all()
        }
    clusters = [stored[r["pattern_id"]].pattern_cluster_id for r in rows]
    assert clusters[0] == clusters[1] == clusters[2] == rows[0]["pattern_id"]
    assert len({clusters[0], clusters[3], clusters[4]}) == 3
    assert [stored[r["pattern_id"]].similar_failures_count for r in rows] == [2, 2, 2, 0, 0]
    assert stored[rows[0]["pattern_id"]].cluster_confidence == 1.0
    assert 0.5 < stored[rows[1]["pattern_id"]].cluster_confidence < 1.0

    found = await search.failures_like(
        "Timeout after 40s waiting for weather_api response", limit=3, category="timeout"
    )
    assert {f.pattern_id for f in found} == {r["pattern_id"] for r in rows[:3]}
    assert all(f.failure_category == "timeout" for f in found)
    assert found == sorted(found, key=lambda f: f.distance)
    windowed = await search.failures_like(
        "Timeout after 40s", since=when + timedelta(seconds=2), until=when + timedelta(seconds=4)
    )
    assert {f.pattern_id for f in windowed} == {rows[2]["pattern_id"], rows[3]["pattern_id"]}

    # One more similar failure joins the cluster through the single-pattern path.
    extra = {**rows[0], "pattern_id": uuid.uuid4(), "execution_time": when + timedelta(minutes=5)}
    async with scratch_engine.begin() as conn:
        await conn.execute(insert(FailurePattern).values(**extra))
    assignment = await search.cluster_failure(extra["pattern_id"], extra["execution_time"])
    assert assignment.cluster_id == clusters[0]
    assert not assignment.new_cluster
    assert assignment.cluster_size == 4
    async with scratch_engine.connect() as conn:
        counts = (
            await conn.execute(
                select(func.min(FailurePattern.similar_failures_count)).where(
                    FailurePattern.pattern_cluster_id == clusters[0]
                )
            )
        ).scalar_one()
    assert counts == 3

    # failure_trends_daily's unique_patterns now counts clusters (3 timeouts + 1 extra = 1).
    await refresh_aggregates(
        scratch_engine, start=when - timedelta(days=1), end=when + timedelta(days=1)
    )
    trends = await ArcAnalytics(scratch_engine).failure_trends(
        when - timedelta(hours=1), when + timedelta(hours=1), category="timeout"
    )
    assert [(t.failure_count, t.unique_patterns) for t in trends] == [(4, 1)]


async def test_failures_like_filters_by_simulation(
    scratch_engine: AsyncEngine, world: dict[str, object]
) -> None:
    search = SimilaritySearch(scratch_engine)
    sim: uuid.UUID = world["sim"]  # type: ignore[assignment]
    async with scratch_engine.connect() as conn:
        outcome = (
            await conn.execute(
                select(Outcome.outcome_id, Outcome.execution_time)
                .where(Outcome.simulation_id == sim)
                .limit(1)
            )
        ).one()
    pattern_id = uuid.uuid4()
    async with scratch_engine.begin() as conn:
        await conn.execute(
            insert(FailurePattern).values(
                pattern_id=pattern_id,
                outcome_id=outcome.outcome_id,
                execution_time=outcome.execution_time,
                failure_type="sandbox",
                failure_category="sandbox_error",
                error_message="Sandbox exited with code 137 (out of memory)",
            )
        )
    await search.cluster_failure(pattern_id, outcome.execution_time)
    found = await search.failures_like("Timeout after 30s", simulation_id=sim, limit=10)
    assert [f.pattern_id for f in found] == [pattern_id]


async def test_similarity_queries_use_the_hnsw_index(scratch_engine: AsyncEngine) -> None:
    async with scratch_engine.begin() as conn:
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        vector = "[" + ",".join(["0.01"] * EMBEDDING_DIMENSIONS) + "]"
        plan = "\n".join(
            (
                await conn.execute(
                    text(
                        "EXPLAIN SELECT version_id FROM config_versions "
                        "WHERE embedding IS NOT NULL "
                        f"ORDER BY embedding <=> '{vector}'::vector LIMIT 5"
                    )
                )
            ).scalars()
        )
    assert "idx_config_embedding_cosine" in plan


async def test_bad_vectors_and_arguments_are_rejected(scratch_engine: AsyncEngine) -> None:
    search = SimilaritySearch(scratch_engine)
    with pytest.raises(ArcValidationError) as short:
        await search.configs_like([0.1] * 10)
    assert "1536" in short.value.rule
    with pytest.raises(ArcValidationError):
        await search.failures_like([float("nan")] * EMBEDDING_DIMENSIONS)
    with pytest.raises(ArcValidationError):
        await search.failures_like("x", category="not_a_category")
    with pytest.raises(ArcValidationError):
        await search.failures_like("x", limit=0)
    with pytest.raises(ArcNotFoundError):
        await search.configs_like(uuid.uuid4())
    with pytest.raises(ArcNotFoundError):
        await search.set_config_embedding(uuid.uuid4(), "model: x")
