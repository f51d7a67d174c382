"""The index budget, measured: what each index of outcomes, tool_usage and failure_patterns
costs a binary COPY, in the same run (`python -m bench ingest --index-budget`).

For each of the three hypertables it builds, in a scratch database migrated to head, a twin
hypertable with the same columns, CHECK constraints, foreign keys and chunk interval but only the
primary key, and COPYs the same pre-encoded rows (asyncpg `copy_records_to_table`, batches of
1,000, one transaction each) into it under several index sets:

- `pk only`: the reference of every ratio;
- `seed`: every index the seeds asked for (migration 0002's set, what 0010 drops included);
- `budget`: the indexes migration 0010 keeps;
- `pk + <index>`: the reference plus that one index, for every seed index and for the cheaper
  candidates considered in its place (`CANDIDATES`).

Variants run interleaved, ARC_BENCH_INDEX_ROUNDS rounds (default 3), each from an empty table
(TRUNCATE, CHECKPOINT), and the best rate of the rounds is reported (on a shared machine the
best is the run least disturbed by others; `spread` is (best - worst) / best) with its ratio to
`pk only` and the microseconds each index adds to a row.

Rows: ARC_BENCH_INDEX_ROWS outcomes (default 50,000) of the ingest benchmark's trajectory
model (about 1.4 KB), as many tool-usage rows, and one failure pattern per failed outcome
(20 %), with realistic error texts. Embedding columns are NULL, as a first
delivery leaves them (they are filled later by the backfill), so the partial HNSW indexes cost
nothing at COPY time: their cost is paid by the embedding writes (docs/decisions.md).
"""

import importlib.util
import json
import random
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg

from bench.ingest import BATCH, COPY_COLUMNS, _connect, _rows
from bench.results import figure

REVISION_0010 = (
    Path(__file__).resolve().parent.parent
    / "arc/database/schema/migrations/versions/0010_index_budget.py"
)
TABLES = ("outcomes", "tool_usage", "failure_patterns")
# Cheaper equivalents considered, measured beside the seed indexes (not created by 0010).
CANDIDATES: dict[str, dict[str, str]] = {
    "outcomes": {
        "cand_trajectory_path_ops": (
            "CREATE INDEX {name} ON {table} USING gin (trajectory jsonb_path_ops)"
        ),
        "cand_time_brin": (
            "CREATE INDEX {name} ON {table} USING brin (execution_time) WITH (pages_per_range = 32)"
        ),
    },
}
TOOL_COLUMNS = [
    "usage_id", "execution_time", "outcome_id", "tool_name", "call_count", "avg_duration_ms",
    "success_rate", "total_cost_usd",
]  # fmt: skip
FAILURE_COLUMNS = [
    "pattern_id", "execution_time", "outcome_id", "failure_type", "failure_category",
    "error_message",
]  # fmt: skip
ERRORS = (
    "Timeout after {n}s waiting for weather_api response",
    "weather_api returned HTTP 503: upstream unavailable (attempt {n})",
    "Model output could not be parsed as JSON: unexpected token at position {n}",
    "Sandbox {n} was terminated: out of memory while running the tool",
    "geocode failed: no result for city_{n}",
)
TOOLS = ("weather_api", "geocode", "search", "calendar", "flight_search", "hotel_search")


def _revision_0010() -> ModuleType | None:
    if not REVISION_0010.exists():
        return None
    spec = importlib.util.spec_from_file_location("arc_revision_0010", REVISION_0010)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Variant:
    table: str
    label: str
    indexes: dict[str, str]  # name -> CREATE INDEX with {name} and {table} placeholders
    rates: list[float]

    @property
    def rate(self) -> float:
        return max(self.rates)


def _template(indexdef: str, table: str) -> str:
    """pg_indexes.indexdef with the index and table names as placeholders."""
    found = re.match(
        r"CREATE (UNIQUE )?INDEX (\S+) ON (?:ONLY )?(?:public\.)?(\S+) (.*)$", indexdef
    )
    if found is None or found.group(3) != table:
        raise ValueError(f"unexpected index definition: {indexdef}")
    return f"CREATE {found.group(1) or ''}INDEX {{name}} ON {{table}} {found.group(4)}"


