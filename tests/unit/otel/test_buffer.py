"""The trace buffer and its completion rule, with a clock the test moves: spans of one trace
over several offers and out of order, a quiet period after the outcome span, a maximum age,
bounds that refuse a whole offer, retries that change nothing, late and refused traces.
And the receiver's settings from the environment."""

from dataclasses import replace

import pytest

from arc.database.core.errors import ArcConfigurationError
from arc.database.otel import OtelSettings
from arc.database.otel.assembly import CompletionRule
from arc.database.otel.buffer import TraceBuffer
from arc.database.otel.spans import SpanRecord
from tests.unit.otel.test_mapping import agent, span

RULE = CompletionRule(quiet_s=2.0, max_age_s=30.0)


def buffer(**bounds: int) -> TraceBuffer:
    options = {"max_spans": 100, "max_bytes": 1 << 20, "max_trace_spans": 50, **bounds}
    return TraceBuffer(rule=RULE, **options)


def child(span_id: str, trace: str = "") -> SpanRecord:
    made = span(span_id, "a" * 16, 10, 20, "chat")
    return made if not trace else _retrace(made, trace)


def _retrace(record: SpanRecord, trace: str) -> SpanRecord:
    return replace(record, trace_id=trace)


def test_a_trace_over_several_offers_completes_after_the_quiet_period() -> None:
    held = buffer()
    assert held.offer([child("c1" * 8)], now=0.0) == []
    assert held.due(now=10.0) == []  # quiet for long, but no span can be the outcome yet
    assert held.offer([agent()], now=11.0) == []  # the parent after its child
    assert held.offer([child("c2" * 8)], now=12.5) == []  # restarts the quiet period
    assert held.due(now=14.0) == []
    [(trace, why)] = held.due(now=14.6)
    assert why == "quiet"
    assert set(trace.spans) == {"c1" * 8, "c2" * 8, "a" * 16}
    assert (held.spans, len(held.writing)) == (3, 1)  # still held until written
    held.done(trace)
    assert (held.spans, held.bytes) == (0, 0)


def test_max_age_ends_a_trace_whatever_it_holds() -> None:
    held = buffer()
    held.offer([child("c1" * 8)], now=0.0)
    assert held.due(now=29.9) == []
    [(_, why)] = held.due(now=30.0)
    assert why == "max_age"


def test_a_retry_changes_nothing_and_does_not_restart_the_quiet_period() -> None:
    held = buffer()
    held.offer([agent(), child("c1" * 8)], now=0.0)
    assert held.offer([agent(), child("c1" * 8)], now=1.9) == []
    assert held.spans == 2
    [(trace, _)] = held.due(now=2.0)
    held.done(trace)
    # sent again after it was written: accepted, nothing kept, nothing rejected
    assert held.offer([agent(), child("c1" * 8)], now=5.0) == []
    assert held.spans == 0
    # a span the written trace did not have is late
    [late] = held.offer([child("c9" * 8)], now=5.0) or []
    assert late.span_id == "c9" * 8
    assert "arrived after its trace was complete" in late.reason


def test_without_room_nothing_of_the_offer_is_taken() -> None:
    held = buffer(max_spans=3)
    assert held.offer([child("c1" * 8, "1" * 32), child("c2" * 8, "1" * 32)], now=0.0) == []
    assert held.offer([child("c3" * 8, "2" * 32), child("c4" * 8, "2" * 32)], now=0.0) is None
    assert held.spans == 2
    assert "2" * 32 not in held.open
    assert held.offer([child("c1" * 8, "1" * 32)], now=0.0) == []  # known: needs no room
    small = buffer(max_bytes=900)
    assert small.offer([child("c1" * 8)], now=0.0) == []  # 500 bytes
    assert small.offer([child("c2" * 8)], now=0.0) is None


def test_a_trace_holds_at_most_max_trace_spans() -> None:
    held = buffer(max_trace_spans=2)
    rejected = held.offer([child("c1" * 8), child("c2" * 8), child("c3" * 8)], now=0.0)
    assert [r.span_id for r in rejected or []] == ["c3" * 8]
    assert "already holds 2 spans" in (rejected or [])[0].reason


def test_a_refused_trace_drops_what_it_held_and_rejects_what_follows() -> None:
    held = buffer()
    held.offer([child("c1" * 8)], now=0.0)
    held.refuse("0af7651916cd43dd8448eb211c80319c", "simulation x does not exist")
    assert held.spans == 0
    [rejected] = held.offer([child("c2" * 8)], now=1.0) or []
    assert rejected.reason == "simulation x does not exist"


def test_remembered_traces_are_bounded() -> None:
    held = TraceBuffer(rule=RULE, max_spans=10, max_bytes=1 << 20, max_trace_spans=5, remember=2)
    for i in range(4):
        held.refuse(f"{i:032x}", "no")
    assert list(held.refused) == [f"{2:032x}", f"{3:032x}"]


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARC_OTEL_QUIET_S", "0.5")
    monkeypatch.setenv("ARC_OTEL_MAX_SPANS", "1000")
    monkeypatch.setenv("ARC_OTEL_PRICES", "/etc/prices.json")
    settings = OtelSettings.from_env()
    assert (settings.quiet_s, settings.max_spans, settings.prices) == (
        0.5,
        1000,
        "/etc/prices.json",
    )
    assert settings.max_age_s == OtelSettings().max_age_s


@pytest.mark.parametrize(
    ("variable", "value", "needle"),
    [
        ("ARC_OTEL_MAX_SPANS", "many", "must be a int"),
        ("ARC_OTEL_QUIET_S", "0", "must be positive"),
        ("ARC_OTEL_MAX_AGE_S", "1", "must not be below ARC_OTEL_QUIET_S"),
    ],
)
def test_bad_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ArcConfigurationError) as caught:
        OtelSettings.from_env()
    assert variable in str(caught.value)
    assert needle in str(caught.value)
