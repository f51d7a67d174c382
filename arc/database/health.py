"""Database health (002 §9C, 001 #8): what is installed, and whether it is working.

Checks, each giving healthy / degraded / unhealthy with reasons:
- extensions: timescaledb, vector and uuid-ossp with versions; the edition and what it allows.
- connection_pool: the engine's pool (size, checked out, overflow) and whether a connection
  can be had within `pool_acquire_timeout`. When none can, the other checks are skipped.
- write_performance: a 100-row outcome batch inserted through SQLAlchemy inside a transaction
  that is rolled back (with the configuration, version, scenario and simulation it needs), so
  nothing is left behind; rows per second against the thresholds.
- hypertables: chunk counts and sizes of outcomes, failure_patterns and tool_usage; on the full
  edition the sizes before and after compression (hypertable_compression_stats) and the ratio.
- jobs: full edition, timescaledb_information.job_stats (last run, failures, consecutive
  failures). Apache edition: there is no job scheduler; the fallback maintenance is reported
  through the aggregates check (age of the last arc_refresh_fallback_aggregates()).
- aggregates: full edition, a real-time continuous aggregate is as fresh as its refresh
  policy keeps it: no policy, a paused policy, a failed last run or no success yet (with rows
  to aggregate) is degraded, and the age of the policy's last success is held against the
  lag thresholds; the watermark (end of the materialised range) is reported. The watermark's
  own age is not a staleness signal: it stops moving when no new rows arrive. Apache
  edition: each fallback view's last refresh, read from the `arc:refreshed_at=...` stamp that
  arc_refresh_fallback_aggregates() writes into the view's COMMENT (no extra table needed),
  against the same thresholds; a view never populated is unhealthy. An aggregate over an
  empty hypertable is healthy.
"""

import asyncio
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from arc.database.models import (
    Configuration,
    ConfigVersion,
    Outcome,
    Scenario,
    Simulation,
)
from arc.database.timescale import TimescaleCapabilities, detect_async

log = structlog.get_logger(__name__)

HEALTHY = "healthy"
DEGRADED = "degraded"
UNHEALTHY = "unhealthy"
_RANK = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}
EXIT_CODES = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}

HYPERTABLES = ("outcomes", "failure_patterns", "tool_usage")
AGGREGATES = ("simulation_performance_hourly", "failure_trends_daily", "tool_performance_daily")
REQUIRED_EXTENSIONS = ("timescaledb", "vector", "uuid-ossp")
_AGGREGATE_SOURCE = {
    "simulation_performance_hourly": "outcomes",
    "failure_trends_daily": "failure_patterns",
    "tool_performance_daily": "tool_usage",
}
_REFRESH_STAMP = "arc:refreshed_at="


def worst(statuses: list[str]) -> str:
    return max(statuses, key=lambda s: _RANK[s], default=HEALTHY)


@dataclass(frozen=True)
class HealthThresholds:
    """When a figure turns a check degraded or unhealthy. All configurable."""

    min_write_rows_per_second: float = 50.0  # seed 002 §9C: below 50 rows/s is degraded
    max_write_batch_ms: float = 10_000.0  # a 100-row batch slower than this is unhealthy
    pool_utilisation_degraded: float = 0.8  # share of pool_size + max_overflow checked out
    pool_acquire_timeout: float = 2.0  # seconds; no connection by then = exhausted
    job_consecutive_failures_unhealthy: int = 3  # a failing job is degraded, 3 in a row worse
    aggregate_lag_degraded: timedelta = timedelta(hours=3)  # policy runs every 30 min
    aggregate_lag_unhealthy: timedelta = timedelta(hours=25)
    check_timeout: float = 15.0  # seconds per check


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str
    reasons: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "reasons": list(self.reasons),
            "details": self.details,
            "duration_ms": round(self.duration_ms, 2),
        }


