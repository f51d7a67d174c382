"""OTLP/HTTP trace requests, decoded as the specification defines them.

- Content-Type `application/x-protobuf` (binary protobuf) or `application/json` (the OTLP
  JSON encoding: protobuf's JSON mapping, except that trace and span ids are hex strings, not
  base64; field names lowerCamelCase (the original names are read too); enums as integers;
  unknown fields ignored). Anything else: 415.
- Content-Encoding `gzip`, `deflate` or none; anything else: 415. A body larger than the limit,
  compressed or once inflated, is 413: inflation stops at the limit (no zip bombs).
- Decoding is the `opentelemetry-proto` package's ExportTraceServiceRequest (protobuf), with
  `google.protobuf.json_format` for JSON: no hand-written parser. A body that cannot be
  decoded is 400, naming what is wrong; nothing of it is kept.

A decoded request becomes SpanRecords. A span that decodes but cannot be a span (ids of the
wrong length or all zero, no start time, an end before its start) is rejected by itself and
reported in the partial success; the others go on.
"""

import base64
import binascii
import json
import zlib
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from google.protobuf import json_format  # type: ignore[import-untyped]
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from arc.database.core.errors import ArcValidationError
from arc.database.otel.spans import (
    MAX_ATTRIBUTES,
    MAX_DEPTH,
    MAX_EVENTS,
    MAX_TEXT,
    ExceptionEvent,
    Rejection,
    SpanRecord,
    text_size,
)

Encoding = Literal["protobuf", "json"]
PROTOBUF_TYPE = "application/x-protobuf"
JSON_TYPE = "application/json"
MEDIA_TYPES: dict[str, Encoding] = {PROTOBUF_TYPE: "protobuf", JSON_TYPE: "json"}
CONTENT_TYPES: dict[Encoding, str] = {"protobuf": PROTOBUF_TYPE, "json": JSON_TYPE}


class OtlpRequestError(ArcValidationError):
    """The request cannot be taken as it is (HTTP `status`); nothing of it was kept."""

    status = 400


class UnsupportedMediaType(OtlpRequestError):
    status = 415


class PayloadTooLarge(OtlpRequestError):
    status = 413


# ---------------------------------------------------------------------------- the envelope
def encoding_of(content_type: str | None) -> Encoding:
    """`protobuf` or `json` from the Content-Type header (parameters such as charset ignored)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise UnsupportedMediaType(
            "Content-Type",
            f"must be {PROTOBUF_TYPE} or {JSON_TYPE} (OTLP/HTTP)",
            value=content_type or None,
        )
    return MEDIA_TYPES[media]


def inflate(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body without its Content-Encoding, at most `limit` bytes."""
    coding = (content_encoding or "identity").strip().lower()
    if coding in ("identity", "none", ""):
        data = body
    elif coding in ("gzip", "x-gzip"):
        data = _inflate(body, zlib.MAX_WBITS | 16, limit, coding)
    elif coding == "deflate":
        try:  # HTTP's deflate is the zlib format; some clients send raw deflate
            data = _inflate(body, zlib.MAX_WBITS, limit, coding)
        except OtlpRequestError as exc:
            if isinstance(exc, PayloadTooLarge):
                raise
            data = _inflate(body, -zlib.MAX_WBITS, limit, coding)
    else:
        raise UnsupportedMediaType(
            "Content-Encoding", "must be gzip, deflate or none", value=content_encoding
        )
    if len(data) > limit:
        raise PayloadTooLarge("body", f"must be at most {limit} bytes", value=len(data))
    return data


def _inflate(body: bytes, wbits: int, limit: int, coding: str) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise OtlpRequestError("body", f"is not valid {coding} data ({exc})") from None
    if len(data) > limit:
        raise PayloadTooLarge("body", f"must inflate to at most {limit} bytes", value=f">{limit}")
    if not inflater.eof:
        raise OtlpRequestError("body", f"is truncated {coding} data")
    return data