async def _index_sets(
    conn: asyncpg.Connection, table: str, revision: ModuleType | None
) -> tuple[dict[str, str], dict[str, str]]:
    """(seed set, budget set) of `table`: name -> template; the primary key excluded."""
    live = {
        r["indexname"]: _template(r["indexdef"], table)
        for r in await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename = $1 AND indexname <> $2",
            table,
            f"{table}_pkey",
        )
    }
    dropped: dict[str, str] = {}
    added: set[str] = set()
    if revision is not None:
        dropped = {
            name: _template(sql, table) for name, sql in revision.DROPPED.get(table, {}).items()
        }
        added = set(revision.CREATED.get(table, {}))
    applied = await conn.fetchval("SELECT version_num >= '0010' FROM alembic_version LIMIT 1")
    if applied:
        seed = {n: t for n, t in live.items() if n not in added} | dropped
        budget = live
    else:
        seed = live
        budget = {n: t for n, t in live.items() if n not in dropped}
        if revision is not None:
            budget |= {
                name: _template(sql, table) for name, sql in revision.CREATED.get(table, {}).items()
            }
    return seed, budget


async def _twin(conn: asyncpg.Connection, table: str) -> str:
    """An empty hypertable like `table`: columns, defaults, CHECKs, foreign keys, chunk
    interval, primary key; no other index."""
    twin = f"bench_{table}_twin"
    await conn.execute(f"DROP TABLE IF EXISTS {twin}")
    await conn.execute(
        f"CREATE TABLE {twin} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    )
    for (definition,) in await conn.fetch(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = $1::regclass AND contype IN ('p', 'f')",
        table,
    ):
        await conn.execute(f"ALTER TABLE {twin} ADD {definition}")
    interval = await conn.fetchval(
        "SELECT time_interval FROM timescaledb_information.dimensions WHERE hypertable_name = $1",
        table,
    )
    await conn.execute(
        f"SELECT create_hypertable('{twin}', 'execution_time', "
        "chunk_time_interval => $1::interval, create_default_indexes => false)",
        interval,
    )
    return twin


async def _copy_rate(
    conn: asyncpg.Connection,
    twin: str,
    indexes: dict[str, str],
    records: list[tuple[Any, ...]],
    columns: list[str],
) -> float:
    await conn.execute(f"TRUNCATE {twin}")
    for existing in await conn.fetch(
        "SELECT indexname FROM pg_indexes WHERE tablename = $1 AND indexname <> $2",
        twin,
        f"{twin}_pkey",
    ):
        await conn.execute(f'DROP INDEX "{existing["indexname"]}"')
    for i, (_, template) in enumerate(sorted(indexes.items())):
        await conn.execute(template.replace("{name}", f"{twin}_ix{i}").replace("{table}", twin))
    await conn.execute("CHECKPOINT")
    started = time.perf_counter()
    for start in range(0, len(records), BATCH):
        async with conn.transaction():
            await conn.copy_records_to_table(
                twin, records=records[start : start + BATCH], columns=columns
            )
    return len(records) / (time.perf_counter() - started)


def _records(rows: list[dict[str, Any]]) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Pre-encoded COPY records for the three tables (trajectory JSON encoded once)."""
    start = datetime.now(UTC) - timedelta(hours=6)
    step = timedelta(hours=6) / max(1, len(rows))
    outcomes, tools, failures = [], [], []
    rng = random.Random(7)
    for i, row in enumerate(rows):
        when = start + step * i
        outcome_id = uuid.uuid4()
        outcomes.append(
            (
                outcome_id, uuid.UUID(row["simulation_id"]), row["scenario_id"], when,
                row["status"], row["reliability_score"], row["execution_time_ms"],
                row["tokens_used"], row["cost_usd"], json.dumps(row["trajectory"]),
                json.dumps(row["metrics"]), row["modal_call_id"], row["sandbox_id"],
                row["error_code"], row["error_category"],
            )
        )  # fmt: skip
        tools.append(
            (
                uuid.uuid4(), when, outcome_id, TOOLS[rng.randrange(len(TOOLS))],
                1 + i % 3, 100.0 + i % 700, 1.0 if row["status"] == "success" else 0.0, 0.0004,
            )
        )  # fmt: skip
        if row["status"] != "success":
            text = ERRORS[i % len(ERRORS)].format(n=rng.randrange(5, 120))
            failures.append((uuid.uuid4(), when, outcome_id, "tool_failure", "tool_error", text))
    return {
        "outcomes": (COPY_COLUMNS, outcomes),
        "tool_usage": (TOOL_COLUMNS, tools),
        "failure_patterns": (FAILURE_COLUMNS, failures),
    }


async def measure(
    url: str, sims: list[str], scenarios: list[str], n: int, rounds: int
) -> dict[str, Any]:
    """Every variant of every table, interleaved rounds; returns the figures."""
    revision = _revision_0010()
    conn = await _connect(url)
    figures: dict[str, Any] = {"rows": n, "rounds": rounds, "tables": {}}
    try:
        encoded = _records(_rows(n, sims, scenarios))
        plans: list[tuple[str, list[Variant]]] = []
        for table in TABLES:
            seed, budget = await _index_sets(conn, table, revision)
            twin = await _twin(conn, table)
            variants = [
                Variant(table, "pk only", {}, []),
                Variant(table, "seed", seed, []),
                Variant(table, "budget", budget, []),
            ]
            singles = {**seed, **budget}
            for name, template in CANDIDATES.get(table, {}).items():
                singles[name] = template
            variants += [Variant(table, f"pk + {n}", {n: t}, []) for n, t in singles.items()]
            plans.append((twin, variants))
        for round_ in range(rounds):
            for twin, variants in plans:
                columns, records = encoded[variants[0].table]
                order = variants[:] if round_ % 2 == 0 else variants[::-1]
                for v in order:
                    v.rates.append(await _copy_rate(conn, twin, v.indexes, records, columns))
                print(
                    f"  round {round_ + 1}/{rounds}: {variants[0].table} done "
                    f"({len(records):,} rows x {len(variants)} variants)",
                    flush=True,
                )
        for twin, variants in plans:
            table = variants[0].table
            base = variants[0].rate
            rows_out: dict[str, Any] = {}
            print(f"\n{table}: {len(encoded[table][1]):,} rows, best of {rounds} rounds")
            print(f"{'variant':<46} {'rows/s':>9} {'vs pk':>6} {'us/row':>7} {'spread':>7}")
            for v in variants:
                spread = (max(v.rates) - min(v.rates)) / v.rate
                added = (1 / v.rate - 1 / base) * 1e6
                rows_out[v.label] = {
                    "rows_per_s": round(v.rate),
                    "ratio_to_pk_only": round(v.rate / base, 3),
                    "us_per_row_added": round(added, 1),
                    "spread": round(spread, 3),
                    "indexes": sorted(v.indexes),
                }
                print(
                    f"{v.label:<46} {v.rate:>9,.0f} {v.rate / base:>6.2f} {added:>7.1f} "
                    f"{spread:>7.2f}"
                )
            figures["tables"][table] = rows_out
            for label in ("seed", "budget"):
                v = next(v for v in variants if v.label == label)
                spread = (max(v.rates) - min(v.rates)) / v.rate
                figures.setdefault("figures", {})[f"{table}_{label}_vs_pk_only"] = figure(
                    round(v.rate / base, 3), "ratio", "higher", round(v.rate / base * spread, 3)
                )
            await conn.execute(f"DROP TABLE IF EXISTS {twin}")
    finally:
        await conn.close()
    return figures
