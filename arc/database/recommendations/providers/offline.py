"""The offline provider: deterministic, no network, no key, no cost; the default.

It reads the evidence pack the request carries and proposes the changes its items support
(items with p_improve >= 0.6, and experiments on untested levers), none that an item
contradicts, one change per suggestion so every suggestion's effect can be measured on its
own (except a joint item, another configuration's settings, whose changes go together).
Numbers move to the level the evidence names (the level a dominating version runs at, the
step an experiment tries), else by the documented step of levers.py, in the direction the
evidence says; lists gain or lose the element the evidence names; values are set to what the
evidence saw work. A move an item contradicts is left out (for a number: at or beyond the level
where harm was seen), and so is one that would change nothing. Suggestions are ranked by
expected gain, p_improve x expected_delta (an experiment, or an item with no estimate, counts
0.01 of the metric).
"""

import json
from collections.abc import Mapping, Sequence
from typing import Any

from arc.database.recommendations.evidence import Support
from arc.database.recommendations.levers import ADDED_DEFAULTS, step
from arc.database.recommendations.providers.base import LLMRequest, LLMResponse

MIN_PROBABILITY = 0.6
TYPES = {
    "tools": "tool_optimization",
    "timeout_ms": "performance_tuning",
    "retries": "performance_tuning",
}
_MISSING = object()


def changes_for(support: Mapping[str, Any], config: Mapping[str, Any]) -> list[dict[str, str]]:
    """The operations that make the change a support names, or [] if they cannot or would
    change nothing."""
    key, direction, value = support["key"], support["direction"], support.get("value")
    current: Any = config
    for part in key.split("."):
        current = current.get(part, _MISSING) if isinstance(current, Mapping) else _MISSING
    if isinstance(current, list) and direction in ("added", "removed"):
        if (value in current) == (direction == "added"):  # already there / already gone
            return []
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
        stepped = step(key, current, up)
        if stepped == current:  # at its bound: this direction changes nothing
            return []
        return [{"key": key, "operation": "set", "value_json": json.dumps(stepped)}]
    if direction == "added":
        added = value if value is not None else ADDED_DEFAULTS.get(key)
        if added is None or current is not _MISSING:
            return []
        operation = "add_item" if key == "tools" else "set"
        return [{"key": key, "operation": operation, "value_json": json.dumps(added)}]
    if direction == "removed":
        if current is _MISSING:
            return []
        return [{"key": key, "operation": "delete", "value_json": ""}]
    if direction in ("enabled", "disabled"):
        if current == (direction == "enabled"):
            return []
        return [{"key": key, "operation": "set", "value_json": json.dumps(direction == "enabled")}]
    if direction == "set" and value is not None and value != current:
        return [{"key": key, "operation": "set", "value_json": json.dumps(value)}]
    return []


def _made(support: Mapping[str, Any], changes: Sequence[Mapping[str, str]]) -> Any:
    """The value that identifies the move the operations make (for a number: its new level)."""
    if support["direction"] in ("raised", "lowered") and changes:
        return json.loads(changes[0]["value_json"])
    return support.get("value")


def _blocked(support: Mapping[str, Any], value: Any, contradicted: Sequence[Support]) -> bool:
    """An item contradicts this move (see Support.blocks: for a number, at its level)."""
    return any(c.blocks(support["key"], support["direction"], value) for c in contradicted)


class OfflineProvider:
    """Evidence in, suggestions out, the same every time."""

    name = "offline"
    default_model = "offline-evidence-v1"

    def __init__(self, *, max_suggestions: int = 3) -> None:
        self.max_suggestions = max_suggestions

    async def complete(self, request: LLMRequest) -> LLMResponse:
        pack = request.evidence
        config = pack.get("config", {})
        items = [i for i in pack.get("items", []) if isinstance(i, Mapping)]
        contradicted = [
            Support.of(c) for i in items for c in i.get("contradicts", []) if isinstance(c, Mapping)
        ]
        ranked: list[tuple[float, int, dict[str, Any]]] = []
        for position, item in enumerate(items):
            p = item.get("p_improve")
            experiment = item.get("kind") == "untested_lever"
            if not isinstance(p, int | float) or (p < MIN_PROBABILITY and not experiment):
                continue
            gain = item.get("expected_delta")
            gain = gain if isinstance(gain, int | float) and gain > 0 else 0.01
            supports = [x for x in item.get("supports", []) if isinstance(x, Mapping)]
            # a joint item backs its changes only together: one suggestion with all of them,
            # except those the evidence says would hurt
            groups = [supports] if item.get("joint") else [[x] for x in supports]
            for group in groups:
                planned = [(x, changes_for(x, config)) for x in group]
                open_moves = [
                    (x, ops) for x, ops in planned if not _blocked(x, _made(x, ops), contradicted)
                ]
                if item.get("joint"):
                    planned = open_moves
                elif len(open_moves) < len(planned):
                    continue
                if not planned or any(not ops for _, ops in planned):
                    continue
                changes = [c for _, ops in planned for c in ops]
                what = "; ".join(
                    f"{x['key']} {x['direction']}"
                    + (f" {_made(x, ops)}" if _made(x, ops) is not None else "")
                    for x, ops in planned
                )
                ranked.append(
                    (
                        p * gain,
                        position,
                        {
                            "recommendation_type": TYPES.get(
                                planned[0][0]["key"].split(".")[0], "config_change"
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
