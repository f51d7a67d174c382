"""Changes a recommendation proposes, as operations and as a YAML merge patch.

A provider answers with operations on dotted keys (strict structured output cannot describe a
free-form object): `set` a value, `add_item` / `remove_item` on a list (tools), or `delete` a
key. Against the configuration they change, they become a merge patch in the sense of RFC 7386
(nested mappings merge key by key, a list is replaced whole, null deletes a key), stored as YAML
in `suggested_yaml_changes`, and applying the patch gives the candidate configuration.
"""

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from arc.database.core.errors import ArcValidationError

Operation = Literal["set", "add_item", "remove_item", "delete"]
OPERATIONS: tuple[Operation, ...] = ("set", "add_item", "remove_item", "delete")
MAX_CHANGES = 20


@dataclass(frozen=True)
class Change:
    key: str  # dotted: "tools", "tools.weather_api.retries"
    operation: Operation
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "operation": self.operation, "value": self.value}


def _lookup(config: Mapping[str, Any], key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _nest(key: str, value: Any) -> dict[str, Any]:
    parts = key.split(".")
    patch: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        patch = {part: patch}
    return patch


def merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7386: nested mappings merge, anything else replaces, None deletes."""
    merged = copy.deepcopy(dict(base))
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def patch_for(config: Mapping[str, Any], changes: Sequence[Change]) -> dict[str, Any]:
    """The merge patch that makes `changes` to `config`."""
    patch: dict[str, Any] = {}
    for change in changes:
        current = _lookup(merge(config, patch), change.key)
        if change.operation == "set":
            value = change.value
        elif change.operation == "delete":
            value = None
        else:
            items = list(current) if isinstance(current, list) else []
            if change.operation == "add_item" and change.value not in items:
                items.append(change.value)
            elif change.operation == "remove_item":
                items = [i for i in items if i != change.value]
            value = items
        if value is None:
            patch = _with_null(patch, change.key)
        else:
            patch = merge(patch, _nest(change.key, value))
    return patch


def _with_null(patch: dict[str, Any], key: str) -> dict[str, Any]:
    """A patch that deletes `key` (merge() would drop the None itself)."""
    parts = key.split(".")
    result = copy.deepcopy(patch)
    node = result
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = None
    return result


def parse_changes(raw: Any, index: int | None = None) -> list[Change]:
    """Operations from a provider's answer (value_json: the value as a JSON text)."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_CHANGES:
        raise ArcValidationError(
            "changes", f"must be a list of 1 to {MAX_CHANGES} operations", index=index
        )
    changes = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise ArcValidationError("changes", "must hold objects", index=index)
        key, operation = item.get("key"), item.get("operation")
        if not isinstance(key, str) or not key or len(key) > 200 or key.startswith("."):
            raise ArcValidationError(
                "changes.key", "must be a dotted configuration key", index=index
            )
        if operation not in OPERATIONS:
            raise ArcValidationError(
                "changes.operation", f"must be one of {', '.join(OPERATIONS)}", index=index
            )
        value: Any = item.get("value")
        if "value_json" in item:
            text = item["value_json"]
            if not isinstance(text, str) or len(text) > 10_000:
                raise ArcValidationError("changes.value_json", "must be a JSON text", index=index)
            try:
                value = json.loads(text) if text.strip() else None
            except ValueError as exc:
                raise ArcValidationError(
                    "changes.value_json", "is not valid JSON", index=index
                ) from exc
        changes.append(Change(key, operation, value))
    return changes


def to_yaml(patch: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(patch), sort_keys=False, allow_unicode=True)
