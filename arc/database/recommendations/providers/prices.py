"""Prices of the providers' models, in USD per million tokens (input, output).

The table is a default to be overridden: ARC_LLM_PRICES holds a JSON object
{"model": [input, output], ...} merged over it (or pass `prices=` to a provider). A model
is priced by its exact name, else by the longest name it starts with (dated snapshots:
"gpt-4o-2024-08-06" is priced as "gpt-4o"). An unknown model costs 0 and is logged.
"""

import json
import os
from collections.abc import Mapping

import structlog

from arc.database.core.errors import ArcConfigurationError

log = structlog.get_logger("arc.database.recommendations")

DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o4-mini": (1.10, 4.40),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-opus-4": (15.00, 75.00),
}


def price_table(
    overrides: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, tuple[float, float]]:
    table = dict(DEFAULT_PRICES)
    raw = os.environ.get("ARC_LLM_PRICES")
    if raw:
        try:
            loaded = json.loads(raw)
            table.update({str(k): (float(v[0]), float(v[1])) for k, v in loaded.items()})
        except (ValueError, TypeError, IndexError, AttributeError) as exc:
            raise ArcConfigurationError(
                "ARC_LLM_PRICES", 'must be a JSON object {"model": [input, output]}'
            ) from exc
    table.update(overrides or {})
    return table


def cost_usd(
    table: Mapping[str, tuple[float, float]], model: str, input_tokens: int, output_tokens: int
) -> float:
    price = table.get(model)
    if price is None:
        known = [name for name in table if model.startswith(name)]
        price = table[max(known, key=len)] if known else None
    if price is None:
        log.warning("llm.unknown_price", model=model)
        return 0.0
    return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000
