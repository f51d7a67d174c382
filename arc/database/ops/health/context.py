"""What every check receives: the engine (and the read engine), the thresholds and the server's
capabilities."""

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from arc.database.core.timescale import TimescaleCapabilities, detect_async
from arc.database.ops.health.report import HealthThresholds


@dataclass
class CheckContext:
    engine: AsyncEngine
    thresholds: HealthThresholds = field(default_factory=HealthThresholds)
    capabilities: TimescaleCapabilities | None = None
    read_engine: AsyncEngine | None = None  # the replica's engine, when reads are routed

    async def caps(self, conn: AsyncConnection) -> TimescaleCapabilities:
        """Detected once per checker, on the first check that needs it."""
        if self.capabilities is None:
            self.capabilities = await detect_async(conn)
        return self.capabilities
