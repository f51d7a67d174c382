"""LLM providers of the recommendation engine, one module per provider.

`offline` (default: deterministic, evidence-driven, no network), `openai` and `anthropic`
(official SDKs, extras of the same names). Chosen with ARC_LLM_PROVIDER and ARC_LLM_MODEL, or
`provider_from_env(name, model)`; ARC_LLM_TIMEOUT (seconds, 60) and ARC_LLM_MAX_RETRIES (3)
tune the SDK clients, whose keys and base URLs come from their own variables.
"""

import os

from arc.database.core.errors import ArcConfigurationError
from arc.database.recommendations.providers.base import LLMProvider

PROVIDERS = ("offline", "openai", "anthropic")


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ArcConfigurationError(name, f"must be a number, got {raw!r}") from exc
    if value < 0:
        raise ArcConfigurationError(name, "must not be negative")
    return value


def provider_from_env(name: str | None = None) -> LLMProvider:
    """The provider named (or ARC_LLM_PROVIDER, default offline)."""
    chosen = (name or os.environ.get("ARC_LLM_PROVIDER") or "offline").strip().lower()
    if chosen == "offline":
        from arc.database.recommendations.providers.offline import OfflineProvider

        return OfflineProvider()
    timeout = _number("ARC_LLM_TIMEOUT", 60.0)
    retries = int(_number("ARC_LLM_MAX_RETRIES", 3))
    if chosen == "openai":
        from arc.database.recommendations.providers.openai import OpenAIProvider

        return OpenAIProvider(timeout=timeout, max_retries=retries)
    if chosen == "anthropic":
        from arc.database.recommendations.providers.anthropic import AnthropicProvider

        return AnthropicProvider(timeout=timeout, max_retries=retries)
    raise ArcConfigurationError("ARC_LLM_PROVIDER", f"must be one of {', '.join(PROVIDERS)}")


def model_from_env(provider: LLMProvider, model: str | None = None) -> str:
    return model or os.environ.get("ARC_LLM_MODEL") or provider.default_model


__all__ = ["PROVIDERS", "LLMProvider", "model_from_env", "provider_from_env"]
