"""Every CHECK, NOT NULL, FOREIGN KEY, UNIQUE and PRIMARY KEY rule of the twelve tables.

Table-driven: a case names the table, how a valid row is changed, and the constraint and
SQLSTATE the database must answer with (23514 check, 23502 not null, 23503 foreign key,
23505 unique). Each insert runs in a SAVEPOINT of the test's rolled-back transaction.
`test_every_constraint_has_a_case` reads pg_constraint, so a new constraint without a case
fails the suite. On hypertables the violated object is the chunk's copy of the constraint,
named `<n>_[<m>_]<name>` for keys, so names are compared modulo that prefix.
"""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import CheckConstraint, insert, null, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from arc.database.models import Base
from arc.database.models.config_diff import APPROVAL_STATUSES
from arc.database.models.config_version import GENERATED_BY
from arc.database.models.failure_pattern import FAILURE_CATEGORIES
from arc.database.models.llm_recommendation_session import SESSION_STATUSES
from arc.database.models.outcome import ERROR_CATEGORIES, OUTCOME_STATUSES
from arc.database.models.recommendation import RECOMMENDATION_TYPES, SOURCE_TYPES
from arc.database.models.scenario import DIFFICULTY_LEVELS
from arc.database.models.simulation_scenario import SIMULATION_SCENARIO_STATUSES
from tests import factories as f

CHECK, NOT_NULL, FK, UNIQUE = "23514", "23502", "23503", "23505"
TABLES = sorted(Base.metadata.tables)


@dataclass
class Ctx:
    """The persisted rows a case can point at."""

    graph: f.Graph
    spare_scenario: Any
    recommendation: Any
    session_row: Any
    audit_row: Any

    @property
    def now(self) -> Any:
        return f.utcnow()


Change = dict[str, Any] | Callable[[Ctx], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    id: str
    table: str
    change: Change
    constraint: str | None = None
    sqlstate: str = CHECK
    column: str | None = None


def _valid_row(table: str, ctx: Ctx) -> dict[str, Any]:
    """A fresh valid row of `table`, as column name -> value, pointing at ctx's parents."""
    g = ctx.graph
    builders: dict[str, Callable[[], Base]] = {
        "configurations": lambda: f.ConfigurationFactory(),
        "config_versions": lambda: f.ConfigVersionFactory(
            config_id=g.configuration.config_id, version_number=3
        ),
        "config_diffs": lambda: f.ConfigDiffFactory(
            config_id=g.configuration.config_id,
            version_before=g.previous_version.version_id,
            version_after=g.version.version_id,
        ),
        "scenarios": lambda: f.ScenarioFactory(),
        "simulations": lambda: f.SimulationFactory(config_version_id=g.version.version_id),
        "simulations_scenarios": lambda: f.SimulationScenarioFactory(
            simulation_id=g.simulation.simulation_id,
            scenario_id=ctx.spare_scenario.scenario_id,
            execution_order=2,
        ),
        "outcomes": lambda: f.OutcomeFactory(
            simulation_id=g.simulation.simulation_id, scenario_id=g.scenario.scenario_id
        ),
        "failure_patterns": lambda: f.FailurePatternFactory(
            outcome_id=g.outcome.outcome_id, execution_time=g.outcome.execution_time
        ),
        "tool_usage": lambda: f.ToolUsageFactory(
            outcome_id=g.outcome.outcome_id, execution_time=g.outcome.execution_time
        ),
        "recommendations": lambda: f.RecommendationFactory(source_id=g.simulation.simulation_id),
        "llm_recommendation_sessions": lambda: f.LLMRecommendationSessionFactory(
            user_id=g.configuration.user_id
        ),
        "audit_log": lambda: f.AuditLogFactory(),
    }
    return f.column_values(builders[table]())


def _pg(exc: DBAPIError) -> tuple[str | None, str | None, str | None]:
    """(sqlstate, constraint name, column name) of the server's error."""
    cause = exc.orig.__cause__ if exc.orig is not None else None
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(cause, "sqlstate", None)
    return sqlstate, getattr(cause, "constraint_name", None), getattr(cause, "column_name", None)


def _same_constraint(actual: str | None, expected: str) -> bool:
    """Equal, or a chunk's copy of a hypertable's key: `12_34_outcomes_pkey` (2.19) or
    `1_outcomes_pkey` (2.28)."""
    return actual is not None and re.fullmatch(rf"(\d+_)*{re.escape(expected)}", actual) is not None


@pytest.fixture(scope="module", autouse=True)
async def _warm(engine: AsyncEngine) -> None:
    await f.warm_hypertables(engine)


@pytest.fixture
async def ctx(session: AsyncSession) -> Ctx:
    graph = f.build_graph()
    spare = f.ScenarioFactory()
    recommendation = f.RecommendationFactory(source_id=graph.simulation.simulation_id)
    session_row = f.LLMRecommendationSessionFactory(user_id=graph.configuration.user_id)
    audit_row = f.AuditLogFactory()
    await f.persist(session, *graph.rows(), spare, recommendation, session_row, audit_row)
    return Ctx(graph, spare, recommendation, session_row, audit_row)


async def _insert(session: AsyncSession, table: str, row: dict[str, Any]) -> None:
    async with session.begin_nested():
        await session.execute(insert(Base.metadata.tables[table]).values(row))
        await session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))


