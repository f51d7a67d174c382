"""`arc-db demo`: create the demo database, simulate evaluations, show them."""

import argparse
import asyncio
from typing import Any

from arc.database.cli.common import EXIT_OK, ProgressBar, database_url


def cmd_demo(args: argparse.Namespace) -> int:
    from arc.database.demo.run import DemoOptions, run_demo

    url = database_url(args)
    given = {
        "seed": args.seed,
        "simulations_per_config": args.simulations,
        "scenarios": args.scenarios,
    }
    options = DemoOptions(**{k: v for k, v in given.items() if v is not None})
    asyncio.run(run_demo(url, options, progress=ProgressBar("demo")))
    return EXIT_OK


def register(sub: Any) -> None:
    dm = sub.add_parser("demo", help="create the demo database, simulate evaluations, show them")
    dm.add_argument("--seed", type=int, default=None, help="random seed (default 7)")
    dm.add_argument("--simulations", type=int, help="simulations per configuration (10)")
    dm.add_argument("--scenarios", type=int, help="scenarios per simulation (60)")
    dm.set_defaults(func=cmd_demo)
