"""What POST /v1/traces answers, encoded as the request was (OTLP/HTTP).

- 200: an ExportTraceServiceResponse; when spans were rejected, its `partial_success` has
  `rejected_spans` and an `error_message` naming them (span and trace ids, and why). A full
  success leaves partial_success unset, as the specification asks.
- 4xx / 5xx: a google.rpc.Status with the reason (400, 413, 415: the request is wrong and must
  not be retried as it is; 429 and 503 carry `Retry-After`: retry the same request later).
A request whose Content-Type is not supported gets its Status as JSON.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from google.protobuf import json_format  # type: ignore[import-untyped]
from google.protobuf.message import Message  # type: ignore[import-untyped]
from google.rpc.status_pb2 import Status  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from arc.database.otel.decode import CONTENT_TYPES, Encoding
from arc.database.otel.spans import Rejection

MAX_LISTED = 20  # (trace, reason) entries in the error message; the count covers all
MAX_SPANS_LISTED = 10  # span ids named per entry
MAX_MESSAGE = 8192
# google.rpc.Code of each HTTP status the receiver answers with
RPC_CODES = {400: 3, 413: 3, 415: 3, 429: 8, 500: 13, 503: 14}


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _encode(message: Message, encoding: Encoding) -> bytes:
    if encoding == "protobuf":
        return bytes(message.SerializeToString())
    return json.dumps(json_format.MessageToDict(message), separators=(",", ":")).encode()


def rejection_message(rejected: Sequence[Rejection]) -> str:
    """`N span(s) rejected: trace T spans S1, S2: why; ...`, one entry per trace and reason (the
    first MAX_LISTED entries, MAX_SPANS_LISTED span ids each)."""
    groups: dict[tuple[str | None, str], list[str]] = {}
    for r in rejected:
        groups.setdefault((r.trace_id, r.reason), []).append(r.span_id or "?")
    entries = []
    for (trace, reason), spans in list(groups.items())[:MAX_LISTED]:
        listed = ", ".join(spans[:MAX_SPANS_LISTED])
        if len(spans) > MAX_SPANS_LISTED:
            listed += f" and {len(spans) - MAX_SPANS_LISTED} more"
        entries.append(
            f"trace {trace or '?'} span{'s' if len(spans) > 1 else ''} {listed}: {reason}"
        )
    more = f"; and {len(groups) - MAX_LISTED} more" if len(groups) > MAX_LISTED else ""
    text = f"{len(rejected)} span(s) rejected: {'; '.join(entries)}{more}"
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def accepted(encoding: Encoding, rejected: Sequence[Rejection]) -> Reply:
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = len(rejected)
        response.partial_success.error_message = rejection_message(rejected)
    return Reply(200, CONTENT_TYPES[encoding], _encode(response, encoding))


def refused(
    encoding: Encoding, status: int, message: str, *, retry_after: int | None = None
) -> Reply:
    body = _encode(Status(code=RPC_CODES.get(status, 2), message=message[:MAX_MESSAGE]), encoding)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return Reply(status, CONTENT_TYPES[encoding], body, headers)
