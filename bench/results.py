"""Benchmarks that remember: one JSON result per run, and the comparison of two results.

A run of `python -m bench` (or `make bench`) writes `bench/results/<UTC time>.json` (or the
path in ARC_BENCH_JSON) holding the machine (CPU, cores, memory, OS), the versions (Python,
PostgreSQL, TimescaleDB and its license, pgvector, the checkout's commit) and every figure of
every benchmark that ran. A figure is

    {"value": 0.71, "unit": "ratio", "better": "higher", "noise": 0.05}

where `noise` is the spread measured in the same run (two measurements of the same reference,
two halves of the repeats), never a guess; `better` says which direction is an improvement.

`python -m bench compare OLD.json NEW.json` lists the figures present in both and flags a
regression when a figure moved in its worse direction by more than the larger of the two
noises, with a floor (FLOORS: 5 % of the old value for ratios and rates, which drift that
much between runs on these machines even when the code is the same, and 1 ms for latencies).
It exits 1 when anything regressed, so it can gate a pipeline.
"""

import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

Better = Literal["higher", "lower"]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# unit -> (relative floor, absolute floor) under which a change is never called a regression
FLOORS: dict[str, tuple[float, float]] = {
    "ratio": (0.05, 0.0),
    "rows/s": (0.05, 0.0),
    "ms": (0.05, 1.0),
    "s": (0.05, 0.5),
    "%": (0.0, 0.5),
    "x": (0.05, 0.0),
}


def figure(value: float, unit: str, better: Better, noise: float = 0.0) -> dict[str, Any]:
    """One figure as stored in a result file (noise: absolute, same unit as the value)."""
    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower', not {better!r}")
    if not math.isfinite(value) or not math.isfinite(noise) or noise < 0:
        raise ValueError(f"a figure needs a finite value and noise >= 0, got {value}, {noise}")
    return {"value": value, "unit": unit, "better": better, "noise": noise}


