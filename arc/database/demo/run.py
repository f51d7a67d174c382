"""`arc-db demo` / `make demo`: a simulated evaluation, recorded, compared and read back.

It creates the database if missing and migrates it to head (advisory-locked), creates four
agent configurations through ConfigurationManager and runs each over 60 scenarios (ten
simulations) through the public API (ArcAPI.start_simulation / record_batch_outcomes /
complete_simulation), with results from the simulated agent of demo.surface in the seed 003
format. Then version 2 of one configuration, which trades its weather tool for a flight tool,
is run the same way. Data is deterministic for a seed; ids are new on every run, so the demo
can be rerun on the same database. It embeds what is new, clusters the failures and prints the
dashboard, the comparison of version 2 against version 1 (weather tasks regress, flights
improve), the Pareto frontier, one round of the recommendation loop (evidence, candidate,
canary, approval, dashboard delta, an injected harmful change refused), and health.
"""

import asyncio
import random
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any, TextIO

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.analytics.similarity import SimilaritySearch
from arc.database.configs import ConfigurationManager
from arc.database.core.engine import build_engine, session_factory
from arc.database.core.settings import redact_url
from arc.database.core.timescale import detect_async
from arc.database.demo.evaluation import Progress, evaluate_version
from arc.database.demo.recommend import show_recommendation_loop
from arc.database.demo.report import print_comparison, print_dashboard, print_health
from arc.database.demo.surface import DefaultSurface, make_scenarios
from arc.database.ingest.api import create_arc_api
from arc.database.ops.maintenance import refresh_aggregates
from arc.database.ops.provision import ensure_database
from arc.database.schema.migrate import locked_migration

log = structlog.get_logger(__name__)

DEMO_USER = uuid.uuid5(uuid.NAMESPACE_URL, "arc-eval-db/demo-user")


@dataclass(frozen=True)
class DemoOptions:
    seed: int | None = None
    simulations_per_config: int = 10  # >= 5 runs a scenario: enough for per-scenario tests
    scenarios: int = 60  # 10 per family
    batch_size: int = 100


# The four configurations of the demo (first versions), as their teams wrote them.
DEMO_CONFIGS: dict[str, dict[str, Any]] = {
    "demo-gpt4o": {
        "model": "gpt-4o",
        "temperature": 0.2,
        "max_tokens": 2048,
        "retries": 1,
        "timeout_ms": 30000,
        "tools": ["web_search", "weather_api", "calculator"],
    },
    "demo-claude-sonnet": {
        "model": "claude-3-5-sonnet",
        "temperature": 0.4,
        "max_tokens": 2048,
        "retries": 1,
        "timeout_ms": 30000,
        "tools": ["web_search", "weather_api", "calendar_api", "flight_search"],
    },
    "demo-llama-70b": {
        "model": "llama-3-70b",
        "temperature": 0.7,
        "max_tokens": 1024,
        "retries": 0,
        "timeout_ms": 30000,
        "tools": ["web_search", "calculator"],
    },
    "demo-gpt4o-mini": {
        "model": "gpt-4o-mini",
        "temperature": 0.5,
        "max_tokens": 1024,
        "retries": 1,
        "timeout_ms": 30000,
        "tools": ["web_search", "weather_api", "flight_search"],
    },
}
# The change the demo compares: version 2 of demo-gpt4o trades the weather tool for flights.
COMPARED = "demo-gpt4o"
# The configuration the recommendation loop improves (missing tools, temperature 0.7).
RECOMMENDED = "demo-llama-70b"
V2_TOOLS = ["web_search", "flight_search", "calculator"]


async def _create_configurations(engine: AsyncEngine, tag: str) -> dict[str, Any]:
    """One configuration (first version) per entry of DEMO_CONFIGS; name -> version id."""
    manager = ConfigurationManager()
    made: dict[str, Any] = {}
    async with session_factory(engine)() as session, session.begin():
        for label, config in DEMO_CONFIGS.items():
            result = await manager.create_configuration(
                session, DEMO_USER, f"{label}-{tag}", config, modal_app_id="arc-eval-demo"
            )
            made[label] = result
    return made