# ---------------------------------------------------------------------------- the message
def parse(data: bytes, encoding: Encoding) -> ExportTraceServiceRequest:
    """The ExportTraceServiceRequest in `data`; OtlpRequestError (400) if it is not one."""
    message = ExportTraceServiceRequest()
    if encoding == "protobuf":
        try:
            message.ParseFromString(data)
        except DecodeError as exc:
            raise OtlpRequestError(
                "body", f"is not a protobuf ExportTraceServiceRequest ({exc})"
            ) from None
        return message
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OtlpRequestError("body", f"is not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise OtlpRequestError("body", "must be a JSON object (an ExportTraceServiceRequest)")
    _ids_to_base64(document)
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise OtlpRequestError(
            "body", f"is not an OTLP JSON ExportTraceServiceRequest ({exc})"
        ) from None
    return message


def _field(node: dict[str, Any], camel: str, snake: str) -> tuple[str, Any]:
    return (camel, node[camel]) if camel in node else (snake, node.get(snake))


def _items(node: Any, camel: str, snake: str, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(node, dict):
        return
    name, value = _field(node, camel, snake)
    if value is None:
        return
    if not isinstance(value, list):
        raise OtlpRequestError(f"{path}{name}", "must be a JSON array")
    for i, item in enumerate(value):
        if isinstance(item, dict):
            yield f"{path}{name}[{i}].", item


_ID_FIELDS = (("traceId", "trace_id"), ("spanId", "span_id"), ("parentSpanId", "parent_span_id"))


def _ids_to_base64(document: dict[str, Any]) -> None:
    """OTLP JSON writes ids in hex; protobuf's JSON mapping reads bytes as base64."""
    for rpath, resource in _items(document, "resourceSpans", "resource_spans", ""):
        for spath, scope in _items(resource, "scopeSpans", "scope_spans", rpath):
            for path, span in _items(scope, "spans", "spans", spath):
                _convert_ids(span, path)
                for lpath, link in _items(span, "links", "links", path):
                    _convert_ids(link, lpath)


def _convert_ids(node: dict[str, Any], path: str) -> None:
    for camel, snake in _ID_FIELDS:
        name, value = _field(node, camel, snake)
        if value is None:
            continue
        if not isinstance(value, str):
            raise OtlpRequestError(f"{path}{name}", "must be a hex string", value=value)
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise OtlpRequestError(
                f"{path}{name}", "must be a hex string (OTLP JSON ids are hex, not base64)",
                value=value[:64],
            ) from None  # fmt: skip
        node[name] = base64.b64encode(raw).decode("ascii")


# ---------------------------------------------------------------------------- the spans
def flatten(value: AnyValue, depth: int = 0) -> Any:
    """An OTLP AnyValue as a Python value (bytes as hex, long strings cut)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value[:MAX_TEXT]
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bytes_value":
        return binascii.hexlify(value.bytes_value[: MAX_TEXT // 2]).decode("ascii")
    if depth >= MAX_DEPTH:
        return None
    if kind == "array_value":
        return [flatten(v, depth + 1) for v in value.array_value.values[:MAX_ATTRIBUTES]]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values, depth + 1)
    return None


def attributes(pairs: Any, depth: int = 0) -> dict[str, Any]:
    """KeyValue list -> dict (the last of repeated keys wins; at most MAX_ATTRIBUTES)."""
    found: dict[str, Any] = {}
    pair: KeyValue
    for pair in pairs:
        if len(found) >= MAX_ATTRIBUTES and pair.key not in found:
            break
        found[pair.key[:256]] = flatten(pair.value, depth)
    return found


def _span_problem(span: Span) -> str | None:
    if len(span.trace_id) != 16 or not any(span.trace_id):
        return "traceId must be 16 bytes, not all zero"
    if len(span.span_id) != 8 or not any(span.span_id):
        return "spanId must be 8 bytes, not all zero"
    if span.parent_span_id and len(span.parent_span_id) != 8:
        return "parentSpanId must be empty or 8 bytes"
    if span.start_time_unix_nano <= 0:
        return "startTimeUnixNano is required"
    if span.end_time_unix_nano < span.start_time_unix_nano:
        return "endTimeUnixNano must not be before startTimeUnixNano"
    return None


def _exceptions(span: Span) -> tuple[ExceptionEvent, ...]:
    found: list[ExceptionEvent] = []
    for event in span.events:
        if event.name != "exception":
            continue
        values = attributes(event.attributes)
        kind, message = values.get("exception.type"), values.get("exception.message")
        found.append(
            ExceptionEvent(
                type=str(kind) if kind is not None else "",
                message=str(message) if message is not None else "",
                time_ns=event.time_unix_nano,
            )
        )
        if len(found) >= MAX_EVENTS:
            break
    return tuple(found)


def spans_of(message: ExportTraceServiceRequest) -> tuple[list[SpanRecord], list[Rejection]]:
    """Every span of the request as a SpanRecord, and the spans that cannot be one."""
    records: list[SpanRecord] = []
    rejected: list[Rejection] = []
    for resource_spans in message.resource_spans:
        resource: Mapping[str, Any] = attributes(resource_spans.resource.attributes)
        # the resource's attributes are shared by its spans: each carries its share
        count = sum(len(scope.spans) for scope in resource_spans.scope_spans) or 1
        share = sum(text_size(k) + text_size(v) for k, v in resource.items()) // count
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                problem = _span_problem(span)
                trace_id, span_id = span.trace_id.hex(), span.span_id.hex()
                if problem is not None:
                    rejected.append(Rejection(trace_id or None, span_id or None, problem))
                    continue
                values = attributes(span.attributes)
                exceptions = _exceptions(span)
                name = span.name[:512]
                size = (
                    400
                    + share
                    + len(name)
                    + sum(text_size(k) + text_size(v) for k, v in values.items())
                    + sum(120 + len(e.type) + len(e.message) for e in exceptions)
                )
                records.append(
                    SpanRecord(
                        trace_id=trace_id,
                        span_id=span_id,
                        parent_span_id=span.parent_span_id.hex() or None,
                        name=name,
                        kind=span.kind,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        status_code=span.status.code,
                        status_message=span.status.message[:MAX_TEXT],
                        attributes=values,
                        resource=resource,
                        exceptions=exceptions,
                        size=size,
                    )
                )
    return records, rejected
