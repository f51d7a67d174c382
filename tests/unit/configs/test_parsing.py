"""Parsing, hashing and diffing of configurations: pure functions, no database."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arc.database.configs.parsing import (
    MAX_DIFF_CHARS,
    MAX_YAML_CHARS,
    canonical_hash,
    change_summary,
    compute_diff,
    flatten,
    parse_config,
)
from arc.database.core.errors import ArcValidationError


def test_parse_yaml_mapping() -> None:
    parsed = parse_config("model: gpt-4o\ntemperature: 0.2\ntools:\n  search: {timeout: 30}\n")
    assert parsed.config == {
        "model": "gpt-4o",
        "temperature": 0.2,
        "tools": {"search": {"timeout": 30}},
    }
    assert len(parsed.config_hash) == 64


def test_hash_ignores_key_order_and_formatting() -> None:
    a = parse_config("model: m\ntemperature: 1\nx: {b: 1, a: 2}\n")
    b = parse_config("# comment\ntemperature: 1\nx:\n  a: 2\n  b: 1\nmodel: m\n")
    assert a.config_hash == b.config_hash
    assert a.raw_yaml != b.raw_yaml


def test_dict_input_produces_yaml() -> None:
    parsed = parse_config({"model": "m", "temperature": 0})
    assert "model: m" in parsed.raw_yaml
    assert parsed.config_hash == canonical_hash({"temperature": 0, "model": "m"})


@pytest.mark.parametrize(
    ("source", "field", "rule"),
    [
        ("- a\n- b\n", "raw_yaml", "must be a YAML mapping"),
        ("model: [unclosed\n", "raw_yaml", "is not valid YAML"),
        ("temperature: 1\n", "model", "is required"),
        ("model: ''\ntemperature: 1\n", "model", "must be a non-empty string"),
        ("model: 3\ntemperature: 1\n", "model", "must be a non-empty string"),
        ("model: m\n", "temperature", "is required"),
        ("model: m\ntemperature: hot\n", "temperature", "must be a number"),
        ("model: m\ntemperature: true\n", "temperature", "must be a number"),
        ("model: m\ntemperature: 2.5\n", "temperature", "must be between 0 and 2"),
        ("model: m\ntemperature: -0.1\n", "temperature", "must be between 0 and 2"),
        ("model: m\ntemperature: .nan\n", "temperature", "must be between 0 and 2"),
    ],
)
def test_invalid_configs_name_field_and_rule(source: str, field: str, rule: str) -> None:
    with pytest.raises(ArcValidationError) as info:
        parse_config(source)
    assert info.value.field == field
    assert info.value.rule.startswith(rule)


def test_size_limit() -> None:
    big = "model: m\ntemperature: 1\npad: '" + "x" * MAX_YAML_CHARS + "'\n"
    with pytest.raises(ArcValidationError) as info:
        parse_config(big)
    assert info.value.field == "raw_yaml"


def test_unsafe_yaml_tags_are_refused() -> None:
    with pytest.raises(ArcValidationError):
        parse_config("model: !!python/object/apply:os.system ['true']\ntemperature: 1\n")


def test_flatten_and_summary() -> None:
    before = {"model": "a", "temperature": 0.1, "tools": {"search": {"timeout": 30}, "x": 1}}
    after = {"model": "b", "temperature": 0.1, "tools": {"search": {"timeout": 60}}, "new": [1]}
    assert flatten(before) == {
        "model": "a",
        "temperature": 0.1,
        "tools.search.timeout": 30,
        "tools.x": 1,
    }
    summary = change_summary(before, after)
    assert summary == {
        "added": {"new": [1]},
        "removed": {"tools.x": 1},
        "changed": {
            "model": {"before": "a", "after": "b"},
            "tools.search.timeout": {"before": 30, "after": 60},
        },
    }


def test_summary_sees_type_change() -> None:
    assert change_summary({"t": 1}, {"t": 1.0})["changed"] == {"t": {"before": 1, "after": 1.0}}


def test_diff_is_unified_and_truncated_when_large() -> None:
    small = compute_diff("a: 1\n", "a: 2\n", {"a": 1}, {"a": 2})
    assert "-a: 1\n" in small.diff_yaml
    assert "+a: 2\n" in small.diff_yaml
    assert not small.truncated
    before = "".join(f"k{i}: {i}\n" for i in range(40_000))
    after = "".join(f"k{i}: {i + 1}\n" for i in range(40_000))
    big = compute_diff(before, after, {}, {"k": 1})
    assert big.truncated
    assert len(big.diff_yaml) <= MAX_DIFF_CHARS
    assert "[diff truncated:" in big.diff_yaml
    assert big.change_summary["diff_truncated"] is True


# jsonb stores neither NUL nor lone surrogates; integers must fit in 64 bits (see
# test_config_bounds.py).
_TEXT = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
_INT = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@given(
    st.dictionaries(
        st.text(_TEXT, min_size=1, max_size=5),
        st.one_of(_INT, st.text(_TEXT, max_size=5), st.booleans()),
        max_size=6,
    )
)
def test_hash_is_stable_under_key_order(extra: dict[str, object]) -> None:
    config = {"model": "m", "temperature": 1, **{f"x_{k}": v for k, v in extra.items()}}
    reordered = dict(reversed(list(config.items())))
    assert parse_config(config).config_hash == parse_config(reordered).config_hash