def _resolve(change: Change, ctx: Ctx) -> dict[str, Any]:
    return change(ctx) if callable(change) else dict(change)


def _check_name(table: str, rule: str) -> str:
    """The CHECK's name as PostgreSQL holds it: `<table>_<rule>_check`, which SQLAlchemy
    shortens (with a hash suffix) when it exceeds 63 characters."""
    for constraint in Base.metadata.tables[table].constraints:
        if isinstance(constraint, CheckConstraint) and constraint.name == f"{table}_{rule}_check":
            return str(_PG.identifier_preparer.format_constraint(constraint))
    raise KeyError(f"{table} has no CHECK rule {rule!r} in the models")


_PG = postgresql.dialect()


def chk(table: str, id_: str, change: Change, rule: str) -> Case:
    return Case(id_, table, change, _check_name(table, rule), CHECK)


def fk(table: str, column: str, missing: Any, name: str | None = None) -> Case:
    """A reference to a parent that does not exist."""
    return Case(f"unknown_{column}", table, {column: missing}, name or f"{table}_{column}_fkey", FK)


def dup(table: str, id_: str, change: Change, name: str | None = None) -> Case:
    return Case(id_, table, change, name or f"{table}_pkey", UNIQUE)


def ok(table: str, id_: str, change: Change) -> Case:
    return Case(id_, table, change)


# ---------------------------------------------------------------------------------------------
# NOT NULL columns, as seed 002 declares them (the primary keys' columns included).
NOT_NULL_COLUMNS: dict[str, tuple[str, ...]] = {
    "audit_log": ("log_id", "table_name", "operation"),
    # 0008 adds the two flags of the approval gate
    "config_diffs": (
        "diff_id",
        "config_id",
        "version_before",
        "version_after",
        "diff_yaml",
        "requires_approval",
        "decision_forced",
    ),
    "config_versions": (
        "version_id",
        "config_id",
        "version_number",
        "raw_yaml",
        "parsed_config",
        "config_hash",
    ),
    "configurations": ("config_id", "name", "user_id"),
    "failure_patterns": (
        "pattern_id",
        "execution_time",
        "outcome_id",
        "failure_type",
        "failure_category",
    ),
    "llm_recommendation_sessions": (
        "session_id",
        "user_id",
        "analysis_start_time",
        "analysis_end_time",
        "data_window_start",
        "data_window_end",
        "llm_model",
        "total_outcomes_analyzed",
        "input_tokens",
        "output_tokens",
    ),
    "outcomes": (
        "outcome_id",
        "simulation_id",
        "scenario_id",
        "execution_time",
        "status",
        "reliability_score",
        "execution_time_ms",
        "tokens_used",
        "cost_usd",
        "trajectory",
    ),
    "recommendations": (
        "recommendation_id",
        "source_type",
        "source_id",
        "recommendation_type",
        "description",
        "confidence",
    ),
    "scenarios": ("scenario_id", "name", "task_prompt"),
    "simulations": ("simulation_id", "config_version_id", "scenario_set", "total_scenarios"),
    "simulations_scenarios": ("simulation_id", "scenario_id", "execution_order"),
    "tool_usage": (
        "usage_id",
        "execution_time",
        "outcome_id",
        "tool_name",
        "call_count",
        "avg_duration_ms",
        "success_rate",
    ),
}

NOT_NULL_CASES = [
    Case(f"{c}_null", t, {c: null()}, sqlstate=NOT_NULL, column=c)
    for t, cols in NOT_NULL_COLUMNS.items()
    for c in cols
]


def _trajectory_without(key: str) -> dict[str, Any]:
    t = f.trajectory(f.utcnow())
    del t[key]
    return t


def _key_of(obj: Any, id_column: str) -> dict[str, Any]:
    """The full primary key of a persisted hypertable row: its id and its execution_time."""
    return {id_column: getattr(obj, id_column), "execution_time": obj.execution_time}


def _temperature(value: Any) -> dict[str, Any]:
    return {"parsed_config": {"model": "gpt-4o", "temperature": value}}


