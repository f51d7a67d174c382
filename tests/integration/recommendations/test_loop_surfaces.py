"""The loop on response surfaces that are not the repository's, where the right direction is
the opposite of the default surface's: the engine must find it in the evidence (an experiment,
then what the canary measured), not in anything bench/ or the demo encodes."""

import io
import math
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.demo.loop import LoopOptions, run_loop
from arc.database.demo.surface import DIFFICULTY, DefaultSurface, make_scenarios
from arc.database.ingest.api import ArcAPI, create_arc_api
from arc.database.recommendations import RecommendationEngine
from arc.database.recommendations.providers.offline import OfflineProvider
from tests.support.scratch import scratch_engine, scratch_url

__all__ = ["scratch_engine", "scratch_url"]

ALL_TOOLS = ["web_search", "calculator", "weather_api", "flight_search", "calendar_api"]


def _temperature(config: Mapping[str, Any]) -> float:
    value = config.get("temperature", 0.7)
    return float(value) if isinstance(value, int | float) else 0.7


class WarmSurface(DefaultSurface):
    """Success peaks at temperature 1.2, so lowering it hurts (the default surface peaks at
    0.3); tools, tokens and retries make no difference to success."""

    def success_probability(self, config: Mapping[str, Any], scenario: Mapping[str, Any]) -> float:
        logit = (
            0.8
            - 2.5 * abs(_temperature(config) - 1.2)
            - 0.5 * DIFFICULTY[scenario["difficulty_level"]]
        )
        return 1 / (1 + math.exp(-logit))


# Version 1: every tool, room for every answer, retries: nothing the default surface rewards
# is left to do, and temperature is on the wrong side of its best value for this surface.
START = {
    "model": "gpt-4o-mini",
    "temperature": 0.6,
    "max_tokens": 4096,
    "retries": 2,
    "timeout_ms": 60000,
    "tools": ALL_TOOLS,
}


@pytest.fixture(scope="module")
async def api(scratch_url: str) -> AsyncIterator[ArcAPI]:
    client_api = await create_arc_api(scratch_url, log_level="WARNING", pool_size=4)
    yield client_api
    await client_api.db.close()


async def test_the_loop_follows_the_evidence_where_lower_temperature_hurts(
    scratch_engine: AsyncEngine, api: ArcAPI
) -> None:
    surface = WarmSurface()
    scenarios = make_scenarios(36)
    assert surface.success_probability(START, scenarios[0]) < surface.success_probability(
        {**START, "temperature": 0.8}, scenarios[0]
    )
    out = io.StringIO()
    options = LoopOptions(rounds=3, scenarios=36, repeats=8, inject_harmful_round=2, seed=5)
    report = await run_loop(
        scratch_engine,
        api,
        surface,
        scenarios,
        options,
        out=out,
        start_config=dict(START),
        recommender=RecommendationEngine(scratch_engine, provider=OfflineProvider()),
        user=uuid.uuid4(),
    )
    text = out.getvalue()
    attempts = [a for r in report.rounds for a in r.attempts]
    approved = [a for a in attempts if a.decision == "approved"]
    assert report.improvement > 0.10, text  # on fresh runs of v1 and the final version
    assert report.cost_change <= options.cost_budget, text
    assert report.harmful_rejected == 1, text
    assert approved, text
    assert all(a.description.startswith("temperature raised") for a in approved), text
    # the default surface's direction was tried and refused by the canary, not assumed
    lowered = [a for a in attempts if a.description.startswith("temperature lowered")]
    assert lowered, text
    assert all(a.decision == "rejected" for a in lowered), text


async def test_a_surface_can_name_its_own_harm(scratch_engine: AsyncEngine, api: ArcAPI) -> None:
    """The injection uses the surface's harmful_change when it has one (here: the tools its
    scenarios need removed); the canary refuses it."""

    class NeedsTools(DefaultSurface):
        def harmful_change(self, config: Mapping[str, Any]) -> dict[str, Any]:
            return {"tools": ["calculator"]}

    out = io.StringIO()
    options = LoopOptions(rounds=1, scenarios=24, repeats=6, inject_harmful_round=1, seed=3)
    report = await run_loop(
        scratch_engine,
        api,
        NeedsTools(),
        make_scenarios(24),
        options,
        out=out,
        start_config=dict(START, temperature=0.3),
        recommender=RecommendationEngine(scratch_engine, provider=OfflineProvider()),
        user=uuid.uuid4(),
    )
    injected = [a for r in report.rounds for a in r.attempts if a.injected]
    assert len(injected) == 1
    assert injected[0].description.startswith('tools ["calculator"]'), out.getvalue()
    assert injected[0].decision == "rejected"
    assert "the gate refused" in injected[0].reason
