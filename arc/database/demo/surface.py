"""A simulated agent: what a configuration scores on a scenario, through a documented response
surface with noise. Used by `make demo` and `python -m bench loop`; any object with the same
`run` method can replace it (the loop takes `--surface module:attribute`), and may name the
change that harms it (`harmful_change(config) -> merge patch`) for the loop's injection.

The default surface, per run of configuration c on scenario s:

    logit P(success) = skill(model)
                       - 2.2 * |temperature - 0.3|            (best near 0.3)
                       - 2.5 * [s's tool not in c.tools]       (the task needs its tool)
                       - difficulty(s)                         (easy 0, medium 0.6, hard 1.2)
                       - 2.0 * max(0, 1 - max_tokens / need(s))(answers cut off)
    a transient tool error (probability 0.18 per attempt) fails the run unless one of
    `retries` extra attempts succeeds; each attempt adds latency and tokens;
    latency = steps * step_ms(model) * lognormal(0, 0.35) (+ the retries' attempts);
    a run longer than timeout_ms is a timeout;
    reliability on success = clip(0.55 + 0.4 * P(success) + N(0, 0.07)), 0 otherwise;
    cost = tokens * price(model), tokens = prompt + min(max_tokens, need) (+ retries).

Scenario families (weather, flights, calendar, stocks, math, restaurants) each need one tool.
The levers a recommendation can pull are therefore model, temperature, tools, max_tokens,
timeout_ms and retries, and each has a cost: a better model costs more per token, more
retries and tokens cost more and take longer.
"""

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


@dataclass(frozen=True)
class ModelTraits:
    skill: float  # logit of success on an easy task with every lever right
    step_ms: float  # latency of one agent step
    usd_per_1k_tokens: float


MODELS: dict[str, ModelTraits] = {
    "gpt-4o": ModelTraits(2.6, 900.0, 0.0050),
    "claude-3-5-sonnet": ModelTraits(2.5, 1000.0, 0.0030),
    "gpt-4o-mini": ModelTraits(1.7, 450.0, 0.0006),
    "llama-3-70b": ModelTraits(1.3, 600.0, 0.0009),
}
UNKNOWN_MODEL = ModelTraits(1.0, 800.0, 0.002)
# (family, task template, the tool it needs, completion tokens a full answer needs)
FAMILIES = (
    ("weather", "What is the weather forecast for {city} on {day}?", "weather_api", 900),
    (
        "flights",
        "Find the cheapest flight from {city} to {city2} next {day}.",
        "flight_search",
        1600,
    ),
    ("calendar", "Schedule a meeting with the {team} team on {day} at 10am.", "calendar_api", 700),
    ("stocks", "What was the closing price of {ticker} last {day}?", "web_search", 1100),
    (
        "math",
        "Compute the compound interest on {n} dollars at 4% for {years} years.",
        "calculator",
        600,
    ),
    (
        "restaurants",
        "Recommend three restaurants in {city} open on {day} evening.",
        "web_search",
        2400,
    ),
)
DIFFICULTY = {"easy": 0.0, "medium": 0.6, "hard": 1.2}
CITIES = ("Paris", "New York", "Tokyo", "Berlin", "Sydney", "Toronto", "Madrid", "Seoul")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TEAMS = ("platform", "design", "sales", "research")
TICKERS = ("AAPL", "MSFT", "NVDA", "AMZN", "TSLA")
TOOL_ERROR_RATE = 0.18


class ResponseSurface(Protocol):
    def run(
        self, config: Mapping[str, Any], scenario: Mapping[str, Any], rng: random.Random
    ) -> dict[str, Any]:
        """One scenario result in the seed 003 format."""
        ...


def make_scenarios(count: int) -> list[dict[str, Any]]:
    """Stable scenario definitions: the same ids on every run, families in turn."""
    scenarios = []
    for i in range(count):
        family, template, tool, need = FAMILIES[i % len(FAMILIES)]
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
                "id": f"demo_{family}_{i:04d}",
                "name": f"{family.title()} task {i}",
                "task_prompt": prompt,
                "difficulty_level": ("easy", "medium", "hard")[(i // len(FAMILIES)) % 3],
                "expected_tools": [tool],
                "tags": ["demo", family],
                "success_criteria": {"family": family, "tokens_needed": need},
            }
        )
    return scenarios


