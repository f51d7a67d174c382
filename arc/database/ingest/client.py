"""ArcDBClient (alias ArcEvalDBClient): the write path that sandbox workers call.

Every public method is one unit of work: input is validated first (nothing is written when it
is bad), ids and times are generated once, and the whole transaction is re-run on transient
failures (see retry.py), so a retry after a lost acknowledgement never duplicates a row.
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from arc.database.core.checks import (
    check_int,
    check_mapping,
    check_uuid,
    now_utc,
    reject_unknown,
    require_uuid,
)
from arc.database.core.engine import engine_from_settings
from arc.database.core.errors import (
    ArcDatabaseError,
    ArcNotFoundError,
    ArcValidationError,
)
from arc.database.core.logging import ensure_logging
from arc.database.core.metrics import ClientMetrics, MetricsSnapshot, pool_stats
from arc.database.core.retry import CircuitBreaker, RetryPolicy, run_with_retry
from arc.database.core.settings import DatabaseSettings
from arc.database.core.timescale import detect_async
from arc.database.ingest.bundle import (
    BundleResult,
    OutcomeIds,
    prepare_bundle,
    typed_errors,
    write_one,
    write_rows,
    writes_in_one_statement,
)
from arc.database.ingest.client_health import ClientHealth
from arc.database.ingest.validation import (
    normalize_failure_pattern,
    normalize_outcome,
    normalize_scenario,
    normalize_simulation,
    normalize_tool_usage,
)
from arc.database.models.outcome import ERROR_CATEGORIES
from arc.database.repositories import (
    ConfigurationRepository,
    FailurePatternRepository,
    OutcomeRepository,
    ScenarioRepository,
    SimulationRepository,
    ToolUsageRepository,
)
from arc.database.repositories.base import InsertReport, Row
from arc.database.schema import migrate

log = structlog.get_logger(__name__)

T = TypeVar("T")

ON_INVALID = ("raise", "skip")
MAX_TIME_RANGE = timedelta(days=36_500)  # the server's dates end; a century is plenty


class ArcEngine(AsyncEngine):
    """The client's AsyncEngine, plus the two helpers seed 003 calls on it.

    Seed 003 marks a simulation failed with `db.engine.execute(db.engine.text(sql), params)`;
    `execute` runs one statement in its own transaction and returns the buffered result.
    """

    text = staticmethod(text)

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        async with self.begin() as conn:
            result = await conn.execute(statement, parameters)
            return result.freeze()() if result.returns_rows else result


class ArcDBClient:
    """Async client of the Arc-Eval database (seeds 000, 002 §8/§10D, 003)."""

    def __init__(
        self,
        connection_string: str | None = None,
        *,
        enable_monitoring: bool = True,
        log_level: str = "INFO",
        retry_policy: RetryPolicy | None = None,
        circuit_breaker: CircuitBreaker | None = None,
        **engine_overrides: Any,
    ) -> None:
        ensure_logging(log_level)
        self.settings = DatabaseSettings.from_env(connection_string, **engine_overrides)
        self.engine: ArcEngine = ArcEngine(engine_from_settings(self.settings).sync_engine)
        self.enable_monitoring = enable_monitoring
        self.retry_policy = retry_policy or RetryPolicy()
        self.circuit_breaker = circuit_breaker or CircuitBreaker()
        self.metrics = ClientMetrics()
        self.health = ClientHealth(self)
        self._closed = False

    # ------------------------------------------------------------------ plumbing

    async def __aenter__(self) -> "ArcDBClient":
        await self.initialize()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def run(
        self,
        name: str,
        work: Callable[[AsyncConnection], Awaitable[T]],
        *,
        write: bool = True,
        autocommit: bool = False,
    ) -> T:
        """Run `work` in one transaction, re-running the whole transaction on transient errors.
        `autocommit`: `work` sends one statement, atomic by itself, outside any transaction
        (see OutcomeRepository.record_one): no BEGIN and COMMIT round trips."""

        async def attempt() -> T:
            if autocommit:
                async with self.engine.connect() as conn:
                    result = await work(conn)
                    if conn.in_transaction():  # it would be rolled back on close
                        raise RuntimeError(f"{name}: autocommit work began a transaction")
                    return result
            if write:
                async with self.engine.begin() as conn:
                    return await work(conn)
            async with self.engine.connect() as conn:
                return await work(conn)

        def on_retry(_attempt: int, _exc: BaseException) -> None:
            self.metrics.record_retry()

        started = time.perf_counter()
        try:
            result = await run_with_retry(
                attempt,
                name=name,
                policy=self.retry_policy,
                breaker=self.circuit_breaker,
                on_retry=on_retry,
            )
        except Exception as exc:
            if self.enable_monitoring:
                self.metrics.record((time.perf_counter() - started) * 1000, False, exc)
            raise
        if self.enable_monitoring:
            self.metrics.record((time.perf_counter() - started) * 1000, True)
            self.metrics.observe_pool(self.engine)
        return result

    # ------------------------------------------------------------------ lifecycle

    async def initialize(self) -> dict[str, Any]:
        """Connect and report health: extensions and versions, hypertables, edition, pool."""

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            caps = await detect_async(conn)
            rows = await conn.execute(text("SELECT extname, extversion FROM pg_extension"))
            extensions = {r.extname: r.extversion for r in rows}
            hypertables: list[str] = []
            if caps.has_timescaledb:
                result = await conn.execute(
                    text(
                        "SELECT hypertable_name FROM timescaledb_information.hypertables "
                        "WHERE hypertable_schema = current_schema() ORDER BY 1"
                    )
                )
                hypertables = [r[0] for r in result]
            return {
                "status": "healthy",
                "database": self.settings.redacted_url,
                "server_version": caps.server_version,
                "edition": caps.edition,
                "timescaledb": caps.timescaledb_version,
                "vector": caps.vector_version,
                "extensions": extensions,
                "hypertables": hypertables,
                "capabilities": caps.as_dict(),
            }

        health = await self.run("client.initialize", work, write=False)
        health["pool_stats"] = pool_stats(self.engine)
        log.info(
            "client.initialized",
            database=self.settings.redacted_url,
            edition=health["edition"],
            hypertables=len(health["hypertables"]),
        )
        return health

    async def deploy_schema(self) -> dict[str, Any]:
        """Run the Alembic migrations to head under the advisory lock of `arc-db migrate`
        (in a thread: Alembic is synchronous): concurrent deployers wait, then find nothing
        to do."""
        started = time.perf_counter()
        summary = await asyncio.to_thread(
            migrate.locked_migration, self.settings.url, "upgrade", None
        )

        async def work(conn: AsyncConnection) -> str | None:
            return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()

        revision = await self.run("client.deploy_schema", work, write=False)
        elapsed = (time.perf_counter() - started) * 1000
        log.info(
            "schema.deployed", revision=revision, summary=summary, duration_ms=round(elapsed, 1)
        )
        return {"status": "ok", "revision": revision, "summary": summary, "duration_ms": elapsed}

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.engine.dispose()
            log.info("client.closed")

    def get_metrics(self) -> MetricsSnapshot:
        """Success rate (%), average and p95 query time (ms), retries, pool stats.

        A dict that can also be awaited (seed 000 reads it directly, seed 003 awaits it).
        """
        return self.metrics.snapshot(self.engine)

    # ------------------------------------------------------------------ simulations

    async def create_simulation(
        self,
        config_version_id: Any,
        scenario_set: Sequence[Any],
        simulation_name: str | None = None,
        modal_app_id: str | None = None,
        modal_environment: str = "production",
        sandbox_instances: int = 1,
        metadata: Mapping[str, Any] | None = None,
        *,
        status: str = "running",
        priority: int | None = None,
        timeout_ms: int | None = None,
        max_retries: int | None = None,
        from_configuration: bool = False,
    ) -> str:
        """Create a simulation and its scenario rows; returns simulation_id.

        `scenario_set` holds scenario ids or scenario dicts (id/name/task_prompt...); dicts
        are registered when unknown. Ids must already exist otherwise. With
        `from_configuration`, `config_version_id` may also name a configuration (seed 002
        §8A's `config_id`): the simulation runs its latest approved version.
        """
        if isinstance(scenario_set, str | bytes) or not isinstance(scenario_set, Sequence):
            raise ArcValidationError("scenario_set", "must be a list of scenario ids or dicts")
        scenario_rows = [
            normalize_scenario(s, i) for i, s in enumerate(scenario_set) if isinstance(s, Mapping)
        ]
        ids = [
            normalize_scenario(s, i)["scenario_id"] if isinstance(s, Mapping) else s
            for i, s in enumerate(scenario_set)
        ]
        row = normalize_simulation(
            config_version_id=config_version_id,
            scenario_set=ids,
            simulation_name=simulation_name,
            status=status,
            modal_app_id=modal_app_id,
            modal_environment=modal_environment,
            sandbox_instances=sandbox_instances,
            metadata=metadata,
            priority=priority,
            timeout_ms=timeout_ms,
            max_retries=max_retries,
        )

        async def work(conn: AsyncConnection) -> uuid.UUID:
            if from_configuration:
                row["config_version_id"] = await _version_of(conn, row["config_version_id"])
            scenarios = ScenarioRepository(conn)
            if scenario_rows:
                await scenarios.ensure_scenarios(scenario_rows)
            missing = await scenarios.missing(row["scenario_set"])
            if missing:
                raise ArcValidationError(
                    "scenario_set",
                    "references unregistered scenarios: pass scenario dicts "
                    "(id, name, task_prompt) to register them",
                    value=missing,
                )
            sims = SimulationRepository(conn)
            simulation_id = await sims.create(row)
            await sims.add_scenarios(simulation_id, row["scenario_set"])
            return simulation_id

        simulation_id = await self.run("simulations.create", work)
        log.info(
            "simulations.created",
            simulation_id=str(simulation_id),
            scenarios=row["total_scenarios"],
            registered=len(scenario_rows),
        )
        return str(simulation_id)

    async def record_execution_start(self, execution_data: Mapping[str, Any]) -> str:
        """Start tracking an execution (seed 002 §8A/§10D); returns the simulation id.

        Accepts §10D's {config_version_id, scenario_set, modal_app_id, ...} or §8A's
        {scenario_id, config_id, modal_call_id, started_at}: a one-scenario simulation.
        """
        data = dict(check_mapping(execution_data, "execution_data", None))
        from_configuration = "config_version_id" not in data and "config_id" in data
        config_version_id = data.pop("config_version_id", None) or data.pop("config_id", None)
        scenario_set = data.pop("scenario_set", None)
        if scenario_set is None and "scenario_id" in data:
            scenario_set = [data.pop("scenario_id")]
        if scenario_set is None:
            raise ArcValidationError("scenario_set", "is required (or scenario_id)")
        metadata = dict(check_mapping(data.pop("metadata", None) or {}, "metadata", None))
        for extra in ("modal_call_id", "started_at"):
            if extra in data:
                metadata[extra] = data.pop(extra)
        reject_unknown(
            data,
            frozenset(
                {"simulation_name", "modal_app_id", "modal_environment", "sandbox_instances"}
            ),
            None,
        )
        return await self.create_simulation(
            config_version_id,
            scenario_set,
            simulation_name=data.get("simulation_name"),
            modal_app_id=data.get("modal_app_id"),
            modal_environment=data.get("modal_environment") or "production",
            sandbox_instances=data.get("sandbox_instances") or 1,
            metadata=metadata,
            from_configuration=from_configuration,
        )

    # ------------------------------------------------------------------ outcomes

    async def write_bundle(
        self,
        outcomes: Sequence[Row],
        tool_usage: Sequence[Row] = (),
        failure_patterns: Sequence[Row] = (),
        *,
        on_invalid: str = "raise",
        method: str = "auto",
        advance_progress: bool = True,
        operation: str = "outcomes.write",
        resolve_times: Iterable[uuid.UUID] = (),
        normalized: bool = False,
    ) -> BundleResult:
        """Write rows in one transaction (see bundle.py), retried whole on transient errors.

        Rows are checked in Python first (`prepare_bundle`): with on_invalid="raise" any
        rejection raises and nothing is written; with "skip" each bad row is reported in
        `.rejected` (typed, with `.table` and `.index`) and the others are written.
        `resolve_times`: ids of outcomes whose execution_time the caller did not give; one
        already stored is a duplicate (it takes the stored time), not a second row.
        `normalized`: every row comes from a `normalize_*` function (as in record_outcome,
        record_outcomes_batch and the recorder): the per-row re-check is skipped.
        """
        if on_invalid not in ON_INVALID:
            raise ArcValidationError("on_invalid", f"must be one of {', '.join(ON_INVALID)}")
        started = time.perf_counter()
        prepared = prepare_bundle(
            outcomes,
            tool_usage,
            failure_patterns,
            advance_progress=advance_progress,
            resolve_times=resolve_times,
            normalized=normalized,
        )
        if on_invalid == "raise":
            prepared.raise_first()
        one = on_invalid == "raise" and method == "values" and writes_in_one_statement(prepared)

        async def work(conn: AsyncConnection) -> BundleResult:
            if one:
                return await write_one(conn, prepared)
            return await write_rows(conn, prepared, on_invalid=on_invalid, method=method)

        result = await self.run(operation, work, autocommit=one)
        if self.enable_monitoring:
            self.metrics.record_rows(result.inserted, result.duplicates, len(result.rejected))
        log.info(
            "outcomes.batch_inserted",
            rows=len(outcomes),
            inserted=result.inserted,
            duplicates=result.duplicates,
            rejected=len(result.rejected),
            tool_usage=len(result.tool_usage_ids),
            failure_patterns=len(result.failure_pattern_ids),
            redelivered=result.redelivered,
            scenarios_advanced=result.scenarios_advanced,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return result

    async def record_outcome(self, outcome_data: Mapping[str, Any]) -> str:
        """Record one outcome; returns its outcome_id (also when it was already stored)."""
        with typed_errors("outcome"):
            row = normalize_outcome(outcome_data)
        result = await self.write_bundle(
            [row],
            method="values",
            operation="outcomes.record",
            resolve_times=_ids_without_time([outcome_data], [row]),
            normalized=True,
        )
        return result.outcome_ids[0]

    async def record_outcomes_batch(
        self,
        outcomes: Sequence[Mapping[str, Any]],
        *,
        on_invalid: str = "raise",
        method: str = "auto",
    ) -> OutcomeIds:
        """Record any number of outcomes (chunked); returns the stored ids in input order.

        on_invalid="raise" (default): any invalid row raises before anything is written.
        on_invalid="skip": valid rows are stored; `.rejected` lists each bad row's error.
        """
        if on_invalid not in ON_INVALID:
            raise ArcValidationError("on_invalid", f"must be one of {', '.join(ON_INVALID)}")
        outcomes = _list_of(outcomes, "outcomes")
        rows: list[Row] = []
        positions: list[int] = []  # input position of each row
        invalid: list[ArcDatabaseError] = []
        for i, item in enumerate(outcomes):
            try:
                with typed_errors("outcome", i):
                    row = normalize_outcome(item, i)
            except ArcValidationError as exc:
                if on_invalid == "raise":
                    raise
                exc.index = i
                invalid.append(exc)
                continue
            rows.append(row)
            positions.append(i)
        given = [outcomes[i] for i in positions]
        result = (
            await self.write_bundle(
                rows,
                on_invalid=on_invalid,
                method=method,
                resolve_times=_ids_without_time(given, rows),
                normalized=True,
            )
            if rows
            else BundleResult()
        )
        for error in result.rejected:  # map positions among valid rows back to the input
            idx = getattr(error, "index", None)
            if isinstance(idx, int) and idx < len(positions):
                setattr(error, "index", positions[idx])  # noqa: B010 - both error types have it
        result.rejected = sorted(
            [*invalid, *result.rejected], key=lambda e: getattr(e, "index", None) or 0
        )
        return OutcomeIds(result)

    async def record_execution_outcome(self, outcome_data: Mapping[str, Any]) -> str:
        """Seed 002 §8A: like record_outcome; `execution_id` (from record_execution_start)
        stands for simulation_id, and scenario_id defaults to its only scenario."""
        data = dict(check_mapping(outcome_data, "outcome", None))
        execution_id = data.pop("execution_id", None)
        if "simulation_id" not in data and execution_id is not None:
            data["simulation_id"] = execution_id
        if "scenario_id" not in data and data.get("simulation_id") is not None:
            simulation_id = require_uuid(data["simulation_id"], "simulation_id")
            data["scenario_id"] = await self._only_scenario(simulation_id)
        return await self.record_outcome(data)

    # ------------------------------------------------------------------ tool usage, failures

    async def _outcome_times(self, outcome_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
        async def work(conn: AsyncConnection) -> dict[uuid.UUID, Any]:
            return await OutcomeRepository(conn).execution_times(outcome_ids)

        return await self.run("outcomes.execution_times", work, write=False)

    async def record_tool_usage(self, tool_events: Sequence[Mapping[str, Any]]) -> list[str]:
        """Batch-record tool usage rows; execution_time defaults to their outcome's."""
        if isinstance(tool_events, Mapping):
            tool_events = [tool_events]
        tool_events = _list_of(tool_events, "tool_events")
        missing_time = [
            check_uuid(e.get("outcome_id"), "outcome_id", i, required=True)
            for i, e in enumerate(tool_events)
            if isinstance(e, Mapping) and e.get("execution_time") is None
        ]
        times = await self._outcome_times([m for m in missing_time if m is not None])
        rows: list[Row] = []
        for i, event in enumerate(tool_events):
            when = None
            if isinstance(event, Mapping) and event.get("execution_time") is None:
                oid = check_uuid(event.get("outcome_id"), "outcome_id", i, required=True)
                when = times.get(oid)  # type: ignore[arg-type]
                if when is None:
                    raise ArcNotFoundError("outcome", str(oid))
            rows.append(normalize_tool_usage(event, i, execution_time=when))

        async def work(conn: AsyncConnection) -> InsertReport:
            report = await ToolUsageRepository(conn).insert_tool_usage(rows)
            if report.rejected:
                index, error = report.rejected[0]
                error.index = index
                raise error
            return report

        report = await self.run("tool_usage.record", work)
        log.info(
            "tool_usage.batch_inserted",
            rows=len(rows),
            inserted=len(report.inserted),
            duplicates=len(report.duplicates),
        )
        return [str(r["usage_id"]) for r in rows]

    async def record_failure_pattern(self, failure_data: Mapping[str, Any]) -> str:
        """Record one failure pattern; accepts seed 002 §8A's names (error_type, execution_id).

        With `execution_id` and no outcome recorded yet (§8A's except branch: the run raised
        before it produced one), the execution's outcome is recorded as `error` with the
        failure's message, and the pattern attached to it, in one transaction.
        """
        data = dict(check_mapping(failure_data, "failure_pattern", None))
        if "error_type" in data and "failure_type" not in data:
            data["failure_type"] = data.pop("error_type")
        data.setdefault("failure_category", "unknown")
        execution_id = data.pop("execution_id", None)
        if data.get("outcome_id") is None and execution_id is not None:
            simulation_id = require_uuid(execution_id, "execution_id")

            async def latest(conn: AsyncConnection) -> tuple[Any, Any] | None:
                return await OutcomeRepository(conn).latest_for_simulation(simulation_id)

            found = await self.run("outcomes.latest", latest, write=False)
            if found is None:
                return await self._record_failed_execution(simulation_id, data)
            data["outcome_id"], data["execution_time"] = found
        when = None
        if data.get("execution_time") is None:
            oid = check_uuid(data.get("outcome_id"), "outcome_id", required=True)
            assert oid is not None
            when = (await self._outcome_times([oid])).get(oid)
            if when is None:
                raise ArcNotFoundError("outcome", str(oid))
        row = normalize_failure_pattern(data, execution_time=when)

        async def work(conn: AsyncConnection) -> InsertReport:
            report = await FailurePatternRepository(conn).insert_failure_patterns([row])
            if report.rejected:
                raise report.rejected[0][1]
            return report

        await self.run("failure_patterns.record", work)
        log.info("failure_patterns.inserted", rows=1, failure_category=row["failure_category"])
        return str(row["pattern_id"])

    async def _record_failed_execution(
        self, simulation_id: uuid.UUID, failure: dict[str, Any]
    ) -> str:
        """The error outcome of an execution that raised, with its failure pattern."""
        outcome_id, when = uuid.uuid4(), now_utc()
        message = failure.get("error_message")
        category = failure.get("failure_category")
        outcome = {
            "outcome_id": outcome_id,
            "execution_time": when,
            "simulation_id": simulation_id,
            "status": "error",
            # Nothing was measured: the run produced no result to score.
            "reliability_score": 0.0,
            "execution_time_ms": 0.0,
            "tokens_used": 0,
            "cost_usd": 0.0,
            "trajectory": {
                "status": "error",
                "error": message if isinstance(message, str) else None,
                "recorded_by": "record_failure_pattern",
            },
            "error_category": category if category in ERROR_CATEGORIES else "system_error",
        }
        outcome["scenario_id"] = (
            failure.pop("scenario_id")
            if "scenario_id" in failure
            else await self._only_scenario(simulation_id)
        )
        with typed_errors("outcome"):
            row = normalize_outcome(outcome)
        pattern = normalize_failure_pattern(
            {**failure, "outcome_id": outcome_id}, execution_time=when
        )
        result = await self.write_bundle([row], (), [pattern], operation="failures.execution")
        return str(result.failure_pattern_ids[0])

    async def _only_scenario(self, simulation_id: uuid.UUID) -> str:
        """The simulation's only scenario (seed 002 §8A leaves scenario_id out)."""

        async def work(conn: AsyncConnection) -> list[str] | None:
            return await SimulationRepository(conn).scenario_set(simulation_id)

        scenario_set = await self.run("simulations.scenario_set", work, write=False)
        if scenario_set is None:
            raise ArcNotFoundError("simulation", str(simulation_id))
        if len(scenario_set) != 1:
            raise ArcValidationError(
                "scenario_id", "is required: the simulation has more than one scenario"
            )
        return scenario_set[0]

    # ------------------------------------------------------------------ reads

    async def get_active_configurations(self) -> list[dict[str, Any]]:
        async def work(conn: AsyncConnection) -> list[dict[str, Any]]:
            return await ConfigurationRepository(conn).get_active_configurations()

        return await self.run("configurations.active", work, write=False)

    async def get_simulation_performance(
        self, simulation_id: Any, time_range: timedelta = timedelta(hours=24)
    ) -> dict[str, Any]:
        """Hourly metrics and a summary over `time_range`, from the raw outcomes hypertable."""
        sid = check_uuid(simulation_id, "simulation_id", required=True)
        assert sid is not None
        if not isinstance(time_range, timedelta) or not (
            timedelta(0) < time_range <= MAX_TIME_RANGE
        ):
            raise ArcValidationError(
                "time_range",
                f"must be a positive timedelta of at most {MAX_TIME_RANGE.days} days",
                value=time_range,
            )

        async def work(conn: AsyncConnection) -> list[dict[str, Any]]:
            return await OutcomeRepository(conn).hourly_performance(sid, time_range)

        hourly = await self.run("outcomes.performance", work, write=False)
        total = sum(int(h["total_outcomes"]) for h in hourly)
        successes = sum(int(h["successful_outcomes"]) for h in hourly)

        def weighted(key: str) -> float | None:
            if not total:
                return None
            return sum(float(h[key] or 0) * int(h["total_outcomes"]) for h in hourly) / total

        summary = {
            "total_outcomes": total,
            "successful_outcomes": successes,
            "failed_outcomes": total - successes,
            "success_rate": (100.0 * successes / total) if total else None,
            "avg_reliability": weighted("avg_reliability"),
            "avg_execution_time_ms": weighted("avg_execution_time_ms"),
            "max_hourly_p95_execution_time_ms": max(
                (float(h["p95_execution_time_ms"]) for h in hourly), default=None
            ),
            "total_cost_usd": sum(float(h["total_cost_usd"]) for h in hourly),
            "total_tokens": sum(int(h["total_tokens"]) for h in hourly),
        }
        return {
            "simulation_id": str(sid),
            "time_range_hours": time_range.total_seconds() / 3600,
            "hourly_metrics": hourly,
            "summary": summary,
        }

    async def get_recent_failures(self, limit: int = 100) -> list[dict[str, Any]]:
        checked = check_int(limit, "limit", required=True, minimum=1, maximum=10_000)
        assert checked is not None

        async def work(conn: AsyncConnection) -> list[dict[str, Any]]:
            return await OutcomeRepository(conn).recent_failures(checked)

        return await self.run("outcomes.recent_failures", work, write=False)


def _ids_without_time(given: Sequence[Any], rows: Sequence[Row]) -> set[uuid.UUID]:
    """Ids of the rows whose caller gave an outcome_id but no execution_time (normalisation
    generated one): a redelivery of such a row must find the stored one."""
    return {
        row["outcome_id"]
        for item, row in zip(given, rows, strict=True)
        if item.get("outcome_id") is not None and item.get("execution_time") is None
    }


def _list_of(value: Any, field: str) -> list[Any]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise ArcValidationError(field, "must be a list", value=type(value).__name__)
    return list(value)


# Seed 000 and seed 002 call it ArcEvalDBClient.
ArcEvalDBClient = ArcDBClient

__all__ = ["ArcDBClient", "ArcEngine", "ArcEvalDBClient", "BundleResult", "OutcomeIds"]


async def _version_of(conn: AsyncConnection, config_or_version: uuid.UUID) -> uuid.UUID:
    """A configuration id -> its latest approved version; a version id stays as it is."""
    configuration = (
        await conn.execute(
            text("SELECT latest_version_id FROM configurations WHERE config_id = :id"),
            {"id": config_or_version},
        )
    ).first()
    if configuration is None:
        return config_or_version
    if configuration.latest_version_id is None:
        raise ArcValidationError(
            "config_id", "names a configuration without an approved version", value=None
        )
    latest: uuid.UUID = configuration.latest_version_id
    return latest