DAY, SECOND = timedelta(days=1), timedelta(seconds=1)
CV, SIM, LINK, OUT = "config_versions", "simulations", "simulations_scenarios", "outcomes"
FP, TU, REC, LLM = (
    "failure_patterns",
    "tool_usage",
    "recommendations",
    "llm_recommendation_sessions",
)

# CHECK violations: at least one per constraint, and every forbidden branch of a compound rule.
CHECK_CASES = [
    chk("audit_log", "operation_truncate", {"operation": "TRUNCATE"}, "operation_allowed"),
    chk("configurations", "name_2", {"name": "ab"}, "name_length"),
    chk("configurations", "name_101", {"name": "a" * 101}, "name_length"),
    chk("configurations", "name_semicolon", {"name": "weather;agent"}, "valid_name"),
    chk(
        "configurations",
        "updated_before_created",
        lambda c: {"created_at": c.now, "updated_at": c.now - DAY},
        "valid_timestamps",
    ),
    chk(CV, "version_number_0", {"version_number": 0}, "version_number_positive"),
    chk(CV, "raw_yaml_over_1mb", {"raw_yaml": "x" * 1048577}, "raw_yaml_size"),
    chk(CV, "config_hash_63", {"config_hash": "a" * 63}, "config_hash_sha256"),
    chk(CV, "config_hash_65", {"config_hash": "a" * 65}, "config_hash_sha256"),
    chk(CV, "generated_by_human", {"generated_by": "human"}, "generated_by_allowed"),
    chk(CV, "parsed_no_model", {"parsed_config": {"temperature": 0.5}}, "valid_parsed_config"),
    chk(CV, "parsed_no_temperature", {"parsed_config": {"model": "x"}}, "valid_parsed_config"),
    chk(CV, "temperature_2_01", _temperature(2.01), "valid_parsed_config"),
    chk(CV, "temperature_negative", _temperature(-0.1), "valid_parsed_config"),
    # decision: a non-numeric temperature is a rule violation (23514), not a cast error (22P02)
    chk(CV, "temperature_text", _temperature("hot"), "valid_parsed_config"),
    chk(CV, "temperature_numeric_string", _temperature("0.5"), "valid_parsed_config"),
    chk(CV, "temperature_json_null", _temperature(None), "valid_parsed_config"),
    chk("config_diffs", "diff_yaml_over_512kb", {"diff_yaml": "x" * 524289}, "diff_yaml_size"),
    chk("config_diffs", "approval_maybe", {"approval_status": "maybe"}, "approval_status_allowed"),
    chk(
        "config_diffs",
        "same_versions",
        lambda c: {"version_after": c.graph.previous_version.version_id},
        "different_versions",
    ),
    # 0008
    chk("config_diffs", "metric_accuracy", {"target_metric": "accuracy"}, "target_metric_allowed"),
    chk("config_diffs", "evaluation_without_time", {"evaluation": {}}, "valid_evaluation"),
    chk(
        "config_diffs",
        "pending_with_decision_time",
        lambda c: {"approval_status": "pending", "decided_at": c.now},
        "valid_decision",
    ),
    chk(
        "recommendations",
        "metric_accuracy",
        {"target_metric": "accuracy"},
        "target_metric_allowed",
    ),
    chk("recommendations", "hit_without_time", {"realised_hit": True}, "valid_realisation"),
    chk("scenarios", "id_101", {"scenario_id": "a" * 101}, "scenario_id_length"),
    chk("scenarios", "id_uppercase", {"scenario_id": "Weather_NYC"}, "valid_scenario_id"),
    chk("scenarios", "id_hyphen", {"scenario_id": "weather-nyc"}, "valid_scenario_id"),
    chk("scenarios", "name_2", {"name": "ab"}, "name_length"),
    chk("scenarios", "name_201", {"name": "a" * 201}, "name_length"),
    chk("scenarios", "task_prompt_9", {"task_prompt": "too short"}, "task_prompt_length"),
    chk(
        "scenarios",
        "difficulty_extreme",
        {"difficulty_level": "extreme"},
        "difficulty_level_allowed",
    ),
    chk("scenarios", "tags_21", {"tags": [f"t{i}" for i in range(21)]}, "tags_count"),
    chk(
        "scenarios",
        "estimated_duration_0",
        {"estimated_duration_ms": 0},
        "estimated_duration_positive",
    ),
    chk(
        SIM,
        "scenario_set_empty",
        {"scenario_set": [], "total_scenarios": 1},
        "scenario_set_not_empty",
    ),
    chk(SIM, "name_201", {"simulation_name": "a" * 201}, "simulation_name_length"),
    chk(SIM, "status_paused", {"status": "paused"}, "status_allowed"),
    chk(SIM, "total_scenarios_0", {"total_scenarios": 0}, "total_scenarios_positive"),
    chk(
        SIM,
        "completed_scenarios_negative",
        {"completed_scenarios": -1},
        "completed_scenarios_non_negative",
    ),
    chk(
        SIM,
        "completed_over_total",
        {"total_scenarios": 1, "completed_scenarios": 2},
        "completed_scenarios_limit",
    ),
    chk(SIM, "overall_score_1_01", {"overall_score": 1.01}, "overall_score_range"),
    chk(SIM, "overall_score_negative", {"overall_score": -0.01}, "overall_score_range"),
    chk(
        SIM, "execution_time_negative", {"execution_time_ms": -1}, "execution_time_ms_non_negative"
    ),
    chk(SIM, "total_cost_negative", {"total_cost_usd": -0.01}, "total_cost_usd_non_negative"),
    chk(SIM, "priority_0", {"priority": 0}, "priority_range"),
    chk(SIM, "priority_11", {"priority": 11}, "priority_range"),
    chk(
        SIM,
        "completed_without_completed_at",
        {"status": "completed", "completed_at": None},
        "valid_completion",
    ),
    chk(
        SIM,
        "pending_with_completed_at",
        lambda c: {"status": "pending", "completed_at": c.now},
        "valid_completion",
    ),
    chk(
        SIM,
        "running_with_completed_at",
        lambda c: {"status": "running", "completed_at": c.now},
        "valid_completion",
    ),
    chk(
        SIM,
        "started_before_created",
        lambda c: {"created_at": c.now, "started_at": c.now - SECOND},
        "valid_timestamps",
    ),
    chk(LINK, "execution_order_0", {"execution_order": 0}, "execution_order_positive"),
    chk(LINK, "status_done", {"status": "done"}, "status_allowed"),
    chk(LINK, "retry_negative", {"retry_count": -1}, "retry_count_non_negative"),
    chk(
        LINK,
        "completed_not_started",
        lambda c: {"completed_at": c.now, "started_at": None},
        "valid_execution_timestamps",
    ),
    chk(OUT, "status_pass", {"status": "pass"}, "status_allowed"),
    chk(OUT, "reliability_1_01", {"reliability_score": 1.01}, "reliability_score_range"),
    chk(OUT, "reliability_negative", {"reliability_score": -0.01}, "reliability_score_range"),
    chk(
        OUT, "execution_ms_negative", {"execution_time_ms": -0.5}, "execution_time_ms_non_negative"
    ),
    chk(OUT, "tokens_negative", {"tokens_used": -1}, "tokens_used_non_negative"),
    chk(OUT, "cost_negative", {"cost_usd": -0.001}, "cost_usd_non_negative"),
    chk(OUT, "retry_negative", {"retry_count": -1}, "retry_count_non_negative"),
    chk(OUT, "modal_call_id_501", {"modal_call_id": "m" * 501}, "modal_call_id_length"),
    chk(OUT, "error_category_network", {"error_category": "network"}, "error_category_allowed"),
    chk(
        OUT,
        "error_category_modal_error",
        {"error_category": "modal_error"},
        "error_category_allowed",
    ),
    chk(
        OUT,
        "trajectory_no_start_time",
        {"trajectory": _trajectory_without("start_time")},
        "valid_trajectory",
    ),
    chk(
        OUT,
        "trajectory_no_status",
        {"trajectory": _trajectory_without("status")},
        "valid_trajectory",
    ),
    chk(FP, "failure_type_101", {"failure_type": "f" * 101}, "failure_type_length"),
    chk(FP, "category_gremlins", {"failure_category": "gremlins"}, "failure_category_allowed"),
    chk(FP, "error_message_10001", {"error_message": "e" * 10001}, "error_message_length"),
    chk(FP, "cluster_confidence_1_5", {"cluster_confidence": 1.5}, "cluster_confidence_range"),
    chk(
        FP, "cluster_confidence_negative", {"cluster_confidence": -0.1}, "cluster_confidence_range"
    ),
    chk(
        FP,
        "similar_failures_negative",
        {"similar_failures_count": -1},
        "similar_failures_count_non_negative",
    ),
    chk(
        FP,
        "recovered_without_attempt",
        {"recovery_attempted": False, "recovery_successful": True},
        "valid_recovery",
    ),
    chk(TU, "tool_name_101", {"tool_name": "t" * 101}, "tool_name_length"),
    chk(TU, "call_count_0", {"call_count": 0}, "call_count_positive"),
    chk(TU, "avg_duration_negative", {"avg_duration_ms": -1.0}, "avg_duration_ms_non_negative"),
    chk(TU, "success_rate_1_01", {"success_rate": 1.01}, "success_rate_range"),
    chk(TU, "success_rate_negative", {"success_rate": -0.01}, "success_rate_range"),
    chk(TU, "cost_negative", {"total_cost_usd": -0.01}, "total_cost_usd_non_negative"),
    chk(REC, "source_hunch", {"source_type": "hunch"}, "source_type_allowed"),
    chk(REC, "type_rewrite", {"recommendation_type": "rewrite"}, "recommendation_type_allowed"),
    chk(REC, "description_9", {"description": "too short"}, "description_length"),
    chk(REC, "confidence_1_01", {"confidence": 1.01}, "confidence_range"),
    chk(REC, "confidence_negative", {"confidence": -0.01}, "confidence_range"),
    chk(REC, "feedback_0", {"feedback_score": 0}, "feedback_score_range"),
    chk(REC, "feedback_6", {"feedback_score": 6}, "feedback_score_range"),
    chk(
        REC,
        "applied_without_applied_at",
        {"applied": True, "applied_at": None},
        "valid_application",
    ),
    chk(
        REC,
        "not_applied_with_applied_at",
        lambda c: {"applied": False, "applied_at": c.now},
        "valid_application",
    ),
    chk(
        LLM,
        "outcomes_analyzed_negative",
        {"total_outcomes_analyzed": -1},
        "outcomes_non_negative",
    ),
    chk(
        LLM,
        "analysis_cost_negative",
        {"analysis_cost_usd": -0.01},
        "cost_non_negative",
    ),
    chk(LLM, "input_tokens_negative", {"input_tokens": -1}, "tokens_non_negative"),
    chk(LLM, "output_tokens_negative", {"output_tokens": -1}, "tokens_non_negative"),
    chk(LLM, "status_queued", {"session_status": "queued"}, "session_status_allowed"),
    chk(
        LLM,
        "analysis_ends_before_start",
        lambda c: {"analysis_start_time": c.now, "analysis_end_time": c.now - SECOND},
        "valid_analysis_window",
    ),
    chk(
        LLM,
        "data_window_reversed",
        lambda c: {"data_window_start": c.now, "data_window_end": c.now - DAY},
        "valid_data_window",
    ),
]

