"""Checks of single values at the boundary: each raises ArcValidationError naming the field and
the rule, or returns the normalised value. Row normalisers (ingest.validation) and every other
public entry point build on them.

Bounds are what the rest of the pipeline can represent: times that datetime arithmetic and
the hypertables accept, durations that the INTEGER millisecond columns hold, finite REALs,
text that fits the column's CHECK and its indexes (`text_limits`), JSON that jsonb stores and
that reads back without deep recursion.
"""

import functools
import json
import math
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from asyncpg.pgproto.pgproto import UUID as PgUUID
from sqlalchemy import CheckConstraint, String, Table, UniqueConstraint

from arc.database.core.errors import ArcValidationError
from arc.database.core.jsonb import JsonText, json_default
from arc.database.models.base import EMBEDDING_DIMENSIONS, Base

SCENARIO_ID_PATTERN = re.compile(r"^[a-z0-9_]+$")
INT32_MAX = 2_147_483_647
REAL_MAX = 3.4028234663852886e38  # largest finite float4; larger values overflow the column

# Times: years 1900-9998 leave room for every window widening and duration subtraction
# (datetime stops at 9999-12-31; the hypertables refuse 0001-01-01).
MIN_TIME = datetime(1900, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(9999, 1, 1, tzinfo=UTC)  # exclusive
# A duration in ms: simulations.timeout_ms and execution_time_ms are INTEGER (24.8 days).
MAX_DURATION_MS = INT32_MAX
# A cost in USD of one outcome or tool: the REAL sums of the aggregates never overflow.
MAX_COST_USD = 1_000_000.0
# The longest window a read may ask for (ten years).
MAX_WINDOW = timedelta(days=3660)
# JSON documents (jsonb columns, configurations) nest at most this deep.
MAX_JSON_DEPTH = 64

# Text limits where a model has no CHECK on length(): a btree entry holds at most 2704
# bytes, of which the text keys of one index share BTREE_TEXT_BYTES at 4 bytes a character;
# a tsvector holds at most 1 MiB, at up to 6 bytes per character of text (5.3 measured with
# distinct one-letter words of 4-byte characters); any other text at most FREE_TEXT_CHARS.
BTREE_TEXT_BYTES = 2000
TSVECTOR_TEXT_CHARS = 150_000
FREE_TEXT_CHARS = 1_048_576


# ----------------------------------------------------------------------------- primitives


def invalid(field: str, rule: str, value: Any, index: int | None) -> ArcValidationError:
    shown = value if not isinstance(value, str) or len(value) <= 200 else value[:200] + "..."
    return ArcValidationError(field, rule, value=shown, index=index)


def _utf8_ok(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(
    value: Any,
    field: str,
    index: int | None = None,
    *,
    required: bool = False,
    min_length: int | None = None,
    max_length: int | None = None,
    pattern: re.Pattern[str] | None = None,
    pattern_text: str | None = None,
) -> str | None:
    if (
        type(value) is str
        and pattern is None
        and value.isascii()  # then valid UTF-8
        and (max_length is None or len(value) <= max_length)
        and (min_length is None or len(value) >= min_length)
        and "\x00" not in value
    ):
        return value  # the common case, decided without the rules below
    if value is None:
        if required:
            raise invalid(field, "is required", value, index)
        return None
    if not isinstance(value, str):
        raise invalid(field, "must be a string", value, index)
    if max_length is not None and len(value) > max_length:
        raise invalid(field, f"must be at most {max_length} characters", value, index)
    if "\x00" in value:
        raise invalid(field, "must not contain NUL characters", value, index)
    if not _utf8_ok(value):
        raise invalid(field, "must be valid Unicode (no lone surrogates)", value, index)
    if min_length is not None and len(value) < min_length:
        raise invalid(field, f"must be at least {min_length} characters", value, index)
    if pattern is not None and not pattern.match(value):
        raise invalid(field, f"must match {pattern_text or pattern.pattern}", value, index)
    return value


def _as_float(value: Any) -> float | None:
    """The float of a number (Decimal included); None for anything else or one beyond float."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    try:
        return float(value)
    except (OverflowError, ValueError):  # an int past 1e308, a signalling Decimal NaN
        return math.nan


def check_number(
    value: Any,
    field: str,
    index: int | None = None,
    *,
    required: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
) -> float | None:
    if (
        type(value) is float
        and (minimum is None or (value > minimum if exclusive_minimum else value >= minimum))
        and (maximum is None or value <= maximum)
        and -REAL_MAX <= value <= REAL_MAX  # also false for NaN
    ):
        return value  # the common case, decided without the rules below
    if value is None:
        if required:
            raise invalid(field, "is required", value, index)
        return None
    number = _as_float(value)
    if number is None:
        raise invalid(field, "must be a number", value, index)
    if not math.isfinite(number):
        raise invalid(field, "must be a finite number (not NaN or infinity)", value, index)
    if minimum is not None:
        if exclusive_minimum and number <= minimum:
            raise invalid(field, f"must be greater than {minimum:g}", value, index)
        if number < minimum:
            raise invalid(field, _range_rule(minimum, maximum), value, index)
    if maximum is not None and number > maximum:
        raise invalid(field, _range_rule(minimum, maximum), value, index)
    if abs(number) > REAL_MAX:
        raise invalid(field, "is out of range for a 4-byte real", value, index)
    return number


def _range_rule(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"must be between {minimum:g} and {maximum:g}"
    if minimum is not None:
        return f"must be >= {minimum:g}"
    return f"must be <= {maximum:g}"


def check_int(
    value: Any,
    field: str,
    index: int | None = None,
    *,
    required: bool = False,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    if (
        type(value) is int
        and -INT32_MAX - 1 <= value <= INT32_MAX
        and (minimum is None or value >= minimum)
        and (maximum is None or value <= maximum)
    ):
        return value  # the common case, decided without the rules below
    if value is None:
        if required:
            raise invalid(field, "is required", value, index)
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise invalid(field, "must be an integer", value, index)
    if value > INT32_MAX or value < -INT32_MAX - 1:
        raise invalid(field, "is out of range for a 4-byte integer", value, index)
    if minimum is not None and value < minimum:
        raise invalid(field, _range_rule(minimum, maximum), value, index)
    if maximum is not None and value > maximum:
        raise invalid(field, _range_rule(minimum, maximum), value, index)
    return int(value)


def check_duration_ms(
    value: Any, field: str, index: int | None = None, *, required: bool = False
) -> float | None:
    """A duration in milliseconds: 0 to MAX_DURATION_MS (what the INTEGER ms columns hold)."""
    return check_number(value, field, index, required=required, minimum=0, maximum=MAX_DURATION_MS)


def check_cost(
    value: Any, field: str, index: int | None = None, *, required: bool = False
) -> float | None:
    """A cost in USD: 0 to MAX_COST_USD, so that no REAL sum of costs overflows."""
    return check_number(value, field, index, required=required, minimum=0, maximum=MAX_COST_USD)


def check_choice(
    value: Any,
    field: str,
    choices: Sequence[str],
    index: int | None = None,
    *,
    required: bool = False,
) -> str | None:
    if value is None:
        if required:
            raise invalid(field, "is required", value, index)
        return None
    if not isinstance(value, str) or value not in choices:
        raise invalid(field, f"must be one of {', '.join(choices)}", value, index)
    return value


def check_uuid(
    value: Any, field: str, index: int | None = None, *, required: bool = False
) -> uuid.UUID | None:
    if value is None:
        if required:
            raise invalid(field, "is required", value, index)
        return None
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str) and len(value) <= 64:
        try:
            return _parse_uuid(value)
        except ValueError:
            pass
    raise invalid(field, "must be a UUID", value, index)


@functools.lru_cache(maxsize=4096)
def _parse_uuid(text: str) -> uuid.UUID:
    """uuid.UUID(text), remembered: the same simulation id arrives with every outcome. Made
    asyncpg's C UUID (a uuid.UUID subclass), which hashes and encodes several times faster."""
    parsed: uuid.UUID = PgUUID(uuid.UUID(text).bytes)
    return parsed


def require_uuid(value: Any, field: str, index: int | None = None) -> uuid.UUID:
    """check_uuid for a required value, typed as present."""
    checked = check_uuid(value, field, index, required=True)
    assert checked is not None  # required=True raised otherwise
    return checked


def check_uuid_list(value: Any, field: str, *, max_items: int = 10_000) -> list[uuid.UUID] | None:
    """A list of UUIDs (a filter of a read); None stays None."""
    if value is None:
        return None
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise invalid(field, "must be a list of UUIDs", value, None)
    if len(value) > max_items:
        raise invalid(field, f"must have at most {max_items} items", len(value), None)
    return [require_uuid(v, f"{field}[{i}]") for i, v in enumerate(value)]


def check_datetime(
    value: Any, field: str, index: int | None = None, *, required: bool = False
) -> datetime | None:
    """Aware datetimes as given; naive ones are taken as UTC (the seeds use utcnow()).
    The year must lie in 1900-9998 (MIN_TIME, MAX_TIME)."""
    if value is None:
        if required:
            raise invalid(field, "is required", value, index)
        return None
    if isinstance(value, str):
        if len(value) > 64:
            raise invalid(field, "must be an ISO 8601 timestamp", value, index)
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise invalid(field, "must be an ISO 8601 timestamp", value, index) from None
    if not isinstance(value, datetime):
        raise invalid(field, "must be a datetime", value, index)
    moment: datetime = value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        in_range = MIN_TIME <= moment < MAX_TIME
    except (OverflowError, ValueError):  # a zone offset that takes it past the calendar
        in_range = False
    if not in_range:
        raise invalid(field, "must be between the years 1900 and 9998", value, index)
    return moment


def check_timedelta(value: Any, field: str, *, maximum: timedelta = MAX_WINDOW) -> timedelta:
    """A positive timedelta of at most `maximum` (a read window)."""
    if not isinstance(value, timedelta) or not timedelta(0) < value <= maximum:
        raise invalid(
            field, f"must be a positive timedelta of at most {maximum.days} days", value, None
        )
    return value


def check_bool(value: Any, field: str, index: int | None = None) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise invalid(field, "must be a boolean", value, index)
    return value


def check_embedding(value: Any, field: str, index: int | None = None) -> list[float] | None:
    """A pgvector VECTOR(1536): exactly 1536 finite numbers."""
    if value is None:
        return None
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise invalid(field, f"must be a list of {EMBEDDING_DIMENSIONS} numbers", "<vector>", index)
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError, OverflowError):
        raise invalid(field, "must contain numbers only", "<vector>", index) from None
    if len(numbers) != EMBEDDING_DIMENSIONS:
        raise invalid(
            field, f"must have exactly {EMBEDDING_DIMENSIONS} dimensions", len(numbers), index
        )
    if not all(math.isfinite(n) and abs(n) <= REAL_MAX for n in numbers):
        raise invalid(
            field, "must contain finite numbers only (no NaN or infinity)", "<vector>", index
        )
    return numbers


# ----------------------------------------------------------------------------- JSON


def _step(key: Any) -> str:
    """A mapping key as a step of a path; unprintable or long keys quoted and cut."""
    if isinstance(key, str) and key.isprintable() and len(key) <= 40:
        return f".{key}"
    return f"[{key!r:.40}]"


def _items(value: Any) -> Iterator[tuple[str, Any]]:
    """(path step, child) of a JSON container: keys and values of a mapping, list items."""
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield _step(key), key
            yield _step(key), child
    elif isinstance(value, list | tuple):
        for i, child in enumerate(value):
            yield f"[{i}]", child


def _locate(value: Any, bad: Callable[[Any], bool]) -> str | None:
    """The path (e.g. `.steps[2].cost`) of the first part of `value` that is `bad`, if any.
    Depth-first without recursion; only called once a rule is known to be broken."""
    stack: list[tuple[str, Any]] = [("", value)]
    seen: set[int] = set()  # containers already walked (shared or circular parts)
    while stack:
        path, item = stack.pop()
        if bad(item):
            return path[:200] or "."
        if isinstance(item, Mapping | list | tuple) and id(item) not in seen:
            seen.add(id(item))
            children = list(_items(item))
            stack.extend((path + step, child) for step, child in reversed(children))
    return None


def _nesting_exceeds(value: Any, limit: int) -> bool:
    """True when containers nest more than `limit` levels deep (without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list | tuple):  # what json.dumps has just written
                stack.append((child, depth + 1))
    return False


def _json_rule(
    field: str, rule: str, value: Any, index: int | None, bad: Callable[[Any], bool]
) -> ArcValidationError:
    """The error of a broken JSON rule, naming where in `value` the first `bad` part is."""
    where = _locate(value, bad)
    return invalid(field, f"{rule} (at {where})" if where else rule, "<json>", index)


def _non_finite(item: Any) -> bool:
    return isinstance(item, float) and not math.isfinite(item)


def _has_nul(item: Any) -> bool:
    return isinstance(item, str) and "\x00" in item


def _lone_surrogate(item: Any) -> bool:
    return isinstance(item, str) and not _utf8_ok(item)


def _unsupported(item: Any) -> bool:
    if item is None or isinstance(item, str | int | float | Mapping | list | tuple):
        return False
    try:
        json_default(item)
    except TypeError:
        return True
    return False


def _maybe_non_finite(value: Any) -> bool:
    """True when `value` holds a float that is NaN or infinite, or a Decimal (which
    json_default turns into a float that may be either). Only asked when orjson wrote `null`:
    it writes non-finite floats so, where jsonb and `check_json` must refuse them."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, Decimal):
            return True
    return False


# orjson hands datetimes and dataclasses to json_default (the same text as json.dumps, and
# dataclasses refused as before) instead of writing them its own way.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _fast_dumps(value: Any) -> str | None:
    """The JSON text of `value` by orjson, or None when only the standard path can tell: orjson
    refuses integers beyond 64 bits (jsonb stores them), non-string keys (json.dumps writes
    them as strings), lone surrogates, cycles and deep nesting, and writes NaN and infinity as
    `null` (json.dumps refuses them). None sends the value down the standard path, which
    accepts or refuses it exactly as before."""
    try:
        text = orjson.dumps(value, default=json_default, option=_ORJSON_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError, whatever the cause
        return None
    if "null" in text and _maybe_non_finite(value):
        return None
    return text


def check_json(
    value: Any,
    field: str,
    index: int | None = None,
    *,
    required: bool = False,
    kind: type | tuple[type, ...] | None = None,
) -> JsonText | None:
    """Serialise once, rejecting what jsonb refuses (NaN/infinity, NUL, lone surrogates) and
    nesting deeper than MAX_JSON_DEPTH; the rule names where the offending value is.

    orjson serialises (several times faster); whatever it cannot vouch for goes through
    json.dumps, whose errors are the rules (see `_fast_dumps`)."""
    text = check_json_text(value, field, index, required=required, kind=kind)
    return text if text is None or isinstance(text, JsonText) else JsonText(text)


def check_json_text(
    value: Any,
    field: str,
    index: int | None = None,
    *,
    required: bool = False,
    kind: type | tuple[type, ...] | None = None,
) -> str | None:
    """`check_json` as a plain str, for rows of the batch write path (outcomes, tool usage,
    failure patterns), which takes any text in a jsonb column as JSON. A str is not tracked
    by the garbage collector, a JsonText is: a buffered outcome held three (P25)."""
    if value is None:
        if required:
            raise invalid(field, "is required", value, index)
        return None
    if isinstance(value, JsonText):
        return value  # serialised and checked already
    if kind is not None and not isinstance(value, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        names = " or ".join(sorted({"object" if k in (dict, Mapping) else "array" for k in kinds}))
        raise invalid(field, f"must be a JSON {names}", type(value).__name__, index)
    deep = f"must not nest deeper than {MAX_JSON_DEPTH} levels"
    text = _fast_dumps(value)
    if text is None:
        text = _standard_dumps(value, field, index, deep)
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _nesting_exceeds(
        value, MAX_JSON_DEPTH
    ):
        raise invalid(field, deep, "<json>", index)
    # json writes NUL as \\u0000 (a backslash-u in the data as \\\\u0000); no backslash at all
    # is one memchr.
    if "\\" in text and "\\u0000" in text:
        where = _locate(value, _has_nul)
        if where is not None:
            raise invalid(field, f"must not contain NUL characters (at {where})", "<json>", index)
    if not _utf8_ok(text):
        raise _json_rule(
            field, "must be valid Unicode (no lone surrogates)", value, index, _lone_surrogate
        )
    return text


def _standard_dumps(value: Any, field: str, index: int | None, deep: str) -> str:
    """json.dumps of `value`, its failures turned into the typed rules of check_json."""
    try:
        return json.dumps(
            value,
            default=json_default,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    except RecursionError:
        raise invalid(field, deep, "<json>", index) from None
    except ValueError as exc:
        if "ircular" in str(exc):
            raise invalid(field, "must not contain circular references", "<json>", index) from None
        if "digits" in str(exc):  # int -> str conversion limit
            rule = "must not contain integers of over 4300 digits"
            raise invalid(field, rule, "<json>", index) from None
        raise _json_rule(
            field, "must not contain NaN or infinite numbers", value, index, _non_finite
        ) from None
    except TypeError as exc:
        raise _json_rule(
            field, f"must be JSON-serialisable ({exc})", value, index, _unsupported
        ) from None


# ----------------------------------------------------------------------------- text limits

_LENGTH_CHECK = re.compile(r"(?<![\w])length\((\w+)\)\s*(<=|>=|=)\s*(\d+)")


def _btree_keys(table: Table) -> list[list[str]]:
    """The column names of every btree key of `table`: primary key, unique, plain indexes."""
    keys = [[c.name for c in table.primary_key.columns]]
    keys += [
        [c.name for c in constraint.columns]
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint)
    ]
    keys += [
        [c.name for c in index.columns]
        for index in table.indexes
        if index.dialect_options["postgresql"]["using"] in (None, False, "btree")
    ]
    return keys


def _tsvector_sources(table: Table, names: Iterable[str]) -> list[list[str]]:
    """For each to_tsvector index of `table`, the text columns its expression reads."""
    sources = []
    for index in table.indexes:
        for expression in index.expressions:
            sql = str(expression)
            if "to_tsvector" in sql:
                sources.append([n for n in names if re.search(rf"\b{n}\b", sql)])
    return sources


@functools.cache
def _text_limits(table: Table) -> dict[str, tuple[int, int]]:
    names = [c.name for c in table.columns if isinstance(c.type, String)]
    low = dict.fromkeys(names, 0)
    high = dict.fromkeys(names, FREE_TEXT_CHARS)
    for constraint in table.constraints:
        if isinstance(constraint, CheckConstraint):
            for name, op, number in _LENGTH_CHECK.findall(str(constraint.sqltext)):
                if name in high and op in ("<=", "="):
                    high[name] = min(high[name], int(number))
                if name in low and op in (">=", "="):
                    low[name] = max(low[name], int(number))
    for key in _btree_keys(table):
        texts = [n for n in key if n in high]
        for name in texts:
            high[name] = min(high[name], BTREE_TEXT_BYTES // 4 // len(texts))
    for columns in _tsvector_sources(table, names):
        # Columns bounded below an equal share keep their bound; the others share the rest.
        share = TSVECTOR_TEXT_CHARS // max(1, len(columns))
        small = [n for n in columns if high[n] <= share]
        rest = TSVECTOR_TEXT_CHARS - sum(high[n] for n in small)
        for name in columns:
            if name not in small:
                high[name] = min(high[name], rest // (len(columns) - len(small)))
    return {name: (low[name], high[name]) for name in names}


def text_limits(model: type[Base], column: str) -> tuple[int, int]:
    """(fewest, most) characters the text column `column` of `model` may hold: its CHECK on
    length() if the model has one, capped by what its btree keys and text-search indexes can
    hold (see BTREE_TEXT_BYTES, TSVECTOR_TEXT_CHARS), FREE_TEXT_CHARS otherwise."""
    return _model_text_limits(model)[column]


@functools.cache
def _model_text_limits(model: type[Base]) -> dict[str, tuple[int, int]]:
    table = model.__table__
    assert isinstance(table, Table)
    return _text_limits(table)


def check_column_text(
    value: Any,
    model: type[Base],
    column: str,
    index: int | None = None,
    *,
    field: str | None = None,
    required: bool = False,
    min_length: int = 0,
) -> str | None:
    """check_text with the limits of the model's column (`text_limits`); `min_length` may
    ask for more than the model does."""
    if value is None and not required:
        return None
    low, high = text_limits(model, column)
    return check_text(
        value,
        field or column,
        index,
        required=required,
        min_length=max(low, min_length) or None,
        max_length=high,
    )


def check_text_list(
    value: Any,
    field: str,
    index: int | None = None,
    *,
    max_items: int | None = None,
    max_length: int | None = FREE_TEXT_CHARS,
) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise invalid(field, "must be a list of strings", value, index)
    if max_items is not None and len(value) > max_items:
        raise invalid(field, f"must have at most {max_items} items", len(value), index)
    return [
        check_text(v, f"{field}[{i}]", index, required=True, max_length=max_length) or ""
        for i, v in enumerate(value)
    ]


# ----------------------------------------------------------------------------- rows


def field_name(key: Any) -> str:
    """A key as the field of an error: printable, never empty, at most 100 characters."""
    if isinstance(key, str) and key.isprintable() and 0 < len(key) <= 100:
        return key
    return repr(key)[:100]


def reject_unknown(data: Mapping[Any, Any], allowed: frozenset[str], index: int | None) -> None:
    if allowed.issuperset(data):
        return
    unknown = sorted(field_name(k) for k in data if k not in allowed)
    if unknown:
        raise invalid(
            unknown[0],
            "is not a known field (put extra data in execution_metadata/metadata)",
            unknown[:20],
            index,
        )


def check_mapping(data: Any, what: str, index: int | None) -> Mapping[str, Any]:
    if type(data) is dict:
        return data  # the common case, without the ABC check
    if not isinstance(data, Mapping):
        raise invalid(what, "must be a dict", type(data).__name__, index)
    return data


def check_scenario_id(value: Any, field: str = "scenario_id", index: int | None = None) -> str:
    text = check_text(
        value,
        field,
        index,
        required=True,
        max_length=100,
        pattern=SCENARIO_ID_PATTERN,
        pattern_text="^[a-z0-9_]+$",
    )
    assert text is not None
    return text


def now_utc() -> datetime:
    return datetime.now(UTC)
