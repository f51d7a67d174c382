"""Configuration YAML: parse and validate, canonical hash, dotted-key flattening and diffs.

Pure functions (no database). A configuration's YAML must parse (safe tags only) to a mapping
with `model` (non-empty string) and `temperature` (a number in 0..2), at most 1 MiB. The other
well-known keys are checked when present: max_tokens (integer 1..10^6), timeout_ms (1 ms to a
day), retries (integer 0..20), top_p (0..1), tools (tool names, or a mapping of tool settings).

Parsing is bounded before work can grow: the text is measured first; while composing, the
document is measured as if every alias were expanded (`_BoundedComposer`: values, characters
of text, nesting), so an alias bomb is refused after reading a few hundred bytes, before the
constructor or JSON would build its expansion. Integers must fit in 64 bits and are measured
before conversion. The parsed configuration must be what jsonb stores (`check_json`).
"""

import difflib
import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, SequenceNode
from yaml.resolver import Resolver

from arc.database.core.checks import MAX_JSON_DEPTH, check_json, check_text, text_limits
from arc.database.core.errors import ArcValidationError
from arc.database.models import ConfigVersion

MAX_YAML_CHARS = text_limits(ConfigVersion, "raw_yaml")[1]  # config_versions.raw_yaml_size
MAX_DIFF_CHARS = 524_288  # config_diffs.diff_yaml_size
# A configuration holds at most this many values (keys, items, scalars) once its aliases are
# expanded, and at most MAX_YAML_CHARS characters of text; it nests at most MAX_JSON_DEPTH.
MAX_CONFIG_VALUES = 20_000
MAX_INT_CHARS = 100  # an integer scalar is measured before int() converts it
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


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


def canonical_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON form (sorted keys, no whitespace)."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------- bounded YAML


def _refused(rule: str, mark: Any) -> ArcValidationError:
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return ArcValidationError("raw_yaml", rule + where)


class _Shape(NamedTuple):
    """A composed node measured as if its aliases were expanded; height counts the levels of
    collections, as JSON nesting does (a scalar has height 0)."""

    values: int
    chars: int
    height: int


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


class _BoundedComposer(Composer):
    """Composes nodes as PyYAML does (an alias is the anchored node itself, so composing costs
    the text), while adding up what the expanded document would hold: each alias counts the
    whole of its anchored node again. Stops at the first node past a limit."""

    peek_event: Callable[[], Any]  # from the parser it is combined with

    def compose_document(self) -> Node | None:
        self._shapes: dict[int, _Shape] = {}
        self._values = self._chars = self._depth = 0  # depth: collections around the node
        return super().compose_document()

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        mark = event.start_mark
        if isinstance(event, AliasEvent):
            target = self.anchors.get(event.anchor) if event.anchor is not None else None
            if target is not None:  # an undefined alias: the composer raises its own error
                shape = self._shapes.get(id(target))
                if shape is None:
                    raise _refused("must not use an alias inside its own anchor", mark)
                self._nest(self._depth + shape.height, mark)
                self._add(shape.values, shape.chars, mark)
            return super().compose_node(parent, index)
        scalar = isinstance(event, ScalarEvent)
        values, chars, level = self._values, self._chars, int(not scalar)
        self._add(1, len(event.value) if scalar else 0, mark)
        self._depth += level
        self._nest(self._depth, mark)
        node = super().compose_node(parent, index)
        self._depth -= level
        assert node is not None
        height = level + max((self._shapes[id(c)].height for c in _children(node)), default=0)
        self._shapes[id(node)] = _Shape(self._values - values, self._chars - chars, height)
        return node

    @staticmethod
    def _nest(depth: int, mark: Any) -> None:
        if depth > MAX_JSON_DEPTH:
            raise _refused(f"must not nest deeper than {MAX_JSON_DEPTH} levels", mark)

    def _add(self, values: int, chars: int, mark: Any) -> None:
        self._values += values
        self._chars += chars
        if self._values > MAX_CONFIG_VALUES:
            raise _refused(f"must hold at most {MAX_CONFIG_VALUES} values (aliases expanded)", mark)
        if self._chars > MAX_YAML_CHARS:
            raise _refused(
                f"must hold at most {MAX_YAML_CHARS} characters of text (aliases expanded)", mark
            )


class _BoundedConstructor(SafeConstructor):
    """SafeConstructor whose integers are measured before int() converts them (a 5000-digit
    integer fails inside int(); a long base-60 one costs quadratic time)."""

    def construct_yaml_int(self, node: Node) -> int:
        if len(str(node.value)) > MAX_INT_CHARS:
            raise _refused(
                f"integers must have at most {MAX_INT_CHARS} characters", node.start_mark
            )
        return super().construct_yaml_int(node)  # type: ignore[arg-type]


