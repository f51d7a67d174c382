"""Ingest throughput of the write path against raw asyncpg COPY, measured in the same run.

Creates its own scratch database (provision + migrate), then writes ARC_BENCH_ROWS outcomes
(default 100,000; trajectories of about 1.6 KB as in seed 003) in batches of 1,000 through:

  (a)  raw asyncpg copy_records_to_table, one connection          -- reference for (b), (c)-1
  (b)  ArcDBClient.record_outcomes_batch (auto: binary COPY straight into the table under a
       savepoint, else into a staging table, then INSERT ... SELECT ... ON CONFLICT DO
       NOTHING RETURNING), plus the two Core paths: insert().values() (the design card) and
       executemany (insertmanyvalues)
  (c)  BatchExecutionRecorder with 1 producer and with 8 concurrent producers
  (d)  raw COPY over 8 connections in parallel                     -- reference for (c)-8
  (e)  (a) into a twin of outcomes with only its primary key       -- the index budget

(a)-(e) run in ARC_BENCH_ROUNDS interleaved rounds (default 6, at least 4), each writing its
share of every round, so that the machine's drift moves a method and its reference alike;
the Core paths run after them. The references do the work any caller must do too (JSON-encode the
trajectory, make ids), inside the timed section; the Arc paths also validate every row.
"""

import argparse
import asyncio
import gc
import json
import math
import os
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import text

from arc.database.core.settings import to_asyncpg_url
from arc.database.ingest.client import ArcDBClient
from arc.database.ingest.recorder import BatchExecutionRecorder
from arc.database.ingest.validation import normalize_outcome
from arc.database.ops.provision import drop_database, ensure_database, with_database
from arc.database.schema import migrate
from bench.results import figure, half_noise

BATCH = 1000
COPY_COLUMNS = [
    "outcome_id", "simulation_id", "scenario_id", "execution_time", "status",
    "reliability_score", "execution_time_ms", "tokens_used", "cost_usd", "trajectory",
    "metrics", "modal_call_id", "sandbox_id", "error_code", "error_category",
]  # fmt: skip


def _trajectory(i: int, ok: bool) -> dict[str, Any]:
    steps = [
        {
            "type": "tool_call",
            "tool_name": ("weather_api", "geocode", "search")[k % 3],
            "arguments": {"city": f"city_{i % 97}", "units": "metric", "step": k},
            "duration_ms": 100.0 + (i * 7 + k) % 400,
            "success": ok or k < 2,
            "output": "Partly cloudy, 18C, wind 12 km/h from the north-west, humidity 61%. ",
        }
        for k in range(4)
    ]
    return {
        "start_time": datetime.now(UTC).isoformat(),
        "status": "success" if ok else "error",
        "task_prompt": f"What's the weather in city {i % 97}? Answer with the temperature.",
        "final_response": "The weather is partly cloudy with 18C and light wind." * 2,
        "execution_time_seconds": 2.5,
        "full_trajectory": steps,
        "token_usage": {"prompt_tokens": 150, "completion_tokens": 50, "total_tokens": 200},
    }


def _rows(n: int, sims: list[str], scenarios: list[str]) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        ok = i % 5 != 0
        rows.append(
            {
                "simulation_id": sims[i % len(sims)],
                "scenario_id": scenarios[i % len(scenarios)],
                "status": "success" if ok else "error",
                "reliability_score": random.random(),
                "execution_time_ms": 1000.0 + i % 5000,
                "tokens_used": 200 + i % 300,
                "cost_usd": 0.006,
                "trajectory": _trajectory(i, ok),
                "metrics": {"grade": "B", "dimension_scores": {"tool_execution": 0.9}},
                "modal_call_id": f"call_{i}",
                "sandbox_id": f"sandbox_{i % 64}",
                "error_code": None if ok else "tool_failure",
                "error_category": None if ok else "tool_error",
            }
        )
    return rows