def family_of(scenario: Mapping[str, Any]) -> str:
    return str(scenario["tags"][1])


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
    field = rng.choice(("answer", "sources"))
    return f"Final answer failed validation: missing required field '{field}'"


def _number(config: Mapping[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


class DefaultSurface:
    """The documented surface above."""

    def success_probability(self, config: Mapping[str, Any], scenario: Mapping[str, Any]) -> float:
        """P(success) before transient tool errors and timeouts."""
        traits = MODELS.get(str(config.get("model")), UNKNOWN_MODEL)
        tools = config.get("tools") or []
        needed_tool = scenario["expected_tools"][0]
        need = float(scenario["success_criteria"]["tokens_needed"])
        max_tokens = _number(config, "max_tokens", 1024)
        logit = (
            traits.skill
            - 2.2 * abs(_number(config, "temperature", 0.7) - 0.3)
            - (2.5 if needed_tool not in tools else 0.0)
            - DIFFICULTY[scenario["difficulty_level"]]
            - 2.0 * max(0.0, 1.0 - max_tokens / need)
        )
        return 1 / (1 + math.exp(-logit))

    def run(
        self, config: Mapping[str, Any], scenario: Mapping[str, Any], rng: random.Random
    ) -> dict[str, Any]:
        traits = MODELS.get(str(config.get("model")), UNKNOWN_MODEL)
        tools = [t for t in (config.get("tools") or []) if isinstance(t, str)] or ["web_search"]
        needed_tool = scenario["expected_tools"][0]
        tool = needed_tool if needed_tool in tools else tools[0]
        need = int(scenario["success_criteria"]["tokens_needed"])
        max_tokens = int(_number(config, "max_tokens", 1024))
        retries = max(0, min(5, int(_number(config, "retries", 0))))
        timeout_ms = _number(config, "timeout_ms", 60_000)
        p = self.success_probability(config, scenario)
        steps: list[dict[str, Any]] = []
        elapsed = 0.0
        tool_failed = True
        for attempt in range(retries + 1):
            duration = 2 * traits.step_ms * rng.lognormvariate(0, 0.35)
            elapsed += duration
            broken = rng.random() < TOOL_ERROR_RATE
            steps.append(
                {
                    "type": "tool_call",
                    "tool_name": tool,
                    "arguments": {"query": scenario["task_prompt"][:60], "attempt": attempt + 1},
                    "duration_ms": round(duration, 1),
                    "status": "error" if broken else "success",
                    "cost_usd": 0.0004,
                }
            )
            if broken:
                steps[-1]["error"] = _error_for("tool_error", tool, rng)
            else:
                tool_failed = False
                break
        prompt_tokens = 300 + len(steps) * 250
        completion_tokens = min(max_tokens, need)
        total_tokens = prompt_tokens + completion_tokens
        cost = round(total_tokens / 1000 * traits.usd_per_1k_tokens, 6)
        elapsed += traits.step_ms * (completion_tokens / 500) * rng.lognormvariate(0, 0.25)
        category: str | None = None
        if elapsed > timeout_ms:
            category = "timeout"
        elif tool_failed:
            category = "tool_error"
        elif rng.random() > p:
            category = "model_error" if rng.random() < 0.6 else "validation_error"
        score = 0.0
        if category is None:
            score = min(1.0, max(0.0, 0.55 + 0.4 * p + rng.gauss(0, 0.07)))
        started = datetime.now(UTC) - timedelta(milliseconds=elapsed)
        trajectory: dict[str, Any] = {
            "start_time": started.isoformat(),
            "status": "timeout" if category == "timeout" else "error" if category else "success",
            "task_prompt": scenario["task_prompt"],
            "final_response": None if category else f"Here is what I found for: {scenario['name']}",
            "execution_time_seconds": round(elapsed / 1000, 3),
            "full_trajectory": steps,
            "token_usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": total_tokens,
                "total_cost": cost,
            },
        }
        if category is not None:
            trajectory["error"] = (
                steps[-1]["error"] if category == "tool_error" else _error_for(category, tool, rng)
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


def expected_reliability(
    surface: DefaultSurface, config: Mapping[str, Any], scenarios: Sequence[Mapping[str, Any]]
) -> float:
    """The surface's mean success probability over scenarios (for documentation and tests)."""
    return sum(surface.success_probability(config, s) for s in scenarios) / len(scenarios)
