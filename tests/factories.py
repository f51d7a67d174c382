"""factory-boy factories for the twelve models, and helpers to persist a coherent graph.

factory-boy has no async support, so every factory is a plain `factory.Factory` that builds an
unsaved ORM object with a client-side id; `persist` adds and flushes through an AsyncSession.
Models declare no relationships, so foreign keys are plain ids: a factory's default parent id is
a fresh UUID that matches nothing, and `build_graph` wires a configuration, its versions, a
scenario, a simulation and its outcome, tool usage and failure pattern into rows that the
database accepts together. Columns with a server default are left unset so the default applies.
"""

import hashlib
import json
import math
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import factory
import yaml
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from arc.database.models import (
    EMBEDDING_DIMENSIONS,
    AuditLog,
    Base,
    ConfigDiff,
    Configuration,
    ConfigVersion,
    FailurePattern,
    LLMRecommendationSession,
    Outcome,
    Recommendation,
    Scenario,
    Simulation,
    SimulationScenario,
    ToolUsage,
)

# Scenario slugs in the style of the seeds; a short random suffix keeps ids unique across tests
# that share one database.
SCENARIO_BASES = (
    "weather_query_nyc",
    "flight_booking_sfo",
    "calendar_invite_team",
    "stock_price_lookup",
    "restaurant_search_paris",
)
MODELS = ("gpt-4-turbo", "gpt-4o", "claude-3-5-sonnet", "llama-3-70b")
TOOLS = ("weather_api", "web_search", "calculator", "calendar_api", "flight_search")


def utcnow() -> datetime:
    return datetime.now(UTC)


