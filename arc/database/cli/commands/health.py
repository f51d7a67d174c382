"""`arc-db health`: the health checker; exit 0/1/2 = healthy/degraded/unhealthy."""

import argparse
import asyncio
import json
import os
from datetime import timedelta
from typing import Any

from arc.database.cli.common import database_url, engine_run


def _health_table(report: Any) -> str:
    lines = [f"database health: {report.status.upper()}  (edition: {report.edition})", ""]
    lines.append(f"{'check':<20} {'status':<10} {'ms':>8}  reasons")
    lines.append("-" * 78)
    for c in report.checks:
        reasons = "; ".join(c.reasons) if c.reasons else "-"
        lines.append(f"{c.name:<20} {c.status:<10} {c.duration_ms:>8.1f}  {reasons}")
    details = {c.name: c.details for c in report.checks}
    ext = details.get("extensions", {}).get("extensions", {})
    if ext:
        lines.append("")
        lines.append("extensions: " + ", ".join(f"{k} {v}" for k, v in sorted(ext.items())))
    pool = details.get("connection_pool", {})
    if pool:
        lines.append(
            f"pool: {pool.get('checkedout', '?')} checked out of {pool.get('capacity', '?')}"
            f" (size {pool.get('size', '?')}, overflow {pool.get('overflow', '?')})"
        )
    replica = details.get("replica", {})
    if replica.get("configured"):
        lines.append(
            f"replica: port {replica.get('port')}, standby {replica.get('standby')}, lag "
            f"{replica.get('lag_seconds')} s, {replica.get('replay_bytes')} bytes to replay"
        )
    write = details.get("write_performance", {})
    if write:
        lines.append(
            f"write probe: {write.get('rows')} rows in {write.get('batch_write_ms')} ms "
            f"({write.get('throughput_per_second')} rows/s, rolled back)"
        )
    for name, info in details.get("hypertables", {}).get("hypertables", {}).items():
        extra = ""
        if "compression_ratio" in info:
            extra = f", compression {info['compression_ratio']}x"
        lines.append(
            f"hypertable {name}: {info['chunks']} chunks "
            f"({info['compressed_chunks']} compressed), {info['total_bytes']} bytes{extra}"
        )
    return "\n".join(lines)


def cmd_health(args: argparse.Namespace) -> int:
    from arc.database.ops.health import DatabaseHealthChecker, HealthThresholds

    url = database_url(args)
    thresholds = HealthThresholds(
        aggregate_lag_degraded=timedelta(minutes=args.max_aggregate_lag_minutes),
        aggregate_lag_unhealthy=timedelta(minutes=args.max_aggregate_lag_minutes * 8),
        min_write_rows_per_second=args.min_write_rows_per_second,
    )

    async def work(engine: Any) -> Any:
        async def with_reads(read_engine: Any) -> Any:
            checker = DatabaseHealthChecker(
                engine,
                thresholds=thresholds,
                read_engine=read_engine if os.environ.get("ARC_DB_READ_URL") else None,
            )
            return await checker.check_all(write_probe=not args.no_write_probe)

        return await engine_run(url, with_reads, reads=True, pool_size=1, max_overflow=1)

    report = asyncio.run(engine_run(url, work, pool_size=2, max_overflow=2))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        print(_health_table(report))
    exit_code: int = report.exit_code
    return exit_code


def register(sub: Any) -> None:
    hl = sub.add_parser(
        "health", help="check the database; exit 0/1/2 = healthy/degraded/unhealthy"
    )
    hl.add_argument("--json", action="store_true", help="machine-readable output")
    hl.add_argument("--no-write-probe", action="store_true", help="skip the rolled-back writes")
    hl.add_argument("--max-aggregate-lag-minutes", type=float, default=180.0)
    hl.add_argument("--min-write-rows-per-second", type=float, default=50.0)
    hl.set_defaults(func=cmd_health)
