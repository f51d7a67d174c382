"""`arc-db maintain`: refresh fallback views, retention, compression (for cron)."""

import argparse
import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from arc.database.cli.common import EXIT_OK, ProgressBar, database_url, engine_run


def cmd_maintain(args: argparse.Namespace) -> int:
    from arc.database.ops.maintenance import run_maintenance

    url = database_url(args)
    since = None
    if args.refresh_days is not None:
        since = datetime.now(UTC) - timedelta(days=args.refresh_days)
    bar = ProgressBar("maintain")

    async def work(engine: Any) -> Any:
        return await run_maintenance(
            engine,
            refresh_since=since,
            compress=not args.no_compress,
            retention=not args.no_retention,
            progress=bar,
        )

    report = asyncio.run(engine_run(url, work, pool_size=2, max_overflow=2))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        print(f"maintenance done on the {report.edition} edition")
        print(f"  refreshed: {', '.join(report.refreshed) or '-'}")
        dropped = ", ".join(f"{k}={v}" for k, v in report.dropped_chunks.items()) or "-"
        print(f"  retention (dropped chunks / audit rows): {dropped}")
        compressed = ", ".join(f"{k}={v}" for k, v in report.compressed_chunks.items()) or "-"
        print(f"  compressed chunks: {compressed}")
        for note in report.skipped:
            print(f"  skipped: {note}")
    return EXIT_OK


def register(sub: Any) -> None:
    mt = sub.add_parser("maintain", help="refresh fallback views, retention, compression (cron)")
    mt.add_argument(
        "--refresh-days",
        type=float,
        default=None,
        help="full edition: also refresh the aggregates over the last N days",
    )
    mt.add_argument("--no-compress", action="store_true")
    mt.add_argument("--no-retention", action="store_true")
    mt.add_argument("--json", action="store_true")
    mt.set_defaults(func=cmd_maintain)
