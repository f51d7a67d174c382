"""Time windows of the panels: timezone-aware, validated, widened to whole buckets."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from arc.database.core.checks import check_datetime, check_text_list
from arc.database.core.errors import ArcValidationError

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
# time_bucket's default origin for day/week buckets is Monday 2000-01-03 00:00 UTC.
_ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)


def floor_time(value: datetime, width: timedelta) -> datetime:
    """The start of the time_bucket(width) holding `value` (UTC, default origin)."""
    utc = value.astimezone(UTC)
    if width == HOUR:
        return utc.replace(minute=0, second=0, microsecond=0)
    steps = (utc - _ORIGIN) // width
    return _ORIGIN + steps * width


def ceil_time(value: datetime, width: timedelta) -> datetime:
    floor = floor_time(value, width)
    return floor if floor == value.astimezone(UTC) else floor + width


def check_moment(value: Any, name: str) -> datetime:
    """A timezone-aware datetime in the years the pipeline represents (core.checks)."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ArcValidationError(name, "must be a timezone-aware datetime", value=value)
    checked = check_datetime(value, name, required=True)
    assert checked is not None
    return checked


def bucket_window(start: datetime, end: datetime, width: timedelta) -> tuple[datetime, datetime]:
    """[start, end) widened to whole buckets of `width`."""
    start, end = check_moment(start, "start"), check_moment(end, "end")
    if start >= end:
        raise ArcValidationError("start", "must be before end", value=start)
    return floor_time(start, width), ceil_time(end, width)


def check_names(value: Any, field: str, max_length: int) -> Sequence[str] | None:
    """A filter of names (tools, scenarios): a list of strings, not one string."""
    return check_text_list(value, field, max_items=10_000, max_length=max_length)


def check_limit(limit: int, maximum: int = 10_000) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise ArcValidationError("limit", f"must be an integer from 1 to {maximum}", value=limit)
