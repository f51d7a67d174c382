"""Configuration input that cannot hurt: YAML is bounded while it is composed (aliases counted
as expanded, nesting, integer size), and every refusal is an ArcValidationError naming the
field and the rule, quickly and with little memory. Each loader (libyaml events or pure
Python) is held to the same bounds."""

import json
import math
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from arc.database.configs.parsing import (
    LOADERS,
    MAX_CONFIG_VALUES,
    MAX_YAML_CHARS,
    load_yaml,
    parse_config,
)
from arc.database.core.checks import MAX_JSON_DEPTH
from arc.database.core.errors import ArcValidationError

HEAD = "model: m\ntemperature: 1\n"


def alias_bomb(levels: int, width: int = 9) -> str:
    """~300 bytes that expand to width**levels strings (the attacker's 'billion laughs')."""
    lines = [HEAD.rstrip(), "a0: &a0 [" + ",".join(['"x"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def merge_bomb(levels: int) -> str:
    """Merge keys copy every pair of the merged mappings: 9**levels pairs."""
    lines = [HEAD.rstrip(), "m0: &m0 {k: v}"]
    for i in range(1, levels):
        merged = ", ".join([f"*m{i - 1}"] * 9)
        lines.append(f"m{i}: &m{i} {{<<: [{merged}], k{i}: v}}")
    return "\n".join(lines) + "\n"


def string_bomb(copies: int) -> str:
    """One 100 kB string referenced `copies` times."""
    return HEAD + 's: &s "' + "x" * 100_000 + '"\nl: [' + ", ".join(["*s"] * copies) + "]\n"


def attempt(source: Any, loader: type[Any] | None = None) -> Any:
    """What parsing `source` (with `loader`, if given) returns, or the ArcValidationError."""
    try:
        return parse_config(source) if loader is None else load_yaml(source, loader)
    except ArcValidationError as exc:
        return exc


def refused(
    source: Any, loader: type[Any] | None = None, *, memory: bool = False
) -> ArcValidationError:
    """The error of parsing `source`, checked to come within 2 s (and, with `memory`,
    within 16 MiB: tracemalloc slows big inputs down, so only the small bombs use it)."""
    if memory:
        tracemalloc.start()
    started = time.perf_counter()
    try:
        error = attempt(source, loader)
    finally:
        elapsed = time.perf_counter() - started
        if memory:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert peak < 16 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    assert isinstance(error, ArcValidationError), error
    assert elapsed < 2.0, f"took {elapsed:.2f} s"
    assert error.field
    assert error.rule
    return error


@pytest.mark.parametrize("loader", LOADERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("levels", [6, 7, 9, 12])
def test_alias_bomb_is_refused_while_composing(loader: type[Any], levels: int) -> None:
    source = alias_bomb(levels)
    assert len(source) < 600
    error = refused(source, loader, memory=True)
    assert error.field == "raw_yaml"
    assert error.rule.startswith(f"must hold at most {MAX_CONFIG_VALUES} values")


@pytest.mark.parametrize("loader", LOADERS, ids=lambda c: c.__name__)
def test_merge_key_bomb_is_refused(loader: type[Any]) -> None:
    assert refused(merge_bomb(10), loader, memory=True).rule.startswith("must hold at most")


@pytest.mark.parametrize("loader", LOADERS, ids=lambda c: c.__name__)
def test_aliased_text_counts_at_every_use(loader: type[Any]) -> None:
    assert load_yaml(string_bomb(5), loader)["l"][4] == "x" * 100_000
    error = refused(string_bomb(20), loader)
    assert error.rule.startswith(f"must hold at most {MAX_YAML_CHARS} characters of text")


@pytest.mark.parametrize("loader", LOADERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "source",
    [
        HEAD + "x: &a [1, *a]\n",
        HEAD + "x: &a {b: *a}\n",
        HEAD + "x: &a {<<: *a}\n",
    ],
    ids=["sequence", "mapping", "merge"],
)
def test_an_alias_inside_its_own_anchor_is_refused(loader: type[Any], source: str) -> None:
    assert refused(source, loader).rule.startswith("must not use an alias inside its own anchor")


def _deep_flow(depth: int) -> str:
    return HEAD + "x: " + "[" * depth + "]" * depth + "\n"


def _deep_block(depth: int) -> str:
    return HEAD + "".join(" " * i + f"k{i}:\n" for i in range(depth)) + " " * depth + "v: 1\n"


def _deep_through_aliases(depth: int) -> str:
    # Each anchor nests the previous one a level deeper; the text itself is shallow.
    lines = [HEAD.rstrip(), "d0: &d0 [1]"] + [f"d{i}: &d{i} [*d{i - 1}]" for i in range(1, depth)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("loader", LOADERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("shape", [_deep_flow, _deep_block, _deep_through_aliases])
def test_nesting_is_bounded(loader: type[Any], shape: Callable[[int], str]) -> None:
    ok = load_yaml(shape(MAX_JSON_DEPTH - 2), loader)
    assert isinstance(ok, dict)
    for depth in (MAX_JSON_DEPTH + 1, 5_000):
        error = refused(shape(depth), loader)
        assert error.field == "raw_yaml"
        # libyaml refuses past 1000 flow levels itself, before any event reaches the composer
        assert "nest" in error.rule or "nesting" in error.rule


@pytest.mark.parametrize("loader", LOADERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "number",
    ["9" * 5000, "0b" + "1" * 200_000, "1" + ":30" * 100_000, "-" + "1_" * 100],
    ids=["5000 digits", "binary", "base 60", "underscores"],
)
def test_long_integers_are_refused_before_conversion(loader: type[Any], number: str) -> None:
    error = refused(HEAD + f"x: {number}\n", loader)
    assert error.rule.startswith("integers must have at most")


def test_integers_must_fit_in_64_bits() -> None:
    assert parse_config(HEAD + f"x: {2**63 - 1}\n").config["x"] == 2**63 - 1
    for source in (HEAD + f"x: {2**63}\n", {"model": "m", "temperature": 1, "x": -(2**63) - 1}):
        error = refused(source)
        assert (error.field, error.rule) == ("config", "integers must fit in 64 bits")


@pytest.mark.parametrize(
    ("source", "field", "rule"),
    [
        (HEAD + 'x: "a\\0b"\n', "config", "must not contain NUL characters (at .x)"),
        (HEAD + '"k\\0": 1\n', "config", "must not contain NUL characters (at ['k\\x00'])"),
        ('model: "a\\0b"\ntemperature: 1\n', "model", "must not contain NUL characters"),
        (HEAD + "x: {y: [1, .nan]}\n", "config", "must not contain NaN or infinite numbers"),
        (HEAD + "x: -.inf\n", "config", "must not contain NaN or infinite numbers (at .x)"),
        (HEAD + "x: 1.0e+400\n", "config", "must not contain NaN or infinite numbers (at .x)"),
        ("model: m\ntemperature: .nan\n", "temperature", "must be between 0 and 2"),
        (HEAD + "x: !!binary aGVsbG8=\n", "config", "must be JSON-serialisable"),
        (HEAD + "x: 2024-02-30\n", "raw_yaml", "holds a value that cannot be read"),
        (HEAD + "? [a, b]\n: 1\n", "raw_yaml", "is not valid YAML"),
        (HEAD + "x: \x00\n", "raw_yaml", "must not contain NUL characters"),
        (HEAD + "x: \ud800\n", "raw_yaml", "must be valid Unicode"),
        (HEAD + "x: *undefined\n", "raw_yaml", "is not valid YAML"),
        (HEAD + "x: !!python/object:os.system {}\n", "raw_yaml", "is not valid YAML"),
        ("model: m\ntemperature: 1\n---\nmodel: n\n", "raw_yaml", "is not valid YAML"),
    ],
)
def test_values_jsonb_cannot_store_name_field_and_rule(source: str, field: str, rule: str) -> None:
    error = refused(source)
    assert error.field == field
    assert error.rule.startswith(rule), error.rule


def test_nan_deep_in_the_configuration_names_its_path() -> None:
    error = refused(HEAD + "tools:\n  search:\n    timeouts: [1, 2, .nan]\n")
    assert error.rule.endswith("(at .tools.search.timeouts[2])")


def test_aliases_and_merge_keys_within_the_bounds_still_work() -> None:
    source = (
        HEAD + "defaults: &d {timeout: 30, retries: 2}\n"
        "tools:\n  search: {<<: *d, timeout: 60}\n  calc: *d\n"
    )
    config = parse_config(source).config
    assert config["tools"] == {
        "search": {"timeout": 60, "retries": 2},
        "calc": {"timeout": 30, "retries": 2},
    }


def test_largest_configurations_parse_quickly() -> None:
    """Just inside each bound: the work is bounded by the limits, not by the input."""
    many = HEAD + "x: [" + ",".join(["1"] * (MAX_CONFIG_VALUES - 10)) + "]\n"
    long = HEAD + "x: '" + "y" * (MAX_YAML_CHARS - 100) + "'\n"
    for source in (many, long):
        started = time.perf_counter()
        parse_config(source)
        assert time.perf_counter() - started < 2.0
    refused(HEAD + "x: [" + ",".join(["1"] * MAX_CONFIG_VALUES) + "]\n")


def _shared(levels: int) -> Any:
    value: Any = ["x"] * 9
    for _ in range(levels):
        value = [value] * 9
    return value


@pytest.mark.parametrize(
    ("extra", "rule"),
    [
        ({"x": _shared(12)}, "must hold at most"),  # built in Python: 9**13 strings
        ({"x": math.nan}, "must not contain NaN"),
        ({"x": {"y": float("inf")}}, "must not contain NaN"),
        ({"x": 10**5000}, "integers must fit in 64 bits"),
        ({"x": "a\x00"}, "must not contain NUL"),
        ({"x": "\udc80"}, "must be valid Unicode"),
        ({"x": b"bytes"}, "must be JSON-serialisable"),
        ({"x": object()}, "must be JSON-serialisable"),
        ({("a", "b"): 1}, "must be JSON-serialisable"),
        ({"x": "y" * (3 * MAX_YAML_CHARS)}, "must be at most"),
    ],
)
def test_mapping_input_is_held_to_the_same_rules(extra: dict[Any, Any], rule: str) -> None:
    error = refused({"model": "m", "temperature": 1, **extra})
    assert error.rule.startswith(rule), error.rule


def test_mapping_that_contains_itself_or_nests_deeply_is_refused() -> None:
    looped: dict[str, Any] = {"model": "m", "temperature": 1}
    looped["self"] = looped
    assert refused(looped).field == "config"
    deep: Any = []
    for _ in range(10_000):
        deep = [deep]
    assert refused({"model": "m", "temperature": 1, "x": deep}).rule.startswith(
        f"must not nest deeper than {MAX_JSON_DEPTH}"
    )


def test_source_of_another_type_is_refused() -> None:
    for source in (None, 5, b"model: m", ["model", "m"]):
        assert refused(source).field == "raw_yaml"


# --------------------------------------------------------------------------- property tests

json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(codec=None), max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=16,
)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_or_is_refused_typed(text: str) -> None:
    parsed = attempt(text)
    if isinstance(parsed, ArcValidationError):
        assert parsed.field
        assert parsed.rule
    else:
        assert parsed.config == json.loads(json.dumps(parsed.config))


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_like, max_size=5), json_like)
def test_any_mapping_parses_or_is_refused_typed_and_round_trips(
    extra: dict[str, Any], temperature: Any
) -> None:
    source = {"model": "m", **extra, "temperature": temperature}
    parsed = attempt(source)
    if isinstance(parsed, ArcValidationError):
        assert parsed.field
        assert parsed.rule
    else:  # what is stored parses back, under the same bounds, to the same configuration
        assert parse_config(parsed.raw_yaml).config_hash == parsed.config_hash


def test_depth_is_one_rule_for_text_and_mapping() -> None:
    def config(depth: int) -> dict[str, Any]:
        value: Any = 1
        for _ in range(depth - 1):  # the configuration itself is the first level
            value = {"k": value}
        return {"model": "m", "temperature": 1, "x": value}

    parsed = parse_config(config(MAX_JSON_DEPTH))
    assert parse_config(parsed.raw_yaml).config_hash == parsed.config_hash
    too_deep = config(MAX_JSON_DEPTH + 1)
    assert refused(too_deep).rule.startswith("must not nest deeper")
    dumped = yaml.safe_dump(too_deep)
    assert refused(dumped).rule.startswith("must not nest deeper")
