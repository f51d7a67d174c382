"""Checks of single values at the boundary: each raises ArcValidationError naming the field and
the rule, or returns the normalised value. Row normalisers (ingest.validation) and every other
public entry point build on them."""

import json
import math
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from arc.database.core.errors import ArcValidationError
from arc.database.core.jsonb import JsonText, json_default
from arc.database.models.base import EMBEDDING_DIMENSIONS

SCENARIO_ID_PATTERN = re.compile(r"^[a-z0-9_]+$")
INT32_MAX = 2_147_483_647
REAL_MAX = 3.4028234663852886e38  # largest finite float4; larger values overflow the column


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
    if value is None:
        if required:
            raise invalid(field, "is required", value, index)
        return None
    if not isinstance(value, str):
        raise invalid(field, "must be a string", value, index)
    if "\x00" in value:
        raise invalid(field, "must not contain NUL characters", value, index)
    if not _utf8_ok(value):
        raise invalid(field, "must be valid Unicode (no lone surrogates)", value, index)
    if min_length is not None and len(value) < min_length:
        raise invalid(field, f"must be at least {min_length} characters", value, index)
    if max_length is not None and len(value) > max_length:
        raise invalid(field, f"must be at most {max_length} characters", value, index)
    if pattern is not None and not pattern.match(value):
        raise invalid(field, f"must match {pattern_text or pattern.pattern}", value, index)
    return value


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
    if value is None:
        if required:
            raise invalid(field, "is required", value, index)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            from decimal import Decimal

            if not isinstance(value, Decimal):
                raise TypeError
            value = float(value)
        except TypeError:
            raise invalid(field, "must be a number", value, index) from None
    number = float(value)
    if not math.isfinite(number):
        raise invalid(field, "must be a finite number (not NaN or infinity)", value, index)
    if abs(number) > REAL_MAX:
        raise invalid(field, "is out of range for a 4-byte real", value, index)
    if minimum is not None:
        if exclusive_minimum and number <= minimum:
            raise invalid(field, f"must be greater than {minimum:g}", value, index)
        if number < minimum:
            raise invalid(field, _range_rule(minimum, maximum), value, index)
    if maximum is not None and number > maximum:
        raise invalid(field, _range_rule(minimum, maximum), value, index)
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
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise invalid(field, "must be a UUID", value, index)


def require_uuid(value: Any, field: str, index: int | None = None) -> uuid.UUID:
    """check_uuid for a required value, typed as present."""
    checked = check_uuid(value, field, index, required=True)
    assert checked is not None  # required=True raised otherwise
    return checked


def check_datetime(
    value: Any, field: str, index: int | None = None, *, required: bool = False
) -> datetime | None:
    """Aware datetimes as given; naive ones are taken as UTC (the seeds use utcnow())."""
    if value is None:
        if required:
            raise invalid(field, "is required", value, index)
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise invalid(field, "must be an ISO 8601 timestamp", value, index) from None
    if not isinstance(value, datetime):
        raise invalid(field, "must be a datetime", value, index)
    moment: datetime = value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


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
    except (TypeError, ValueError):
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


def _has_nul(value: Any, depth: int = 0) -> bool:
    if depth > 200:
        return False
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(
            (isinstance(k, str) and "\x00" in k) or _has_nul(v, depth + 1) for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return any(_has_nul(v, depth + 1) for v in value)
    return False


def check_json(
    value: Any,
    field: str,
    index: int | None = None,
    *,
    required: bool = False,
    kind: type | tuple[type, ...] | None = None,
) -> JsonText | None:
    """Serialise once, rejecting what jsonb refuses: NaN/infinity, NUL, lone surrogates."""
    if value is None:
        if required:
            raise invalid(field, "is required", value, index)
        return None
    if isinstance(value, JsonText):
        return value
    if kind is not None and not isinstance(value, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        names = " or ".join(sorted({"object" if k in (dict, Mapping) else "array" for k in kinds}))
        raise invalid(field, f"must be a JSON {names}", type(value).__name__, index)
    try:
        text = json.dumps(
            value,
            default=json_default,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    except ValueError as exc:
        rule = (
            "must not contain circular references"
            if "ircular" in str(exc)
            else "must not contain NaN or infinite numbers"
        )
        raise invalid(field, rule, "<json>", index) from None
    except (TypeError, RecursionError) as exc:
        raise invalid(field, f"must be JSON-serialisable ({exc})", "<json>", index) from None
    # json escapes NUL as \u0000; a literal backslash-u in the data appears as \\u0000.
    if "\\u0000" in text and _has_nul(value):
        raise invalid(field, "must not contain NUL characters", "<json>", index)
    if not _utf8_ok(text):
        raise invalid(field, "must be valid Unicode (no lone surrogates)", "<json>", index)
    return JsonText(text)


def check_text_list(
    value: Any,
    field: str,
    index: int | None = None,
    *,
    max_items: int | None = None,
    max_length: int | None = None,
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


def reject_unknown(data: Mapping[str, Any], allowed: frozenset[str], index: int | None) -> None:
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise invalid(
            str(sorted(unknown)[0]),
            "is not a known field (put extra data in execution_metadata/metadata)",
            sorted(unknown),
            index,
        )


def check_mapping(data: Any, what: str, index: int | None) -> Mapping[str, Any]:
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
