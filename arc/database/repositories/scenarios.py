"""Scenarios: registered on first use by many workers at once."""

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from arc.database.models import Scenario
from arc.database.repositories.base import BaseRepository, Row, json_bindable


class ScenarioRepository(BaseRepository):
    async def ensure_scenarios(self, rows: Sequence[Row]) -> list[str]:
        """Insert the scenarios that do not exist yet; return the ids that were new.

        Rows are sorted by id first: concurrent workers registering overlapping sets then
        take their row locks in the same order and cannot deadlock.
        """
        if not rows:
            return []
        ordered = sorted(
            {r["scenario_id"]: r for r in rows}.values(), key=lambda r: r["scenario_id"]
        )
        stmt = (
            pg_insert(Scenario)
            .values([json_bindable(r) for r in ordered])
            .on_conflict_do_nothing(index_elements=[Scenario.scenario_id])
            .returning(Scenario.scenario_id)
        )
        result = await self.conn.execute(stmt)
        return [r[0] for r in result]

    async def missing(self, scenario_ids: Sequence[str]) -> list[str]:
        """The ids among `scenario_ids` that are not registered."""
        if not scenario_ids:
            return []
        result = await self.conn.execute(
            text("SELECT scenario_id FROM scenarios WHERE scenario_id = ANY(CAST(:ids AS text[]))"),
            {"ids": list(scenario_ids)},
        )
        found = {r[0] for r in result}
        return [s for s in scenario_ids if s not in found]
