"""check_json serialises with orjson where it can vouch for the result and with json.dumps
where it cannot: the stored document and every refusal are the same either way."""

import dataclasses
import datetime as dt
import enum
import json
import math
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arc.database.core.checks import (
    _fast_dumps,
    _standard_dumps,
    check_int,
    check_json,
    check_number,
    check_text,
    check_uuid,
)
from arc.database.core.errors import ArcValidationError
from arc.database.core.jsonb import json_default


def standard(value: Any) -> str:
    return json.dumps(
        value, default=json_default, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def refusal(value: Any) -> tuple[str, str]:
    with pytest.raises(ArcValidationError) as exc:
        check_json(value, "j", 3)
    assert exc.value.index == 3
    return exc.value.field, exc.value.rule


def test_a_plain_trajectory_takes_the_fast_path_and_stores_the_same_document() -> None:
    when = dt.datetime(2025, 1, 2, 3, 4, 5, 678, tzinfo=dt.UTC)
    value = {
        "start_time": when,
        "status": "success",
        "id": uuid.UUID(int=7),
        "steps": [{"tool": "geocode", "ok": True, "ms": 12.5, "n": 2**63}],
        "tags": ("a", "b"),
        "text": "Zürich ☀ \u2028 \x7f",
        "cost": Decimal("0.25"),
        "elapsed": dt.timedelta(seconds=1.5),
        "day": dt.date(2025, 1, 2),
    }
    fast = _fast_dumps(value)
    assert fast is not None
    assert json.loads(fast) == json.loads(standard(value))
    assert json.loads(check_json(value, "j") or "") == json.loads(standard(value))
    # A null in the document: the fast path still holds when no float there is NaN/infinite
    # (a Decimal could become one: that document takes the standard path).
    assert _fast_dumps({**value, "cost": 0.25, "err": None}) is not None
    assert _fast_dumps({**value, "err": None}) is None


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ({"s": [1.0, {"x": math.nan}]}, "must not contain NaN or infinite numbers (at .s[1].x)"),
        ({"s": None, "x": -math.inf}, "must not contain NaN or infinite numbers (at .x)"),
        ({"s": math.inf}, "must not contain NaN or infinite numbers (at .s)"),
        ({"d": Decimal("NaN")}, "must not contain NaN or infinite numbers"),
        ({"d": Decimal("1e400")}, "must not contain NaN or infinite numbers"),
        ({"d": {math.nan}}, "must not contain NaN or infinite numbers"),
        ({"a": "\udcff"}, "must be valid Unicode (no lone surrogates) (at .a)"),
        (
            {"a": {"b": b"raw"}},
            "must be JSON-serialisable (bytes is not JSON serialisable) (at .a.b)",
        ),
        ({"t": dt.time(1, 2)}, "must be JSON-serialisable (time is not JSON serialisable) (at .t)"),
        ({"a": 10**5000}, "must not contain integers of over 4300 digits"),
        ({"a": "x\x00"}, "must not contain NUL characters (at .a)"),
    ],
)
def test_what_orjson_would_write_or_refuse_differently_keeps_the_typed_rule(
    value: Any, rule: str
) -> None:
    assert refusal(value) == ("j", rule)


def test_nan_is_refused_although_orjson_writes_it_as_null() -> None:
    value = {"score": math.nan, "note": None}
    assert b"null" in __import__("orjson").dumps(value)  # what orjson alone would store
    assert refusal(value)[1].startswith("must not contain NaN")


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 10**30, -(10**40)])
def test_integers_beyond_64_bits_are_stored_as_json_dumps_writes_them(number: int) -> None:
    value = {"big": number, "list": [number]}
    assert _fast_dumps(value) is None  # orjson refuses them
    assert check_json(value, "j") == standard(value)


def test_non_string_keys_are_written_as_json_dumps_writes_them() -> None:
    value = {1: "a", 2.5: "b", False: "c", None: "d", "e": {3: 4}}
    assert _fast_dumps(value) is None
    assert check_json(value, "j") == standard(value)
    assert refusal({(1, 2): "tuple key"})[1].startswith("must be JSON-serialisable")


def test_dataclasses_are_refused_as_before() -> None:
    @dataclasses.dataclass
    class Step:
        name: str

    assert refusal({"step": Step("x")})[1].startswith("must be JSON-serialisable")


def test_a_plain_enum_is_stored_as_its_value() -> None:
    """The one difference from json.dumps, which refuses it: orjson writes its value."""

    class Colour(enum.Enum):
        RED = "red"

    assert json.loads(check_json({"c": Colour.RED}, "j") or "") == {"c": "red"}


def test_cycles_and_deep_nesting_are_refused_as_before() -> None:
    looped: dict[str, Any] = {}
    looped["self"] = looped
    assert refusal(looped) == ("j", "must not contain circular references")
    deep: Any = 1
    for _ in range(300):
        deep = [deep]
    assert refusal(deep) == ("j", "must not nest deeper than 64 levels")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.decimals()
    | st.text(st.characters(codec=None), max_size=8)
    | st.datetimes(timezones=st.none() | st.timezones())
    | st.uuids(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=4) | st.integers(), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_fast_path_accepts_and_refuses_exactly_what_the_standard_path_does(value: Any) -> None:
    try:
        expected: str | None = _standard_dumps(value, "j", None, "deep")
    except ArcValidationError:
        expected = None
    fast = _fast_dumps(value)
    if fast is not None:  # orjson vouched for it: the standard path stores the same document
        assert expected is not None
        assert json.loads(fast) == json.loads(expected)
    error: ArcValidationError | None = None
    try:
        checked: str | None = check_json(value, "j")
    except ArcValidationError as exc:
        error, checked = exc, None
    assert error is None or error.field == "j"
    if expected is None:
        assert checked is None
    elif checked is not None:  # NUL, surrogates, depth are refused after serialising
        assert json.loads(checked) == json.loads(expected)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.floats(), st.integers(), st.booleans(), st.text(max_size=5), st.none()))
def test_number_text_and_int_fast_paths_agree_with_the_rules(value: Any) -> None:
    """The fast paths return early only for values the full rules accept, with the value
    the full rules return (a number as a float, an integer or a text unchanged)."""
    number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0
    for check, expected in (
        (lambda: check_number(value, "f", minimum=0, maximum=1), number),
        (lambda: check_number(value, "f", minimum=0, exclusive_minimum=True), number),
        (lambda: check_int(value, "f", minimum=0, maximum=100), value),
        (lambda: check_text(value, "f", min_length=2, max_length=4), value),
    ):
        error: ArcValidationError | None = None
        try:
            result = check()
        except ArcValidationError as exc:
            error, result = exc, None
        assert error.field == "f" if error is not None else result in (None, expected)


def test_uuid_strings_parse_through_the_cache() -> None:
    text = str(uuid.uuid4())
    assert check_uuid(text, "id") == uuid.UUID(text)
    assert check_uuid(text.upper(), "id") == uuid.UUID(text)
    with pytest.raises(ArcValidationError):
        check_uuid(text[:-1] + "z", "id")
    with pytest.raises(ArcValidationError):
        check_uuid(text[:-1] + "z", "id")  # a refusal is not remembered as a value
