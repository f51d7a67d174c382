"""Two tenants' evaluations with every kind of value an export must carry back exactly: vectors,
nested JSON with unicode, text with commas, quotes, newlines, tabs and backslashes, empty
strings next to NULLs, text arrays, microsecond timestamps."""

import csv
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import null
from sqlalchemy.ext.asyncio import AsyncEngine

from arc.database.models import EMBEDDING_DIMENSIONS
from tests.support.scratch import Planted, make_dataset, plant

KEYS = {"outcomes": "outcome_id", "tool_usage": "usage_id", "failures": "pattern_id"}
TABLES = {"outcomes": "outcomes", "tool_usage": "tool_usage", "failures": "failure_patterns"}
AWKWARD_TEXT = 'line one\nline two, "quoted" \\ back\\slash\ttab\r cr ü ☃ 𝄞'


def rows_of(data: Planted, kind: str) -> list[dict[str, Any]]:
    return {"outcomes": data.outcomes, "tool_usage": data.tools, "failures": data.failures}[kind]


def _vector(rng: random.Random) -> list[float]:
    return [rng.uniform(-1, 1) * 10 ** rng.randrange(-6, 3) for _ in range(EMBEDDING_DIMENSIONS)]


def enrich(data: Planted, seed: int) -> Planted:
    """Fill the columns make_dataset leaves empty, some rows with values and some without."""
    rng = random.Random(seed)
    moved: dict[uuid.UUID, datetime] = {}
    for i, row in enumerate(data.outcomes):
        row["execution_time"] += timedelta(microseconds=rng.randrange(1, 1_000_000))
        moved[row["outcome_id"]] = row["execution_time"]
        row["trajectory_embedding"] = _vector(rng) if i % 3 == 0 else None
        row["trajectory"] = {
            "start_time": row["execution_time"].isoformat(),
            "status": row["status"],
            "steps": [{"tool": "web_search", "ms": 12.5, "ok": True, "note": AWKWARD_TEXT}],
        }
        row["metrics"] = {"score": rng.random(), "big": 12345678901234567890, "none": None}
        row["execution_metadata"] = {"ü": ["a,b", 'q"x', 1.5e-7], "nested": {"deep": [[]]}}
        row["sandbox_logs"] = (AWKWARD_TEXT, "", None)[i % 3]  # text, empty, NULL
        row["modal_call_id"] = ("", None, f"call-{i}")[i % 3]
        row["error_code"] = "E,1" if row["status"] != "success" else None
        row["retry_count"] = i % 4
    for i, row in enumerate(data.tools):
        row["execution_time"] = moved[row["outcome_id"]]
        row["tool_sequence"] = [{"step": i, "args": {"q": AWKWARD_TEXT}}, "plain", 3]
        row["error_types"] = (["a,b", 'quote"d', "back\\slash", "", "NULL"], [], None)[i % 3]
        # SQL NULL, as ingest writes a missing document (a bare None would be JSON null)
        row["modal_function_calls"] = {"calls": i} if i % 2 else null()
        row["sandbox_tool_logs"] = (AWKWARD_TEXT, "")[i % 2]
    for i, row in enumerate(data.failures):
        row["execution_time"] = moved[row["outcome_id"]]
        row["error_embedding"] = _vector(rng) if i % 2 == 0 else None
        row["llm_analysis"] = {"summary": AWKWARD_TEXT, "confidence": 0.75}
        row["resolution_steps"] = ('retry, then "escalate"', "", None)[i % 3]
        row["recovery_attempted"] = i % 2 == 0
        row["recovery_successful"] = i % 4 == 0
        row["similar_failures_count"] = i
    return data


@dataclass(frozen=True)
class Tenants:
    a: Planted
    b: Planted

    @property
    def tenant_a(self) -> uuid.UUID:
        user: uuid.UUID = self.a.configurations[0]["user_id"]
        return user

    @property
    def tenant_b(self) -> uuid.UUID:
        user: uuid.UUID = self.b.configurations[0]["user_id"]
        return user


async def plant_tenants(engine: AsyncEngine) -> Tenants:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    a = enrich(make_dataset(start, days=3, seed=5), seed=5)
    b = enrich(make_dataset(start, days=3, seed=6), seed=6)
    await plant(engine, a)
    await plant(engine, b)
    return Tenants(a, b)


def exported_ids(path: Path, fmt: str, key: str) -> list[str]:
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as f:
            return [row[key] for row in csv.DictReader(f)]
    if fmt == "jsonl":
        with path.open(encoding="utf-8") as f:
            return [json.loads(line)[key] for line in f]
    return [str(v) for v in pq.read_table(path).column(key).to_pylist()]
