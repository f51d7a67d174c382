"""A 100-row outcome batch inserted through SQLAlchemy inside a transaction that is rolled back
(with the configuration, version, scenario and simulation it needs), so nothing is left behind;
rows per second against the thresholds."""

import hashlib
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from arc.database.models import Configuration, ConfigVersion, Outcome, Scenario, Simulation
from arc.database.ops.health.context import CheckContext
from arc.database.ops.health.report import DEGRADED, UNHEALTHY, CheckResult, Collector

NAME = "write_performance"


async def check(ctx: CheckContext, rows: int = 100) -> CheckResult:
    """Insert `rows` outcomes (and their parents) and roll everything back."""
    c = Collector("write_performance")
    now = datetime.now(UTC)
    config_id, version_id, simulation_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    scenario_id = f"arc_health_probe_{uuid.uuid4().hex[:12]}"
    parsed = {"model": "health-probe", "temperature": 0.0}
    async with ctx.engine.connect() as conn:
        trans = await conn.begin()
        try:
            await conn.execute(
                insert(Configuration).values(
                    config_id=config_id, name="arc health probe", user_id=uuid.UUID(int=0)
                )
            )
            await conn.execute(
                insert(ConfigVersion).values(
                    version_id=version_id,
                    config_id=config_id,
                    version_number=1,
                    raw_yaml="model: health-probe\ntemperature: 0.0\n",
                    parsed_config=parsed,
                    config_hash=hashlib.sha256(b"arc-health-probe").hexdigest(),
                )
            )
            await conn.execute(
                insert(Scenario).values(
                    scenario_id=scenario_id,
                    name="health probe",
                    task_prompt="health probe scenario, never committed",
                )
            )
            await conn.execute(
                insert(Simulation).values(
                    simulation_id=simulation_id,
                    config_version_id=version_id,
                    scenario_set=[scenario_id],
                    total_scenarios=1,
                    status="running",
                )
            )
            batch = [
                {
                    "outcome_id": uuid.uuid4(),
                    "execution_time": now - timedelta(microseconds=i),
                    "simulation_id": simulation_id,
                    "scenario_id": scenario_id,
                    "status": "success",
                    "reliability_score": 0.9,
                    "execution_time_ms": 1000.0,
                    "tokens_used": 100,
                    "cost_usd": 0.01,
                    "trajectory": {"start_time": now.isoformat(), "status": "success"},
                }
                for i in range(rows)
            ]
            t0 = time.perf_counter()
            await conn.execute(insert(Outcome), batch)
            elapsed = time.perf_counter() - t0
        finally:
            await trans.rollback()
    throughput = rows / elapsed if elapsed > 0 else float("inf")
    c.details = {
        "rows": rows,
        "batch_write_ms": round(elapsed * 1000, 2),
        "throughput_per_second": round(throughput, 1),
        "rolled_back": True,
    }
    if elapsed * 1000 > ctx.thresholds.max_write_batch_ms:
        c.flag(UNHEALTHY, f"a {rows}-row batch took {elapsed * 1000:.0f} ms")
    elif throughput < ctx.thresholds.min_write_rows_per_second:
        c.flag(
            DEGRADED,
            f"write throughput {throughput:.0f} rows/s is below "
            f"{ctx.thresholds.min_write_rows_per_second:g}",
        )
    return c.result()
