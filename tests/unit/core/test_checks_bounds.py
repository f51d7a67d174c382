"""The single-value checks refuse what the pipeline cannot represent, with the field and the
rule, and never raise anything else (OverflowError, RecursionError, TypeError...)."""

import math
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arc.database.core.checks import (
    BTREE_TEXT_BYTES,
    FREE_TEXT_CHARS,
    MAX_JSON_DEPTH,
    MAX_WINDOW,
    TSVECTOR_TEXT_CHARS,
    check_datetime,
    check_embedding,
    check_int,
    check_json,
    check_number,
    check_timedelta,
    check_uuid,
    check_uuid_list,
    reject_unknown,
    text_limits,
)
from arc.database.core.errors import ArcValidationError
from arc.database.models import (
    ConfigVersion,
    FailurePattern,
    Outcome,
    Scenario,
    Simulation,
    ToolUsage,
)


def short_id(value: Any) -> str | None:
    """Test ids that do not print 5000-digit integers (str() refuses them)."""
    return f"int of {value.bit_length()} bits" if isinstance(value, int) else None


def rule_of(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ArcValidationError) as info:
        fn(*args, **kwargs)
    return info.value.field, info.value.rule


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (10**400, "must be a finite number (not NaN or infinity)"),
        (-(10**5000), "must be a finite number (not NaN or infinity)"),
        (Decimal("sNaN"), "must be a finite number (not NaN or infinity)"),
        (Decimal("1e400"), "must be a finite number (not NaN or infinity)"),
        (math.nan, "must be a finite number (not NaN or infinity)"),
        (1e39, "is out of range for a 4-byte real"),
        ("5", "must be a number"),
        (True, "must be a number"),
        ([1], "must be a number"),
    ],
    ids=short_id,
)
def test_numbers_beyond_float_are_refused_not_raised(value: Any, rule: str) -> None:
    assert rule_of(check_number, value, "n") == ("n", rule)


@pytest.mark.parametrize(
    "value", [2**31, -(2**31) - 1, 10**5000, 1e300, math.inf, "7", 1.5], ids=short_id
)
def test_integers_fit_the_int4_columns(value: Any) -> None:
    assert rule_of(check_int, value, "i")[0] == "i"


@pytest.mark.parametrize(
    "value",
    [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1899, 12, 31, 23, 59, tzinfo=UTC),
        datetime(9999, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59),
        "0001-01-01T00:00:00",
        "9998-12-31T23:00:00-05:00",  # 9999 in UTC
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),  # before year 1 in UTC
    ],
)
def test_times_outside_1900_to_9998_are_refused(value: Any) -> None:
    assert rule_of(check_datetime, value, "t") == ("t", "must be between the years 1900 and 9998")


def test_times_inside_the_range_are_kept_and_naive_ones_are_utc() -> None:
    assert check_datetime(datetime(1900, 1, 1), "t") == datetime(1900, 1, 1, tzinfo=UTC)
    late = datetime(9998, 12, 31, 23, 59, tzinfo=UTC)
    assert check_datetime(late.isoformat(), "t") == late
    assert rule_of(check_datetime, "x" * 10_000, "t")[1] == "must be an ISO 8601 timestamp"


@pytest.mark.parametrize("value", [timedelta(0), -MAX_WINDOW, MAX_WINDOW * 2, "1 day", 3600])
def test_windows_are_positive_and_bounded(value: Any) -> None:
    assert rule_of(check_timedelta, value, "w")[0] == "w"
    assert check_timedelta(MAX_WINDOW, "w") == MAX_WINDOW


def test_uuids_and_uuid_lists() -> None:
    assert rule_of(check_uuid, "x" * 100_000, "id")[1] == "must be a UUID"
    assert rule_of(check_uuid, 5, "id")[1] == "must be a UUID"
    assert rule_of(check_uuid_list, "abc", "ids")[1] == "must be a list of UUIDs"
    assert rule_of(check_uuid_list, [str(uuid.uuid4()), "x"], "ids")[0] == "ids[1]"
    one = uuid.uuid4()
    assert check_uuid_list([str(one)], "ids") == [one]