FK_CASES = [
    fk(CV, "config_id", uuid.uuid4()),
    fk("config_diffs", "config_id", uuid.uuid4()),
    fk("config_diffs", "version_before", uuid.uuid4()),
    fk("config_diffs", "version_after", uuid.uuid4()),
    fk("config_diffs", "recommendation_id", uuid.uuid4()),
    fk("recommendations", "config_id", uuid.uuid4()),
    fk(SIM, "config_version_id", uuid.uuid4()),
    fk(LINK, "simulation_id", uuid.uuid4()),
    fk(LINK, "scenario_id", "no_such_scenario"),
    fk(OUT, "simulation_id", uuid.uuid4()),
    fk(OUT, "scenario_id", "no_such_scenario"),
    # deferred: the insert passes; the check fails at SET CONSTRAINTS ALL IMMEDIATE (or COMMIT)
    fk("configurations", "latest_version_id", uuid.uuid4(), name="fk_latest_version"),
]

UNIQUE_CASES = [
    dup(CV, "version_number_taken", {"version_number": 1}, f"{CV}_config_id_version_number_key"),
    dup("audit_log", "same_id", lambda c: {"log_id": c.audit_row.log_id}),
    dup("configurations", "same_id", lambda c: {"config_id": c.graph.configuration.config_id}),
    dup(CV, "same_id", lambda c: {"version_id": c.graph.version.version_id}),
    dup("config_diffs", "same_id", lambda c: {"diff_id": c.graph.diff.diff_id}),
    dup("scenarios", "same_id", lambda c: {"scenario_id": c.graph.scenario.scenario_id}),
    dup(SIM, "same_id", lambda c: {"simulation_id": c.graph.simulation.simulation_id}),
    dup(LINK, "same_pair", lambda c: {"scenario_id": c.graph.scenario.scenario_id}),
    dup(OUT, "same_id_and_time", lambda c: _key_of(c.graph.outcome, "outcome_id")),
    dup(FP, "same_id_and_time", lambda c: {"pattern_id": c.graph.failure_pattern.pattern_id}),
    dup(TU, "same_id_and_time", lambda c: {"usage_id": c.graph.tool_usage.usage_id}),
    dup(REC, "same_id", lambda c: {"recommendation_id": c.recommendation.recommendation_id}),
    dup(LLM, "same_id", lambda c: {"session_id": c.session_row.session_id}),
]

