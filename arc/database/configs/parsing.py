"""Configuration YAML: parse and validate, canonical hash, dotted-key flattening and diffs.

Pure functions (no database). A configuration's YAML must parse (yaml.safe_load) to a mapping
with `model` (non-empty string) and `temperature` (a number in 0..2), at most 1 MiB. The other
well-known keys are checked when present: max_tokens (integer 1..10^6), timeout_ms (1 ms to a
day), retries (integer 0..20), top_p (0..1), tools (tool names, or a mapping of tool settings).
"""

import difflib
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from arc.database.core.errors import ArcValidationError
from arc.database.core.jsonb import json_dumps

MAX_YAML_CHARS = 1_048_576  # config_versions.raw_yaml_size
MAX_DIFF_CHARS = 524_288  # config_diffs.diff_yaml_size


@dataclass(frozen=True)
class ParsedConfig:
    """A validated configuration: the YAML text, its JSON-compatible form and their hash."""

    raw_yaml: str
    config: dict[str, Any]
    config_hash: str


@dataclass(frozen=True)
class ConfigDiffResult:
    diff_yaml: str
    change_summary: dict[str, Any]
    truncated: bool


def _normalise(value: Any) -> Any:
    """JSON round trip: YAML dates, non-string keys, tuples become what JSONB will store."""
    return json.loads(json_dumps(value))


def canonical_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON form (sorted keys, no whitespace)."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _validate_config(config: Mapping[str, Any]) -> None:
    model = config.get("model")
    if "model" not in config:
        raise ArcValidationError("model", "is required")
    if not isinstance(model, str) or not model.strip():
        raise ArcValidationError("model", "must be a non-empty string", value=model)
    if "temperature" not in config:
        raise ArcValidationError("temperature", "is required")
    temperature = config["temperature"]
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        raise ArcValidationError("temperature", "must be a number", value=temperature)
    if not math.isfinite(temperature) or not 0 <= temperature <= 2:
        raise ArcValidationError("temperature", "must be between 0 and 2", value=temperature)
    for key, (low, high, integral) in NUMBER_RULES.items():
        if key in config:
            _check_number(key, config[key], low, high, integral)
    tools = config.get("tools")
    if "tools" in config and not isinstance(tools, dict):
        if not isinstance(tools, list) or not all(isinstance(t, str) and t for t in tools):
            raise ArcValidationError(
                "tools", "must be a list of tool names or a mapping of tool settings"
            )
        if len(set(tools)) != len(tools):
            raise ArcValidationError("tools", "must not name a tool twice", value=tools)


# Rules for the other well-known keys, checked when present: (lowest, highest, integer only).
NUMBER_RULES: dict[str, tuple[float, float, bool]] = {
    "max_tokens": (1, 1_000_000, True),
    "timeout_ms": (1, 86_400_000, False),
    "retries": (0, 20, True),
    "top_p": (0, 1, False),
}


def _check_number(key: str, value: Any, low: float, high: float, integral: bool) -> None:
    kind = "an integer" if integral else "a number"
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (integral and not isinstance(value, int))
        or not math.isfinite(value)
    ):
        raise ArcValidationError(key, f"must be {kind}", value=value)
    if not low <= value <= high:
        raise ArcValidationError(key, f"must be between {low:g} and {high:g}", value=value)


def parse_config(source: str | Mapping[str, Any]) -> ParsedConfig:
    """Parse and validate YAML text or a mapping. Raises ArcValidationError naming the rule."""
    if isinstance(source, str):
        raw_yaml = source
        if len(raw_yaml) > MAX_YAML_CHARS:
            raise ArcValidationError("raw_yaml", f"must be at most {MAX_YAML_CHARS} characters")
        try:
            loaded = yaml.safe_load(raw_yaml)
        except yaml.YAMLError as exc:
            raise ArcValidationError("raw_yaml", f"is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ArcValidationError(
                "raw_yaml", "must be a YAML mapping", value=type(loaded).__name__
            )
    elif isinstance(source, Mapping):
        loaded = dict(source)
        raw_yaml = yaml.safe_dump(_normalise(loaded), sort_keys=False, allow_unicode=True)
        if len(raw_yaml) > MAX_YAML_CHARS:
            raise ArcValidationError("raw_yaml", f"must be at most {MAX_YAML_CHARS} characters")
    else:
        raise ArcValidationError("raw_yaml", "must be YAML text or a mapping")
    try:
        config = _normalise(loaded)
    except (TypeError, ValueError) as exc:
        raise ArcValidationError("raw_yaml", f"holds a value JSON cannot store: {exc}") from exc
    _validate_config(config)
    return ParsedConfig(raw_yaml=raw_yaml, config=config, config_hash=canonical_hash(config))


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings become dotted keys; lists and scalars are leaves."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def change_summary(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """{added: {k: v}, removed: {k: v}, changed: {k: {before, after}}} on dotted keys."""
    a, b = flatten(before), flatten(after)
    return {
        "added": {k: b[k] for k in sorted(b.keys() - a.keys())},
        "removed": {k: a[k] for k in sorted(a.keys() - b.keys())},
        "changed": {
            k: {"before": a[k], "after": b[k]}
            for k in sorted(a.keys() & b.keys())
            if a[k] != b[k] or type(a[k]) is not type(b[k])
        },
    }


def compute_diff(
    before_yaml: str,
    after_yaml: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    *,
    before_label: str = "before",
    after_label: str = "after",
    max_chars: int = MAX_DIFF_CHARS,
) -> ConfigDiffResult:
    """Unified diff of the YAML texts plus a structural summary; truncated to max_chars."""
    lines = difflib.unified_diff(
        before_yaml.splitlines(keepends=True),
        after_yaml.splitlines(keepends=True),
        fromfile=before_label,
        tofile=after_label,
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    summary = change_summary(before, after)
    truncated = len(text) > max_chars
    if truncated:
        marker = f"\n... [diff truncated: {len(text)} characters, first {{kept}} shown]\n"
        kept = max_chars - len(marker) - 10
        text = text[:kept] + marker.format(kept=kept)
        summary["diff_truncated"] = True
    return ConfigDiffResult(diff_yaml=text, change_summary=summary, truncated=truncated)
