"""ArcAPI: the seed 003 integration surface over ArcDBClient.

It speaks the evaluator's structures (scenario dicts, scenario results with trajectory,
reliability_score and detailed_trajectory); `outcome_builder` turns them into validated rows.
Everything for one call is written in one transaction.
"""

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from arc.database.core.checks import check_choice, check_number, check_text, check_uuid
from arc.database.core.errors import ArcNotFoundError, ArcValidationError
from arc.database.ingest.bundle import typed_errors
from arc.database.ingest.client import ArcDBClient
from arc.database.ingest.outcome_builder import build_outcome
from arc.database.repositories import OutcomeRepository, SimulationRepository
from arc.database.repositories.base import Row

log = structlog.get_logger(__name__)


class ArcAPI:
    """Seed 003's API. `db` is the ArcDBClient (seed 003 uses db.engine, db.get_metrics...)."""

    def __init__(self, db: ArcDBClient) -> None:
        self.db = db

    async def __aenter__(self) -> "ArcAPI":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.db.close()

    async def start_simulation(
        self,
        config_version_id: Any,
        scenarios: Sequence[Any],
        simulation_name: str | None = None,
        modal_app_id: str | None = None,
        modal_environment: str | None = "production",
        sandbox_instances: int | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Register unknown scenarios, create the running simulation and its scenario rows."""
        if isinstance(scenarios, str | bytes) or not isinstance(scenarios, Sequence):
            raise ArcValidationError("scenarios", "must be a list of scenario dicts or ids")
        simulation_id = await self.db.create_simulation(
            config_version_id,
            list(scenarios),
            simulation_name=simulation_name,
            modal_app_id=modal_app_id,
            modal_environment=modal_environment or "production",
            sandbox_instances=sandbox_instances or max(1, len(scenarios)),
            metadata=metadata,
        )
        ids = [
            (s.get("id", s.get("scenario_id")) if isinstance(s, Mapping) else s) for s in scenarios
        ]
        return {
            "simulation_id": simulation_id,
            "status": "running",
            "total_scenarios": len(ids),
            "scenario_ids": ids,
            "simulation_name": simulation_name,
        }

    async def record_batch_outcomes(
        self,
        simulation_id: Any,
        scenario_results: Sequence[Any],
        modal_call_ids: Sequence[str | None] | None = None,
    ) -> list[str]:
        """Record every scenario result in one transaction; returns the outcome ids.

        Results with a Modal call id get ids derived from (simulation, scenario, call): sending
        the same batch again stores nothing twice (see `record_scenario_outcome`)."""
        if isinstance(scenario_results, Mapping) or not isinstance(scenario_results, Sequence):
            raise ArcValidationError("scenario_results", "must be a list of scenario results")
        if modal_call_ids is not None and (
            isinstance(modal_call_ids, str | bytes | Mapping)
            or not isinstance(modal_call_ids, Sequence)
        ):
            raise ArcValidationError(
                "modal_call_ids",
                "must be a list with one entry per scenario result",
                value=type(modal_call_ids).__name__,
            )
        if modal_call_ids is not None and len(modal_call_ids) != len(scenario_results):
            raise ArcValidationError(
                "modal_call_ids",
                "must have one entry per scenario result",
                value=len(modal_call_ids),
            )
        sid = check_uuid(simulation_id, "simulation_id", required=True)
        outcomes: list[Row] = []
        tools: list[Row] = []
        failures: list[Row] = []
        for i, result in enumerate(scenario_results):
            call_id = modal_call_ids[i] if modal_call_ids is not None else None
            with typed_errors("scenario_result", i):
                outcome, tool_rows, failure_rows = build_outcome(
                    sid, result, modal_call_id=call_id, index=i
                )
            _identify(outcome, tool_rows, failure_rows, call_id)
            outcomes.append(outcome)
            tools.extend(tool_rows)
            failures.extend(failure_rows)
        if not outcomes:
            return []
        written = await self.db.write_bundle(
            outcomes,
            tools,
            failures,
            operation="api.record_batch_outcomes",
            resolve_times=_derived_ids(outcomes, modal_call_ids),
        )
        return written.outcome_ids

    async def record_scenario_outcome(
        self,
        simulation_id: Any,
        scenario_result: Any,
        modal_call_id: str | None = None,
        sandbox_id: str | None = None,
    ) -> str:
        """Record one result as it completes and advance the simulation's progress counters.

        With `modal_call_id` the outcome's id is derived from (simulation, scenario, call), so
        a retry of a call whose answer was lost finds the stored row instead of adding one."""
        sid = check_uuid(simulation_id, "simulation_id", required=True)
        with typed_errors("scenario_result"):
            outcome, tools, failures = build_outcome(
                sid, scenario_result, modal_call_id=modal_call_id, sandbox_id=sandbox_id
            )
        _identify(outcome, tools, failures, modal_call_id)
        written = await self.db.write_bundle(
            [outcome],
            tools,
            failures,
            method="values",
            operation="api.record_scenario_outcome",
            resolve_times=_derived_ids([outcome], [modal_call_id]),
        )
        return written.outcome_ids[0]

    async def complete_simulation(
        self, simulation_id: Any, suite_result: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Mark completed; score, cost and time come from the suite result or, computed in the
        same transaction after the simulation's row lock, from the stored outcomes. Outcomes
        recorded after completion are refused (see repositories/simulations.py)."""
        sid = check_uuid(simulation_id, "simulation_id", required=True)
        assert sid is not None
        suite = suite_result or {}
        if not isinstance(suite, Mapping):
            raise ArcValidationError("suite_result", "must be a dict")
        summary = suite.get("summary") if isinstance(suite.get("summary"), Mapping) else {}
        assert isinstance(summary, Mapping)

        def pick(*keys: str) -> Any:
            for key in keys:
                for source in (suite, summary):
                    if source.get(key) is not None:
                        return source[key]
            return None

        score = check_number(
            pick("overall_score", "average_score", "avg_reliability_score"),
            "suite_result.overall_score",
            minimum=0,
            maximum=1,
        )
        cost = check_number(
            pick("total_cost_usd", "total_cost"), "suite_result.total_cost", minimum=0
        )
        elapsed_ms = check_number(
            pick("execution_time_ms"), "suite_result.execution_time_ms", minimum=0
        )
        if elapsed_ms is None:
            seconds = check_number(
                pick("total_execution_time", "execution_time_seconds", "execution_time"),
                "suite_result.execution_time",
                minimum=0,
            )
            elapsed_ms = seconds * 1000 if seconds is not None else None
        if elapsed_ms is not None and elapsed_ms > 2_147_483_647:
            raise ArcValidationError("suite_result.execution_time", "is out of range")

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            sims = SimulationRepository(conn)
            changed = await sims.complete(
                sid,
                overall_score=score,
                total_cost_usd=cost,
                execution_time_ms=round(elapsed_ms) if elapsed_ms is not None else None,
            )
            row = await sims.get(sid)
            if row is None:
                raise ArcNotFoundError("simulation", str(sid))
            if not changed and row["status"] != "completed":
                raise ArcValidationError(
                    "status",
                    f"cannot complete a simulation that is {row['status']}",
                    value=row["status"],
                )
            return row

        row = await self.db.run("simulations.complete", work)
        log.info(
            "simulations.completed", simulation_id=str(sid), overall_score=row["overall_score"]
        )
        return {
            "simulation_id": str(sid),
            "status": row["status"],
            "overall_score": row["overall_score"],
            "execution_time_ms": row["execution_time_ms"],
            "total_cost_usd": row["total_cost_usd"],
            "completed_scenarios": row["completed_scenarios"],
            "total_scenarios": row["total_scenarios"],
            "completed_at": row["completed_at"],
        }

    async def fail_simulation(self, simulation_id: Any, reason: str) -> dict[str, Any]:
        """Mark failed (completed_at set, allowed on failed) with the reason in metadata."""
        sid = check_uuid(simulation_id, "simulation_id", required=True)
        assert sid is not None
        if not isinstance(reason, str) or "\x00" in reason:
            raise ArcValidationError("reason", "must be a string without NUL characters")

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            sims = SimulationRepository(conn)
            await sims.fail(sid, reason)
            row = await sims.get(sid)
            if row is None:
                raise ArcNotFoundError("simulation", str(sid))
            return row

        row = await self.db.run("simulations.fail", work)
        log.info("simulations.failed", simulation_id=str(sid), status=row["status"])
        return {
            "simulation_id": str(sid),
            "status": row["status"],
            "completed_at": row["completed_at"],
            "reason": (row["metadata"] or {}).get("failure_reason", reason),
        }

    async def get_simulation_status(self, simulation_id: Any) -> dict[str, Any]:
        sid = check_uuid(simulation_id, "simulation_id", required=True)
        assert sid is not None

        async def work(
            conn: AsyncConnection,
        ) -> tuple[dict[str, Any] | None, dict[str, Any], dict[str, int]]:
            sims = SimulationRepository(conn)
            row = await sims.get(sid)
            totals = await OutcomeRepository(conn).simulation_totals(sid) if row else {}
            statuses = await sims.scenario_statuses(sid) if row else {}
            return row, totals, statuses

        row, totals, statuses = await self.db.run("simulations.status", work, write=False)
        if row is None:
            raise ArcNotFoundError("simulation", str(sid))
        total = int(row["total_scenarios"])
        done = int(row["completed_scenarios"] or 0)
        return {
            "simulation_id": str(sid),
            "simulation_name": row["simulation_name"],
            "status": row["status"],
            "total_scenarios": total,
            "completed_scenarios": done,
            "progress_percentage": 100.0 * done / total if total else 0.0,
            "total_outcomes": int(totals["total_outcomes"]),
            "successful_outcomes": int(totals["successful_outcomes"]),
            "failed_outcomes": int(totals["failed_outcomes"]),
            "scenario_statuses": statuses,
            "average_reliability": totals["avg_reliability"],
            "total_cost_usd": float(totals["total_cost_usd"]),
            "total_tokens": int(totals["total_tokens"]),
            "overall_score": row["overall_score"],
            "created_at": row["created_at"],
            "started_at": row["started_at"],
            "completed_at": row["completed_at"],
        }

    async def get_scenario_outcomes(
        self,
        simulation_id: Any,
        status_filter: str | None = None,
        scenario_id: str | None = None,
    ) -> list[dict[str, Any]]:
        sid = check_uuid(simulation_id, "simulation_id", required=True)
        assert sid is not None
        from arc.database.models.outcome import OUTCOME_STATUSES

        status = check_choice(status_filter, "status_filter", OUTCOME_STATUSES)
        scenario_id = check_text(scenario_id, "scenario_id")

        async def work(conn: AsyncConnection) -> list[dict[str, Any]]:
            return await OutcomeRepository(conn).list_for_simulation(
                sid, status=status, scenario_id=scenario_id
            )

        rows = await self.db.run("outcomes.list", work, write=False)
        for row in rows:
            row["outcome_id"] = str(row["outcome_id"])
            row["simulation_id"] = str(row["simulation_id"])
        return rows


async def create_arc_api(connection_string: str | None = None, **client_options: Any) -> ArcAPI:
    """An initialized ArcAPI on TIMESCALE_SERVICE_URL (or `connection_string`)."""
    client = ArcDBClient(connection_string, **client_options)
    try:
        await client.initialize()
    except BaseException:
        await client.close()
        raise
    return ArcAPI(client)


__all__ = ["ArcAPI", "create_arc_api"]


# The namespace of outcome ids derived from a Modal call (uuid5): stable across releases.
OUTCOME_ID_NAMESPACE = uuid.UUID("6f1d2c1e-5b0a-4c55-9a55-61726365766c")


def derived_outcome_id(simulation_id: uuid.UUID, scenario_id: str, modal_call_id: str) -> uuid.UUID:
    """The id of the outcome of `modal_call_id` running `scenario_id` in the simulation."""
    return uuid.uuid5(OUTCOME_ID_NAMESPACE, f"{simulation_id}/{scenario_id}/{modal_call_id}")


def _identify(outcome: Row, tools: list[Row], failures: list[Row], call_id: str | None) -> None:
    """Give the outcome (and the rows that refer to it) its derived id, when it has a call."""
    if not call_id:
        return
    derived = derived_outcome_id(outcome["simulation_id"], outcome["scenario_id"], call_id)
    for row in (outcome, *tools, *failures):
        row["outcome_id"] = derived


def _derived_ids(outcomes: list[Row], call_ids: Sequence[str | None] | None) -> list[uuid.UUID]:
    """Outcomes whose id came from a call: their time is the stored one if already written."""
    if call_ids is None:
        return []
    return [o["outcome_id"] for o, c in zip(outcomes, call_ids, strict=True) if c]
