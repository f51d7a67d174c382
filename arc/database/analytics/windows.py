"""Time windows of the panels: timezone-aware, validated, widened to whole buckets."""

from datetime import UTC, datetime, timedelta

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


def bucket_window(start: datetime, end: datetime, width: timedelta) -> tuple[datetime, datetime]:
    """[start, end) widened to whole buckets of `width`."""
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ArcValidationError(name, "must be a timezone-aware datetime", value=value)
    if start >= end:
        raise ArcValidationError("start", "must be before end", value=start)
    return floor_time(start, width), ceil_time(end, width)


def check_limit(limit: int, maximum: int = 10_000) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise ArcValidationError("limit", f"must be an integer from 1 to {maximum}", value=limit)
