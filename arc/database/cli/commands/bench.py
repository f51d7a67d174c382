"""`arc-db bench`: the benchmarks of a source checkout (python -m bench)."""

import argparse
import os
from typing import Any

from arc.database.cli.common import EXIT_USAGE, CliError


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


def register(sub: Any) -> None:
    bn = sub.add_parser("bench", help="run the benchmarks (python -m bench)")
    bn.add_argument("names", nargs="*", help="benchmark modules (default: all)")
    bn.set_defaults(func=cmd_bench)
