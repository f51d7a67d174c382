"""Chat-completions over HTTP (httpx) for any OpenAI-compatible server."""

import os
from dataclasses import dataclass, field
from typing import Any

import structlog

from arc.database.core.errors import ArcConfigurationError
from arc.database.recommendations.providers.base import LLMResponse, num

log = structlog.get_logger("arc.database.recommendations")


@dataclass
class OpenAICompatibleProvider:
    """Chat-completions over HTTP (httpx). Prices are USD per 1,000 tokens (input, output)."""

    base_url: str
    api_key: str
    timeout: float = 60.0
    prices_per_1k: dict[str, tuple[float, float]] = field(default_factory=dict)
    system_prompt: str = "You are an evaluation analyst. Answer with JSON only."

    @classmethod
    def from_env(cls, **kwargs: Any) -> "OpenAICompatibleProvider":
        key = os.environ.get("OPENAI_API_KEY")
        if not key:
            raise ArcConfigurationError("OPENAI_API_KEY", "is not set")
        base = os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        return cls(base_url=base, api_key=key, **kwargs)

    def build_request(self, prompt: str, *, model: str, temperature: float) -> Any:
        """The httpx.Request that `complete` sends (separate so it can be checked offline)."""
        import httpx

        return httpx.Request(
            "POST",
            self.base_url.rstrip("/") + "/chat/completions",
            headers={"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"},
            json={
                "model": model,
                "temperature": temperature,
                "response_format": {"type": "json_object"},
                "messages": [
                    {"role": "system", "content": self.system_prompt},
                    {"role": "user", "content": prompt},
                ],
            },
        )

    def parse_response(self, body: dict[str, Any], *, model: str) -> LLMResponse:
        try:
            text = body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise ValueError(f"unexpected chat-completions response: {exc}") from exc
        usage = body.get("usage") or {}
        used_model = str(body.get("model") or model)
        price_in, price_out = self.prices_per_1k.get(
            used_model, self.prices_per_1k.get(model, (0, 0))
        )
        cost = (
            num(usage.get("prompt_tokens")) * price_in
            + num(usage.get("completion_tokens")) * price_out
        ) / 1000
        return LLMResponse(text=str(text), cost_usd=cost, model=used_model)

    async def complete(
        self, prompt: str, *, model: str, temperature: float, transport: Any = None
    ) -> LLMResponse:
        import httpx

        async with httpx.AsyncClient(timeout=self.timeout, transport=transport) as client:
            response = await client.send(
                self.build_request(prompt, model=model, temperature=temperature)
            )
            response.raise_for_status()
            result = self.parse_response(response.json(), model=model)
        log.info("llm.completed", model=result.model, cost_usd=result.cost_usd)
        return result
