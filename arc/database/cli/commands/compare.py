"""`arc-db compare`: the CI gate. Candidate against baseline, scenario by scenario.

Exit status: 1 when at least one scenario regresses significantly (after Benjamini-Hochberg
correction), 0 otherwise; 2 for bad input (an unknown or invisible version included), 3 for a
database or runtime error. `--json` prints exactly one JSON object with exactly the gate's keys
(Comparison.gate_report).

Before reading, the statistics behind the comparison are brought up to date
(comparison.freshness): outcomes written into days or hours already aggregated (a backfill,
planted history, a late outcome) count at once, not after the next refresh policy or
`arc-db maintain`. That needs the owner's rights on a primary; without them the comparison
reads the statistics as they are and says so on stderr. `--no-refresh` skips the step (and
may then read from ARC_DB_READ_URL's replica); `--refresh` refreshes every aggregate.
"""

import argparse
import asyncio
import json
import sys
import uuid
from datetime import datetime
from typing import Any, Literal

from arc.database.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    database_url,
    engine_run,
    iso_time,
    uuid_arg,
)
from arc.database.core.errors import ArcNotFoundError, ArcValidationError

EXIT_REGRESSION = 1
METRIC_CHOICES = ("reliability_score", "success_rate", "execution_time_ms", "cost_usd")


# Validation and not-found errors are the caller's input: exit status 2.
BAD_INPUT = (ArcValidationError, ArcNotFoundError)


def _bad_input(exc: Exception) -> CliError:
    return CliError(str(exc), "check the ids and options", EXIT_USAGE)


async def _freshen(
    engine: Any,
    args: argparse.Namespace,
    kind: Literal["version", "simulation", "pareto"],
    subject_ids: list[uuid.UUID] | None,
) -> None:
    """Bring what the command reads up to date over its window (comparison.freshness), or
    refresh everything (--refresh), or nothing (--no-refresh). The window is checked first: a
    bad one is the caller's error (status 2), not the database's."""
    from arc.database.analytics.windows import DAY, HOUR
    from arc.database.comparison.comparator import check_window
    from arc.database.comparison.freshness import refresh_statistics
    from arc.database.ops.maintenance import refresh_aggregates

    since, _ = check_window(args.since, args.until, HOUR if kind == "simulation" else DAY)
    if args.no_refresh:
        return

    async def refresh_all(engine: Any, start: datetime | None) -> list[str]:
        return await refresh_aggregates(engine, start=start)

    if getattr(args, "refresh", False):
        await refresh_all(engine, since)
        return
    freshness = await refresh_statistics(
        engine,
        kind=kind,
        subject_ids=subject_ids,
        start=since,
        end=None,
        refresh_aggregates=refresh_all,
    )
    if freshness.note():
        print(f"arc-db: note: {freshness.note()}", file=sys.stderr)


def _run(url: str, args: argparse.Namespace, work: Any) -> Any:
    """`work(engine)`; on ARC_DB_READ_URL's replica only with --no-refresh (a refresh writes)."""
    try:
        return asyncio.run(
            engine_run(url, work, reads=args.no_refresh, pool_size=2, max_overflow=2)
        )
    except BAD_INPUT as exc:
        raise _bad_input(exc) from exc


def cmd_compare(args: argparse.Namespace) -> int:
    from arc.database.comparison import VersionComparator
    from arc.database.comparison.reader import check_tenant
    from arc.database.comparison.render import comparison_text
    from arc.database.core.tenancy import acting_as

    kind: Literal["version", "simulation"] = "simulation" if args.simulations else "version"

    async def compare(bind: Any) -> Any:
        comparator = VersionComparator(bind)
        run = comparator.compare_simulations if args.simulations else comparator.compare_versions
        return await run(
            args.baseline,
            args.candidate,
            metric=args.metric,
            since=args.since,
            until=args.until,
            scenarios=args.scenario or None,
            alpha=args.alpha,
            min_samples=args.min_samples,
        )

    async def work(engine: Any) -> Any:
        await _freshen(engine, args, kind, [args.baseline, args.candidate])
        if args.tenant is None:
            return await compare(engine)
        # As the tenant: row-level security for a tenant login, and the explicit ownership
        # check for a role it does not bind (the owner): another tenant's id is not found.
        async with acting_as(engine, args.tenant) as conn:
            fields = [f"baseline_{kind}_id", f"candidate_{kind}_id"]
            await check_tenant(conn, kind, [args.baseline, args.candidate], fields, args.tenant)
            return await compare(conn)

    if args.limit is not None and args.limit < 1:
        raise CliError("--limit must be at least 1", "check the ids and options", EXIT_USAGE)
    result = _run(database_url(args), args, work)
    if args.json:
        # Exactly one JSON object, with exactly the gate's keys; never NaN or Infinity.
        print(json.dumps(result.gate_report(), allow_nan=False))
    else:
        print(comparison_text(result, limit=args.limit))
    return EXIT_REGRESSION if result.regressed else EXIT_OK


