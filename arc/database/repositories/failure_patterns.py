"""Failure patterns (hypertable): structured failures of outcomes, inserted idempotently."""

from collections.abc import Sequence

from arc.database.models import FailurePattern
from arc.database.repositories.base import BaseRepository, BatchInserter, InsertReport, Row

FAILURE_PATTERN_KEY = ("pattern_id", "execution_time")


class FailurePatternRepository(BaseRepository):
    async def insert_failure_patterns(self, rows: Sequence[Row]) -> InsertReport:
        inserter = BatchInserter(self.conn, FailurePattern.__table__, FAILURE_PATTERN_KEY)  # type: ignore[arg-type]
        if len(rows) >= 256:
            return await inserter.insert_copy(rows)
        return await inserter.insert_values(rows, executemany=True)