def sha256_hex(value: Any) -> str:
    """SHA-256 of a canonical JSON form: what the client stores as config_hash."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def embedding(seed: int | None = None) -> list[float]:
    """A deterministic (for a given seed) unit vector of the embedding dimension."""
    rng = random.Random(seed)
    raw = [rng.uniform(-1.0, 1.0) for _ in range(EMBEDDING_DIMENSIONS)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def scenario_slug(n: int) -> str:
    return f"{SCENARIO_BASES[n % len(SCENARIO_BASES)]}_{uuid.uuid4().hex[:8]}"


def parsed_config(n: int) -> dict[str, Any]:
    return {
        "model": MODELS[n % len(MODELS)],
        "temperature": round((n % 20) / 10, 1),
        "max_tokens": 2048,
        "tools": list(TOOLS[: 1 + n % len(TOOLS)]),
        "system_prompt": "You are a helpful travel and weather assistant.",
    }


def trajectory(start: datetime, status: str = "success") -> dict[str, Any]:
    return {
        "start_time": start.isoformat(),
        "end_time": (start + timedelta(seconds=2)).isoformat(),
        "status": status,
        "steps": [
            {"type": "tool_call", "tool": "weather_api", "input": {"city": "New York"}},
            {"type": "response", "content": "It is 21C and sunny in New York."},
        ],
    }


class ConfigurationFactory(factory.Factory):
    class Meta:
        model = Configuration

    config_id = factory.LazyFunction(uuid.uuid4)
    name = factory.Sequence(lambda n: f"weather-agent {n}")
    user_id = factory.LazyFunction(uuid.uuid4)
    is_active = True
    modal_app_id = "arc-eval-sandbox"
    sandbox_config = factory.LazyFunction(lambda: {"cpu": 2.0, "memory": 4096, "timeout": 300})


class ConfigVersionFactory(factory.Factory):
    class Meta:
        model = ConfigVersion

    class Params:
        embedded = factory.Trait(embedding=factory.LazyFunction(embedding))

    version_id = factory.LazyFunction(uuid.uuid4)
    config_id = factory.LazyFunction(uuid.uuid4)  # override with a real configuration
    version_number = 1
    parsed_config = factory.Sequence(parsed_config)
    raw_yaml = factory.LazyAttribute(lambda o: yaml.safe_dump(o.parsed_config, sort_keys=False))
    config_hash = factory.LazyAttribute(lambda o: sha256_hex(o.parsed_config))
    generated_by = "manual"
    modal_deployment_id = factory.Sequence(lambda n: f"dep-{n:06d}")
    is_deleted = False


class ConfigDiffFactory(factory.Factory):
    class Meta:
        model = ConfigDiff

    diff_id = factory.LazyFunction(uuid.uuid4)
    config_id = factory.LazyFunction(uuid.uuid4)
    version_before = factory.LazyFunction(uuid.uuid4)
    version_after = factory.LazyFunction(uuid.uuid4)
    diff_yaml = "-temperature: 0.7\n+temperature: 0.2\n"
    change_summary = factory.LazyFunction(
        lambda: {"changed": ["temperature"], "added": [], "removed": []}
    )
    impact_prediction = factory.LazyFunction(lambda: {"reliability_delta": 0.05})
    llm_generated = False
    approval_status = "pending"


class ScenarioFactory(factory.Factory):
    class Meta:
        model = Scenario

    class Params:
        embedded = factory.Trait(scenario_embedding=factory.LazyFunction(embedding))

    scenario_id = factory.Sequence(scenario_slug)
    name = factory.LazyAttribute(lambda o: o.scenario_id.replace("_", " ").title())
    task_prompt = "What is the weather in New York City today, and should I bring an umbrella?"
    ground_truth = factory.LazyFunction(lambda: {"city": "New York", "answer_contains": "sunny"})
    difficulty_level = "medium"
    tags = factory.LazyFunction(lambda: ["weather", "api", "nyc"])
    expected_tools = factory.LazyFunction(lambda: ["weather_api"])
    modal_function_name = "run_weather_scenario"
    is_active = True
    estimated_duration_ms = 2500


class SimulationFactory(factory.Factory):
    """A running simulation created an hour ago (started_at >= created_at holds)."""

    class Meta:
        model = Simulation

    simulation_id = factory.LazyFunction(uuid.uuid4)
    config_version_id = factory.LazyFunction(uuid.uuid4)
    scenario_set = factory.LazyFunction(lambda: ["weather_query_nyc"])
    simulation_name = factory.Sequence(lambda n: f"nightly regression {n}")
    status = "running"
    total_scenarios = factory.LazyAttribute(lambda o: len(o.scenario_set))
    completed_scenarios = 0
    metadata_ = factory.LazyFunction(lambda: {"triggered_by": "ci", "branch": "main"})
    modal_app_id = "arc-eval-sandbox"
    modal_environment = "production"
    sandbox_instances = 2
    priority = 5
    created_at = factory.LazyFunction(lambda: utcnow() - timedelta(hours=1))
    started_at = factory.LazyAttribute(lambda o: o.created_at + timedelta(minutes=1))


class SimulationScenarioFactory(factory.Factory):
    class Meta:
        model = SimulationScenario

    simulation_id = factory.LazyFunction(uuid.uuid4)
    scenario_id = "weather_query_nyc"
    execution_order = 1
    status = "pending"
    modal_call_id = factory.Sequence(lambda n: f"fc-{n:08d}")
    retry_count = 0


class OutcomeFactory(factory.Factory):
    class Meta:
        model = Outcome

    class Params:
        embedded = factory.Trait(trajectory_embedding=factory.LazyFunction(embedding))

    outcome_id = factory.LazyFunction(uuid.uuid4)
    execution_time = factory.LazyFunction(lambda: utcnow() - timedelta(minutes=5))
    simulation_id = factory.LazyFunction(uuid.uuid4)
    scenario_id = "weather_query_nyc"
    status = "success"
    reliability_score = 0.92
    execution_time_ms = 1834.5
    tokens_used = 1420
    cost_usd = 0.0213
    trajectory = factory.LazyAttribute(lambda o: trajectory(o.execution_time, o.status))
    metrics = factory.LazyFunction(lambda: {"tool_calls": 1, "latency_p50_ms": 410})
    modal_call_id = factory.Sequence(lambda n: f"fc-{n:08d}")
    sandbox_id = factory.Sequence(lambda n: f"sb-{n:06d}")
    retry_count = 0


class FailurePatternFactory(factory.Factory):
    """Carries its outcome's execution_time (no FK between hypertables)."""

    class Meta:
        model = FailurePattern

    class Params:
        embedded = factory.Trait(error_embedding=factory.LazyFunction(embedding))

    pattern_id = factory.LazyFunction(uuid.uuid4)
    execution_time = factory.LazyFunction(lambda: utcnow() - timedelta(minutes=5))
    outcome_id = factory.LazyFunction(uuid.uuid4)
    failure_type = "weather_api_timeout"
    failure_category = "tool_error"
    error_message = "weather_api did not answer within 30 s"
    pattern_cluster_id = factory.LazyFunction(uuid.uuid4)
    cluster_confidence = 0.81
    similar_failures_count = 3
    recovery_attempted = True
    recovery_successful = False
    resolution_steps = "Retry with exponential backoff; raise the tool timeout to 60 s."
    llm_analysis = factory.LazyFunction(lambda: {"root_cause": "upstream latency"})


