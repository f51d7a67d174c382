"""Tool usage (hypertable): per-outcome tool statistics, inserted idempotently."""

from collections.abc import Sequence

from arc.database.models import ToolUsage
from arc.database.repositories.base import BaseRepository, BatchInserter, InsertReport, Row

TOOL_USAGE_KEY = ("usage_id", "execution_time")


class ToolUsageRepository(BaseRepository):
    async def insert_tool_usage(self, rows: Sequence[Row]) -> InsertReport:
        inserter = BatchInserter(self.conn, ToolUsage.__table__, TOOL_USAGE_KEY)  # type: ignore[arg-type]
        if len(rows) >= 256:
            return await inserter.insert_copy(rows)
        return await inserter.insert_values(rows, executemany=True)