REJECTED = CHECK_CASES + FK_CASES + UNIQUE_CASES + NOT_NULL_CASES


def _params(cases: list[Case]) -> list[Any]:
    return [pytest.param(c, id=f"{c.table}-{c.id}") for c in cases]


@pytest.mark.parametrize("case", _params(REJECTED))
async def test_violation_is_rejected(session: AsyncSession, ctx: Ctx, case: Case) -> None:
    row = _valid_row(case.table, ctx) | _resolve(case.change, ctx)
    with pytest.raises(DBAPIError) as caught:
        await _insert(session, case.table, row)
    sqlstate, constraint, column = _pg(caught.value)
    assert sqlstate == case.sqlstate, f"{case.id}: {caught.value.orig}"
    if case.constraint is not None:
        assert _same_constraint(constraint, case.constraint), f"{case.id}: got {constraint}"
    if case.column is not None:
        # TimescaleDB reports a NULL time column with the column in the text, not the field
        assert column == case.column or f'"{case.column}"' in str(caught.value.orig)


async def test_deferred_latest_version_fails_only_when_checked(
    session: AsyncSession, ctx: Ctx
) -> None:
    """fk_latest_version is INITIALLY DEFERRED: the insert passes, the check fails later."""
    row = _valid_row("configurations", ctx) | {"latest_version_id": uuid.uuid4()}
    async with session.begin_nested() as savepoint:
        await session.execute(insert(Base.metadata.tables["configurations"]).values(row))
        with pytest.raises(DBAPIError) as caught:
            await session.execute(text("SET CONSTRAINTS fk_latest_version IMMEDIATE"))
        await savepoint.rollback()
    assert _pg(caught.value)[:2] == (FK, "fk_latest_version")


