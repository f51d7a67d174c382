"""OpenTelemetry trace ingestion: OTLP/HTTP spans (GenAI semantic conventions) become outcomes,
tool usage and failure patterns (docs/otel.md). Extra `otel` (opentelemetry-proto).

One module per responsibility: `decode` (the HTTP body -> spans), `assembly` (a trace and its
completion rule), `buffer` (the bounded buffer), `simulations` (the request-time check),
`mapping` (a trace -> rows), `prices` (the price table), `replies` (the responses), `receiver`
(all of it, and the writer), `endpoint` (the Starlette route of `arc-db serve`).
"""

from arc.database.otel.mapping import OUTCOME_NAMESPACE, TraceRows, map_trace, outcome_id_of
from arc.database.otel.prices import DEFAULT_PRICES, Price, PriceTable
from arc.database.otel.receiver import OtlpReceiver, ReceiverStats
from arc.database.otel.settings import OtelSettings

__all__ = [
    "DEFAULT_PRICES",
    "OUTCOME_NAMESPACE",
    "OtelSettings",
    "OtlpReceiver",
    "Price",
    "PriceTable",
    "ReceiverStats",
    "TraceRows",
    "map_trace",
    "outcome_id_of",
]
