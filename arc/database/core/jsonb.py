"""JSON for JSONB columns: trajectories carry datetimes, UUIDs and decimals."""

import json
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any


class JsonText(str):
    """JSON already serialised (and checked) by validation; written to jsonb as is."""

    __slots__ = ()


def json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_dumps(value: Any) -> str:
    """JSONB encoder: trajectories carry datetimes and UUIDs, which plain json refuses."""
    return json.dumps(value, default=json_default, separators=(",", ":"))
