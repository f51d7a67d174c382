"""Which simulations named by spans may receive outcomes, checked while the request is open so
that a refusal can be reported in its partial success.

An outcome belongs to the simulation `arc.simulation_id` names. It must exist, be open
(pending or running: the write path refuses outcomes of a finished simulation), and list the
scenario `arc.scenario_id` names in its scenario set. Open simulations are remembered for
`ttl` seconds (a burst of requests costs one query); unknown ones are looked up every time (one
may be created a moment later). The check is one query with its own time bound and no
retries: when the database cannot answer, the request is refused with 503 as a whole.
"""

import asyncio
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.core.retry import RetryPolicy, run_with_retry
from arc.database.repositories.simulations import OPEN_SIMULATION_STATUSES

_LOOKUP = text(
    "SELECT simulation_id, status, scenario_set FROM simulations "
    "WHERE simulation_id = ANY(CAST(:ids AS uuid[]))"
)
ONE_ATTEMPT = RetryPolicy(max_attempts=1)


@dataclass(frozen=True)
class SimulationInfo:
    simulation_id: uuid.UUID
    status: str
    scenario_set: frozenset[str]

    def problem_with(self, scenario_id: str) -> str | None:
        if self.status not in OPEN_SIMULATION_STATUSES:
            return (
                f"simulation {self.simulation_id} is {self.status}: outcomes are refused "
                "once it has finished"
            )
        if scenario_id not in self.scenario_set:
            return f"scenario {scenario_id!r} is not in the scenario set of simulation " + str(
                self.simulation_id
            )
        return None


class Simulations:
    def __init__(self, engine: AsyncEngine, *, ttl: float, timeout: float) -> None:
        self.engine = engine
        self.ttl = ttl
        self.timeout = timeout
        self._known: dict[uuid.UUID, tuple[float, SimulationInfo]] = {}

    async def lookup(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, SimulationInfo]:
        """The simulations among `ids` that exist. ArcTransientError when the database cannot
        answer within the timeout."""
        now = time.monotonic()
        found: dict[uuid.UUID, SimulationInfo] = {}
        missing: list[uuid.UUID] = []
        for sid in set(ids):
            cached = self._known.get(sid)
            if cached is not None and now - cached[0] < self.ttl:
                found[sid] = cached[1]
            else:
                missing.append(sid)
        if missing:
            for info in await self._query(sorted(missing)):
                found[info.simulation_id] = info
                if info.status in OPEN_SIMULATION_STATUSES:
                    self._known[info.simulation_id] = (now, info)
                else:
                    self._known.pop(info.simulation_id, None)
            if len(self._known) > 10_000:
                self._known = {k: v for k, v in self._known.items() if now - v[0] < self.ttl}
        return found

    async def _query(self, ids: list[uuid.UUID]) -> list[SimulationInfo]:
        async def attempt() -> list[SimulationInfo]:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(_LOOKUP, {"ids": ids})).all()
            return [SimulationInfo(r[0], r[1], frozenset(r[2] or ())) for r in rows]

        async def bounded() -> list[SimulationInfo]:
            async with asyncio.timeout(self.timeout):  # TimeoutError: transient
                return await attempt()

        return await run_with_retry(bounded, name="otel.simulations", policy=ONE_ATTEMPT)
