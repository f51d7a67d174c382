"""The recommendation loop, measured: `python -m bench loop [options]`.

K rounds on a simulated agent: evaluate the approved version on N scenarios -> recommend ->
candidate -> canary -> compare -> approve or reject. Prints each round (reliability, cost, what
was suggested and why, what was accepted or rejected) and the improvement over version 1,
measured on fresh runs of v1 and the final version after the rounds (the check; `--no-check`
measures it on the loop's own runs instead, which chose the winner and flatter it).

    python -m bench loop --rounds 5 --scenarios 60 --repeats 10 --inject-harmful 2
    python -m bench loop --surface mypackage.surfaces:Steep --start-config start.yaml
    python -m bench loop --surface mypackage.surfaces:OtherModel --peer-config peer.yaml

`--surface module:attribute` swaps the response surface (any object with the `run(config,
scenario, rng)` method of arc.database.demo.surface, or a class making one; it may name its
own `harmful_change(config)` for the injection), so the engine is checked on surfaces it was
not written against. `--peer-config FILE` (repeatable) adds another configuration of the same
tenant, evaluated once before the loop: evidence the engine may use (its Pareto position).
Targets (issue 9): more than +10% reliability over v1 within 5 rounds, cost per execution at
most +10%, every injected harmful change refused by the canary.
"""

import argparse
import asyncio
import importlib
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import yaml

from arc.database.core.engine import build_engine
from arc.database.demo.loop import START_CONFIG, LoopOptions, run_loop
from arc.database.demo.surface import DefaultSurface, ResponseSurface, make_scenarios
from arc.database.ingest.api import create_arc_api
from arc.database.ops.provision import drop_database, ensure_database, with_database
from arc.database.schema import migrate
from bench.results import figure


def load_surface(spec: str | None) -> ResponseSurface:
    if not spec:
        return DefaultSurface()
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        raise SystemExit(f"--surface wants module:attribute, got {spec!r}")
    found: Any = getattr(importlib.import_module(module_name), attribute)
    return found() if isinstance(found, type) else found  # type: ignore[no-any-return]


def parse(args: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench loop")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scenarios", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=10, help="runs a scenario, each side")
    parser.add_argument("--candidates", type=int, default=3, help="tried per round at most")
    parser.add_argument("--cost-budget", type=float, default=0.10)
    parser.add_argument(
        "--inject-harmful", type=int, default=2, metavar="ROUND", help="0: never (default 2)"
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--surface", help="module:attribute of another response surface")
    parser.add_argument("--start-config", help="YAML file of version 1 (default: START_CONFIG)")
    parser.add_argument(
        "--peer-config",
        action="append",
        default=[],
        metavar="FILE",
        help="YAML file of another configuration of the tenant, evaluated once (repeatable)",
    )
    parser.add_argument(
        "--no-check",
        action="store_true",
        help="measure the improvement on the loop's own runs (no fresh runs at the end)",
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    return parser.parse_args(list(args))


async def run(server_url: str, args: Sequence[str] = ()) -> dict[str, Any]:
    options_in = parse(args)
    options = LoopOptions(
        rounds=options_in.rounds,
        scenarios=options_in.scenarios,
        repeats=options_in.repeats,
        candidates_per_round=options_in.candidates,
        cost_budget=options_in.cost_budget,
        inject_harmful_round=options_in.inject_harmful or None,
        seed=options_in.seed,
        check=not options_in.no_check,
    )
    start = _load_yaml(options_in.start_config) if options_in.start_config else dict(START_CONFIG)
    peers = [_load_yaml(path) for path in options_in.peer_config]
    surface = load_surface(options_in.surface)
    url = with_database(server_url, f"arc_bench_loop_{os.getpid()}")
    await drop_database(url)
    await ensure_database(url)
    await asyncio.to_thread(migrate.upgrade, url)
    engine = build_engine(url=url, pool_size=5, max_overflow=5)
    api = await create_arc_api(url, log_level="WARNING", pool_size=5, max_overflow=5)
    started = time.perf_counter()
    try:
        report = await run_loop(
            engine,
            api,
            surface,
            make_scenarios(options.scenarios),
            options,
            out=sys.stdout,
            start_config=start,
            peers=peers,
        )
    finally:
        await api.db.close()
        await engine.dispose()
        await drop_database(url)
    seconds = time.perf_counter() - started
    attempts = [a for r in report.rounds for a in r.attempts]
    figures = {
        "rounds": options.rounds,
        "scenarios": options.scenarios,
        "repeats": options.repeats,
        "surface": options_in.surface or "default",
        "peers": len(peers),
        "start_reliability": round(report.start_reliability, 4),
        "final_reliability": round(report.final_reliability, 4),
        "check_start": [round(x, 6) for x in report.check_start] if report.check_start else None,
        "check_final": [round(x, 6) for x in report.check_final] if report.check_final else None,
        "improvement": round(report.improvement, 4),
        "improvement_in_loop": round(report.improvement_in_loop, 4),
        "cost_change": round(report.cost_change, 4),
        "final_version": report.final_version,
        "approved": sum(1 for a in attempts if a.decision == "approved"),
        "rejected": sum(1 for a in attempts if a.decision == "rejected"),
        "harmful_injected": 1 if options.inject_harmful_round else 0,
        "harmful_rejected": report.harmful_rejected,
        "seconds": round(seconds, 1),
    }
    targets = {
        "improvement > 10%": report.improvement > 0.10,
        "cost per execution <= +10%": report.cost_change <= 0.10,
        "injected harm refused": report.harmful_rejected >= figures["harmful_injected"],
    }
    print(f"\n{json.dumps(figures)}")
    print("targets: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in targets.items()))
    if options_in.json:
        with open(options_in.json, "w", encoding="utf-8") as handle:
            json.dump({"figures": figures, "targets": targets}, handle, indent=1)
    return {
        "figures": {
            "improvement": figure(report.improvement, "ratio", "higher"),
            "cost_change": figure(report.cost_change, "ratio", "lower"),
            "harmful_rejected": figure(float(report.harmful_rejected), "x", "higher"),
        },
        "loop": figures,
        "targets": targets,
    }


def _load_yaml(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        loaded = yaml.safe_load(handle)
    if not isinstance(loaded, dict):
        raise SystemExit(f"{path}: a configuration is a YAML mapping")
    return loaded