def test_embedding_numbers_beyond_float_are_refused() -> None:
    assert rule_of(check_embedding, [10**400] * 1536, "e")[1] == "must contain numbers only"


def _nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 300, 100_000])
def test_json_nests_at_most_max_depth(depth: int) -> None:
    accepted = "[" * MAX_JSON_DEPTH + "1" + "]" * MAX_JSON_DEPTH
    assert check_json(_nested(MAX_JSON_DEPTH), "j") == accepted
    assert rule_of(check_json, _nested(depth), "j") == (
        "j",
        f"must not nest deeper than {MAX_JSON_DEPTH} levels",
    )


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (
            {"a": [{"b": 1}, {"c": math.nan}]},
            "must not contain NaN or infinite numbers (at .a[1].c)",
        ),
        ({"a": {"b\x00": 1}}, "must not contain NUL characters (at .a['b\\x00'])"),
        ({"a": ["x", "y\x00"]}, "must not contain NUL characters (at .a[1])"),
        ({"a": "\udcff"}, "must be valid Unicode (no lone surrogates) (at .a)"),
        (
            {"a": {"b": b"raw"}},
            "must be JSON-serialisable (bytes is not JSON serialisable) (at .a.b)",
        ),
        ({"a": 10**5000}, "must not contain integers of over 4300 digits"),
    ],
    ids=short_id,
)
def test_json_rules_name_where_the_value_is(value: Any, rule: str) -> None:
    assert rule_of(check_json, value, "j") == ("j", rule)


def test_json_with_a_cycle_and_nan_does_not_hang() -> None:
    looped: dict[str, Any] = {"n": math.nan}
    looped["self"] = looped
    started = time.perf_counter()
    assert rule_of(check_json, looped, "j")[0] == "j"
    assert time.perf_counter() - started < 1


def test_unknown_fields_of_mixed_key_types_are_named() -> None:
    assert rule_of(reject_unknown, {1: "a", "b": 2, (1, 2): 3}, frozenset({"b"}), None)[0] in {
        "1",
        "(1, 2)",
    }


def test_text_limits_come_from_the_models() -> None:
    # CHECK constraints on length()
    assert text_limits(ToolUsage, "tool_name") == (0, 100)
    assert text_limits(FailurePattern, "error_message") == (0, 10_000)
    assert text_limits(Scenario, "name") == (3, 200)
    assert text_limits(ConfigVersion, "config_hash") == (64, 64)
    # btree keys without a CHECK: the index entry (2704 bytes) bounds them
    assert text_limits(Outcome, "modal_call_id") == (0, BTREE_TEXT_BYTES // 4)
    assert text_limits(Simulation, "modal_app_id") == (0, BTREE_TEXT_BYTES // 4)
    # to_tsvector(name || task_prompt): the prompt gets what the name leaves of the budget
    assert text_limits(Scenario, "task_prompt") == (10, TSVECTOR_TEXT_CHARS - 200)
    # no CHECK, no index
    assert text_limits(Outcome, "sandbox_logs") == (0, FREE_TEXT_CHARS)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.decimals(),
        st.text(st.characters(codec=None)),
        st.datetimes(timezones=st.none() | st.timezones()),
        st.timedeltas(),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
    )
)
def test_every_check_refuses_typed_or_accepts(value: Any) -> None:
    checks = (
        lambda: check_number(value, "f", minimum=0, maximum=1),
        lambda: check_int(value, "f", minimum=0),
        lambda: check_datetime(value, "f"),
        lambda: check_uuid(value, "f"),
        lambda: check_timedelta(value, "f"),
        lambda: check_json(value, "f"),
        lambda: check_embedding(value, "f"),
    )
    for check in checks:
        error: ArcValidationError | None = None
        try:
            check()
        except ArcValidationError as exc:
            error = exc
        if error is not None:
            assert error.field == "f"
            assert error.rule
