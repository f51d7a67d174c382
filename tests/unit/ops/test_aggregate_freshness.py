"""How the aggregates check judges a refresh policy that has not run yet (full edition)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from arc.database.ops.health.checks.aggregates import _judge_cagg
from arc.database.ops.health.context import CheckContext
from arc.database.ops.health.report import DEGRADED, HEALTHY, Collector

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _judged(**info: Any) -> Collector:
    # The engine is never connected: _judge_cagg reads only the thresholds.
    ctx = CheckContext(create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none"))
    base = {"policy_job_id": 1013, "policy_scheduled": True, "policy_last_status": None}
    collector = Collector("aggregates")
    _judge_cagg(ctx, collector, "version_stats_15m", base | info, NOW)
    return collector


@pytest.mark.parametrize("has_rows", [True, False])
def test_a_policy_whose_first_run_is_ahead_is_not_stale(has_rows: bool) -> None:
    judged = _judged(
        policy_last_success=None,
        policy_next_start=NOW + timedelta(minutes=4),
        source_has_rows=has_rows,
    )
    assert (judged.status, judged.reasons) == (HEALTHY, [])


def test_a_policy_due_that_never_succeeded_is_degraded() -> None:
    judged = _judged(
        policy_last_success=None,
        policy_next_start=NOW - timedelta(minutes=1),
        source_has_rows=True,
    )
    assert judged.status == DEGRADED
    assert judged.reasons == ["version_stats_15m has never been refreshed"]


def test_an_old_success_is_held_against_the_thresholds() -> None:
    judged = _judged(
        policy_last_success=NOW - timedelta(hours=5),
        policy_next_start=NOW + timedelta(minutes=4),
        source_has_rows=True,
    )
    assert judged.status != HEALTHY
    assert any("last successful refresh 5h ago" in r for r in judged.reasons)
