"""What the engine asks a provider, and what a provider answers.

A request carries a system message, the prompt (the evidence as JSON and the instructions),
the JSON schema of the answer (structured output), the evidence itself (the offline provider
reads it directly), the model and its temperature. The answer is the JSON text, the model that
wrote it, the tokens used and their cost in USD (prices.py).
"""

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class LLMRequest:
    system: str
    prompt: str
    schema: dict[str, Any]
    evidence: dict[str, Any]
    model: str
    temperature: float
    max_output_tokens: int = 4096


@dataclass(frozen=True)
class LLMResponse:
    text: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


@runtime_checkable
class LLMProvider(Protocol):
    name: str
    default_model: str

    async def complete(self, request: LLMRequest) -> LLMResponse: ...


class ProviderError(RuntimeError):
    """The provider could not answer (after its retries): the session records why."""
