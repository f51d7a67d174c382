"""Outcomes (hypertable): idempotent batch inserts and the reads the write path offers."""

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import text

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
