"""Run every benchmark: `make bench` or `python -m bench [ingest|dashboard ...]`.

Each benchmark module exposes `async def run(server_url: str, args: Sequence[str]) -> None`
and creates its own scratch database on the server, so the figures never mix with other data.
Options after a single benchmark's name go to it: `python -m bench loop --rounds 3`.
Every run writes its figures to a JSON result (bench/results.py); `python -m bench compare
OLD.json NEW.json` compares two results and flags regressions beyond the measured noise.
"""

import asyncio
import importlib
import os
import subprocess
import sys
from datetime import UTC, datetime

from bench import results

MODULES = ("ingest", "dashboard", "compare", "loop", "export", "otel", "migration")


def _server_url() -> str:
    url = os.environ.get("ARC_TEST_DATABASE_URL")
    if url:
        return url
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(
        ["bash", os.path.join(root, "scripts", "localdb.sh"), "start"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def main(argv: list[str]) -> int:
    if results.is_compare_call(argv):
        return results.main_compare(argv[1:])
    split = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    names, options = argv[:split] or list(MODULES), argv[split:]
    if options and len(names) != 1:
        print("options go to a single benchmark: python -m bench NAME [options]")
        return 2
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(MODULES)}")
        return 2
    url = _server_url()
    result = results.new_result(datetime.now(UTC), asyncio.run(results.server_versions(url)))
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"\n=== bench.{name} ===", flush=True)
        results.add(result, name, asyncio.run(module.run(url, options)))
    print(f"\nresults written to {results.write(result, os.environ.get('ARC_BENCH_JSON'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
