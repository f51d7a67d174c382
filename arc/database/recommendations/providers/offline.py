"""The offline provider: deterministic, no network, no key, no cost; the default.

It reads the evidence pack the request carries and proposes the changes its items support
(items with p_improve >= 0.6, and experiments on untested levers), none that an item
contradicts, one change per suggestion so every suggestion's effect can be measured on its
own (except a joint item, another configuration's settings, whose changes go together).
Numbers move to the level the evidence saw when it names one, else by a documented step
(retries +1, timeout x1.5, max_tokens x1.5, temperature 0.2 toward the evidence); lists gain
or lose the element the evidence names; values are set to what the evidence saw work.
Suggestions are ranked by expected gain, p_improve x expected_delta (an experiment, or an
item with no estimate, counts 0.01 of the metric).
"""

import json
import math
from collections.abc import Mapping
from typing import Any

from arc.database.configs.parsing import NUMBER_RULES
from arc.database.recommendations.providers.base import LLMRequest, LLMResponse

MIN_PROBABILITY = 0.6
# defaults when the evidence asks to add a key the configuration does not have
ADDED_DEFAULTS: dict[str, Any] = {"timeout_ms": 90_000, "retries": 1, "max_tokens": 2048}
TYPES = {
    "tools": "tool_optimization",
    "timeout_ms": "performance_tuning",
    "retries": "performance_tuning",
}


def _step(key: str, current: float, up: bool) -> float:
    """The next value of a number, within the configuration rules' bounds."""
    if key == "temperature":
        value: float = round(current + (0.2 if up else -0.2), 2)
    elif key == "top_p":
        value = round(current + (0.1 if up else -0.1), 2)
    elif key == "retries":
        value = int(current) + (1 if up else -1)
    elif key == "max_tokens":
        value = int(round(current * (1.5 if up else 2 / 3) / 64) * 64)
    else:
        scaled = current * (1.5 if up else 2 / 3)
        value = round(scaled) if isinstance(current, int) else round(scaled, 4)
    low, high, _ = NUMBER_RULES.get(key, (-math.inf, math.inf, False))
    if key == "temperature":
        low, high = 0.0, 2.0
    return min(high, max(low, value))


def changes_for(support: Mapping[str, Any], config: Mapping[str, Any]) -> list[dict[str, str]]:
    """The operations that make the change a support names, or [] if they cannot."""
    key, direction, value = support["key"], support["direction"], support.get("value")
    current: Any = config
    for part in key.split("."):
        current = current.get(part) if isinstance(current, Mapping) else None
    if isinstance(current, list) and direction in ("added", "removed"):
        operation = "add_item" if direction == "added" else "remove_item"
        return [{"key": key, "operation": operation, "value_json": json.dumps(value)}]
    if direction in ("raised", "lowered"):
        if not isinstance(current, int | float) or isinstance(current, bool):
            return []
        up = direction == "raised"
        if isinstance(value, int | float) and not isinstance(value, bool):
            if (value > current) == up and value != current:  # the level the evidence saw
                return [{"key": key, "operation": "set", "value_json": json.dumps(value)}]
            return []
        stepped = _step(key, current, up)
        if stepped == current:  # at its bound: this direction changes nothing
            return []
        return [{"key": key, "operation": "set", "value_json": json.dumps(stepped)}]
    if direction == "added":
        added = value if value is not None else ADDED_DEFAULTS.get(key)
        if added is None:
            return []
        operation = "add_item" if key == "tools" else "set"
        return [{"key": key, "operation": operation, "value_json": json.dumps(added)}]
    if direction == "removed":
        return [{"key": key, "operation": "delete", "value_json": ""}]
    if direction in ("enabled", "disabled"):
        return [{"key": key, "operation": "set", "value_json": json.dumps(direction == "enabled")}]
    if direction == "set" and value is not None:
        return [{"key": key, "operation": "set", "value_json": json.dumps(value)}]
    return []


def _blocked(support: Mapping[str, Any], contradicted: list[Mapping[str, Any]]) -> bool:
    """An item contradicts this change (same key and direction; same value unless the
    contradiction names none)."""
    return any(
        c.get("key") == support.get("key")
        and c.get("direction") == support.get("direction")
        and (c.get("value") is None or c.get("value") == support.get("value"))
        for c in contradicted
    )


class OfflineProvider:
    """Evidence in, suggestions out, the same every time."""

    name = "offline"
    default_model = "offline-evidence-v1"

    def __init__(self, *, max_suggestions: int = 3) -> None:
        self.max_suggestions = max_suggestions

    async def complete(self, request: LLMRequest) -> LLMResponse:
        pack = request.evidence
        items = [i for i in pack.get("items", []) if isinstance(i, Mapping)]
        contradicted = [c for i in items for c in i.get("contradicts", [])]
        ranked: list[tuple[float, int, dict[str, Any]]] = []
        for position, item in enumerate(items):
            p = item.get("p_improve")
            experiment = item.get("kind") == "untested_lever"
            if not isinstance(p, int | float) or (p < MIN_PROBABILITY and not experiment):
                continue
            gain = item.get("expected_delta")
            gain = gain if isinstance(gain, int | float) and gain > 0 else 0.01
            supports = [x for x in item.get("supports", []) if isinstance(x, Mapping)]
            # a joint item backs its changes only together: one suggestion with all of them
            groups = [supports] if item.get("joint") else [[x] for x in supports]
            for group in groups:
                if item.get("joint"):  # adopt the settings, except those evidence says hurt
                    group = [x for x in group if not _blocked(x, contradicted)]
                if not group or any(_blocked(x, contradicted) for x in group):
                    continue
                changes = [c for x in group for c in changes_for(x, pack.get("config", {}))]
                if not changes or (item.get("joint") and len(changes) < len(group)):
                    continue
                what = "; ".join(
                    f"{x['key']} {x['direction']}"
                    + (f" {x['value']}" if x.get("value") is not None else "")
                    for x in group
                )
                ranked.append(
                    (
                        p * gain,
                        position,
                        {
                            "recommendation_type": TYPES.get(
                                group[0]["key"].split(".")[0], "config_change"
                            ),
                            "description": f"{what}: {item['summary']} ({item['id']})",
                            "changes": changes,
                            "evidence": [item["id"]],
                            "rationale": (
                                f"{item['kind']} evidence {item['id']}: P(improves "
                                f"{pack.get('target_metric')}) = {p:.2f}, expected gain "
                                f"{gain:+.3f}"
                            ),
                        },
                    )
                )
        ranked.sort(key=lambda r: (-r[0], r[1]))
        seen_keys: set[str] = set()
        chosen = []
        for _, _, suggestion in ranked:
            key = json.dumps(suggestion["changes"], sort_keys=True)
            if key in seen_keys:
                continue
            seen_keys.add(key)
            chosen.append(suggestion)
            if len(chosen) == self.max_suggestions:
                break
        text = json.dumps({"recommendations": chosen}, sort_keys=True)
        return LLMResponse(text=text, model=self.default_model)