class ToolUsageFactory(factory.Factory):
    class Meta:
        model = ToolUsage

    usage_id = factory.LazyFunction(uuid.uuid4)
    execution_time = factory.LazyFunction(lambda: utcnow() - timedelta(minutes=5))
    outcome_id = factory.LazyFunction(uuid.uuid4)
    tool_name = factory.Sequence(lambda n: TOOLS[n % len(TOOLS)])
    call_count = 3
    avg_duration_ms = 412.0
    success_rate = 0.9
    tool_sequence = factory.LazyFunction(lambda: ["weather_api", "weather_api", "calculator"])
    total_cost_usd = 0.0031
    error_types = factory.LazyFunction(lambda: ["timeout"])
    modal_function_calls = factory.LazyFunction(lambda: {"run_tool": 3})


class RecommendationFactory(factory.Factory):
    class Meta:
        model = Recommendation

    recommendation_id = factory.LazyFunction(uuid.uuid4)
    source_type = "simulation"
    source_id = factory.LazyFunction(uuid.uuid4)
    recommendation_type = "config_change"
    description = "Lower the temperature to 0.2 to make weather answers more consistent."
    suggested_yaml_changes = "temperature: 0.2\n"
    impact_estimate = factory.LazyFunction(lambda: {"reliability_delta": 0.07, "cost_delta": 0})
    confidence = 0.78
    llm_model_used = "gpt-4-turbo"
    llm_prompt_hash = factory.LazyFunction(lambda: sha256_hex(uuid.uuid4().hex))
    historical_data_window = timedelta(days=7)
    applied = False


class LLMRecommendationSessionFactory(factory.Factory):
    class Meta:
        model = LLMRecommendationSession

    session_id = factory.LazyFunction(uuid.uuid4)
    user_id = factory.LazyFunction(uuid.uuid4)
    analysis_start_time = factory.LazyFunction(lambda: utcnow() - timedelta(minutes=2))
    analysis_end_time = factory.LazyAttribute(
        lambda o: o.analysis_start_time + timedelta(minutes=1)
    )
    data_window_start = factory.LazyAttribute(lambda o: o.data_window_end - timedelta(days=7))
    data_window_end = factory.LazyAttribute(lambda o: o.analysis_start_time)
    llm_model = "gpt-4-turbo"
    llm_temperature = 0.1
    prompt_template_version = "v1"
    total_outcomes_analyzed = 120
    patterns_identified = 4
    recommendations_generated = 2
    analysis_cost_usd = 0.42
    session_status = "completed"


class AuditLogFactory(factory.Factory):
    class Meta:
        model = AuditLog

    log_id = factory.LazyFunction(uuid.uuid4)
    table_name = "config_versions"
    operation = "INSERT"
    user_id = factory.LazyFunction(uuid.uuid4)
    new_data = factory.LazyFunction(lambda: {"version_number": 1, "generated_by": "manual"})
    ip_address = "10.0.0.12"
    user_agent = "arc-eval-db/0.1"
    modal_call_context = factory.LazyFunction(lambda: {"app_id": "arc-eval-sandbox"})