async def _commit_configuration(engine: AsyncEngine, config: Any) -> None:
    async with AsyncSession(engine) as s, s.begin():
        s.add(config)
        await s.flush()  # accepted: the deferred key is not checked yet


async def test_deferred_latest_version_fails_at_commit(engine: AsyncEngine) -> None:
    """Outside any savepoint: the violation surfaces at COMMIT, and nothing is kept."""
    config = f.ConfigurationFactory(latest_version_id=uuid.uuid4())
    with pytest.raises(DBAPIError) as caught:
        await _commit_configuration(engine, config)
    assert _pg(caught.value)[:2] == (FK, "fk_latest_version")
    async with engine.connect() as conn:
        kept = await conn.execute(
            text("SELECT count(*) FROM configurations WHERE config_id = :id"),
            {"id": config.config_id},
        )
        assert kept.scalar_one() == 0


async def test_configuration_may_point_at_a_version_written_after_it(
    session: AsyncSession,
) -> None:
    config = f.ConfigurationFactory()
    version = f.ConfigVersionFactory(config_id=config.config_id)
    config.latest_version_id = version.version_id
    await f.persist(session, config, version)  # parent row first, its version second
    await session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    found = await session.execute(
        text(
            "SELECT cv.version_number FROM configurations c"
            " JOIN config_versions cv ON cv.version_id = c.latest_version_id"
            " WHERE c.config_id = :id"
        ),
        {"id": config.config_id},
    )
    assert found.scalar_one() == 1


# ---------------------------------------------------------------------------------------------
# Valid rows: every boundary value and every allowed value of each enumeration.
def _enum(table: str, column: str, values: tuple[str, ...]) -> list[Case]:
    return [ok(table, f"{column}_{v}", {column: v}) for v in values]