async def run_demo(
    url: str,
    options: DemoOptions | None = None,
    *,
    out: TextIO | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The whole demo; returns what it did (for tests)."""
    options = options or DemoOptions()
    stream = out or sys.stdout
    seed = options.seed if options.seed is not None else 7
    rng = random.Random(seed)
    tag = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    stream.write(f"arc-eval demo on {redact_url(url)} (seed {seed}, run {tag})\n")
    created = await ensure_database(url)
    stream.write("  database: " + ("created\n" if created else "exists\n"))
    migrated = await asyncio.to_thread(locked_migration, url, "upgrade", None)
    stream.write(f"  schema: {migrated}\n")
    engine = build_engine(url=url, pool_size=5, max_overflow=5)
    surface = DefaultSurface()
    simulations: list[str] = []
    try:
        async with engine.connect() as conn:
            caps = await detect_async(conn)
        stream.write(f"  TimescaleDB {caps.timescaledb_version} ({caps.edition} edition)\n")
        configs = await _create_configurations(engine, tag)
        scenarios = make_scenarios(options.scenarios)
        runs = options.simulations_per_config
        stream.write(
            f"  {len(configs)} configurations, {len(scenarios)} scenarios, {runs} simulations "
            "each, through ArcAPI\n"
        )
        total = (len(configs) + 1) * runs * len(scenarios)
        api = await create_arc_api(url, log_level="WARNING", pool_size=5, max_overflow=5)
        try:
            recorded = 0
            for label, version in configs.items():
                run = await evaluate_version(
                    api,
                    version_id=version.version_id,
                    config=DEMO_CONFIGS[label],
                    scenarios=scenarios,
                    repeats=runs,
                    surface=surface,
                    rng=rng,
                    label=label,
                    batch_size=options.batch_size,
                    progress=progress,
                    done_before=recorded,
                    total=total,
                )
                simulations += run.simulation_ids
                recorded += run.outcomes
            v2_config = {**DEMO_CONFIGS[COMPARED], "tools": V2_TOOLS}
            async with session_factory(engine)() as session, session.begin():
                v2 = await ConfigurationManager().create_config_version(
                    session, configs[COMPARED].config_id, v2_config
                )
            run = await evaluate_version(
                api,
                version_id=v2.version_id,
                config=v2_config,
                scenarios=scenarios,
                repeats=runs,
                surface=surface,
                rng=rng,
                label=f"{COMPARED} v2",
                batch_size=options.batch_size,
                progress=progress,
                done_before=recorded,
                total=total,
            )
            simulations += run.simulation_ids
            recorded += run.outcomes
            metrics = dict(api.db.get_metrics())
            stream.write(
                f"  recorded {recorded} outcomes in {time.perf_counter() - started:.1f}s "
                f"(client success rate {metrics.get('success_rate', 0):.1f}%, "
                f"avg query {metrics.get('avg_query_time', 0):.1f} ms)\n"
            )
            t0 = time.perf_counter()
            embedded = await SimilaritySearch(engine).embed_missing()
            stream.write(
                f"  embedded {embedded.trajectories} trajectories, {embedded.config_versions} "
                f"configs, {embedded.scenarios} scenarios; clustered "
                f"{embedded.failure_patterns} failures ({time.perf_counter() - t0:.1f}s)\n"
            )
            if not caps.continuous_aggregates:
                await refresh_aggregates(engine)  # keep the fallback views fresh for SQL users
            probe = "Timeout after 95s waiting for weather_api response"
            await print_dashboard(engine, stream, simulation_ids=simulations, probe_error=probe)
            comparison = await print_comparison(
                engine, stream, configs[COMPARED].version_id, v2.version_id, label=COMPARED
            )
            improved = configs[RECOMMENDED]
            loop = await show_recommendation_loop(
                engine,
                api,
                config_id=improved.config_id,
                version_id=improved.version_id,
                config=DEMO_CONFIGS[RECOMMENDED],
                scenarios=scenarios,
                repeats=runs,
                surface=surface,
                rng=rng,
                user=DEMO_USER,
                out=stream,
            )
        finally:
            await api.db.close()
        status = await print_health(engine, stream)
    finally:
        await engine.dispose()
    elapsed = time.perf_counter() - started
    stream.write(f"\nDemo finished in {elapsed:.1f}s.\n")
    log.info("demo.finished", seconds=round(elapsed, 1), outcomes=recorded, seed=seed)
    return {
        "seed": seed,
        "tag": tag,
        "simulations": simulations,
        "outcomes": recorded,
        "health": status,
        "seconds": elapsed,
        "comparison": comparison,
        "loop": loop,
        "versions": {
            "baseline": configs[COMPARED].version_id,
            "candidate": v2.version_id,
        },
    }