def _record(row: dict[str, Any], now: datetime) -> tuple[Any, ...]:
    return (
        uuid.uuid4(), uuid.UUID(row["simulation_id"]), row["scenario_id"], now, row["status"],
        row["reliability_score"], row["execution_time_ms"], row["tokens_used"],
        row["cost_usd"], json.dumps(row["trajectory"]), json.dumps(row["metrics"]),
        row["modal_call_id"], row["sandbox_id"], row["error_code"], row["error_category"],
    )  # fmt: skip


async def _connect(url: str) -> asyncpg.Connection:
    u, ssl = to_asyncpg_url(url)
    return await asyncpg.connect(
        user=u.username, password=u.password, host=u.host, port=u.port, database=u.database,
        ssl=ssl,
    )  # fmt: skip


async def _raw_copy(
    conn: asyncpg.Connection, rows: list[dict[str, Any]], table: str = "outcomes"
) -> None:
    for start in range(0, len(rows), BATCH):
        now = datetime.now(UTC)
        records = [_record(r, now) for r in rows[start : start + BATCH]]
        async with conn.transaction():
            await conn.copy_records_to_table(table, records=records, columns=COPY_COLUMNS)


INSERT_ONE = (
    f"INSERT INTO outcomes ({', '.join(COPY_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i + 1}' for i in range(len(COPY_COLUMNS)))})"
)


async def _single_rows(
    conn: asyncpg.Connection, client: ArcDBClient, rows: list[dict[str, Any]]
) -> dict[str, list[float]]:
    """Latency of one row at a time: raw asyncpg prepared INSERT (autocommit) and
    ArcDBClient.record_outcome, interleaved so that both see the same server state."""
    insert = await conn.prepare(INSERT_ONE)
    samples: dict[str, list[float]] = {"raw": [], "record_outcome": []}
    for i, row in enumerate(rows):
        if i % 2 == 0:
            began = time.perf_counter()
            await insert.fetch(*_record(row, datetime.now(UTC)))
            samples["raw"].append((time.perf_counter() - began) * 1000)
        else:
            began = time.perf_counter()
            await client.record_outcome(row)
            samples["record_outcome"].append((time.perf_counter() - began) * 1000)
    return samples


def _validation_us(rows: list[dict[str, Any]], repeats: int = 5) -> float:
    """CPU microseconds per row of `normalize_outcome` (the best of `repeats` passes: CPU
    time, so that other processes on the machine move it less than wall time)."""
    best = math.inf
    for _ in range(repeats):
        started = time.process_time()
        for i, row in enumerate(rows):
            normalize_outcome(row, i)
        best = min(best, time.process_time() - started)
    return best / len(rows) * 1e6


async def _timed(label: str, n: int, fn: Callable[[], Awaitable[None]]) -> tuple[str, int, float]:
    started = time.perf_counter()
    await fn()
    return label, n, time.perf_counter() - started


def _split(rows: list[dict[str, Any]], parts: int) -> list[list[dict[str, Any]]]:
    return [rows[i::parts] for i in range(parts)]


async def _setup(client: ArcDBClient) -> tuple[list[str], list[str]]:
    config_id, version_id = uuid.uuid4(), uuid.uuid4()
    async with client.engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO configurations (config_id, name, user_id) VALUES (:c, 'bench', :u)"),
            {"c": config_id, "u": uuid.uuid4()},
        )
        await conn.execute(
            text(
                "INSERT INTO config_versions (version_id, config_id, version_number, raw_yaml,"
                " parsed_config, config_hash) VALUES (:v, :c, 1, 'model: m',"
                " CAST(:p AS jsonb), :h)"
            ),
            {"v": version_id, "c": config_id, "p": '{"model":"m","temperature":0.2}',
             "h": "b" * 64},
        )  # fmt: skip
    scenarios = [
        {"id": f"bench_{i}", "name": f"Bench scenario {i}", "task_prompt": "A benchmark task."}
        for i in range(50)
    ]
    sims = [
        await client.create_simulation(version_id, scenarios, simulation_name=f"bench {s}")
        for s in range(20)
    ]
    return sims, [s["id"] for s in scenarios]


