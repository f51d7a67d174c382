"""What the OTLP receiver is told, from ARC_OTEL_* variables (docs/otel.md has the table).

Defaults suit exporters with the SDK's default batching (BatchSpanProcessor exports every
5 s): a trace is complete once its outcome span has arrived and nothing more came for
`quiet_s` (10 s, longer than one export interval, so a trace whose spans straddle two
batches is still whole), and at the latest `max_age_s` (600 s) after its first span.
"""

import os
from dataclasses import dataclass, fields

from arc.database.core.errors import ArcConfigurationError


@dataclass(frozen=True)
class OtelSettings:
    quiet_s: float = 10.0  # ARC_OTEL_QUIET_S
    max_age_s: float = 600.0  # ARC_OTEL_MAX_AGE_S
    max_spans: int = 50_000  # ARC_OTEL_MAX_SPANS: spans buffered (open + being written)
    max_buffer_bytes: int = 64 << 20  # ARC_OTEL_MAX_BUFFER_BYTES: their estimated size
    max_trace_spans: int = 5_000  # ARC_OTEL_MAX_TRACE_SPANS: spans kept of one trace
    max_body_bytes: int = 16 << 20  # ARC_OTEL_MAX_BODY_BYTES: a request, before and after gzip
    retry_after_s: int = 5  # ARC_OTEL_RETRY_AFTER_S: the Retry-After of a 429 / 503
    batch_traces: int = 200  # ARC_OTEL_BATCH_TRACES: traces written per transaction
    lookup_timeout_s: float = 5.0  # ARC_OTEL_LOOKUP_TIMEOUT_S: the simulation check's bound
    simulation_cache_s: float = 5.0  # ARC_OTEL_SIMULATION_CACHE_S: how long an open one is trusted
    remember_traces: int = 10_000  # ARC_OTEL_REMEMBER_TRACES: written / refused traces known
    pool_size: int = 4  # ARC_OTEL_POOL_SIZE: connections of the receiver's own client
    prices: str | None = None  # ARC_OTEL_PRICES: a JSON price table (prices.py)

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "prices" or value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ArcConfigurationError(_variable(item.name), f"must be positive: {value!r}")
        if self.max_age_s < self.quiet_s:
            raise ArcConfigurationError("ARC_OTEL_MAX_AGE_S", "must not be below ARC_OTEL_QUIET_S")

    @classmethod
    def from_env(cls) -> "OtelSettings":
        values: dict[str, object] = {}
        for item in fields(cls):
            raw = os.environ.get(_variable(item.name))
            if raw is None or raw == "":
                continue
            if item.name == "prices":
                values[item.name] = raw
                continue
            kind = int if isinstance(item.default, int) else float
            try:
                values[item.name] = kind(raw)
            except ValueError:
                raise ArcConfigurationError(
                    _variable(item.name), f"must be a {kind.__name__}: {raw!r}"
                ) from None
        return cls(**values)  # type: ignore[arg-type]


def _variable(name: str) -> str:
    return f"ARC_OTEL_{name.upper()}"