@dataclass(frozen=True)
class HealthReport:
    status: str
    checked_at: datetime
    edition: str
    checks: tuple[CheckResult, ...]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    @property
    def reasons(self) -> list[str]:
        return [f"{c.name}: {r}" for c in self.checks for r in c.reasons]

    def check(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checked_at": self.checked_at.isoformat(),
            "edition": self.edition,
            "reasons": self.reasons,
            "checks": [c.as_dict() for c in self.checks],
        }


class _Collector:
    """Accumulates one check's status, reasons and details."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.status = HEALTHY
        self.reasons: list[str] = []
        self.details: dict[str, Any] = {}

    def flag(self, status: str, reason: str) -> None:
        self.status = worst([self.status, status])
        self.reasons.append(reason)

    def result(self, started: float) -> CheckResult:
        return CheckResult(
            self.name,
            self.status,
            tuple(self.reasons),
            self.details,
            (time.perf_counter() - started) * 1000,
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


class DatabaseHealthChecker:
    """Runs the checks on an engine. Read-only except the rolled-back write probe."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        thresholds: HealthThresholds | None = None,
        capabilities: TimescaleCapabilities | None = None,
    ) -> None:
        self.engine = engine
        self.thresholds = thresholds or HealthThresholds()
        self._capabilities = capabilities

    async def _caps(self, conn: AsyncConnection) -> TimescaleCapabilities:
        if self._capabilities is None:
            self._capabilities = await detect_async(conn)
        return self._capabilities

    async def _timed(self, name: str, check: Callable[[], Awaitable[CheckResult]]) -> CheckResult:
        started = time.perf_counter()
        try:
            return await asyncio.wait_for(check(), self.thresholds.check_timeout)
        except TimeoutError:
            return CheckResult(
                name,
                UNHEALTHY,
                (f"did not finish within {self.thresholds.check_timeout:g}s",),
                {},
                (time.perf_counter() - started) * 1000,
            )
        except Exception as exc:  # a check must report, never crash the health endpoint
            return CheckResult(
                name,
                UNHEALTHY,
                (f"check failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",),
                {},
                (time.perf_counter() - started) * 1000,
            )

    # ------------------------------------------------------------------ checks
    async def check_extensions(self) -> CheckResult:
        started = time.perf_counter()
        c = _Collector("extensions")
        async with self.engine.connect() as conn:
            caps = await self._caps(conn)
            rows = (
                await conn.execute(
                    text("SELECT extname, extversion FROM pg_extension ORDER BY extname")
                )
            ).all()
        installed = {r.extname: r.extversion for r in rows}
        c.details = {
            "server_version": caps.server_version,
            "extensions": installed,
            "capabilities": caps.as_dict(),
        }
        for ext in REQUIRED_EXTENSIONS:
            if ext not in installed:
                c.flag(UNHEALTHY, f"extension {ext} is not installed (run arc-db migrate upgrade)")
        return c.result(started)

    def pool_stats(self) -> dict[str, Any]:
        pool: Any = self.engine.pool
        stats: dict[str, Any] = {"class": type(pool).__name__}
        for key in ("size", "checkedin", "checkedout", "overflow"):
            method = getattr(pool, key, None)
            if callable(method):
                stats[key] = int(method())
        max_overflow = getattr(pool, "_max_overflow", None)
        if isinstance(max_overflow, int):
            stats["max_overflow"] = max_overflow
            capacity = stats.get("size", 0) + max(max_overflow, 0)
            stats["capacity"] = capacity
            if capacity > 0 and max_overflow >= 0:
                stats["utilisation"] = round(stats.get("checkedout", 0) / capacity, 3)
        return stats

    async def check_connection_pool(self) -> CheckResult:
        started = time.perf_counter()
        c = _Collector("connection_pool")
        stats = self.pool_stats()
        c.details = stats
        utilisation = stats.get("utilisation")
        if utilisation is not None and utilisation >= self.thresholds.pool_utilisation_degraded:
            c.flag(
                DEGRADED,
                f"{stats.get('checkedout')} of {stats.get('capacity')} connections checked out",
            )
        acquire_started = time.perf_counter()
        try:
            async with asyncio.timeout(self.thresholds.pool_acquire_timeout):
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except TimeoutError:
            c.flag(
                UNHEALTHY,
                f"pool exhausted: no connection within {self.thresholds.pool_acquire_timeout:g}s "
                f"({stats.get('checkedout')} checked out, capacity {stats.get('capacity')})",
            )
        else:
            c.details["acquire_ms"] = round((time.perf_counter() - acquire_started) * 1000, 2)
        return c.result(started)

    async def check_write_performance(self, rows: int = 100) -> CheckResult:
        """Insert `rows` outcomes (and their parents) and roll everything back."""
        started = time.perf_counter()
        c = _Collector("write_performance")
        now = datetime.now(UTC)
        config_id, version_id, simulation_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        scenario_id = f"arc_health_probe_{uuid.uuid4().hex[:12]}"
        parsed = {"model": "health-probe", "temperature": 0.0}
        async with self.engine.connect() as conn:
            trans = await conn.begin()
            try:
                await conn.execute(
                    insert(Configuration).values(
                        config_id=config_id, name="arc health probe", user_id=uuid.UUID(int=0)
                    )
                )
                await conn.execute(
                    insert(ConfigVersion).values(
                        version_id=version_id,
                        config_id=config_id,
                        version_number=1,
                        raw_yaml="model: health-probe\ntemperature: 0.0\n",
                        parsed_config=parsed,
                        config_hash=hashlib.sha256(b"arc-health-probe").hexdigest(),
                    )
                )
                await conn.execute(
                    insert(Scenario).values(
                        scenario_id=scenario_id,
                        name="health probe",
                        task_prompt="health probe scenario, never committed",
                    )
                )
                await conn.execute(
                    insert(Simulation).values(
                        simulation_id=simulation_id,
                        config_version_id=version_id,
                        scenario_set=[scenario_id],
                        total_scenarios=1,
                        status="running",
                    )
                )
                batch = [
                    {
                        "outcome_id": uuid.uuid4(),
                        "execution_time": now - timedelta(microseconds=i),
                        "simulation_id": simulation_id,
                        "scenario_id": scenario_id,
                        "status": "success",
                        "reliability_score": 0.9,
                        "execution_time_ms": 1000.0,
                        "tokens_used": 100,
                        "cost_usd": 0.01,
                        "trajectory": {"start_time": now.isoformat(), "status": "success"},
                    }
                    for i in range(rows)
                ]
                t0 = time.perf_counter()
                await conn.execute(insert(Outcome), batch)
                elapsed = time.perf_counter() - t0
            finally:
                await trans.rollback()
        throughput = rows / elapsed if elapsed > 0 else float("inf")
        c.details = {
            "rows": rows,
            "batch_write_ms": round(elapsed * 1000, 2),
            "throughput_per_second": round(throughput, 1),
            "rolled_back": True,
        }
        if elapsed * 1000 > self.thresholds.max_write_batch_ms:
            c.flag(UNHEALTHY, f"a {rows}-row batch took {elapsed * 1000:.0f} ms")
        elif throughput < self.thresholds.min_write_rows_per_second:
            c.flag(
                DEGRADED,
                f"write throughput {throughput:.0f} rows/s is below "
                f"{self.thresholds.min_write_rows_per_second:g}",
            )
        return c.result(started)

    async def check_hypertables(self) -> CheckResult:
        started = time.perf_counter()
        c = _Collector("hypertables")
        async with self.engine.connect() as conn:
            caps = await self._caps(conn)
            present = set(
                (
                    await conn.execute(
                        text(
                            "SELECT hypertable_name FROM timescaledb_information.hypertables "
                            "WHERE hypertable_schema = 'public'"
                        )
                    )
                ).scalars()
            )
            tables: dict[str, Any] = {}
            for name in HYPERTABLES:
                if name not in present:
                    c.flag(UNHEALTHY, f"{name} is not a hypertable")
                    continue
                row = (
                    await conn.execute(
                        text(
                            """
                            SELECT count(*) AS chunks,
                                   count(*) FILTER (WHERE is_compressed) AS compressed_chunks
                            FROM timescaledb_information.chunks
                            WHERE hypertable_schema = 'public' AND hypertable_name = :name
                            """
                        ),
                        {"name": name},
                    )
                ).one()
                size = (
                    await conn.execute(
                        text(
                            "SELECT coalesce(sum(total_bytes), 0) FROM "
                            "hypertable_detailed_size(CAST(:name AS regclass))"
                        ),
                        {"name": name},
                    )
                ).scalar_one()
                info: dict[str, Any] = {
                    "chunks": int(row.chunks),
                    "compressed_chunks": int(row.compressed_chunks),
                    "total_bytes": int(size),
                }
                if caps.compression:
                    stats = (
                        await conn.execute(
                            text(
                                "SELECT before_compression_total_bytes AS before, "
                                "after_compression_total_bytes AS after "
                                "FROM hypertable_compression_stats(CAST(:name AS regclass))"
                            ),
                            {"name": name},
                        )
                    ).first()
                    before = int(stats.before or 0) if stats else 0
                    after = int(stats.after or 0) if stats else 0
                    info["before_compression_bytes"] = before
                    info["after_compression_bytes"] = after
                    if before and after:
                        info["compression_ratio"] = round(before / after, 2)
                        info["space_saved_pct"] = round((1 - after / before) * 100, 1)
                        info["storage_efficiency"] = (
                            "good" if before / after > 2 else "needs_attention"
                        )
                tables[name] = info
        c.details = {"edition": caps.edition, "hypertables": tables}
        return c.result(started)

    async def check_jobs(self) -> CheckResult:
        started = time.perf_counter()
        c = _Collector("jobs")
        async with self.engine.connect() as conn:
            caps = await self._caps(conn)
            if not caps.policies:
                c.details = {
                    "edition": caps.edition,
                    "scheduler": "none: run `arc-db maintain` from cron "
                    "(refresh, retention); see the aggregates check for its last run",
                }
                return c.result(started)
            rows = (
                await conn.execute(
                    text(
                        """
                        SELECT j.job_id, j.proc_name, j.hypertable_name, j.scheduled,
                               s.last_run_status, s.last_run_started_at,
                               s.last_successful_finish, s.total_runs, s.total_failures,
                               s.next_start, st.consecutive_failures
                        FROM timescaledb_information.jobs j
                        LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
                        LEFT JOIN _timescaledb_internal.bgw_job_stat st ON st.job_id = j.job_id
                        ORDER BY j.job_id
                        """
                    )
                )
            ).all()
            errors = {
                r.job_id: r.err_message
                for r in (
                    await conn.execute(
                        text(
                            "SELECT DISTINCT ON (job_id) job_id, err_message "
                            "FROM timescaledb_information.job_errors "
                            "ORDER BY job_id, finish_time DESC NULLS LAST"
                        )
                    )
                ).all()
            }
        jobs = []
        limit = self.thresholds.job_consecutive_failures_unhealthy
        for r in rows:
            failing = r.last_run_status == "Failed"
            consecutive = int(r.consecutive_failures or 0)
            jobs.append(
                {
                    "job_id": r.job_id,
                    "proc_name": r.proc_name,
                    "hypertable": r.hypertable_name,
                    "scheduled": r.scheduled,
                    "last_run_status": r.last_run_status,
                    "last_run_started_at": _jsonable(r.last_run_started_at),
                    "last_successful_finish": _jsonable(r.last_successful_finish),
                    "total_runs": r.total_runs,
                    "total_failures": r.total_failures,
                    "consecutive_failures": consecutive,
                    "last_error": errors.get(r.job_id) if failing else None,
                }
            )
            if failing:
                what = f"job {r.job_id} ({r.proc_name}"
                what += f" on {r.hypertable_name})" if r.hypertable_name else ")"
                status = UNHEALTHY if consecutive >= limit else DEGRADED
                message = errors.get(r.job_id)
                c.flag(
                    status,
                    f"{what} failed its last run ({consecutive} in a row)"
                    + (f": {message}" if message else ""),
                )
        c.details = {"edition": caps.edition, "jobs": jobs}
        return c.result(started)

    async def check_aggregates(self) -> CheckResult:
        started = time.perf_counter()
        c = _Collector("aggregates")
        now = datetime.now(UTC)
        async with self.engine.connect() as conn:
            caps = await self._caps(conn)
            if caps.continuous_aggregates:
                found = await self._cagg_freshness(conn)
            else:
                found = await self._fallback_freshness(conn)
            for name in AGGREGATES:
                info = found.get(name)
                if info is None:
                    c.flag(UNHEALTHY, f"{name} does not exist (run arc-db migrate upgrade)")
                    continue
                source_has_rows = (
                    await conn.execute(
                        text(f"SELECT EXISTS (SELECT 1 FROM {_AGGREGATE_SOURCE[name]})")
                    )
                ).scalar_one()
                info["source_has_rows"] = bool(source_has_rows)
                if caps.continuous_aggregates:
                    self._judge_cagg(c, name, info, now)
                else:
                    self._judge_fallback(c, name, info, now)
        c.details = {
            "edition": caps.edition,
            "kind": "continuous" if caps.continuous_aggregates else "fallback materialized view",
            "aggregates": {
                k: {kk: _jsonable(vv) for kk, vv in v.items()} for k, v in found.items()
            },
        }
        return c.result(started)

    def _judge_lag(self, c: _Collector, name: str, what: str, lag: timedelta) -> None:
        if lag > self.thresholds.aggregate_lag_unhealthy:
            c.flag(UNHEALTHY, f"{name}: {what} {_ago(lag)} ago")
        elif lag > self.thresholds.aggregate_lag_degraded:
            c.flag(DEGRADED, f"{name}: {what} {_ago(lag)} ago")

    def _judge_cagg(self, c: _Collector, name: str, info: dict[str, Any], now: datetime) -> None:
        """A real-time aggregate is as fresh as its refresh policy keeps it."""
        if info.get("policy_job_id") is None:
            if info["source_has_rows"]:
                c.flag(DEGRADED, f"{name} has no refresh policy: it is never refreshed")
            return
        if not info.get("policy_scheduled"):
            c.flag(DEGRADED, f"{name}: refresh policy (job {info['policy_job_id']}) is paused")
            return
        if info.get("policy_last_status") == "Failed":
            c.flag(DEGRADED, f"{name}: refresh policy (job {info['policy_job_id']}) failed")
        last_ok: datetime | None = info.get("policy_last_success")
        if last_ok is None:
            if info["source_has_rows"]:
                c.flag(DEGRADED, f"{name} has never been refreshed")
            return
        info["lag_seconds"] = round((now - last_ok).total_seconds(), 1)
        self._judge_lag(c, name, "last successful refresh", now - last_ok)

    def _judge_fallback(
        self, c: _Collector, name: str, info: dict[str, Any], now: datetime
    ) -> None:
        """A fallback view is as fresh as the last arc_refresh_fallback_aggregates()."""
        if not info["populated"]:
            c.flag(UNHEALTHY, f"{name} has never been refreshed (not populated)")
            return
        if not info["source_has_rows"]:
            return  # nothing to aggregate: fresh by definition
        refreshed: datetime | None = info.get("refreshed_at")
        if refreshed is None:
            c.flag(DEGRADED, f"{name}: time of the last refresh is unknown (no stamp)")
            return
        info["lag_seconds"] = round((now - refreshed).total_seconds(), 1)
        self._judge_lag(c, name, "last refreshed", now - refreshed)

    async def _cagg_freshness(self, conn: AsyncConnection) -> dict[str, dict[str, Any]]:
        """Watermark (end of the materialised range) and the refresh policy's last runs."""
        rows = (
            await conn.execute(
                text(
                    """
                    SELECT marks.view_name, marks.materialized_only,
                           -- the minimum (4714 BC, "never materialised") does not fit Python
                           CASE WHEN marks.w >= TIMESTAMPTZ '1971-01-01' THEN marks.w END
                               AS watermark,
                           j.job_id, j.scheduled, s.last_run_status,
                           CASE WHEN s.last_successful_finish > TIMESTAMPTZ '1971-01-01'
                                THEN s.last_successful_finish END AS last_success
                    FROM (
                        SELECT ca.view_name, ca.materialized_only,
                               _timescaledb_functions.to_timestamp(
                                   _timescaledb_functions.cagg_watermark(h.id)) AS w
                        FROM timescaledb_information.continuous_aggregates ca
                        JOIN _timescaledb_catalog.hypertable h
                          ON h.schema_name = ca.materialization_hypertable_schema
                         AND h.table_name = ca.materialization_hypertable_name
                        WHERE ca.view_schema = 'public'
                    ) marks
                    LEFT JOIN timescaledb_information.jobs j
                      ON j.proc_name = 'policy_refresh_continuous_aggregate'
                     AND j.hypertable_name = marks.view_name
                    LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
                    """
                )
            )
        ).all()
        return {
            r.view_name: {
                "real_time": not r.materialized_only,
                "watermark": r.watermark,
                "policy_job_id": r.job_id,
                "policy_scheduled": r.scheduled,
                "policy_last_status": r.last_run_status,
                "policy_last_success": r.last_success,
            }
            for r in rows
        }

    async def _fallback_freshness(self, conn: AsyncConnection) -> dict[str, dict[str, Any]]:
        rows = (
            await conn.execute(
                text(
                    """
                    SELECT m.matviewname AS name, m.ispopulated,
                           obj_description(format('%I.%I', m.schemaname, m.matviewname)::regclass,
                                           'pg_class') AS comment
                    FROM pg_matviews m
                    WHERE m.schemaname = 'public'
                    """
                )
            )
        ).all()
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            refreshed = _parse_stamp(r.comment)
            out[r.name] = {
                "populated": bool(r.ispopulated),
                "refreshed_at": refreshed,
            }
        return out

    # ------------------------------------------------------------------ all
    async def check_all(self, *, write_probe: bool = True) -> HealthReport:
        checks: list[CheckResult] = []
        pool = await self._timed("connection_pool", self.check_connection_pool)
        checks.append(pool)
        named: list[tuple[str, Callable[[], Awaitable[CheckResult]]]] = [
            ("extensions", self.check_extensions),
            ("hypertables", self.check_hypertables),
            ("jobs", self.check_jobs),
            ("aggregates", self.check_aggregates),
        ]
        if write_probe:
            named.insert(1, ("write_performance", self.check_write_performance))
        blocked = pool.status == UNHEALTHY  # exhausted, or the server cannot be reached
        for name, check in named:
            if blocked:
                checks.append(CheckResult(name, UNHEALTHY, ("skipped: no connection available",)))
            else:
                checks.append(await self._timed(name, check))
        edition = self._capabilities.edition if self._capabilities else "unknown"
        report = HealthReport(
            status=worst([c.status for c in checks]),
            checked_at=datetime.now(UTC),
            edition=edition,
            checks=tuple(checks),
        )
        log.info("health.checked", status=report.status, edition=edition, reasons=report.reasons)
        return report


def _parse_stamp(comment: str | None) -> datetime | None:
    if not comment or _REFRESH_STAMP not in comment:
        return None
    raw = comment.split(_REFRESH_STAMP, 1)[1].strip().split()[0:2]
    try:
        value = datetime.fromisoformat(" ".join(raw))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _ago(lag: timedelta) -> str:
    seconds = int(lag.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}min"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
