"""Typed exceptions. Each names the field and the rule, so a caller can act without parsing text."""

import re
import ssl
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


class ArcMissingExtraError(ArcConfigurationError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, extra: str, package: str, feature: str) -> None:
        self.extra = extra
        super().__init__(package, f"is needed for {feature}: pip install 'arc-eval-db[{extra}]'")


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
        index: int | None = None,
    ) -> None:
        self.field = field
        self.rule = rule
        self.constraint = constraint
        self.sqlstate = sqlstate
        self.table = table
        self.index = index
        where = f"[{index}]." if index is not None else ""
        super().__init__(f"{where}{table + '.' if table else ''}{field or '?'}: {rule}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "rule": self.rule,
            "index": self.index,
            "constraint": self.constraint,
            "sqlstate": self.sqlstate,
            "table": self.table,
        }


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


# --- Classification -------------------------------------------------------------------------
# asyncpg errors reach SQLAlchemy as a plain DBAPIError whose `orig` (or its __cause__) carries
# the SQLSTATE; classes are not informative, so every decision below looks at the code.

# Retrying re-runs the whole transaction: safe because ids and times are generated once.
TRANSIENT_SQLSTATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available
        "57P01",  # admin_shutdown (pg_terminate_backend, server stopping)
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (server starting up or shutting down)
        "53300",  # too_many_connections
    }
)
TRANSIENT_SQLSTATE_CLASSES = frozenset({"08"})  # connection exceptions
# Never retried: data (22), integrity (23), syntax/access (42), authorization (28).
PERMANENT_SQLSTATE_CLASSES = frozenset({"22", "23", "42", "28"})


