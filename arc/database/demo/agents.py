"""The demo's simulated agents: profiles whose results depend on model, tools and scenario,
in the seed 003 result format (tool calls with durations, costs and errors, timeouts)."""

import random
from dataclasses import dataclass
from typing import Any


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
