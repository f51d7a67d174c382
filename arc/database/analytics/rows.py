"""Result rows to typed panel results, one rule for every panel.

Each panel's SQL names its columns after the fields of its result dataclass; `from_row` fills
the fields by name and normalises numbers by the annotated type: an `int` or `float` field
treats NULL as 0 (sums over no rows), a `float | None` field keeps NULL (an average over no
rows). Derived fields are passed as keywords.
"""

import dataclasses
import functools
import types
from typing import Any, TypeVar, cast, get_type_hints

T = TypeVar("T")


@functools.cache
def _field_kinds(cls: type) -> dict[str, str]:
    """field name -> 'int', 'float', 'optional_float' or 'other'."""
    kinds: dict[str, str] = {}
    for name, hint in get_type_hints(cls).items():
        if hint is int:
            kinds[name] = "int"
        elif hint is float:
            kinds[name] = "float"
        elif isinstance(hint, types.UnionType) and set(hint.__args__) == {float, type(None)}:
            kinds[name] = "optional_float"
        else:
            kinds[name] = "other"
    return kinds


def _convert(kind: str, value: Any) -> Any:
    if kind == "int":
        return int(value or 0)
    if kind == "float":
        return float(value or 0.0)
    if kind == "optional_float":
        return None if value is None else float(value)
    return value


def from_row(cls: type[T], row: Any, **derived: Any) -> T:
    """An instance of the dataclass `cls` from a result row (and the derived fields)."""
    mapping = row._mapping
    kinds = _field_kinds(cast(type, cls))
    values = {
        f.name: derived[f.name] if f.name in derived else _convert(kinds[f.name], mapping[f.name])
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
    }
    return cls(**values)


def pct(part: int, whole: int) -> float:
    """part / whole in percent, two decimals; 0 when there is no whole."""
    return round(part / whole * 100, 2) if whole else 0.0