_BoundedConstructor.add_constructor(  # type: ignore[type-var]
    "tag:yaml.org,2002:int", _BoundedConstructor.construct_yaml_int
)

try:  # libyaml parses events in C; composing and constructing stay in Python, bounded
    from yaml._yaml import CParser

    class _CLoader(_BoundedComposer, CParser, _BoundedConstructor, Resolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _BoundedComposer.__init__(self)
            _BoundedConstructor.__init__(self)
            Resolver.__init__(self)

    LOADERS: tuple[type[Any], ...] = (_CLoader,)
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    LOADERS = ()


class _PyLoader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    _BoundedComposer,
    _BoundedConstructor,
    Resolver,
):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        _BoundedComposer.__init__(self)
        _BoundedConstructor.__init__(self)
        Resolver.__init__(self)


LOADERS += (_PyLoader,)  # the first is used; tests run the bounds with every one


def load_yaml(text: str, loader: type[Any] = LOADERS[0]) -> Any:
    """The YAML document `text`, loaded with safe tags under the bounds above."""
    parser = loader(text)
    try:
        return parser.get_single_data()
    except yaml.YAMLError as exc:
        raise ArcValidationError("raw_yaml", f"is not valid YAML: {exc}") from None
    except (ValueError, OverflowError) as exc:  # e.g. 2024-02-30 as a timestamp
        if isinstance(exc, ArcValidationError):
            raise
        raise ArcValidationError("raw_yaml", f"holds a value that cannot be read: {exc}") from None
    finally:
        parser.dispose()


# ----------------------------------------------------------------------------- rules


# Rules for the well-known keys, checked when present: (lowest, highest, integer only).
NUMBER_RULES: dict[str, tuple[float, float, bool]] = {
    "temperature": (0, 2, False),
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
    ):
        raise ArcValidationError(key, f"must be {kind}", value=value)
    # Exact comparison: NaN is never between, an int is compared without float conversion.
    if not low <= value <= high or (isinstance(value, float) and not math.isfinite(value)):
        raise ArcValidationError(key, f"must be between {low:g} and {high:g}", value=value)


def _validate_config(config: Mapping[Any, Any]) -> None:
    for key in ("model", "temperature"):
        if key not in config:
            raise ArcValidationError(key, "is required")
    model = config["model"]
    if not isinstance(model, str) or not model.strip():
        raise ArcValidationError("model", "must be a non-empty string", value=model)
    check_text(model, "model", max_length=200)
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


def _check_values(config: Mapping[Any, Any]) -> None:
    """At most MAX_CONFIG_VALUES keys, items and scalars (a shared part counted at each use,
    as JSON writes it) and integers that fit in 64 bits. Runs before anything would expand
    the configuration (YAML was also measured while composing)."""
    count, stack = 0, [config]
    while stack:
        item = stack.pop()
        count += 1
        if count > MAX_CONFIG_VALUES:
            raise ArcValidationError("config", f"must hold at most {MAX_CONFIG_VALUES} values")
        if isinstance(item, Mapping):
            count += len(item)
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, int) and not INT64_MIN <= item <= INT64_MAX:
            raise ArcValidationError(
                "config", "integers must fit in 64 bits", value=f"{item.bit_length()} bits"
            )


def parse_config(source: str | Mapping[str, Any]) -> ParsedConfig:
    """Parse and validate YAML text or a mapping. Raises ArcValidationError naming the rule."""
    if isinstance(source, str):
        raw_yaml = source
        check_text(raw_yaml, "raw_yaml", max_length=MAX_YAML_CHARS)
        loaded = load_yaml(raw_yaml)
        if not isinstance(loaded, dict):
            raise ArcValidationError(
                "raw_yaml", "must be a YAML mapping", value=type(loaded).__name__
            )
    elif isinstance(source, Mapping):
        loaded = dict(source)
    else:
        raise ArcValidationError("raw_yaml", "must be YAML text or a mapping")
    _validate_config(loaded)
    _check_values(loaded)
    text = check_json(loaded, "config", kind=Mapping)
    assert text is not None
    config: dict[str, Any] = json.loads(text)  # dates, non-string keys: as jsonb stores them
    if not isinstance(source, str):
        # The (pure Python) dumper costs the size of the text: measure it first.
        if len(text) > 2 * MAX_YAML_CHARS:
            raise ArcValidationError("config", f"must be at most {MAX_YAML_CHARS} characters")
        raw_yaml = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
        if len(raw_yaml) > MAX_YAML_CHARS:
            raise ArcValidationError("raw_yaml", f"must be at most {MAX_YAML_CHARS} characters")
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
