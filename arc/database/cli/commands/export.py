"""`arc-db export`: outcomes, tool usage, failure patterns or a comparison, streamed as CSV, JSONL
or Parquet to a file (replaced only when the export succeeds) or to standard output.

Exit status: 0 done; 2 bad input (an unknown kind or format, since >= until, a malformed id, an
output that cannot be written, a version of another tenant) or a missing extra; 3 a database or
runtime error (the output failing mid-way included). A progress bar is drawn on stderr when it
is a terminal; a one-line summary goes to stderr at the end, so stdout holds only the rows.
"""

import argparse
import asyncio
import sys
from typing import Any

from arc.database.cli.common import (
    EXIT_OK,
    EXIT_RUNTIME,
    EXIT_USAGE,
    CliError,
    ProgressBar,
    database_url,
    engine_run,
)
from arc.database.core.errors import ArcNotFoundError, ArcValidationError

KIND_CHOICES = ("outcomes", "tool_usage", "failures", "comparison")
FORMAT_CHOICES = ("csv", "jsonl", "parquet")
METRIC_CHOICES = ("reliability_score", "success_rate", "execution_time_ms", "cost_usd")


def cmd_export(args: argparse.Namespace) -> int:
    from arc.database.export import ExportOutputError, export_rows

    url = database_url(args)
    to_stdout = args.output == "-"
    if to_stdout and args.format == "parquet" and sys.stdout.isatty():
        raise CliError(
            "Parquet is binary: not writing it to a terminal", "pass -o FILE", EXIT_USAGE
        )
    output: Any = sys.stdout.buffer if to_stdout else args.output
    bar = ProgressBar(f"export {args.kind}")

    def progress(done: int, total: int) -> None:
        bar(done, total, f"{done:,} of {total:,} rows")

    async def work(engine: Any) -> Any:
        return await export_rows(
            engine,
            args.kind,
            args.format,
            output,
            since=args.since,
            until=args.until,
            simulation_id=args.simulation,
            config_version_id=args.config_version,
            tenant=args.tenant,
            baseline=args.baseline,
            candidate=args.candidate,
            metric=args.metric,
            batch_rows=args.batch_rows,
            progress=progress if bar.enabled else None,
        )

    try:
        result = asyncio.run(engine_run(url, work, reads=True, pool_size=1, max_overflow=1))
    except (ArcValidationError, ArcNotFoundError) as exc:
        raise CliError(
            str(exc), "check the options and ids (arc-db export --help)", EXIT_USAGE
        ) from exc
    except ExportOutputError as exc:
        raise CliError(
            str(exc), "check the free space and permissions of the output", EXIT_RUNTIME
        ) from exc
    print(
        f"exported {result.rows:,} {result.kind} rows as {result.format} to "
        f"{'standard output' if to_stdout else result.output} "
        f"({result.bytes:,} bytes, {result.seconds:.1f} s, as {result.role})",
        file=sys.stderr,
    )
    return EXIT_OK


def register(sub: Any) -> None:
    ep = sub.add_parser(
        "export",
        help="stream outcomes, tool usage, failures or a comparison as CSV, JSONL or Parquet",
        description="Rows are streamed in constant memory; with --tenant only that tenant's "
        "rows, read under row-level security. See docs/export.md.",
    )
    ep.add_argument("kind", choices=KIND_CHOICES, help="what to export")
    ep.add_argument("--format", choices=FORMAT_CHOICES, default="csv", help="(default csv)")
    ep.add_argument("-o", "--output", default="-", help="a file, or - for stdout (default)")
    ep.add_argument("--since", help="execution_time >= this (ISO-8601; naive is UTC)")
    ep.add_argument("--until", help="execution_time < this (ISO-8601; naive is UTC)")
    ep.add_argument("--simulation", help="only this simulation's rows (UUID)")
    ep.add_argument("--config-version", help="only this configuration version's rows (UUID)")
    ep.add_argument("--tenant", help="only this tenant's rows (configurations.user_id, UUID)")
    ep.add_argument("--baseline", help="comparison: the baseline version (UUID)")
    ep.add_argument("--candidate", help="comparison: the candidate version (UUID)")
    ep.add_argument(
        "--metric", choices=METRIC_CHOICES, help="comparison: the metric (reliability_score)"
    )
    ep.add_argument(
        "--batch-rows", type=int, default=1000, help="rows a cursor fetch brings (1000)"
    )
    ep.set_defaults(func=cmd_export)
