"""Classification on SQLSTATE, retries with backoff, the circuit breaker."""

import asyncio
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from arc.database.core.errors import (
    ArcCircuitOpenError,
    ArcIntegrityError,
    ArcTransientError,
    describe_constraint,
    is_transient,
    translate_error,
)
from arc.database.core.retry import CircuitBreaker, RetryPolicy, run_with_retry, with_retry


class FakeDriverError(Exception):
    def __init__(self, sqlstate: str, constraint_name: str | None = None, table: str | None = None):
        super().__init__(f"error {sqlstate}")
        self.sqlstate = sqlstate
        self.constraint_name = constraint_name
        self.table_name = table
        self.column_name = None
        self.detail = None


def dbapi(sqlstate: str, **kw: Any) -> DBAPIError:
    """What SQLAlchemy raises for asyncpg: a plain DBAPIError whose orig's cause has the code."""
    cause = FakeDriverError(sqlstate, **kw)
    orig = Exception("wrapped")
    orig.__cause__ = cause
    return DBAPIError("stmt", {}, orig)


@pytest.mark.parametrize(
    "code", ["40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300", "08006", "08003"]
)
def test_transient_codes(code: str) -> None:
    assert is_transient(dbapi(code))


@pytest.mark.parametrize("code", ["23505", "23503", "23514", "22P02", "22003", "42P01", "28P01"])
def test_permanent_codes(code: str) -> None:
    assert not is_transient(dbapi(code))


def test_connection_loss_without_code_is_transient() -> None:
    assert is_transient(ConnectionResetError())
    assert is_transient(TimeoutError())
    err = DBAPIError("s", {}, Exception("x"), connection_invalidated=True)
    assert is_transient(err)
    assert not is_transient(ValueError("bad"))


def test_constraint_names_map_to_field_and_rule() -> None:
    table, field, rule = describe_constraint("outcomes_reliability_score_range_check")
    assert (table, field) == ("outcomes", "reliability_score")
    assert "BETWEEN 0 AND 1" in (rule or "")
    err = translate_error(
        dbapi(
            "23514",
            constraint_name="1_7_outcomes_reliability_score_range_check",
            table="_hyper_1_7_chunk",
        )
    )
    assert isinstance(err, ArcIntegrityError)
    assert (err.table, err.field, err.sqlstate) == ("outcomes", "reliability_score", "23514")
    assert isinstance(translate_error(dbapi("40P01")), ArcTransientError)


def fast(attempts: int = 3) -> RetryPolicy:
    return RetryPolicy(max_attempts=attempts, initial_delay=0.001, backoff=2.0)


async def test_retries_transient_then_succeeds() -> None:
    calls = 0

    async def op() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise dbapi("40001")
        return "ok"

    retries: list[int] = []
    assert (
        await run_with_retry(op, name="t", policy=fast(), on_retry=lambda a, _e: retries.append(a))
        == "ok"
    )
    assert calls == 3
    assert retries == [1, 2]


async def test_never_retries_integrity_errors() -> None:
    calls = 0

    async def op() -> None:
        nonlocal calls
        calls += 1
        raise dbapi("23505")

    with pytest.raises(ArcIntegrityError):
        await run_with_retry(op, name="t", policy=fast())
    assert calls == 1


async def test_exhaustion_raises_transient_with_attempts() -> None:
    async def op() -> None:
        raise dbapi("57P01")

    with pytest.raises(ArcTransientError) as exc:
        await run_with_retry(op, name="t", policy=fast(4))
    assert exc.value.attempts == 4
    assert exc.value.sqlstate == "57P01"


def test_backoff_grows_with_jitter_bounds() -> None:
    policy = RetryPolicy(initial_delay=1.0, backoff=2.0, jitter=0.25, max_delay=30)
    for attempt, base in ((1, 1.0), (2, 2.0), (3, 4.0)):
        for _ in range(20):
            assert base * 0.75 <= policy.delay(attempt) <= base * 1.25
    assert RetryPolicy(max_delay=5).delay(10) <= 5 * 1.25


async def test_circuit_opens_fails_fast_and_probes() -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=0.05)
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError()

    for _ in range(2):
        with pytest.raises(ArcTransientError):
            await run_with_retry(down, name="t", policy=fast(1), breaker=breaker)
    assert breaker.state == "open"
    with pytest.raises(ArcCircuitOpenError):
        await run_with_retry(down, name="t", policy=fast(1), breaker=breaker)
    assert calls == 2  # failed fast: not called
    await asyncio.sleep(0.06)
    assert breaker.state == "half_open"
    with pytest.raises(ArcTransientError):  # failed probe reopens
        await run_with_retry(down, name="t", policy=fast(1), breaker=breaker)
    assert breaker.state == "open"
    await asyncio.sleep(0.06)

    async def up() -> str:
        return "ok"

    assert await run_with_retry(up, name="t", policy=fast(1), breaker=breaker) == "ok"
    assert breaker.state == "closed"


async def test_with_retry_decorator() -> None:
    calls = 0

    @with_retry(max_attempts=2, delay=0.001)
    async def flaky() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise dbapi("08006")
        return calls

    assert await flaky() == 2


class InterfaceError(Exception):
    """Stands in for asyncpg's InterfaceError, which the classifier recognises by name."""


def test_a_connection_stuck_mid_operation_is_transient_and_unusable() -> None:
    from arc.database.core.errors import is_transient, is_unusable_connection

    stuck = InterfaceError("cannot perform operation: another operation is in progress")
    assert is_transient(stuck)
    assert is_unusable_connection(stuck)
    assert not is_unusable_connection(InterfaceError("invalid input for query argument $1"))
