"""Retries with exponential backoff and jitter, and a circuit breaker.

Only transient failures are retried (connection loss, serialization failure, deadlock, lock
timeout, admin shutdown, too many connections, timeouts: see errors.is_transient), and always
by re-running the whole unit of work (the caller's transaction), never a single statement.
"""

import asyncio
import functools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import structlog

from arc.database.core.errors import (
    ArcCircuitOpenError,
    ArcDatabaseError,
    ArcTransientError,
    is_transient,
    sqlstate_of,
    translate_error,
)

log = structlog.get_logger(__name__)

T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True)
class RetryPolicy:
    """Seed defaults: 3 attempts, 1 s first delay, doubling. Jitter spreads retry storms."""

    max_attempts: int = 3
    initial_delay: float = 1.0
    backoff: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.25  # +-25% of each delay

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        base = min(self.max_delay, self.initial_delay * self.backoff ** (attempt - 1))
        spread = base * self.jitter
        return max(0.0, base + random.uniform(-spread, spread))


class CircuitBreaker:
    """Opens after `failure_threshold` operations in a row failed transiently (retries spent).

    While open, calls fail fast with ArcCircuitOpenError; after `reset_timeout` seconds one
    probe is let through (half-open): success closes the circuit, failure opens it again.
    """

    def __init__(self, failure_threshold: int = 5, reset_timeout: float = 30.0) -> None:
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.consecutive_failures = 0
        self.opened_at: float | None = None
        self.probe_in_flight = False
        self.times_opened = 0

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if time.monotonic() - self.opened_at >= self.reset_timeout:
            return "half_open"
        return "open"

    def before_call(self) -> bool:
        """Raise when the call must fail fast; return True when this call is the probe."""
        state = self.state
        if state == "closed":
            return False
        if state == "half_open" and not self.probe_in_flight:
            self.probe_in_flight = True
            return True
        raise ArcCircuitOpenError(
            "circuit open: the database failed repeatedly; failing fast until the cooldown ends"
        )

    def seconds_until_probe(self) -> float:
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.reset_timeout - (time.monotonic() - self.opened_at))

    def record_success(self, probe: bool = False) -> None:
        if probe or self.opened_at is not None:
            log.info("db.circuit_closed")
        self.consecutive_failures = 0
        self.opened_at = None
        self.probe_in_flight = False

    def record_failure(self, probe: bool = False) -> None:
        self.consecutive_failures += 1
        if probe:
            self.probe_in_flight = False
            self.opened_at = time.monotonic()
            log.warning("db.circuit_reopened")
        elif self.opened_at is None and self.consecutive_failures >= self.failure_threshold:
            self.opened_at = time.monotonic()
            self.times_opened += 1
            log.warning("db.circuit_opened", consecutive_failures=self.consecutive_failures)

    def release_probe(self) -> None:
        """The probe ended without a verdict (cancelled, non-transient error)."""
        self.probe_in_flight = False


RetryObserver = Callable[[int, BaseException], None]


async def run_with_retry(
    operation: Callable[[], Awaitable[T]],
    *,
    name: str,
    policy: RetryPolicy | None = None,
    breaker: CircuitBreaker | None = None,
    on_retry: RetryObserver | None = None,
) -> T:
    """Run `operation` (a whole transaction), retrying transient failures.

    Non-transient database errors are translated to typed Arc errors and never retried;
    exhausting the attempts raises ArcTransientError (with the attempt count).
    """
    policy = policy or RetryPolicy()
    attempt = 0
    while True:
        attempt += 1
        probe = breaker.before_call() if breaker is not None else False
        try:
            result = await operation()
        except ArcDatabaseError:
            if breaker is not None:
                breaker.release_probe()
            raise
        except Exception as exc:
            if not is_transient(exc):
                if breaker is not None:
                    breaker.release_probe()
                raise translate_error(exc, operation=name) from exc
            code = sqlstate_of(exc)
            if attempt >= policy.max_attempts:
                if breaker is not None:
                    breaker.record_failure(probe)
                log.error(
                    "db.retry_exhausted",
                    operation=name,
                    attempts=attempt,
                    sqlstate=code,
                    error=type(exc).__name__,
                )
                raise ArcTransientError(
                    f"{name} failed after {attempt} attempts: {type(exc).__name__}",
                    sqlstate=code,
                    attempts=attempt,
                ) from exc
            if breaker is not None and probe:
                breaker.record_failure(probe)
            delay = policy.delay(attempt)
            log.warning(
                "db.retry",
                operation=name,
                attempt=attempt,
                delay_s=round(delay, 3),
                sqlstate=code,
                error=type(exc).__name__,
            )
            if on_retry is not None:
                on_retry(attempt, exc)
            await asyncio.sleep(delay)
        except BaseException:
            if breaker is not None:
                breaker.release_probe()
            raise
        else:
            if breaker is not None:
                breaker.record_success(probe)
            return result


def with_retry(
    max_attempts: int = 3, delay: float = 1.0, backoff: float = 2.0
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Decorator form (seed 000): the decorated coroutine function is the unit retried."""
    policy = RetryPolicy(max_attempts=max_attempts, initial_delay=delay, backoff=backoff)

    def decorate(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return await run_with_retry(
                lambda: fn(*args, **kwargs), name=fn.__qualname__, policy=policy
            )

        return wrapper

    return decorate