async def run(server_url: str, args: Sequence[str] = ()) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench ingest")
    parser.add_argument(
        "--index-budget",
        action="store_true",
        help="only the index budget: COPY rate per index set (bench/index_budget.py)",
    )
    options = parser.parse_args(list(args))
    n = int(os.environ.get("ARC_BENCH_ROWS", "100000"))
    n_values = min(n, int(os.environ.get("ARC_BENCH_VALUES_ROWS", "10000")))
    n_single = min(n, int(os.environ.get("ARC_BENCH_SINGLE_ROWS", "2000")))
    url = with_database(server_url, f"arc_bench_ingest_{os.getpid()}")
    await ensure_database(url)
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        client = ArcDBClient(url, log_level="WARNING", application_name="arc-bench-ingest")
        await client.initialize()
        sims, scenarios = await _setup(client)
        if options.index_budget:
            from bench import index_budget

            n_budget = int(os.environ.get("ARC_BENCH_INDEX_ROWS", "50000"))
            rounds = int(os.environ.get("ARC_BENCH_INDEX_ROUNDS", "3"))
            await client.close()
            return {
                "index_budget": await index_budget.measure(url, sims, scenarios, n_budget, rounds)
            }
        rows = _rows(n, sims, scenarios)
        # The generated input (about 15 containers a row) is not the write path's: frozen, the
        # collector does not walk it on every full collection, as it would not walk a
        # producer's input that arrives a row at a time (docs/decisions.md P26).
        gc.freeze()
        size = len(json.dumps(rows[0]["trajectory"]))
        print(f"\ningest: {n:,} outcomes, trajectory about {size:,} bytes, batches of {BATCH:,}")
        validation_us = _validation_us(rows[:10_000])
        raw = await _connect(url)
        from bench.index_budget import _twin

        twin = await _twin(raw, "outcomes")

        async def batches(method: str, subset: list[dict[str, Any]]) -> None:
            for start in range(0, len(subset), BATCH):
                await client.record_outcomes_batch(subset[start : start + BATCH], method=method)

        async def recorded(part: list[dict[str, Any]], producers: int) -> None:
            recorder = BatchExecutionRecorder(client, batch_size=BATCH, flush_interval=5.0)

            async def produce(rows_of_one: list[dict[str, Any]]) -> None:
                for row in rows_of_one:
                    await recorder.record_outcome(row)

            await asyncio.gather(*(produce(p) for p in _split(part, producers)))
            await recorder.close()

        conns = [await _connect(url) for _ in range(8)]

        async def parallel_copy(part: list[dict[str, Any]]) -> None:
            await asyncio.gather(
                *(_raw_copy(c, p) for c, p in zip(conns, _split(part, 8), strict=True))
            )

        # Interleaved rounds: each method writes its share of every round, one after the other,
        # so that a machine that speeds up or slows down (20 % within a run here) moves each
        # method and its reference alike. The reference (a) of the first half of the rounds
        # against the second half is the noise.
        methods: dict[str, Callable[[list[dict[str, Any]]], Awaitable[None]]] = {
            "(a) raw asyncpg COPY, 1 conn": lambda part: _raw_copy(raw, part),
            "(e) raw COPY, PK-only twin": lambda part: _raw_copy(raw, part, twin),
            "(b) record_outcomes_batch (COPY)": lambda part: batches("auto", part),
            "(c) recorder, 1 producer": lambda part: recorded(part, 1),
            "(c) recorder, 8 producers": lambda part: recorded(part, 8),
            "(d) raw asyncpg COPY, 8 conns": parallel_copy,
        }
        rounds = max(4, int(os.environ.get("ARC_BENCH_ROUNDS", "6")))
        share = n // rounds  # rows each method writes in each round
        took: dict[str, list[float]] = {label: [] for label in methods}
        try:
            for round_no in range(rounds):
                part = rows[round_no * share : (round_no + 1) * share]
                for label, write in methods.items():
                    began = time.perf_counter()
                    await write(part)
                    took[label].append(time.perf_counter() - began)
        finally:
            for conn in conns:
                await conn.close()
        await raw.execute(f"DROP TABLE {twin}")
        results: list[tuple[str, int, float]] = [
            (label, share * rounds, sum(took[label])) for label in methods
        ]
        sub = rows[:n_values]
        results.append(
            await _timed("(b') Core insert().values()", len(sub), lambda: batches("values", sub))
        )
        results.append(
            await _timed("(b'') Core executemany", len(sub), lambda: batches("executemany", sub))
        )
        reference = took["(a) raw asyncpg COPY, 1 conn"]
        drift = half_noise(reference, statistics.mean) / statistics.mean(reference)
        single = await _single_rows(raw, client, rows[:n_single])
        await raw.close()
        await client.close()
    finally:
        await drop_database(url)

    rate = {label: count / seconds for label, count, seconds in results}
    ref1 = rate["(a) raw asyncpg COPY, 1 conn"]
    ref8 = rate["(d) raw asyncpg COPY, 8 conns"]
    print(f"{'method':<36} {'rows':>8} {'seconds':>8} {'rows/s':>9} {'vs (a)':>7} {'vs (d)':>7}")
    for label, count, seconds in results:
        r = rate[label]
        print(
            f"{label:<36} {count:>8,} {seconds:>8.2f} {r:>9,.0f} {r / ref1:>7.2f} {r / ref8:>7.2f}"
        )
    p50 = {k: statistics.median(v) for k, v in single.items()}
    print(
        f"single row p50: raw asyncpg INSERT {p50['raw']:.3f} ms, record_outcome "
        f"{p50['record_outcome']:.3f} ms ({p50['record_outcome'] / p50['raw']:.2f}x; target <= 2)"
    )
    print(f"normalize_outcome: {validation_us:.1f} us of CPU a row")
    print(
        f"{rounds} interleaved rounds; reference drift within the run ((a), first half of the "
        f"rounds against the second): {drift:.1%}"
    )
    print("targets: (b) and (c)-1 >= 0.80 x (a); (c)-8 >= 0.80 x (d); (a) >= 0.60 x (e)")

    def ratio(value: float) -> dict[str, Any]:
        return figure(round(value, 3), "ratio", "higher", round(value * drift, 3))

    figures: dict[str, Any] = {
        "copy_outcomes_vs_pk_only": ratio(
            rate["(a) raw asyncpg COPY, 1 conn"] / rate["(e) raw COPY, PK-only twin"]
        ),
        "record_outcomes_batch_vs_copy": ratio(rate["(b) record_outcomes_batch (COPY)"] / ref1),
        "core_values_vs_copy": ratio(rate["(b') Core insert().values()"] / ref1),
        "core_executemany_vs_copy": ratio(rate["(b'') Core executemany"] / ref1),
        "recorder_1_vs_copy": ratio(rate["(c) recorder, 1 producer"] / ref1),
        "recorder_8_vs_copy_8": ratio(rate["(c) recorder, 8 producers"] / ref8),
        "normalize_outcome_cpu_us": figure(round(validation_us, 1), "us", "lower", 0),
        "raw_copy_rows_per_s": figure(round(ref1), "rows/s", "higher", round(ref1 * drift)),
        "single_row_p50_ratio": figure(
            round(p50["record_outcome"] / p50["raw"], 3),
            "ratio",
            "lower",
            round(
                half_noise(single["record_outcome"], statistics.median) / p50["raw"]
                + half_noise(single["raw"], statistics.median) / p50["raw"],
                3,
            ),
        ),
    }
    return {
        "figures": figures,
        "rows": n,
        "trajectory_bytes": size,
        "rates": {label: round(rate[label]) for label in rate},
        "single_row_p50_ms": {k: round(v, 4) for k, v in p50.items()},
    }
