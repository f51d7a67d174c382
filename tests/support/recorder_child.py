"""A process that records outcomes with a BatchExecutionRecorder and ends without close().

    python -m tests.support.recorder_child MODE URL SIMULATION_ID SCENARIO_ID ROWS [SPOOL]

MODE: `return` (asyncio.run returns), `exit` (sys.exit(3) inside the coroutine), `signal`
(prints READY and sleeps until a signal ends it). Every outcome carries one tool usage row and
one failure pattern. The outcome ids are printed as `IDS <json list>` before the process ends.
"""

import asyncio
import json
import sys
import uuid

from arc.database.ingest.client import ArcDBClient
from arc.database.ingest.recorder import BatchExecutionRecorder


async def main(
    mode: str, url: str, sid: str, scenario_id: str, rows: int, spool: str | None
) -> None:
    client = ArcDBClient(url)
    recorder = BatchExecutionRecorder(
        client, batch_size=10_000, flush_interval=3600, spool_path=spool
    )
    ids = []
    for i in range(rows):
        oid = await recorder.record_outcome(
            {
                "outcome_id": str(uuid.uuid4()),
                "simulation_id": sid,
                "scenario_id": scenario_id,
                "status": "error",
                "reliability_score": 0.25,
                "execution_time_ms": 100 + i,
                "tokens_used": 10,
                "cost_usd": 0.5,
                "error_category": "tool_error",
                "trajectory": {"start_time": "2025-01-01T00:00:00+00:00", "status": "error"},
            },
            tool_usage=[
                {
                    "tool_name": "search",
                    "call_count": 2,
                    "avg_duration_ms": 5.0,
                    "success_rate": 0.5,
                }
            ],
            failure_patterns=[{"failure_type": "HTTP503", "failure_category": "tool_error"}],
        )
        ids.append(oid)
    sys.stdout.write("IDS " + json.dumps(ids) + "\n")
    sys.stdout.flush()
    if mode == "exit":
        sys.exit(3)
    if mode == "signal":
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        await asyncio.sleep(3600)


if __name__ == "__main__":
    mode, url, sid, scenario_id, rows = sys.argv[1:6]
    spool = sys.argv[6] if len(sys.argv) > 6 else None
    asyncio.run(main(mode, url, sid, scenario_id, int(rows), spool))
