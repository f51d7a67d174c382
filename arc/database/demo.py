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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.analytics import ArcAnalytics
from arc.database.engine import build_engine, session_factory
from arc.database.health import DatabaseHealthChecker
from arc.database.maintenance import locked_migration, refresh_aggregates
from arc.database.provision import ensure_database
from arc.database.settings import redact_url
from arc.database.similarity import SimilaritySearch
from arc.database.timescale import detect_async

log = structlog.get_logger(__name__)

Progress = Callable[[int, int, str], None]
DEMO_USER = uuid.uuid5(uuid.NAMESPACE_URL, "arc-eval-db/demo-user")


@dataclass(frozen=True)
class DemoOptions:
    seed: int | None = None
    simulations_per_config: int = 2
    scenarios: int = 400
    batch_size: int = 100


@dataclass(frozen=True)
class AgentProfile:
    """How a simulated configuration behaves."""

    label: str
    model: str
    temperature: float
    tools: tuple[str, ...]
    skill: float  # mean reliability on an easy scenario
    failure_rate: float  # chance a run fails before difficulty
    latency: float  # seconds per step
    usd_per_1k_tokens: float


PROFILES = (
    AgentProfile(
        "demo-gpt4o",
        "gpt-4o",
        0.2,
        ("web_search", "weather_api", "calculator"),
        0.9,
        0.06,
        0.9,
        0.005,
    ),
    AgentProfile(
        "demo-claude-sonnet",
        "claude-3-5-sonnet",
        0.3,
        ("web_search", "weather_api", "calendar_api", "flight_search"),
        0.88,
        0.08,
        1.1,
        0.003,
    ),
    AgentProfile(
        "demo-llama-70b",
        "llama-3-70b",
        0.7,
        ("web_search", "calculator"),
        0.72,
        0.18,
        0.6,
        0.0009,
    ),
    AgentProfile(
        "demo-gpt4o-mini",
        "gpt-4o-mini",
        0.5,
        ("web_search", "weather_api", "flight_search"),
        0.78,
        0.12,
        0.5,
        0.0006,
    ),
)
DOMAINS = (
    ("weather", "What is the weather forecast for {city} on {day}?", "weather_api"),
    ("flights", "Find the cheapest flight from {city} to {city2} next {day}.", "flight_search"),
    ("calendar", "Schedule a meeting with the {team} team on {day} at 10am.", "calendar_api"),
    ("stocks", "What was the closing price of {ticker} last {day}?", "web_search"),
    ("math", "Compute the compound interest on {n} dollars at 4% for {years} years.", "calculator"),
    ("restaurants", "Recommend three restaurants in {city} open on {day} evening.", "web_search"),
)
CITIES = ("Paris", "New York", "Tokyo", "Berlin", "Sydney", "Toronto", "Madrid", "Seoul")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TEAMS = ("platform", "design", "sales", "research")
TICKERS = ("AAPL", "MSFT", "NVDA", "AMZN", "TSLA")
DIFFICULTY = {"easy": 1.0, "medium": 0.85, "hard": 0.65}


