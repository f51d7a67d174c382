"""The price table: what a model's tokens cost, for spans that do not say (`arc.cost_usd`).

Prices are US dollars per million tokens, input and output, keyed by model name. A model is
looked up by its longest matching prefix, case-insensitively, so `gpt-4o-2024-08-06` is
priced as `gpt-4o` and `gpt-4o-mini-2024-07-18` as `gpt-4o-mini`. A model the table does not
know costs nothing and is named in the outcome's execution_metadata (`unpriced_models`).

DEFAULT_PRICES are the providers' published list prices for standard (not batch, not cached)
tokens as of 2025 (docs/otel.md prints the table). Prices change: a deployment sets its own in
a JSON file named by ARC_OTEL_PRICES, `{"model": {"input": 2.5, "output": 10.0}, ...}`; its
entries replace or add to the defaults.
"""

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arc.database.core.errors import ArcConfigurationError


@dataclass(frozen=True)
class Price:
    input: float  # USD per million input tokens
    output: float  # USD per million output tokens

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input + output_tokens * self.output) / 1_000_000


DEFAULT_PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "o3-mini": Price(1.10, 4.40),
    "o4-mini": Price(1.10, 4.40),
    # Anthropic
    "claude-3-5-sonnet": Price(3.00, 15.00),
    "claude-3-7-sonnet": Price(3.00, 15.00),
    "claude-sonnet-4": Price(3.00, 15.00),
    "claude-3-5-haiku": Price(0.80, 4.00),
    "claude-3-haiku": Price(0.25, 1.25),
    "claude-opus-4": Price(15.00, 75.00),
}


class PriceTable:
    def __init__(self, prices: Mapping[str, Price]) -> None:
        self.prices = {name.lower(): price for name, price in prices.items()}
        # longest prefix first
        self._names = sorted(self.prices, key=len, reverse=True)

    def price_of(self, model: str | None) -> Price | None:
        if not model:
            return None
        wanted = model.lower()
        for name in self._names:
            if wanted.startswith(name):
                return self.prices[name]
        return None

    @classmethod
    def from_file(cls, path: str | None) -> "PriceTable":
        """The defaults, with the entries of the JSON file at `path` (if any) over them."""
        prices = dict(DEFAULT_PRICES)
        if path:
            prices.update(load_prices(path))
        return cls(prices)


def _rate(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ArcConfigurationError(where, "must be a number of USD per million tokens")
    if value < 0:
        raise ArcConfigurationError(where, "must not be negative")
    return float(value)


def load_prices(path: str) -> dict[str, Price]:
    """`{"model": {"input": x, "output": y}}` from a JSON file; ArcConfigurationError naming
    the entry otherwise."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ArcConfigurationError("ARC_OTEL_PRICES", f"cannot be read: {exc}") from None
    except ValueError as exc:
        raise ArcConfigurationError("ARC_OTEL_PRICES", f"is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ArcConfigurationError("ARC_OTEL_PRICES", "must hold a JSON object of models")
    prices: dict[str, Price] = {}
    for model, entry in document.items():
        where = f"ARC_OTEL_PRICES[{model!r}]"
        if not model or not isinstance(entry, dict) or set(entry) != {"input", "output"}:
            raise ArcConfigurationError(where, 'must be {"input": <usd>, "output": <usd>}')
        prices[model] = Price(
            _rate(entry["input"], f"{where}.input"), _rate(entry["output"], f"{where}.output")
        )
    return prices
