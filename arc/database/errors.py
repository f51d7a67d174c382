"""Typed exceptions. Each names the field and the rule, so a caller can act without parsing text."""

from typing import Any


class ArcDatabaseError(Exception):
    """Base of every error this package raises on purpose."""


# Seed 003 catches `DatabaseError`.
DatabaseError = ArcDatabaseError


class ArcConfigurationError(ArcDatabaseError):
    """A setting is missing or malformed."""

    def __init__(self, setting: str, rule: str) -> None:
        self.setting = setting
        self.rule = rule
        super().__init__(f"{setting} {rule}")


class ArcValidationError(ArcDatabaseError, ValueError):
    """Input broke a rule; raised before anything is written."""

    def __init__(self, field: str, rule: str, *, value: Any = None, index: int | None = None):
        self.field = field
        self.rule = rule
        self.value = value
        self.index = index
        where = f"[{index}]." if index is not None else ""
        super().__init__(f"{where}{field}: {rule}")

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "rule": self.rule, "index": self.index}


class ArcIntegrityError(ArcDatabaseError):
    """The database refused a row (constraint, foreign key, bad data). Never retried."""

    def __init__(
        self,
        field: str | None,
        rule: str,
        *,
        constraint: str | None = None,
        sqlstate: str | None = None,
        table: str | None = None,
    ) -> None:
        self.field = field
        self.rule = rule
        self.constraint = constraint
        self.sqlstate = sqlstate
        self.table = table
        super().__init__(f"{table + '.' if table else ''}{field or '?'}: {rule}")


class ArcTransientError(ArcDatabaseError):
    """The database was unreachable or busy; the operation may succeed if tried again."""

    def __init__(self, rule: str, *, sqlstate: str | None = None, attempts: int = 0) -> None:
        self.rule = rule
        self.sqlstate = sqlstate
        self.attempts = attempts
        super().__init__(f"{rule} (sqlstate={sqlstate}, attempts={attempts})")


class ArcCircuitOpenError(ArcTransientError):
    """Too many transient failures in a row; calls fail fast until the cooldown ends."""


class ArcNotFoundError(ArcDatabaseError, LookupError):
    """A referenced row does not exist (or is not visible to this tenant)."""

    def __init__(self, entity: str, key: Any) -> None:
        self.entity = entity
        self.key = key
        super().__init__(f"{entity} {key} not found")
