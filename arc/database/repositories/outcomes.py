"""Outcomes (hypertable): idempotent batch inserts and the reads the write path offers."""

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from arc.database.models import Outcome
from arc.database.repositories.base import BaseRepository, BatchInserter, InsertReport, Row

OUTCOME_KEY = ("outcome_id", "execution_time")
# Below this many rows one Core INSERT ... VALUES is cheaper than staging + COPY.
COPY_THRESHOLD = 64

_OUTCOME_COLUMNS = """
    outcome_id, simulation_id, scenario_id, execution_time, status, reliability_score,
    execution_time_ms, tokens_used, cost_usd, trajectory, metrics, execution_metadata,
    modal_call_id, sandbox_id, retry_count, error_code, error_category, created_at
"""

# One outcome in one statement (`record_one`): the simulation share-locked and checked, the
# row inserted unless that simulation has finished, and the scenario's progress advanced when
# it was inserted. The progress rules and lock order are SimulationRepository.advance_progress's
# (repositories/simulations.py), for one row: simulation FOR KEY SHARE, then the junction row,
# then the simulation FOR NO KEY UPDATE. An unknown simulation is inserted for and refused by
# the foreign key, as in the batch path. Parameters are numbered ($n): the statement goes to
# the driver as it is.
_RECORD_ONE_COLUMNS = (
    "outcome_id", "execution_time", "simulation_id", "scenario_id", "status",
    "reliability_score", "execution_time_ms", "tokens_used", "cost_usd", "trajectory",
    "metrics", "execution_metadata", "modal_call_id", "sandbox_id", "sandbox_logs",
    "retry_count", "error_code", "error_category", "created_at",
)  # fmt: skip
_RECORD_ONE_PARAMETERS = (*_RECORD_ONE_COLUMNS, "scenario_status", "started_at")
_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def _p(name: str) -> str:
    """The placeholder of a parameter of the one-outcome statement, cast to its type (INSERT
    ... SELECT infers no types from the target columns)."""
    if name in _RECORD_ONE_COLUMNS:
        kind = Outcome.__table__.c[name].type.compile(_DIALECT)
    else:
        kind = {"scenario_status": "text", "started_at": "timestamptz"}[name]
    return f"CAST(${_RECORD_ONE_PARAMETERS.index(name) + 1} AS {kind})"


_RECORD_ONE_SQL = f"""
    WITH sim AS (
        SELECT status FROM simulations WHERE simulation_id = {_p("simulation_id")}
        FOR KEY SHARE
    ),
    ins AS (
        INSERT INTO outcomes ({", ".join(_RECORD_ONE_COLUMNS)})
        SELECT {", ".join(_p(c) for c in _RECORD_ONE_COLUMNS)}
        WHERE NOT EXISTS (SELECT 1 FROM sim WHERE status NOT IN ('pending', 'running'))
        ON CONFLICT (outcome_id, execution_time) DO NOTHING
        RETURNING simulation_id, scenario_id
    ),
    locked AS (
        SELECT ss.simulation_id, ss.scenario_id
        FROM simulations_scenarios ss
        JOIN ins ON ins.simulation_id = ss.simulation_id AND ins.scenario_id = ss.scenario_id
        WHERE ss.status NOT IN ('completed', 'failed', 'skipped')
        FOR NO KEY UPDATE OF ss
    ),
    advanced AS (
        UPDATE simulations_scenarios ss
        SET status = {_p("scenario_status")},
            started_at = COALESCE(
                ss.started_at, LEAST({_p("started_at")}, {_p("execution_time")})
            ),
            completed_at = {_p("execution_time")},
            modal_call_id = COALESCE({_p("modal_call_id")}, ss.modal_call_id)
        FROM locked
        WHERE locked.simulation_id = ss.simulation_id AND locked.scenario_id = ss.scenario_id
          AND ss.status NOT IN ('completed', 'failed', 'skipped')
        RETURNING ss.simulation_id
    ),
    bumped AS (
        UPDATE simulations s
        SET completed_scenarios = LEAST(s.total_scenarios, s.completed_scenarios + 1),
            status = CASE WHEN s.status = 'pending' THEN 'running' ELSE s.status END,
            started_at = COALESCE(s.started_at, GREATEST(s.created_at, now()))
        FROM advanced
        WHERE s.simulation_id = advanced.simulation_id
        RETURNING s.simulation_id
    )
    SELECT (SELECT status FROM sim) AS simulation_status,
           (SELECT count(*) FROM ins) AS inserted,
           (SELECT count(*) FROM bumped) AS advanced
"""