def cmd_pareto(args: argparse.Namespace) -> int:
    from arc.database.comparison import VersionComparator
    from arc.database.comparison.render import pareto_text

    async def work(engine: Any) -> Any:
        await _freshen(engine, args, "pareto", None)
        return await VersionComparator(engine).pareto_frontier(
            since=args.since, until=args.until, config_id=args.config
        )

    points = _run(database_url(args), args, work)
    if args.json:
        print(json.dumps({"versions": [p.as_dict() for p in points]}, allow_nan=False))
    else:
        print(pareto_text(points) if points else "no version has outcomes in the window")
    return EXIT_OK


def cmd_effects(args: argparse.Namespace) -> int:
    from arc.database.comparison import VersionComparator
    from arc.database.comparison.render import effects_text

    async def work(engine: Any) -> Any:
        await _freshen(engine, args, "version", None)
        return await VersionComparator(engine).change_effects(
            metric=args.metric,
            since=args.since,
            until=args.until,
            config_id=args.config,
            user_id=args.user,
            alpha=args.alpha,
        )

    effects = _run(database_url(args), args, work)
    if args.json:
        print(
            json.dumps(
                {"metric": effects.metric, "effects": [e.as_dict() for e in effects.effects]},
                default=str,
                allow_nan=False,
            )
        )
    else:
        print(f"what each change did to {effects.metric} ({len(effects.changes)} changes):")
        print(effects_text(effects))
    return EXIT_OK


def _window(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", type=iso_time, help="start of the window (ISO-8601)")
    parser.add_argument("--until", type=iso_time, help="end of the window (ISO-8601)")


def _no_refresh(parser: Any) -> None:
    parser.add_argument(
        "--no-refresh",
        action="store_true",
        help="read the statistics as they are (no refresh; may read ARC_DB_READ_URL's replica)",
    )


def register(sub: Any) -> None:
    cp = sub.add_parser(
        "compare",
        help="compare two configuration versions scenario by scenario; exit 1 on a regression",
    )
    cp.add_argument("--baseline", type=uuid_arg, required=True, help="baseline version id")
    cp.add_argument("--candidate", type=uuid_arg, required=True, help="candidate version id")
    cp.add_argument("--metric", choices=METRIC_CHOICES, default="reliability_score")
    _window(cp)
    cp.add_argument("--alpha", type=float, default=0.05, help="false discovery rate (0.05)")
    cp.add_argument("--min-samples", type=int, default=5, help="outcomes a side per scenario")
    cp.add_argument("--scenario", action="append", help="compare only these (repeatable)")
    cp.add_argument(
        "--simulations", action="store_true", help="the ids are simulations, not versions"
    )
    cp.add_argument(
        "--tenant",
        type=uuid_arg,
        help="act as this tenant (user id): another tenant's version is not found (status 2)",
    )
    fresh = cp.add_mutually_exclusive_group()
    fresh.add_argument(
        "--refresh",
        action="store_true",
        help="refresh every aggregate over the window first (Apache edition: all fallback views)",
    )
    _no_refresh(fresh)
    cp.add_argument("--limit", type=int, default=None, help="table rows to show")
    cp.add_argument("--json", action="store_true", help="one JSON object")
    cp.set_defaults(func=cmd_compare)

    pp = sub.add_parser("pareto", help="the Pareto frontier of configuration versions")
    _window(pp)
    pp.add_argument("--config", type=uuid_arg, help="only this configuration's versions")
    _no_refresh(pp)
    pp.add_argument("--json", action="store_true")
    pp.set_defaults(func=cmd_pareto)

    ep = sub.add_parser("effects", help="what each kind of configuration change did")
    ep.add_argument("--metric", choices=METRIC_CHOICES, default="reliability_score")
    _window(ep)
    ep.add_argument("--config", type=uuid_arg, help="only this configuration")
    ep.add_argument("--user", type=uuid_arg, help="only this tenant's configurations")
    ep.add_argument("--alpha", type=float, default=0.05)
    _no_refresh(ep)
    ep.add_argument("--json", action="store_true")
    ep.set_defaults(func=cmd_effects)
