"""`make demo` at its real size: the recommendation loop must improve the agent it is shown on
and refuse the injected harmful change."""

import asyncio
import io

from arc.database.demo.run import run_demo
from arc.database.ops.provision import drop_database, with_database
from tests.conftest import fresh_database_name


def test_the_demo_shows_the_loop_end_to_end(server_url: str) -> None:
    url = with_database(server_url, fresh_database_name("arc_demo_full"))
    out = io.StringIO()
    try:
        result = asyncio.run(run_demo(url, out=out))
    finally:
        asyncio.run(drop_database(url))
    text = out.getvalue()
    loop = result["loop"]
    assert loop is not None, text
    assert loop.approved, text
    assert loop.after.reliability > loop.before.reliability * 1.10, text
    assert loop.after.cost_per_execution <= loop.before.cost_per_execution * 1.10, text
    assert loop.harmful_refused, text
    for section in (
        "The most confident recommendation:",
        "merge patch:",
        "pending diff",
        "Canary: v2 against v1",
        "Approved (",
        "Dashboard delta",
        "injected harmful suggestion",
    ):
        assert section in text, section
    assert result["health"] == "healthy"
    # version 2 drops weather_api and adds flight_search's use: weather scenarios regress
    # significantly, flight scenarios improve, and no other family moves either way
    moved: dict[str, set[str]] = {"regression": set(), "improvement": set()}
    for row in result["comparison"]["scenarios"]:
        if row["verdict"] in moved:
            moved[row["verdict"]].add(row["scenario_id"].split("_")[1])
    assert moved == {"regression": {"weather"}, "improvement": {"flights"}}, text
    for section in ("Version comparison:", "By family of scenarios", "Pareto frontier"):
        assert section in text, section
