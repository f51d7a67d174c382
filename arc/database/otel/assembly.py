"""One trace being assembled from spans that arrive in any order, over any number of requests,
and the rule that says when it is complete.

Completion rule (docs/otel.md):
1. `quiet`: a span that can be the outcome (an agent invocation or the root, carrying the arc
   ids) has arrived, and no new span of the trace has arrived for `quiet_s` seconds;
2. `max_age`: `max_age_s` seconds after the trace's first span arrived, whatever it holds;
3. `shutdown`: the receiver is stopping.
A span sent again (same span id: an exporter's retry) is not new: it changes nothing and does
not restart the quiet period. Times come from the caller (a monotonic clock).
"""

from dataclasses import dataclass, field

from arc.database.otel.spans import SpanRecord


@dataclass(frozen=True)
class CompletionRule:
    quiet_s: float
    max_age_s: float


@dataclass
class TraceAssembly:
    trace_id: str
    first_seen: float
    last_seen: float
    spans: dict[str, SpanRecord] = field(default_factory=dict)
    size: int = 0
    has_outcome_span: bool = False

    def add(self, span: SpanRecord, now: float) -> bool:
        """Keep `span`; False when it was here already (nothing changes)."""
        if span.span_id in self.spans:
            return False
        self.spans[span.span_id] = span
        self.size += span.size
        self.last_seen = now
        self.has_outcome_span = self.has_outcome_span or span.may_be_outcome
        return True

    def completion(self, now: float, rule: CompletionRule) -> str | None:
        """Why the trace is complete at `now` ("quiet", "max_age"), or None."""
        if now - self.first_seen >= rule.max_age_s:
            return "max_age"
        if self.has_outcome_span and now - self.last_seen >= rule.quiet_s:
            return "quiet"
        return None