ACCEPTED = [
    *[ok(t, "factory_row", {}) for t in TABLES],
    ok("configurations", "name_3", {"name": "abc"}),
    ok("configurations", "name_100", {"name": "a" * 100}),
    ok("configurations", "name_space_hyphen_underscore", {"name": "Weather Bot-v2_prod"}),
    ok(
        "configurations",
        "updated_equals_created",
        lambda c: {"created_at": c.now, "updated_at": c.now},
    ),
    ok(CV, "temperature_0", _temperature(0)),
    ok(CV, "temperature_2", _temperature(2)),
    ok(CV, "temperature_1_5", _temperature(1.5)),
    ok(CV, "raw_yaml_1mb", {"raw_yaml": "x" * 1048576}),
    *_enum(CV, "generated_by", GENERATED_BY),
    *_enum("config_diffs", "approval_status", APPROVAL_STATUSES),
    ok("config_diffs", "diff_yaml_512kb", {"diff_yaml": "x" * 524288}),
    ok("scenarios", "id_100", {"scenario_id": "a" * 100}),
    ok("scenarios", "tags_20", {"tags": [f"t{i}" for i in range(20)]}),
    ok("scenarios", "tags_null", {"tags": None}),
    ok("scenarios", "estimated_duration_1", {"estimated_duration_ms": 1}),
    *_enum("scenarios", "difficulty_level", DIFFICULTY_LEVELS),
    ok(
        SIM, "completed_with_completed_at", lambda c: {"status": "completed", "completed_at": c.now}
    ),
    ok(SIM, "failed_with_completed_at", lambda c: {"status": "failed", "completed_at": c.now}),
    ok(SIM, "failed_without_completed_at", {"status": "failed", "completed_at": None}),
    ok(
        SIM, "cancelled_with_completed_at", lambda c: {"status": "cancelled", "completed_at": c.now}
    ),
    ok(SIM, "cancelled_without_completed_at", {"status": "cancelled", "completed_at": None}),
    ok(SIM, "pending_not_started", {"status": "pending", "started_at": None}),
    ok(SIM, "running_without_completed_at", {"status": "running", "completed_at": None}),
    ok(SIM, "completed_equals_total", {"total_scenarios": 3, "completed_scenarios": 3}),
    ok(SIM, "priority_1", {"priority": 1}),
    ok(SIM, "priority_10", {"priority": 10}),
    ok(SIM, "overall_score_0", {"overall_score": 0.0}),
    ok(SIM, "overall_score_1", {"overall_score": 1.0}),
    ok(SIM, "started_equals_created", lambda c: {"created_at": c.now, "started_at": c.now}),
    *_enum(LINK, "status", SIMULATION_SCENARIO_STATUSES),
    ok(
        LINK,
        "completed_after_start",
        lambda c: {"started_at": c.now - SECOND, "completed_at": c.now},
    ),
    *_enum(OUT, "status", OUTCOME_STATUSES),
    *_enum(OUT, "error_category", ERROR_CATEGORIES),
    # the key includes the time: the same id at another time is another row
    ok(OUT, "same_id_other_time", lambda c: {"outcome_id": c.graph.outcome.outcome_id}),
    ok(OUT, "reliability_0", {"reliability_score": 0.0}),
    ok(OUT, "reliability_1", {"reliability_score": 1.0}),
    ok(OUT, "modal_call_id_500", {"modal_call_id": "m" * 500}),
    ok(OUT, "zero_cost_tokens_time", {"cost_usd": 0.0, "tokens_used": 0, "execution_time_ms": 0.0}),
    ok(
        OUT,
        "trajectory_minimal",
        {"trajectory": {"start_time": "2026-01-01T00:00:00Z", "status": "ok"}},
    ),
    *_enum(FP, "failure_category", FAILURE_CATEGORIES),
    ok(FP, "recovered_after_attempt", {"recovery_attempted": True, "recovery_successful": True}),
    ok(FP, "no_recovery", {"recovery_attempted": False, "recovery_successful": False}),
    ok(FP, "error_message_10000", {"error_message": "e" * 10000}),
    ok(TU, "success_rate_0", {"success_rate": 0.0}),
    ok(TU, "success_rate_1", {"success_rate": 1.0}),
    ok(TU, "call_count_1", {"call_count": 1}),
    *_enum(REC, "source_type", SOURCE_TYPES),
    *_enum(REC, "recommendation_type", RECOMMENDATION_TYPES),
    ok(REC, "applied_with_applied_at", lambda c: {"applied": True, "applied_at": c.now}),
    ok(REC, "feedback_1", {"feedback_score": 1}),
    ok(REC, "feedback_5", {"feedback_score": 5}),
    *_enum(LLM, "session_status", SESSION_STATUSES),
    ok(
        LLM,
        "zero_length_windows",
        lambda c: {
            "analysis_start_time": c.now,
            "analysis_end_time": c.now,
            "data_window_start": c.now,
            "data_window_end": c.now,
        },
    ),
    *_enum("audit_log", "operation", ("INSERT", "UPDATE", "DELETE")),
]


@pytest.mark.parametrize("case", _params(ACCEPTED))
async def test_valid_row_is_accepted(session: AsyncSession, ctx: Ctx, case: Case) -> None:
    row = _valid_row(case.table, ctx) | _resolve(case.change, ctx)
    await _insert(session, case.table, row)
    pk = [c.name for c in Base.metadata.tables[case.table].primary_key.columns]
    where = " AND ".join(f"{c} = :{c}" for c in pk)
    found = await session.execute(
        text(f"SELECT count(*) FROM {case.table} WHERE {where}"), {c: row[c] for c in pk}
    )
    assert found.scalar_one() == 1