def is_figure(node: Any) -> bool:
    return (
        isinstance(node, Mapping)
        and {"value", "unit", "better"} <= set(node)
        and isinstance(node["value"], int | float)
    )


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every figure of a (nested) result, by its dotted path; other values are left out."""
    found: dict[str, dict[str, Any]] = {}
    for key, node in tree.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if is_figure(node):
            found[path] = dict(node)
        elif isinstance(node, Mapping):
            found.update(flatten(node, path))
    return found


def half_noise(samples: Sequence[float], stat: Any) -> float:
    """The noise of `stat` over `samples`: how far it moves between the two halves of them."""
    if len(samples) < 4:
        return 0.0
    mid = len(samples) // 2
    return float(abs(stat(samples[:mid]) - stat(samples[mid:])))


@dataclass(frozen=True)
class Change:
    path: str
    old: float
    new: float
    unit: str
    better: Better
    threshold: float

    @property
    def delta(self) -> float:
        return self.new - self.old

    @property
    def worse_by(self) -> float:
        """How far the figure moved in its worse direction (negative: it improved)."""
        return -self.delta if self.better == "higher" else self.delta

    @property
    def verdict(self) -> str:
        if self.worse_by > self.threshold:
            return "REGRESSION"
        if -self.worse_by > self.threshold:
            return "improved"
        return "same"


def threshold(old: Mapping[str, Any], new: Mapping[str, Any]) -> float:
    """The change a figure must exceed to count: the larger measured noise, or the floor."""
    relative, absolute = FLOORS.get(str(old["unit"]), (0.05, 0.0))
    floor = max(absolute, relative * abs(float(old["value"])))
    return max(float(old.get("noise", 0.0)), float(new.get("noise", 0.0)), floor)


def compare(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """The figures present in both results, with their verdicts (file order of the new one)."""
    before, after = flatten(old.get("figures", old)), flatten(new.get("figures", new))
    changes = []
    for path, fig in after.items():
        was = before.get(path)
        if was is None or was["unit"] != fig["unit"] or was["better"] != fig["better"]:
            continue
        changes.append(
            Change(
                path,
                float(was["value"]),
                float(fig["value"]),
                str(fig["unit"]),
                fig["better"],
                threshold(was, fig),
            )
        )
    return changes


def render(changes: Sequence[Change], old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    lines = [
        f"old: {_describe(old)}",
        f"new: {_describe(new)}",
        "",
        f"{'figure':<64} {'old':>11} {'new':>11} {'change':>9} {'noise':>9}  verdict",
    ]
    for c in changes:
        lines.append(
            f"{c.path:<64} {c.old:>11.4g} {c.new:>11.4g} {c.delta:>+9.3g} {c.threshold:>9.3g}"
            f"  {c.verdict}"
        )
    regressions = [c for c in changes if c.verdict == "REGRESSION"]
    lines.append("")
    lines.append(
        f"{len(changes)} figures compared, {len(regressions)} regressed beyond the noise, "
        f"{sum(c.verdict == 'improved' for c in changes)} improved"
    )
    if old.get("machine") != new.get("machine"):
        lines.append("note: the two results come from different machines")
    return "\n".join(lines)


def _describe(result: Mapping[str, Any]) -> str:
    machine = result.get("machine", {})
    versions = result.get("versions", {})
    return (
        f"{result.get('started_at', '?')} on {machine.get('cpu', '?')} "
        f"({machine.get('cores', '?')} cores), commit {str(versions.get('commit', '?'))[:12]}"
    )


def main_compare(argv: Sequence[str]) -> int:
    """`python -m bench compare OLD.json NEW.json`: 1 when a figure regressed, else 0."""
    if len(argv) != 2:
        print("usage: python -m bench compare OLD.json NEW.json")
        return 2
    old, new = (json.loads(Path(p).read_text()) for p in argv)
    changes = compare(old, new)
    print(render(changes, old, new))
    return 1 if any(c.verdict == "REGRESSION" for c in changes) else 0


def is_compare_call(argv: Sequence[str]) -> bool:
    """`compare A.json B.json` compares results; `compare [options]` runs the benchmark."""
    return len(argv) == 3 and argv[0] == "compare" and all(a.endswith(".json") for a in argv[1:])


# ---------------------------------------------------------------------------- the result file
def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": sys.version.split()[0],
    }


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


async def server_versions(url: str) -> dict[str, Any]:
    """PostgreSQL, TimescaleDB (with its license) and pgvector of the server at `url`."""
    import asyncpg

    from arc.database.core.settings import to_asyncpg_url
    from arc.database.ops.provision import with_database

    u, ssl = to_asyncpg_url(with_database(url, "postgres"))
    conn = await asyncpg.connect(
        user=u.username, password=u.password, host=u.host, port=u.port, database=u.database,
        ssl=ssl,
    )  # fmt: skip
    try:
        available = {
            r["name"]: r["default_version"]
            for r in await conn.fetch(
                "SELECT name, default_version FROM pg_available_extensions "
                "WHERE name IN ('timescaledb', 'vector')"
            )
        }
        return {
            "postgresql": await conn.fetchval("SHOW server_version"),
            "timescaledb": available.get("timescaledb"),
            "timescaledb_license": await conn.fetchval(
                "SELECT current_setting('timescaledb.license', true)"
            ),
            "pgvector": available.get("vector"),
        }
    finally:
        await conn.close()


def new_result(started_at: datetime, versions: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "started_at": started_at.isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": {**versions, "commit": _commit()},
        "figures": {},
        "details": {},
    }


def write(result: Mapping[str, Any], path: str | None = None) -> Path:
    if path:
        target = Path(path)
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = RESULTS_DIR / f"{stamp}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2, sort_keys=False, default=str) + "\n")
    return target


def add(result: dict[str, Any], name: str, returned: Any) -> None:
    """A benchmark's return value into the result: its `figures` (figure nodes, nested) under
    the benchmark's name, everything else under `details`."""
    if not isinstance(returned, Mapping):
        result["details"][name] = returned
        return
    result["figures"][name] = returned.get("figures", {})
    result["details"][name] = {k: v for k, v in returned.items() if k != "figures"}
    if isinstance(returned.get("edition"), str):  # the license as the benchmark's database saw it
        result["versions"].setdefault("edition", returned["edition"])
