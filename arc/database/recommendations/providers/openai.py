"""OpenAI through the official `openai` SDK (extra `openai`).

Chat completions with structured output: `response_format` is the answer's JSON schema in strict
mode, so the model cannot answer in another shape. The SDK retries 408/409/429/5xx and lost
connections with exponential backoff (honouring Retry-After) up to `max_retries` times and
gives up after `timeout` seconds per attempt. The key and the base URL come from the SDK's own
variables (OPENAI_API_KEY, OPENAI_BASE_URL) unless given.
"""

from collections.abc import Mapping
from typing import Any

import structlog

from arc.database.core.extras import require
from arc.database.recommendations.providers.base import (
    LLMRequest,
    LLMResponse,
    ProviderError,
)
from arc.database.recommendations.providers.prices import cost_usd, price_table

log = structlog.get_logger("arc.database.recommendations")


class OpenAIProvider:
    name = "openai"
    default_model = "gpt-4o-mini"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        prices: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        sdk = require("openai", extra="openai", feature="the OpenAI provider")
        self._sdk = sdk
        self.client = sdk.AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        self.prices = price_table(prices)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        try:
            response: Any = await self.client.chat.completions.create(
                model=request.model,
                temperature=request.temperature,
                max_completion_tokens=request.max_output_tokens,
                messages=[
                    {"role": "system", "content": request.system},
                    {"role": "user", "content": request.prompt},
                ],
                response_format={
                    "type": "json_schema",
                    "json_schema": {
                        "name": "recommendations",
                        "schema": request.schema,
                        "strict": True,
                    },
                },
            )
        except self._sdk.APIError as exc:
            raise ProviderError(f"openai: {type(exc).__name__}: {exc}"[:500]) from exc
        choice = response.choices[0] if response.choices else None
        message = choice.message if choice is not None else None
        if message is None or getattr(message, "refusal", None) or not message.content:
            reason = getattr(message, "refusal", None) or "no content"
            raise ProviderError(f"openai: no answer ({reason})")
        usage = response.usage
        input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        output_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        model = str(response.model or request.model)
        result = LLMResponse(
            text=str(message.content),
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost_usd(self.prices, model, input_tokens, output_tokens),
        )
        log.info("llm.completed", provider=self.name, model=model, cost_usd=result.cost_usd)
        return result
