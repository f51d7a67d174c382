"""`arc-db demo` / `make demo`: a simulated evaluation, recorded and read back.

It creates the database if missing and migrates it to head (advisory-locked), creates four
agent configurations through ConfigurationManager, then runs two simulations per configuration
over 400 scenarios through the public API (ArcAPI.start_simulation / record_batch_outcomes /
complete_simulation) with results in the seed 003 format: tool calls with durations, costs and
errors, timeouts, model and sandbox failures. Data is deterministic for a seed; ids are new on
every run, so the demo can be rerun on the same database. Then it embeds what is new, clusters
the failures and prints the dashboard, the failures most similar to a fresh error, and health.
"""

import asyncio
import random
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.analytics.similarity import SimilaritySearch
from arc.database.core.engine import build_engine, session_factory
from arc.database.core.settings import redact_url
from arc.database.core.timescale import detect_async
from arc.database.demo.agents import PROFILES, AgentProfile, make_scenarios, simulate_result
from arc.database.demo.report import print_dashboard, print_health
from arc.database.ops.maintenance import refresh_aggregates
from arc.database.ops.provision import ensure_database
from arc.database.schema.migrate import locked_migration

log = structlog.get_logger(__name__)

Progress = Callable[[int, int, str], None]
DEMO_USER = uuid.uuid5(uuid.NAMESPACE_URL, "arc-eval-db/demo-user")


@dataclass(frozen=True)
class DemoOptions:
    seed: int | None = None
    simulations_per_config: int = 2
    scenarios: int = 400
    batch_size: int = 100


async def _create_configurations(engine: AsyncEngine, tag: str) -> list[tuple[AgentProfile, Any]]:
    """One configuration (first version) per profile, through ConfigurationManager."""
    from arc.database.configs.manager import ConfigurationManager

    manager = ConfigurationManager()
    made: list[tuple[AgentProfile, Any]] = []
    async with session_factory(engine)() as session, session.begin():
        for p in PROFILES:
            config = {
                "model": p.model,
                "temperature": p.temperature,
                "max_tokens": 2048,
                "tools": list(p.tools),
                "system_prompt": f"You are a careful assistant ({p.label}).",
            }
            result = await manager.create_configuration(
                session, DEMO_USER, f"{p.label}-{tag}", config, modal_app_id="arc-eval-demo"
            )
            made.append((p, result.version_id))
    return made


async def _run_simulations(
    configs: list[tuple[AgentProfile, Any]],
    scenarios: list[dict[str, Any]],
    options: DemoOptions,
    rng: random.Random,
    url: str,
    progress: Progress | None,
) -> dict[str, Any]:
    from arc.database.ingest.api import create_arc_api

    api = await create_arc_api(url, log_level="WARNING", pool_size=5, max_overflow=5)
    total = len(configs) * options.simulations_per_config * len(scenarios)
    done = 0
    simulations: list[str] = []
    try:
        for profile, version_id in configs:
            for run in range(options.simulations_per_config):
                info = await api.start_simulation(
                    config_version_id=version_id,
                    scenarios=scenarios,
                    simulation_name=f"demo {profile.label} run {run + 1}",
                    modal_app_id="arc-eval-demo",
                    modal_environment="development",
                    metadata={"agent_model": profile.model, "demo": True},
                )
                sim_id = info["simulation_id"]
                simulations.append(sim_id)
                results = [simulate_result(profile, s, rng) for s in scenarios]
                for i in range(0, len(results), options.batch_size):
                    chunk = results[i : i + options.batch_size]
                    await api.record_batch_outcomes(
                        simulation_id=sim_id,
                        scenario_results=chunk,
                        modal_call_ids=[
                            f"demo-call-{sim_id[:8]}-{i + j}" for j in range(len(chunk))
                        ],
                    )
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total, f"{profile.label} run {run + 1}")
                scores = [r["reliability_score"]["overall_score"] for r in results]
                await api.complete_simulation(
                    sim_id,
                    suite_result={
                        "overall_score": sum(scores) / len(scores),
                        "total_cost": sum(
                            r["trajectory"]["token_usage"]["total_cost"] for r in results
                        ),
                        "total_execution_time": sum(
                            r["trajectory"]["execution_time_seconds"] for r in results
                        ),
                    },
                )
        metrics = dict(api.db.get_metrics())
    finally:
        await api.db.close()
    return {"simulations": simulations, "outcomes": done, "client_metrics": metrics}


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
    try:
        async with engine.connect() as conn:
            caps = await detect_async(conn)
        stream.write(f"  TimescaleDB {caps.timescaledb_version} ({caps.edition} edition)\n")
        configs = await _create_configurations(engine, tag)
        scenarios = make_scenarios(options.scenarios)
        stream.write(
            f"  {len(configs)} configurations, {len(scenarios)} scenarios, "
            f"{options.simulations_per_config} simulations each\n"
        )
        run = await _run_simulations(configs, scenarios, options, rng, url, progress)
        recorded = time.perf_counter() - started
        stream.write(
            f"  recorded {run['outcomes']} outcomes through ArcAPI in {recorded:.1f}s "
            f"(client success rate {run['client_metrics'].get('success_rate', 0):.1f}%, "
            f"avg query {run['client_metrics'].get('avg_query_time', 0):.1f} ms)\n"
        )
        t0 = time.perf_counter()
        embedded = await SimilaritySearch(engine).embed_missing()
        stream.write(
            f"  embedded {embedded.trajectories} trajectories, {embedded.config_versions} "
            f"configs, {embedded.scenarios} scenarios; clustered {embedded.failure_patterns} "
            f"failures ({time.perf_counter() - t0:.1f}s)\n"
        )
        if not caps.continuous_aggregates:
            await refresh_aggregates(engine)  # keep the fallback views fresh for SQL users
        probe = "Timeout after 95s waiting for weather_api response"
        await print_dashboard(engine, stream, simulation_ids=run["simulations"], probe_error=probe)
        status = await print_health(engine, stream)
    finally:
        await engine.dispose()
    elapsed = time.perf_counter() - started
    stream.write(f"\nDemo finished in {elapsed:.1f}s.\n")
    log.info("demo.finished", seconds=round(elapsed, 1), outcomes=run["outcomes"], seed=seed)
    return {
        "seed": seed,
        "tag": tag,
        "simulations": run["simulations"],
        "outcomes": run["outcomes"],
        "health": status,
        "seconds": elapsed,
    }
