"""The bounded buffer of traces between the HTTP requests and the database.

Spans are counted from the moment they are accepted until their trace is written (or dropped):
a trace being written still holds its place, so when the database is slow or away the buffer
fills and requests are refused with 429 / 503 (the receiver decides which) instead of growing
without bound. Two bounds: `max_spans` and `max_bytes` (the spans' estimated size).

`offer` takes the spans of one request all together or not at all (no room: None, nothing
taken), so a refused request can be sent again whole. Per span it decides:
- a new span of an open trace: kept (unless the trace already holds `max_trace_spans`);
- a span already kept, or of a trace already complete (written or given up) that had it:
  accepted, nothing changes (an exporter's retry is never a second row);
- a new span of a trace already complete: rejected, "late";
- a span of a refused trace (its simulation does not exist ...): rejected with that reason.
Complete and refused traces are remembered (the last `remember` of each) for those answers.

Nothing here awaits: the event loop runs each method whole, so a request's check for room and
its taking of the spans cannot interleave with another's.
"""

from collections import OrderedDict
from collections.abc import Iterable

from arc.database.otel.assembly import CompletionRule, TraceAssembly
from arc.database.otel.spans import Rejection, SpanRecord


class TraceBuffer:
    def __init__(
        self,
        *,
        rule: CompletionRule,
        max_spans: int,
        max_bytes: int,
        max_trace_spans: int,
        remember: int = 10_000,
    ) -> None:
        self.rule = rule
        self.max_spans = max_spans
        self.max_bytes = max_bytes
        self.max_trace_spans = max_trace_spans
        self.remember = remember
        self.open: dict[str, TraceAssembly] = {}  # in order of first arrival
        self.writing: dict[str, TraceAssembly] = {}  # complete, not yet written
        # complete traces, written or given up: trace -> its span ids
        self.closed: OrderedDict[str, frozenset[str]] = OrderedDict()
        self.refused: OrderedDict[str, str] = OrderedDict()  # trace -> reason
        self.spans = 0  # spans held (open + writing)
        self.bytes = 0

    # ---------------------------------------------------------------- taking spans
    def _known(self, span: SpanRecord) -> bool:
        trace = span.trace_id
        for held in (self.open.get(trace), self.writing.get(trace)):
            if held is not None and span.span_id in held.spans:
                return True
        done = self.closed.get(trace)
        return done is not None and span.span_id in done

    def _verdict(self, span: SpanRecord, added: dict[str, int]) -> str | None:
        """None: keep it; "" accept without keeping; else the reason it is rejected."""
        trace = span.trace_id
        if trace in self.refused:
            return self.refused[trace]
        if self._known(span):
            return ""
        if trace in self.writing or trace in self.closed:
            return (
                "arrived after its trace was complete "
                f"(no span for {self.rule.quiet_s:g}s after the outcome span, "
                f"or {self.rule.max_age_s:g}s after the first)"
            )
        held = self.open.get(trace)
        count = (len(held.spans) if held else 0) + added.get(trace, 0)
        if count >= self.max_trace_spans:
            return (
                f"its trace already holds {self.max_trace_spans} spans (ARC_OTEL_MAX_TRACE_SPANS)"
            )
        return None

    def offer(self, spans: Iterable[SpanRecord], now: float) -> list[Rejection] | None:
        """Take the spans (see the module docstring); None when there is no room for them."""
        keep: dict[tuple[str, str], SpanRecord] = {}
        added: dict[str, int] = {}
        rejected: list[Rejection] = []
        for span in spans:
            if (span.trace_id, span.span_id) in keep:
                continue  # twice in one request
            verdict = self._verdict(span, added)
            if verdict is None:
                keep[(span.trace_id, span.span_id)] = span
                added[span.trace_id] = added.get(span.trace_id, 0) + 1
            elif verdict:
                rejected.append(Rejection(span.trace_id, span.span_id, verdict))
        size = sum(span.size for span in keep.values())
        if keep and (self.spans + len(keep) > self.max_spans or self.bytes + size > self.max_bytes):
            return None
        for span in keep.values():
            held = self.open.get(span.trace_id)
            if held is None:
                held = self.open[span.trace_id] = TraceAssembly(span.trace_id, now, now)
            held.add(span, now)
        self.spans += len(keep)
        self.bytes += size
        return rejected

    def refuse(self, trace_id: str, reason: str) -> None:
        """No outcome can come of this trace: drop what is held of it, reject what follows."""
        held = self.open.pop(trace_id, None)
        if held is not None:
            self._release(held)
        self.refused[trace_id] = reason
        self.refused.move_to_end(trace_id)
        while len(self.refused) > self.remember:
            self.refused.popitem(last=False)

    # ---------------------------------------------------------------- giving traces out
    def due(self, now: float, *, force: bool = False) -> list[tuple[TraceAssembly, str]]:
        """The traces complete at `now` (all of them when `force`), with why; they move from
        open to writing and keep their place until `done`."""
        ready: list[tuple[TraceAssembly, str]] = []
        for trace_id, held in list(self.open.items()):
            why = "shutdown" if force else held.completion(now, self.rule)
            if why is not None:
                del self.open[trace_id]
                self.writing[trace_id] = held
                ready.append((held, why))
        return ready

    def done(self, held: TraceAssembly) -> None:
        """The trace is written or given up: its place is free again, and it is closed (its
        spans sent again are accepted as they were, new ones are late)."""
        self.writing.pop(held.trace_id, None)
        self._release(held)
        self.closed[held.trace_id] = frozenset(held.spans)
        self.closed.move_to_end(held.trace_id)
        while len(self.closed) > self.remember:
            self.closed.popitem(last=False)

    def _release(self, held: TraceAssembly) -> None:
        self.spans -= len(held.spans)
        self.bytes -= held.size

    @property
    def full(self) -> bool:
        return self.spans >= self.max_spans or self.bytes >= self.max_bytes
