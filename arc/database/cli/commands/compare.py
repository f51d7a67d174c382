"""`arc-db compare`: the CI gate. Candidate against baseline, scenario by scenario.

Exit status: 1 when at least one scenario regresses significantly (after Benjamini-Hochberg
correction), 0 otherwise; 2 for bad input (an unknown or invisible version included), 3 for a
database or runtime error. `--json` prints exactly one JSON object.
"""

import argparse
import asyncio
import json
from typing import Any

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


def cmd_compare(args: argparse.Namespace) -> int:
    from arc.database.comparison import VersionComparator
    from arc.database.comparison.render import comparison_text
    from arc.database.ops.maintenance import refresh_aggregates

    url = database_url(args)

    async def work(engine: Any) -> Any:
        if args.refresh:
            await refresh_aggregates(engine, start=args.since)
        comparator = VersionComparator(engine)
        compare = (
            comparator.compare_simulations if args.simulations else comparator.compare_versions
        )
        return await compare(
            args.baseline,
            args.candidate,
            metric=args.metric,
            since=args.since,
            until=args.until,
            scenarios=args.scenario or None,
            alpha=args.alpha,
            min_samples=args.min_samples,
        )

    try:
        result = asyncio.run(
            engine_run(url, work, reads=not args.refresh, pool_size=2, max_overflow=2)
        )
    except BAD_INPUT as exc:
        raise _bad_input(exc) from exc
    if args.json:
        print(json.dumps(result.as_dict(), default=str))
    else:
        print(comparison_text(result, limit=args.limit))
    return EXIT_REGRESSION if result.regressed else EXIT_OK


def cmd_pareto(args: argparse.Namespace) -> int:
    from arc.database.comparison import VersionComparator
    from arc.database.comparison.render import pareto_text

    url = database_url(args)

    async def work(engine: Any) -> Any:
        return await VersionComparator(engine).pareto_frontier(
            since=args.since, until=args.until, config_id=args.config
        )

    try:
        points = asyncio.run(engine_run(url, work, reads=True, pool_size=2, max_overflow=2))
    except BAD_INPUT as exc:
        raise _bad_input(exc) from exc
    if args.json:
        print(json.dumps({"versions": [p.as_dict() for p in points]}, default=str))
    else:
        print(pareto_text(points) if points else "no version has outcomes in the window")
    return EXIT_OK


def cmd_effects(args: argparse.Namespace) -> int:
    from arc.database.comparison import VersionComparator
    from arc.database.comparison.render import effects_text

    url = database_url(args)

    async def work(engine: Any) -> Any:
        return await VersionComparator(engine).change_effects(
            metric=args.metric,
            since=args.since,
            until=args.until,
            config_id=args.config,
            user_id=args.user,
            alpha=args.alpha,
        )

    try:
        effects = asyncio.run(engine_run(url, work, reads=True, pool_size=2, max_overflow=2))
    except BAD_INPUT as exc:
        raise _bad_input(exc) from exc
    if args.json:
        print(
            json.dumps(
                {"metric": effects.metric, "effects": [e.as_dict() for e in effects.effects]},
                default=str,
            )
        )
    else:
        print(f"what each change did to {effects.metric} ({len(effects.changes)} changes):")
        print(effects_text(effects))
    return EXIT_OK


def _window(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", type=iso_time, help="start of the window (ISO-8601)")
    parser.add_argument("--until", type=iso_time, help="end of the window (ISO-8601)")


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
        "--refresh", action="store_true", help="refresh the aggregates first (after a backfill)"
    )
    cp.add_argument("--limit", type=int, default=None, help="table rows to show")
    cp.add_argument("--json", action="store_true", help="one JSON object")
    cp.set_defaults(func=cmd_compare)

    pp = sub.add_parser("pareto", help="the Pareto frontier of configuration versions")
    _window(pp)
    pp.add_argument("--config", type=uuid_arg, help="only this configuration's versions")
    pp.add_argument("--json", action="store_true")
    pp.set_defaults(func=cmd_pareto)

    ep = sub.add_parser("effects", help="what each kind of configuration change did")
    ep.add_argument("--metric", choices=METRIC_CHOICES, default="reliability_score")
    _window(ep)
    ep.add_argument("--config", type=uuid_arg, help="only this configuration")
    ep.add_argument("--user", type=uuid_arg, help="only this tenant's configurations")
    ep.add_argument("--alpha", type=float, default=0.05)
    ep.add_argument("--json", action="store_true")
    ep.set_defaults(func=cmd_effects)
