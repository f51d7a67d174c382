"""Anthropic through the official `anthropic` SDK (extra `anthropic`).

Messages API with a single tool whose input schema is the answer's JSON schema, and
`tool_choice` forcing that tool: the answer is the tool call's input, structured by
construction. No sampling temperature is sent: the 2.x SDK dropped the parameter and a
forced tool call is already constrained to the schema. The SDK retries 408/409/429/5xx and
lost connections with exponential backoff (honouring Retry-After) up to `max_retries` times
and gives up after `timeout` seconds per attempt. The key and the base URL come from the
SDK's own variables (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL) unless given.
"""

import json
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
TOOL = "submit_recommendations"


class AnthropicProvider:
    name = "anthropic"
    default_model = "claude-3-5-sonnet-latest"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        prices: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        sdk = require("anthropic", extra="anthropic", feature="the Anthropic provider")
        self._sdk = sdk
        self.client = sdk.AsyncAnthropic(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        self.prices = price_table(prices)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        try:
            response: Any = await self.client.messages.create(
                model=request.model,
                max_tokens=request.max_output_tokens,
                system=request.system,
                messages=[{"role": "user", "content": request.prompt}],
                tools=[
                    {
                        "name": TOOL,
                        "description": "Submit the recommendations, each citing its evidence.",
                        "input_schema": request.schema,
                    }
                ],
                tool_choice={"type": "tool", "name": TOOL},
            )
        except self._sdk.APIError as exc:
            raise ProviderError(f"anthropic: {type(exc).__name__}: {exc}"[:500]) from exc
        calls = [
            block
            for block in response.content
            if getattr(block, "type", None) == "tool_use" and getattr(block, "name", None) == TOOL
        ]
        if not calls:
            raise ProviderError(f"anthropic: no {TOOL} call (stop_reason {response.stop_reason})")
        usage = response.usage
        input_tokens = int(getattr(usage, "input_tokens", 0) or 0)
        output_tokens = int(getattr(usage, "output_tokens", 0) or 0)
        model = str(response.model or request.model)
        result = LLMResponse(
            text=json.dumps(calls[0].input),
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost_usd(self.prices, model, input_tokens, output_tokens),
        )
        log.info("llm.completed", provider=self.name, model=model, cost_usd=result.cost_usd)
        return result