def column_values(obj: Base) -> dict[str, Any]:
    """The values a factory set, keyed by column name, for a Core insert of the same row."""
    mapper = sa_inspect(type(obj))
    return {
        attr.columns[0].name: getattr(obj, attr.key)
        for attr in mapper.column_attrs
        if attr.key in obj.__dict__
    }


async def persist(session: AsyncSession, *objs: Base) -> None:
    """Add and flush each object in order, so a parent reaches the database before its child."""
    for obj in objs:
        session.add(obj)
        await session.flush()


@dataclass
class Graph:
    """A coherent set of rows: configuration -> versions -> simulation -> outcome -> details."""

    configuration: Configuration
    version: ConfigVersion
    previous_version: ConfigVersion
    diff: ConfigDiff
    scenario: Scenario
    simulation: Simulation
    simulation_scenario: SimulationScenario
    outcome: Outcome
    tool_usage: ToolUsage
    failure_pattern: FailurePattern

    def rows(self) -> list[Base]:
        """Insert order; the configuration points at its latest version (deferred key)."""
        return [
            self.configuration,
            self.previous_version,
            self.version,
            self.diff,
            self.scenario,
            self.simulation,
            self.simulation_scenario,
            self.outcome,
            self.tool_usage,
            self.failure_pattern,
        ]


def build_graph(
    *,
    user_id: uuid.UUID | None = None,
    execution_time: datetime | None = None,
    outcome_status: str = "error",
) -> Graph:
    """Unsaved rows linked by id. The outcome fails by default so a failure pattern fits it."""
    when = execution_time or utcnow() - timedelta(minutes=5)
    configuration = ConfigurationFactory(user_id=user_id or uuid.uuid4())
    previous = ConfigVersionFactory(config_id=configuration.config_id, version_number=1)
    version = ConfigVersionFactory(
        config_id=configuration.config_id, version_number=2, generated_by="llm_recommendation"
    )
    configuration.latest_version_id = version.version_id
    diff = ConfigDiffFactory(
        config_id=configuration.config_id,
        version_before=previous.version_id,
        version_after=version.version_id,
    )
    scenario = ScenarioFactory()
    simulation = SimulationFactory(
        config_version_id=version.version_id, scenario_set=[scenario.scenario_id]
    )
    link = SimulationScenarioFactory(
        simulation_id=simulation.simulation_id, scenario_id=scenario.scenario_id
    )
    outcome_fields: dict[str, Any] = {}
    if outcome_status != "success":
        outcome_fields = {
            "reliability_score": 0.1,
            "error_code": "TOOL_TIMEOUT",
            "error_category": "tool_error",
        }
    outcome = OutcomeFactory(
        simulation_id=simulation.simulation_id,
        scenario_id=scenario.scenario_id,
        execution_time=when,
        status=outcome_status,
        **outcome_fields,
    )
    tool_usage = ToolUsageFactory(
        outcome_id=outcome.outcome_id, execution_time=when, tool_name="weather_api"
    )
    failure = FailurePatternFactory(outcome_id=outcome.outcome_id, execution_time=when)
    return Graph(
        configuration=configuration,
        version=version,
        previous_version=previous,
        diff=diff,
        scenario=scenario,
        simulation=simulation,
        simulation_scenario=link,
        outcome=outcome,
        tool_usage=tool_usage,
        failure_pattern=failure,
    )


async def persist_graph(session: AsyncSession, graph: Graph) -> Graph:
    await persist(session, *graph.rows())
    return graph


async def create_graph(session: AsyncSession, **kwargs: Any) -> Graph:
    """build_graph + persist_graph."""
    return await persist_graph(session, build_graph(**kwargs))


_warmed: set[str] = set()


async def warm_hypertables(engine: AsyncEngine) -> None:
    """Commit one graph at the factories' default time, once per database.

    A chunk created inside a rolled-back test transaction is rolled back with it, so without
    a committed row every test that writes an outcome pays for creating three chunks and
    their dozen indexes (about 80 ms). One committed graph keeps today's chunks in place.
    """
    key = str(engine.url)
    if key in _warmed:
        return
    async with AsyncSession(engine) as session, session.begin():
        await create_graph(session)
    _warmed.add(key)
