"""How far a number of a configuration moves when the evidence says "raise it" or "lower it"
without naming a level: one documented step, within the configuration rules' bounds.

    temperature +-0.2, top_p +-0.1, retries +-1, max_tokens x1.5 or x2/3 (a multiple of 64),
    anything else x1.5 or x2/3

The evidence uses it to name the level an experiment on an untested lever would try (so a
larger move that failed does not rule out a smaller one), and the offline provider to move a
number that evidence backs without a level. Nothing here knows what is good for an agent: the
direction always comes from the evidence, and the canary measures the step.
"""

import math

from arc.database.configs.parsing import NUMBER_RULES

# the value a key gets when the evidence asks to add a key the configuration does not have
ADDED_DEFAULTS: dict[str, int] = {"timeout_ms": 90_000, "retries": 1, "max_tokens": 2048}


def step(key: str, current: float, up: bool) -> float:
    """The next value of a number in a direction, within the configuration rules' bounds (equal
    to `current` when it is already at its bound)."""
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
    if key == "max_tokens":
        low = 64
    bounded = min(high, max(low, value))
    return current if (bounded > current) != up else bounded
