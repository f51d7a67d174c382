"""What every provider offers the engine: `complete(prompt) -> LLMResponse`."""

import json
import re
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

ANALYSIS_START = "<analysis>"
ANALYSIS_END = "</analysis>"


@dataclass(frozen=True)
class LLMResponse:
    text: str
    cost_usd: float
    model: str


@runtime_checkable
class LLMProvider(Protocol):
    async def complete(self, prompt: str, *, model: str, temperature: float) -> LLMResponse: ...


def extract_analysis(prompt: str) -> dict[str, Any]:
    """The JSON analysis block the engine embeds in its prompt."""
    match = re.search(
        re.escape(ANALYSIS_START) + r"(.*?)" + re.escape(ANALYSIS_END), prompt, re.DOTALL
    )
    if match is None:
        return {}
    data = json.loads(match.group(1))
    return data if isinstance(data, dict) else {}


def num(value: Any, default: float = 0.0) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
    )