def make_scenarios(count: int) -> list[dict[str, Any]]:
    """Stable scenario definitions: the same ids on every run (registered once)."""
    scenarios = []
    for i in range(count):
        domain, template, tool = DOMAINS[i % len(DOMAINS)]
        rng = random.Random(i)
        prompt = template.format(
            city=rng.choice(CITIES),
            city2=rng.choice(CITIES),
            day=rng.choice(DAYS),
            team=rng.choice(TEAMS),
            ticker=rng.choice(TICKERS),
            n=rng.randrange(1000, 50000, 500),
            years=rng.randrange(2, 30),
        )
        scenarios.append(
            {
                "id": f"demo_{domain}_{i:04d}",
                "name": f"{domain.title()} task {i}",
                "task_prompt": prompt,
                "difficulty_level": ("easy", "medium", "hard")[(i // len(DOMAINS)) % 3],
                "expected_tools": [tool],
                "tags": ["demo", domain],
            }
        )
    return scenarios


def _error_for(category: str, tool: str, rng: random.Random) -> str:
    if category == "timeout":
        return f"Timeout after {rng.randrange(30, 120)}s waiting for {tool} response"
    if category == "tool_error":
        code, reason = rng.choice(
            ((503, "Service Unavailable"), (429, "Too Many Requests"), (502, "Bad Gateway"))
        )
        return f"{tool} returned HTTP {code}: {reason} (request id {rng.randrange(10**6)})"
    if category == "model_error":
        return (
            "Model output could not be parsed as JSON: unexpected token at position "
            f"{rng.randrange(10, 900)}"
        )
    if category == "validation_error":
        field = rng.choice(("answer", "sources", "confidence"))
        return f"Final answer failed validation: missing required field '{field}'"
    return f"Sandbox sb-{rng.randrange(10**5):05d} exited with code 137 (out of memory)"


def simulate_result(
    profile: AgentProfile, scenario: dict[str, Any], rng: random.Random
) -> dict[str, Any]:
    """One scenario result in the seed 003 format."""
    difficulty = DIFFICULTY[scenario["difficulty_level"]]
    expected_tool = scenario["expected_tools"][0]
    tools = [expected_tool] if expected_tool in profile.tools else [profile.tools[0]]
    tools += rng.sample(profile.tools, rng.randrange(0, min(2, len(profile.tools)) + 1))
    failed = rng.random() < profile.failure_rate / difficulty
    category = (
        rng.choices(
            ("timeout", "tool_error", "model_error", "validation_error", "sandbox_error"),
            weights=(3, 4, 2, 2, 1),
        )[0]
        if failed
        else None
    )
    steps: list[dict[str, Any]] = []
    tokens_prompt = rng.randrange(300, 1200)
    tokens_completion = rng.randrange(80, 600)
    for position, tool in enumerate(tools):
        broken = failed and category == "tool_error" and position == len(tools) - 1
        duration = rng.lognormvariate(5.5, 0.6) * profile.latency
        step: dict[str, Any] = {
            "type": "tool_call",
            "tool_name": tool,
            "arguments": {"query": scenario["task_prompt"][:60]},
            "duration_ms": round(duration, 1),
            "status": "error" if broken else "success",
            "cost_usd": round(0.0004 * rng.randrange(1, 5), 6),
        }
        if broken:
            step["error"] = _error_for("tool_error", tool, rng)
        steps.append(step)
        tokens_prompt += rng.randrange(100, 400)
    total_tokens = tokens_prompt + tokens_completion
    cost = round(total_tokens / 1000 * profile.usd_per_1k_tokens, 6)
    seconds = sum(s["duration_ms"] for s in steps) / 1000 + profile.latency * rng.uniform(1, 3)
    if category == "timeout":
        seconds = max(seconds, 30 + rng.uniform(0, 90))
    score = 0.0
    if not failed:
        score = min(1.0, max(0.0, rng.gauss(profile.skill * difficulty, 0.08)))
    trajectory: dict[str, Any] = {
        "status": "error" if failed and category != "timeout" else category or "success",
        "task_prompt": scenario["task_prompt"],
        "final_response": None if failed else f"Here is what I found for: {scenario['name']}",
        "execution_time_seconds": round(seconds, 3),
        "full_trajectory": steps,
        "token_usage": {
            "prompt_tokens": tokens_prompt,
            "completion_tokens": tokens_completion,
            "total_tokens": total_tokens,
            "total_cost": cost,
        },
    }
    if failed and category is not None:
        trajectory["error"] = (
            steps[-1]["error"] if category == "tool_error" else _error_for(category, tools[-1], rng)
        )
        trajectory["error_category"] = category
    dims = {
        k: round(min(1.0, max(0.0, score + rng.uniform(-0.1, 0.1))), 3)
        for k in ("tool_execution", "response_quality", "error_handling", "performance")
    }
    grade = "A" if score >= 0.9 else "B" if score >= 0.8 else "C" if score >= 0.65 else "F"
    return {
        "scenario": {
            "id": scenario["id"],
            "name": scenario["name"],
            "task_prompt": scenario["task_prompt"],
        },
        "trajectory": trajectory,
        "reliability_score": {
            "overall_score": round(score, 4),
            "grade": grade,
            "dimension_scores": dims,
        },
    }


async def _create_configurations(engine: AsyncEngine, tag: str) -> list[tuple[AgentProfile, Any]]:
    """One configuration (first version) per profile, through ConfigurationManager."""
    from arc.database.configs import ConfigurationManager

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
    from arc.database.api import create_arc_api

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


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _table(out: TextIO, title: str, header: Sequence[str], rows: list[Sequence[Any]]) -> None:
    out.write(f"\n{title}\n")
    cells = [list(map(str, header))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        out.write("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + "\n")
        if n == 0:
            out.write("  " + "  ".join("-" * w for w in widths) + "\n")
    if not rows:
        out.write("  (no rows)\n")


async def print_dashboard(
    engine: AsyncEngine, out: TextIO, *, simulation_ids: Sequence[str], probe_error: str
) -> None:
    analytics = ArcAnalytics(engine)
    now = datetime.now(UTC)
    start = now - timedelta(days=7)
    source = await analytics.source()
    out.write(f"\nDashboard (last 7 days; answers from the {source} path)\n")
    trends = await analytics.performance_trends(start, now)
    _table(
        out,
        "Performance trends (per day)",
        ("day", "executions", "reliability", "avg ms", "cost $", "errors", "error %"),
        [
            (
                t.day.date(),
                t.total_executions,
                _fmt(t.avg_reliability),
                _fmt(t.avg_duration_ms, ".0f"),
                _fmt(t.daily_cost, ".2f"),
                t.error_count,
                t.error_rate_pct,
            )
            for t in trends
        ],
    )
    sims = [uuid.UUID(s) for s in simulation_ids]
    this_run = await analytics.performance_trends(start, now, simulation_ids=sims)
    runs = sum(t.total_executions for t in this_run)
    errors = sum(t.error_count for t in this_run)
    out.write(f"  this run: {runs} outcomes, {errors} errors\n")
    rates = await analytics.error_rates(now - timedelta(days=1), now, min_runs=5)
    _table(
        out,
        "Error rates by scenario (today, at least 5 runs; worst 8)",
        ("scenario", "runs", "errors", "error %"),
        [(r.scenario_id, r.total_runs, r.error_count, r.error_rate_pct) for r in rates[:8]],
    )
    cost = await analytics.cost_breakdown(start, now, per_day=False)
    by_model: dict[str, list[float]] = {}
    for c in cost:
        agg = by_model.setdefault(c.model or "?", [0, 0.0])
        agg[0] += c.executions
        agg[1] += c.total_cost
    _table(
        out,
        "Cost by model",
        ("model", "executions", "total $", "$ / execution"),
        [
            (m, int(v[0]), f"{v[1]:.2f}", f"{v[1] / v[0]:.5f}" if v[0] else "-")
            for m, v in sorted(by_model.items(), key=lambda kv: -kv[1][1])
        ],
    )
    tools = await analytics.tool_performance(start, now)
    _table(
        out,
        "Tool performance",
        ("tool", "uses", "success", "avg ms", "cost $"),
        [
            (
                t.tool_name,
                t.usage_count,
                _fmt(t.avg_success_rate),
                _fmt(t.avg_duration_ms, ".0f"),
                f"{t.total_cost:.3f}",
            )
            for t in tools
        ],
    )
    failures = await analytics.failure_trends(now - timedelta(days=1), now)
    _table(
        out,
        "Failure trends (today)",
        ("category", "failures", "clusters", "mean confidence"),
        [
            (f.failure_category, f.failure_count, f.unique_patterns, _fmt(f.avg_confidence))
            for f in failures
        ],
    )
    similar = await SimilaritySearch(engine).failures_like(probe_error, limit=5)
    _table(
        out,
        f'Failures most similar to: "{probe_error}"',
        ("distance", "category", "cluster size", "message"),
        [
            (
                f"{s.distance:.3f}",
                s.failure_category,
                (s.similar_failures_count or 0) + 1,
                (s.error_message or "")[:70],
            )
            for s in similar
        ],
    )


async def print_health(engine: AsyncEngine, out: TextIO) -> str:
    report = await DatabaseHealthChecker(engine).check_all()
    out.write(f"\nHealth: {report.status.upper()} (edition {report.edition})\n")
    for c in report.checks:
        reasons = "; ".join(c.reasons) if c.reasons else "ok"
        out.write(f"  {c.name:<18} {c.status:<9} {reasons}\n")
    write = report.check("write_performance").details
    if write:
        out.write(
            f"  write probe: {write.get('rows')} rows in {write.get('batch_write_ms')} ms, "
            "rolled back\n"
        )
    return report.status


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
