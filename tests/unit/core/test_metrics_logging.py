"""Metrics snapshot (sync and awaitable) and log redaction."""

from typing import Any

import pytest

from arc.database.core.logging import redact_secrets, redact_text
from arc.database.core.metrics import ClientMetrics


async def test_metrics_snapshot_is_a_dict_and_awaitable() -> None:
    m = ClientMetrics()
    for ms in (1.0, 2.0, 3.0, 100.0):
        m.record(ms, True)
    m.record(5.0, False, RuntimeError())
    snap = m.snapshot()
    assert snap["success_rate"] == pytest.approx(80.0)
    assert snap["p95_query_time"] == 100.0
    assert snap["failures_by_type"] == {"RuntimeError": 1}
    assert (await snap) is snap


def test_redaction_everywhere_in_an_event() -> None:
    event: dict[str, Any] = {
        "event": "db.connect failed for postgresql://arc:s3cret@db:5432/x",
        "nested": {"dsn": "host=db password=s3cret user=arc", "password": "s3cret"},
        "items": ["postgres://u:p4ss@h/db"],
    }
    out = redact_secrets(None, "info", event)
    assert "s3cret" not in repr(out)
    assert "p4ss" not in repr(out)
    assert redact_text("postgresql://arc@host/db") == "postgresql://arc@host/db"