def _exception_chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        nxt = getattr(current, "orig", None)
        if not isinstance(nxt, BaseException) or nxt in seen:
            nxt = current.__cause__ or current.__context__
        current = nxt
    return seen


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error, looking through SQLAlchemy and asyncpg wrappers."""
    for item in _exception_chain(exc):
        code = getattr(item, "sqlstate", None) or getattr(item, "pgcode", None)
        if isinstance(code, str) and len(code) == 5:
            return code
    return None


def _driver_error(exc: BaseException) -> BaseException | None:
    """The innermost exception that carries server fields (constraint_name, table_name)."""
    for item in reversed(_exception_chain(exc)):
        if getattr(item, "sqlstate", None):
            return item
    return None


# asyncpg InterfaceError texts that mean the connection itself is gone or stuck (e.g. a COPY
# cut off by a terminated backend): the transaction must rerun on another connection.
UNUSABLE_CONNECTION = ("closed", "connection", "another operation is in progress")


def is_unusable_connection(exc: BaseException) -> bool:
    """True when the driver connection behind `exc` can never be used again."""
    for item in _exception_chain(exc):
        name = type(item).__name__
        if name == "ConnectionDoesNotExistError":
            return True
        if name == "InterfaceError" and any(m in str(item).lower() for m in UNUSABLE_CONNECTION):
            return True
    return False


def is_transient(exc: BaseException) -> bool:
    """True when re-running the whole transaction may succeed."""
    if isinstance(exc, ArcTransientError):
        return not isinstance(exc, ArcCircuitOpenError)
    if isinstance(exc, ArcDatabaseError):
        return False
    code = sqlstate_of(exc)
    if code is not None:
        if code in TRANSIENT_SQLSTATES or code[:2] in TRANSIENT_SQLSTATE_CLASSES:
            return True
        if code[:2] in PERMANENT_SQLSTATE_CLASSES:
            return False
    if _certificate_refusal(exc) is not None:
        return False  # a wrong CA or host name stays wrong: a configuration error
    if getattr(exc, "connection_invalidated", False):
        return True
    for item in _exception_chain(exc):
        # Connection loss surfaces as OSError/ConnectionError, asyncpg's
        # ConnectionDoesNotExistError / InterfaceError, or timeouts (pool or command).
        if isinstance(item, OSError | TimeoutError):
            return True
        name = type(item).__name__
        if name in (
            "ConnectionDoesNotExistError",
            "TimeoutError",
            "PostgresConnectionError",
            "ConnectionFailureError",
            "CannotConnectNowError",
        ):
            return True
        text = str(item).lower()
        if name == "InterfaceError" and any(marker in text for marker in UNUSABLE_CONNECTION):
            return True
    return False


def _certificate_refusal(exc: BaseException) -> str | None:
    """The verification message when TLS refused the server's certificate (an SSLError is an
    OSError, which would otherwise read as a lost connection and be retried)."""
    for item in _exception_chain(exc):
        if isinstance(item, ssl.SSLCertVerificationError):
            return str(item)
    return None


def _constraint_catalog() -> dict[str, tuple[str, str | None, str | None]]:
    """constraint or index name -> (table, field, rule) for every named constraint and index
    of the models. An index has no rule of its own: the SQLSTATE says what went wrong (a key
    too large to index names the index, not the column)."""
    from sqlalchemy import CheckConstraint, ForeignKeyConstraint, UniqueConstraint

    from arc.database.models import Base

    catalog: dict[str, tuple[str, str | None, str | None]] = {}
    for table in Base.metadata.tables.values():
        columns = sorted((c.name for c in table.columns), key=len, reverse=True)
        for index in table.indexes:
            if isinstance(index.name, str):
                named = [c.name for c in index.columns] or [
                    c
                    for c in columns
                    if any(re.search(rf"\b{c}\b", str(e)) for e in index.expressions)
                ]
                catalog[index.name] = (table.name, ",".join(named) or None, None)
        for constraint in table.constraints:
            name = constraint.name
            if not isinstance(name, str):
                continue
            if isinstance(constraint, CheckConstraint):
                rule_text = str(constraint.sqltext)
                stem = name.removeprefix(f"{table.name}_").removesuffix("_check")
                field = next((c for c in columns if stem.startswith(c)), None)
                if field is None:
                    field = next((c for c in columns if c in rule_text), None)
                catalog[name] = (table.name, field, f"must satisfy {rule_text}")
            elif isinstance(constraint, ForeignKeyConstraint):
                cols = [c.name for c in constraint.columns]
                target = constraint.referred_table.name
                catalog[name] = (
                    table.name,
                    ",".join(cols),
                    f"must reference an existing {target} row",
                )
            elif isinstance(constraint, UniqueConstraint) or constraint is table.primary_key:
                cols = [c.name for c in constraint.columns]
                catalog[name] = (table.name, ",".join(cols), "must be unique")
    return catalog


_CATALOG: dict[str, tuple[str, str | None, str | None]] | None = None


def describe_constraint(name: str) -> tuple[str | None, str | None, str | None]:
    """(table, field, rule) of a constraint name such as outcomes_reliability_score_range_check."""
    global _CATALOG
    if _CATALOG is None:
        _CATALOG = _constraint_catalog()
    found = _CATALOG.get(name)
    if found is None:
        return None, None, None
    return found


_SQLSTATE_RULES = {
    "23502": "must not be null",
    "23503": "must reference an existing row",
    "23505": "must be unique",
    "23514": "violates a check constraint",
    "22P02": "has an invalid text representation",
    "22P05": "contains an unsupported Unicode character (NUL)",
    "22003": "is out of range for its column type",
    "22021": "is not valid UTF-8",
    "22007": "is not a valid date/time",
    "22008": "date/time is out of range",
    "22000": "is invalid data",
    "54000": "is too large to store or index (a program limit of the database)",
}


def translate_error(exc: BaseException, *, operation: str | None = None) -> ArcDatabaseError:
    """Turn a driver/SQLAlchemy error into a typed Arc error naming the field and the rule.

    Transient errors become ArcTransientError; everything else with a SQLSTATE becomes
    ArcIntegrityError. Errors that are already Arc errors are returned unchanged.
    """
    if isinstance(exc, ArcDatabaseError):
        return exc
    refused = _certificate_refusal(exc)
    if refused is not None:
        return ArcConfigurationError(
            "sslrootcert",
            f"does not verify the server's certificate ({refused}); check sslrootcert, "
            "sslmode and the host name",
        )
    code = sqlstate_of(exc)
    if is_transient(exc):
        return ArcTransientError(
            f"{operation or 'database operation'} failed: {type(exc).__name__}", sqlstate=code
        )
    driver = _driver_error(exc)
    constraint = getattr(driver, "constraint_name", None) if driver is not None else None
    table = getattr(driver, "table_name", None) if driver is not None else None
    column = getattr(driver, "column_name", None) if driver is not None else None
    field: str | None = column
    rule = _SQLSTATE_RULES.get(code or "")
    if rule is None:
        message = getattr(driver, "message", None) or str(exc).splitlines()[0]
        rule = str(message)
    if table and table.startswith("_hyper_"):
        table = None  # a TimescaleDB chunk: name the hypertable (from the constraint) instead
    if constraint:
        # Chunk copies of a hypertable's constraints are named "<n>_<m>_<original name>".
        constraint = _CHUNK_PREFIX.sub("", constraint)
        c_table, c_field, c_rule = describe_constraint(constraint)
        table = c_table or table
        field = field or c_field
        rule = c_rule or rule
    detail = getattr(driver, "detail", None) if driver is not None else None
    if code == "23503" and isinstance(detail, str):
        match = _FK_DETAIL.search(detail)
        if match:
            field = field or match.group(1)
            rule = f"{rule} (no {match.group(3)} row has {match.group(1)}={match.group(2)})"
    return ArcIntegrityError(field, rule, constraint=constraint, sqlstate=code, table=table)


_CHUNK_PREFIX = re.compile(r"^\d+_\d+_")
_FK_DETAIL = re.compile(r'Key \((.+?)\)=\((.*?)\) is not present in table "(.+?)"')
