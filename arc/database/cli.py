"""`arc-db`: operate an arc-eval database (migrate, health, maintain, demo, bench).

The connection comes from `--url` or TIMESCALE_SERVICE_URL. Exit codes: 0 success (health:
healthy), 1 degraded (health), 2 unhealthy (health) or a usage/configuration error, 3 a
database or runtime error. Errors are printed as one line plus a hint, with credentials
redacted; `--debug` shows the traceback.
"""

import argparse
import asyncio
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, TextIO

from arc.database.errors import ArcConfigurationError, ArcDatabaseError
from arc.database.logging import redact_text
from arc.database.settings import DatabaseSettings, redact_url

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_RUNTIME = 3


class CliError(Exception):
    """A failure to report as one line plus a hint."""

    def __init__(self, message: str, hint: str = "", code: int = EXIT_RUNTIME) -> None:
        super().__init__(message)
        self.hint = hint
        self.code = code


# --------------------------------------------------------------------------- progress
class ProgressBar:
    """A dependency-free text bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, label: str, *, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = self.stream.isatty()
        self._last = 0.0

    def __call__(self, done: int, total: int, note: str = "") -> None:
        self.update(done, total, note)

    def update(self, done: int, total: int, note: str = "") -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        share = 0.0 if total <= 0 else min(1.0, done / total)
        filled = int(share * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        text = f"\r{self.label} [{bar}] {share * 100:5.1f}% {note[:40]:<40}"
        self.stream.write(text)
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


# --------------------------------------------------------------------------- helpers
def _url(args: argparse.Namespace) -> str:
    url: str | None = args.url or os.environ.get("TIMESCALE_SERVICE_URL")
    if not url:
        raise CliError(
            "no database URL",
            "pass --url postgresql://user:pass@host:port/db or export TIMESCALE_SERVICE_URL",
            EXIT_USAGE,
        )
    _ = DatabaseSettings(url=url).async_url  # validates the URL early, with a typed error
    return url


def _explain(exc: BaseException, url: str | None) -> CliError:
    """Turn any failure into one redacted line and a hint."""
    if isinstance(exc, CliError):
        return exc
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if url:
        text = text.replace(url, redact_url(url))
    text = redact_text(text)
    where = f" ({redact_url(url)})" if url else ""
    lowered = text.lower()
    if isinstance(exc, ArcConfigurationError):
        return CliError(text, "check --url / TIMESCALE_SERVICE_URL and ARC_DB_* settings", 2)
    if isinstance(exc, OSError | TimeoutError) or "connect" in lowered or "refused" in lowered:
        return CliError(
            f"cannot connect to the database{where}: {text}",
            "is the server running? (`make db` starts the embedded one)",
        )
    if "does not exist" in lowered and "database" in lowered:
        return CliError(
            f"{text}{where}", "create it first, or run `arc-db demo` which creates arc_demo"
        )
    if "password authentication failed" in lowered:
        return CliError(f"authentication failed{where}", "check the user and password in the URL")
    if isinstance(exc, ArcDatabaseError):
        return CliError(text, "see the field and rule named above")
    return CliError(f"{type(exc).__name__}: {text}", "rerun with --debug for the full traceback")


def _fail(err: CliError) -> NoReturn:
    print(f"arc-db: error: {err}", file=sys.stderr)
    if err.hint:
        print(f"hint: {err.hint}", file=sys.stderr)
    raise SystemExit(err.code)


async def _engine_run(url: str, work: Callable[[Any], Any], **engine_kw: Any) -> Any:
    from arc.database.engine import build_engine

    engine = build_engine(url=url, **engine_kw)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- commands
def cmd_migrate(args: argparse.Namespace) -> int:
    from arc.database.maintenance import locked_migration

    url = _url(args)
    result = locked_migration(url, args.action, args.revision)
    print(result)
    return EXIT_OK


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
    from arc.database.health import DatabaseHealthChecker, HealthThresholds

    url = _url(args)
    thresholds = HealthThresholds(
        aggregate_lag_degraded=timedelta(minutes=args.max_aggregate_lag_minutes),
        aggregate_lag_unhealthy=timedelta(minutes=args.max_aggregate_lag_minutes * 8),
        min_write_rows_per_second=args.min_write_rows_per_second,
    )

    async def work(engine: Any) -> Any:
        return await DatabaseHealthChecker(engine, thresholds=thresholds).check_all(
            write_probe=not args.no_write_probe
        )

    report = asyncio.run(_engine_run(url, work, pool_size=2, max_overflow=2))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        print(_health_table(report))
    exit_code: int = report.exit_code
    return exit_code


def cmd_maintain(args: argparse.Namespace) -> int:
    from arc.database.maintenance import run_maintenance

    url = _url(args)
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

    report = asyncio.run(_engine_run(url, work, pool_size=2, max_overflow=2))
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


def cmd_demo(args: argparse.Namespace) -> int:
    from arc.database.demo import DemoOptions, run_demo

    url = _url(args)
    options = DemoOptions(
        seed=args.seed,
        simulations_per_config=args.simulations,
        scenarios=args.scenarios,
    )
    asyncio.run(run_demo(url, options, progress=ProgressBar("demo")))
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    import importlib.util

    if importlib.util.find_spec("bench") is None:
        raise CliError(
            "the benchmarks are not importable here",
            "run `arc-db bench` (or `make bench`) from a source checkout of arc-eval-db",
            EXIT_USAGE,
        )
    module = importlib.import_module("bench.__main__")
    url = (
        args.url
        or os.environ.get("ARC_TEST_DATABASE_URL")
        or os.environ.get("TIMESCALE_SERVICE_URL")
    )
    if url:
        os.environ["ARC_TEST_DATABASE_URL"] = url
    code: int = module.main(list(args.names))
    return code


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arc-db", description="Operate an arc-eval TimescaleDB database."
    )
    parser.add_argument("--url", help="database URL (default: $TIMESCALE_SERVICE_URL)")
    parser.add_argument("--log-level", default="WARNING", help="structlog level (default WARNING)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    mig = sub.add_parser("migrate", help="apply or revert schema migrations (advisory-locked)")
    mig.add_argument("action", choices=("upgrade", "downgrade", "current"))
    mig.add_argument("revision", nargs="?", default=None, help="default: head / -1")
    mig.set_defaults(func=cmd_migrate)

    hl = sub.add_parser(
        "health", help="check the database; exit 0/1/2 = healthy/degraded/unhealthy"
    )
    hl.add_argument("--json", action="store_true", help="machine-readable output")
    hl.add_argument("--no-write-probe", action="store_true", help="skip the rolled-back writes")
    hl.add_argument("--max-aggregate-lag-minutes", type=float, default=180.0)
    hl.add_argument("--min-write-rows-per-second", type=float, default=50.0)
    hl.set_defaults(func=cmd_health)

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

    dm = sub.add_parser("demo", help="create the demo database, simulate evaluations, show them")
    dm.add_argument("--seed", type=int, default=None, help="random seed (default: a new one)")
    dm.add_argument("--simulations", type=int, default=2, help="simulations per configuration")
    dm.add_argument("--scenarios", type=int, default=400, help="scenarios per simulation")
    dm.set_defaults(func=cmd_demo)

    bn = sub.add_parser("bench", help="run the benchmarks (python -m bench)")
    bn.add_argument("names", nargs="*", help="benchmark modules (default: all)")
    bn.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from arc.database.logging import configure_logging

    try:
        configure_logging(args.log_level)
    except ValueError as exc:
        _fail(CliError(str(exc), "use DEBUG, INFO, WARNING or ERROR", EXIT_USAGE))
    url = args.url or os.environ.get("TIMESCALE_SERVICE_URL")
    try:
        code: int = args.func(args)
        return code
    except KeyboardInterrupt:
        _fail(CliError("interrupted", "", 130))
    except SystemExit:
        raise
    except BaseException as exc:
        if args.debug:
            traceback.print_exc()
        err = _explain(exc, url)
        if args.command == "health" and err.code == EXIT_RUNTIME:
            err.code = 2  # a database the checker cannot reach is unhealthy
        _fail(err)


if __name__ == "__main__":
    sys.exit(main())