class OutcomeRepository(BaseRepository):
    async def insert_outcomes(
        self,
        rows: Sequence[Row],
        *,
        method: str = "auto",
        chunk_size: int | None = None,
        isolate: bool = True,
    ) -> InsertReport:
        """Insert validated rows; `method` is "values", "executemany", "copy" or "auto".

        auto: one row -> a cached single-row INSERT; up to COPY_THRESHOLD rows -> executemany
        of that statement; larger batches -> COPY through the staging table.

        `isolate=False` tells that the caller rolls back on any rejection, which spares the
        savepoint around single-row inserts.
        """
        inserter = BatchInserter(self.conn, Outcome.__table__, OUTCOME_KEY)  # type: ignore[arg-type]
        inserter.isolate = isolate
        if method == "auto":
            method = "copy" if len(rows) >= COPY_THRESHOLD else "executemany"
        if method == "copy":
            return await inserter.insert_copy(rows)
        if method == "values":
            return await inserter.insert_values(rows, chunk_size=chunk_size)
        if method == "executemany":
            return await inserter.insert_values(rows, chunk_size=chunk_size, executemany=True)
        raise ValueError(f"unknown insert method {method!r}")

    async def record_one(
        self, row: Row, *, scenario_status: str, started_at: Any
    ) -> tuple[str | None, bool, bool]:
        """Write one validated outcome (without an embedding) and its progress in one
        statement; returns (the simulation's status, None if unknown; inserted; advanced).
        Nothing is inserted for a finished simulation: the caller refuses it.

        Inside the caller's transaction when it has begun one; otherwise the statement is
        sent to the driver alone and is its own transaction (no BEGIN and COMMIT round trips;
        driver errors then come unwrapped: see `row_rejection`)."""
        values = {**row, "scenario_status": scenario_status, "started_at": started_at}
        args = tuple(values[name] for name in _RECORD_ONE_PARAMETERS)
        if self.conn.in_transaction():
            found: Any = (await self.conn.exec_driver_sql(_RECORD_ONE_SQL, args)).one()
        else:
            driver: Any = (await self.conn.get_raw_connection()).driver_connection
            try:
                found = await driver.fetchrow(_RECORD_ONE_SQL, *args)
            except BaseException as exc:
                # Past SQLAlchemy, so its disconnect handling does not see this: anything but
                # an error the server reported leaves the connection in doubt; the pool must
                # not hand it out again.
                if not isinstance(exc, asyncpg.PostgresError):
                    await self.conn.invalidate(exc if isinstance(exc, Exception) else None)
                raise
        return found[0], bool(found[1]), bool(found[2])

    async def execution_times(self, outcome_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
        """outcome_id -> execution_time, for rows (tool usage, failures) that must carry it."""
        if not outcome_ids:
            return {}
        result = await self.conn.execute(
            text(
                "SELECT outcome_id, execution_time FROM outcomes "
                "WHERE outcome_id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": list(outcome_ids)},
        )
        return {row.outcome_id: row.execution_time for row in result}

    async def latest_for_simulation(self, simulation_id: uuid.UUID) -> tuple[Any, Any] | None:
        row = (
            await self.conn.execute(
                text(
                    "SELECT outcome_id, execution_time FROM outcomes "
                    "WHERE simulation_id = :sid ORDER BY execution_time DESC LIMIT 1"
                ),
                {"sid": simulation_id},
            )
        ).first()
        return (row.outcome_id, row.execution_time) if row else None

    async def list_for_simulation(
        self,
        simulation_id: uuid.UUID,
        *,
        status: str | None = None,
        scenario_id: str | None = None,
    ) -> list[dict[str, Any]]:
        result = await self.conn.execute(
            text(
                f"SELECT {_OUTCOME_COLUMNS} FROM outcomes WHERE simulation_id = :sid "
                "AND (CAST(:status AS text) IS NULL OR status = :status) "
                "AND (CAST(:scenario AS text) IS NULL OR scenario_id = :scenario) "
                "ORDER BY execution_time, outcome_id"
            ),
            {"sid": simulation_id, "status": status, "scenario": scenario_id},
        )
        return [dict(row._mapping) for row in result]

    async def recent_failures(self, limit: int) -> list[dict[str, Any]]:
        """Most recent error/timeout outcomes (uses the partial index on status <> 'success')."""
        result = await self.conn.execute(
            text(
                "SELECT o.outcome_id, o.simulation_id, o.scenario_id, o.execution_time, o.status,"
                " o.reliability_score, o.execution_time_ms, o.error_code, o.error_category,"
                " o.modal_call_id, o.sandbox_id, o.trajectory->>'error' AS error_message "
                "FROM outcomes o WHERE o.status <> 'success' AND o.status IN ('error', 'timeout') "
                "ORDER BY o.execution_time DESC LIMIT :limit"
            ),
            {"limit": limit},
        )
        return [dict(row._mapping) for row in result]

    async def hourly_performance(
        self, simulation_id: uuid.UUID, time_range: timedelta
    ) -> list[dict[str, Any]]:
        """Hourly buckets from the raw hypertable (same on both editions, always fresh)."""
        result = await self.conn.execute(
            text(
                "SELECT time_bucket(INTERVAL '1 hour', execution_time) AS hour,"
                " count(*) AS total_outcomes,"
                " count(*) FILTER (WHERE status = 'success') AS successful_outcomes,"
                " count(*) FILTER (WHERE status <> 'success') AS failed_outcomes,"
                " avg(reliability_score)::float8 AS avg_reliability,"
                " avg(execution_time_ms)::float8 AS avg_execution_time_ms,"
                " percentile_cont(0.95) WITHIN GROUP (ORDER BY execution_time_ms)"
                "   AS p95_execution_time_ms,"
                " COALESCE(sum(cost_usd), 0)::float8 AS total_cost_usd,"
                " COALESCE(sum(tokens_used), 0)::bigint AS total_tokens "
                "FROM outcomes WHERE simulation_id = :sid"
                " AND execution_time >= now() - CAST(:range AS interval) "
                "GROUP BY 1 ORDER BY 1"
            ),
            {"sid": simulation_id, "range": time_range},
        )
        return [dict(row._mapping) for row in result]

    async def simulation_totals(self, simulation_id: uuid.UUID) -> dict[str, Any]:
        row = (
            await self.conn.execute(
                text(
                    "SELECT count(*) AS total_outcomes,"
                    " count(*) FILTER (WHERE status = 'success') AS successful_outcomes,"
                    " count(*) FILTER (WHERE status <> 'success') AS failed_outcomes,"
                    " count(DISTINCT scenario_id) AS scenarios_with_outcomes,"
                    " avg(reliability_score)::float8 AS avg_reliability,"
                    " COALESCE(sum(cost_usd), 0)::float8 AS total_cost_usd,"
                    " COALESCE(sum(tokens_used), 0)::bigint AS total_tokens "
                    "FROM outcomes WHERE simulation_id = :sid"
                ),
                {"sid": simulation_id},
            )
        ).one()
        return dict(row._mapping)
