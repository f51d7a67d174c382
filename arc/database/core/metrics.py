"""In-process metrics of the client: operation outcomes, query times, retries, rows, pool.

Exporting them (Prometheus) is another module's job; this one only counts.
"""

import time
from collections import deque
from collections.abc import Generator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine


class MetricsSnapshot(dict[str, Any]):
    """A plain dict that can also be awaited.

    Seed 000 reads `client.get_metrics()` synchronously, seed 003 awaits it; both work.
    """

    def __await__(self) -> Generator[Any, None, "MetricsSnapshot"]:
        if False:  # pragma: no cover - makes this a generator without suspending
            yield None
        return self


def pool_stats(engine: AsyncEngine | None) -> dict[str, Any]:
    """Checked-out / overflow / size of the engine's QueuePool (zeros when unavailable)."""
    if engine is None:
        return {"size": 0, "checked_out": 0, "checked_in": 0, "overflow": 0, "max_connections": 0}
    pool: Any = engine.pool
    stats: dict[str, Any] = {"pool_class": type(pool).__name__}
    for key, method in (
        ("size", "size"),
        ("checked_out", "checkedout"),
        ("checked_in", "checkedin"),
        ("overflow", "overflow"),
    ):
        fn = getattr(pool, method, None)
        stats[key] = int(fn()) if callable(fn) else 0
    # QueuePool counts overflow from -size; report connections opened beyond `size`.
    stats["overflow"] = max(0, stats["overflow"])
    max_overflow = int(getattr(pool, "_max_overflow", 0) or 0)
    stats["max_overflow"] = max_overflow
    stats["max_connections"] = stats["size"] + max(max_overflow, 0)
    return stats


class ClientMetrics:
    """Counters and a window of recent query durations (for average and p95)."""

    def __init__(self, window: int = 2000) -> None:
        self.started = time.monotonic()
        self.operations = 0
        self.succeeded = 0
        self.failed = 0
        self.retries = 0
        self.rows_inserted = 0
        self.rows_duplicate = 0
        self.rows_rejected = 0
        self.durations_ms: deque[float] = deque(maxlen=window)
        self.failures_by_type: dict[str, int] = {}
        self.peak_checked_out = 0

    def record(self, duration_ms: float, ok: bool, error: BaseException | None = None) -> None:
        self.operations += 1
        self.durations_ms.append(duration_ms)
        if ok:
            self.succeeded += 1
        else:
            self.failed += 1
            name = type(error).__name__ if error is not None else "unknown"
            self.failures_by_type[name] = self.failures_by_type.get(name, 0) + 1

    def record_retry(self) -> None:
        self.retries += 1

    def record_rows(self, inserted: int, duplicate: int = 0, rejected: int = 0) -> None:
        self.rows_inserted += inserted
        self.rows_duplicate += duplicate
        self.rows_rejected += rejected

    def observe_pool(self, engine: AsyncEngine | None) -> None:
        checked_out = pool_stats(engine)["checked_out"]
        self.peak_checked_out = max(self.peak_checked_out, checked_out)

    def snapshot(self, engine: AsyncEngine | None = None) -> MetricsSnapshot:
        durations = sorted(self.durations_ms)
        avg = sum(durations) / len(durations) if durations else 0.0
        p95 = durations[min(len(durations) - 1, int(0.95 * len(durations)))] if durations else 0.0
        # None before the first operation: nothing has succeeded yet (the seed claimed 100%).
        success_rate = 100.0 * self.succeeded / self.operations if self.operations else None
        pool = pool_stats(engine)
        self.peak_checked_out = max(self.peak_checked_out, pool["checked_out"])
        pool["peak_checked_out"] = self.peak_checked_out
        return MetricsSnapshot(
            success_rate=success_rate,
            total_operations=self.operations,
            successful_operations=self.succeeded,
            failed_operations=self.failed,
            failures_by_type=dict(self.failures_by_type),
            retries=self.retries,
            avg_query_time=avg,
            p95_query_time=p95,
            rows_inserted=self.rows_inserted,
            rows_duplicate=self.rows_duplicate,
            rows_rejected=self.rows_rejected,
            uptime_s=time.monotonic() - self.started,
            pool_stats=pool,
        )