# ---------------------------------------------------------------------------------------------
# Referential actions: ON DELETE CASCADE where declared, refusal (NO ACTION) elsewhere.
async def test_deleting_a_configuration_cascades_to_versions_and_diffs(
    session: AsyncSession,
) -> None:
    config = f.ConfigurationFactory()
    v1 = f.ConfigVersionFactory(config_id=config.config_id, version_number=1)
    v2 = f.ConfigVersionFactory(config_id=config.config_id, version_number=2)
    config.latest_version_id = v2.version_id
    diff = f.ConfigDiffFactory(
        config_id=config.config_id, version_before=v1.version_id, version_after=v2.version_id
    )
    await f.persist(session, config, v1, v2, diff)
    await session.execute(
        text("DELETE FROM configurations WHERE config_id = :id"), {"id": config.config_id}
    )
    await session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    left = await session.execute(
        text(
            "SELECT (SELECT count(*) FROM config_versions WHERE config_id = :id)"
            " + (SELECT count(*) FROM config_diffs WHERE config_id = :id)"
        ),
        {"id": config.config_id},
    )
    assert left.scalar_one() == 0


async def test_deleting_a_simulation_cascades_to_outcomes_and_links(
    session: AsyncSession, ctx: Ctx
) -> None:
    sim = ctx.graph.simulation.simulation_id
    await session.execute(text("DELETE FROM simulations WHERE simulation_id = :id"), {"id": sim})
    left = await session.execute(
        text(
            "SELECT (SELECT count(*) FROM outcomes WHERE simulation_id = :id)"
            " + (SELECT count(*) FROM simulations_scenarios WHERE simulation_id = :id)"
        ),
        {"id": sim},
    )
    assert left.scalar_one() == 0


async def _execute_in_savepoint(session: AsyncSession, sql: str, params: dict[str, Any]) -> None:
    async with session.begin_nested():
        await session.execute(text(sql), params)
        await session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))


@pytest.mark.parametrize(
    ("sql", "referencing"),
    [
        pytest.param(
            "DELETE FROM scenarios WHERE scenario_id = :scenario",
            {"outcomes_scenario_id_fkey", "simulations_scenarios_scenario_id_fkey"},
            id="scenario_used_by_outcome_and_link",
        ),
        pytest.param(
            "DELETE FROM config_versions WHERE version_id = :version",
            {"simulations_config_version_id_fkey", "config_diffs_version_after_fkey"},
            id="version_used_by_simulation_and_diff",
        ),
    ],
)
async def test_deleting_a_referenced_parent_is_refused(
    session: AsyncSession, ctx: Ctx, sql: str, referencing: set[str]
) -> None:
    params = {"scenario": ctx.graph.scenario.scenario_id, "version": ctx.graph.version.version_id}
    with pytest.raises(DBAPIError) as caught:
        await _execute_in_savepoint(session, sql, {k: v for k, v in params.items() if k in sql})
    sqlstate, name, _ = _pg(caught.value)
    assert sqlstate == FK
    # which of the referencing keys fires first is the server's choice
    assert any(_same_constraint(name, r) for r in referencing), name


# ---------------------------------------------------------------------------------------------
# Coverage: every constraint and NOT NULL column of the live schema has a case above.
async def test_every_constraint_has_a_case(session: AsyncSession) -> None:
    rows = await session.execute(
        text(
            """
            SELECT c.conrelid::regclass::text AS table_name, c.conname, c.contype
              FROM pg_constraint c
              JOIN pg_class t ON t.oid = c.conrelid
              JOIN pg_namespace n ON n.oid = t.relnamespace
             WHERE n.nspname = 'public' AND t.relname = ANY(:tables)
               AND c.contype IN ('c', 'f', 'u', 'p')
            """
        ),
        {"tables": TABLES},
    )
    live = {(r.table_name, r.conname) for r in rows}
    covered = {(c.table, c.constraint) for c in REJECTED if c.constraint is not None}
    assert live - covered == set(), "constraints without a rejecting case"
    assert covered - live == set(), "cases naming constraints the database does not have"


async def test_every_not_null_column_has_a_case(session: AsyncSession) -> None:
    rows = await session.execute(
        text(
            """
            SELECT table_name, column_name FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name = ANY(:tables) AND is_nullable = 'NO'
            """
        ),
        {"tables": TABLES},
    )
    live = {(r.table_name, r.column_name) for r in rows}
    declared = {(t, c) for t, cols in NOT_NULL_COLUMNS.items() for c in cols}
    assert live == declared


def test_every_table_has_rejected_and_accepted_cases() -> None:
    assert {c.table for c in REJECTED} == set(TABLES)
    assert {c.table for c in ACCEPTED} == set(TABLES)
