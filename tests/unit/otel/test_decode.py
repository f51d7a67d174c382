"""OTLP/HTTP bodies -> spans, without a database: protobuf and JSON (hex ids) decode to the same
spans, gzip and deflate are inflated with a bound, and what cannot be decoded is refused with
the HTTP status and a reason naming what is wrong; a span that decodes but cannot be a span is
rejected alone. Replies are encoded as the request was."""

import gzip
import json
import zlib
from typing import Any

import pytest
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from arc.database.otel.decode import (
    OtlpRequestError,
    PayloadTooLarge,
    UnsupportedMediaType,
    encoding_of,
    inflate,
    parse,
    spans_of,
)
from arc.database.otel.replies import accepted, refused
from arc.database.otel.spans import Rejection
from tests.integration.otel.served import agent_trace, otlp_json, otlp_protobuf

SIMULATION = "7b0a3c1e-9f50-4a43-9d7e-2f4f6d1c8a11"


@pytest.fixture(scope="module")
def trace() -> Any:
    return agent_trace(SIMULATION, "otel_weather")


def _decoded(body: bytes, encoding: Any) -> list[Any]:
    spans, rejected = spans_of(parse(body, encoding))
    assert rejected == []
    return sorted(spans, key=lambda s: s.span_id)


def test_protobuf_and_json_decode_to_the_same_spans(trace: Any) -> None:
    from_protobuf = _decoded(otlp_protobuf(trace.spans), "protobuf")
    from_json = _decoded(otlp_json(trace.spans), "json")
    assert from_protobuf == from_json
    assert len(from_protobuf) == len(trace.spans) == 6
    agent = next(s for s in from_protobuf if s.operation == "invoke_agent")
    assert agent.trace_id == trace.trace_id
    assert agent.parent_span_id is None
    assert agent.arc_ids == (SIMULATION, "otel_weather")
    assert agent.resource["service.name"] == "otel-test"
    failed = [s for s in from_protobuf if s.is_error]
    assert [(e.type, e.message) for e in failed[0].exceptions] == [
        ("TimeoutError", "geocoder timed out after 5s")
    ]
    tool = next(s for s in from_protobuf if s.attributes.get("gen_ai.tool.name") == "weather_api")
    assert tool.parent_span_id == agent.span_id
    assert tool.end_ns > tool.start_ns > 0


def test_json_reads_original_field_names_ints_as_strings_and_ignores_unknown_fields(
    trace: Any,
) -> None:
    document = json.loads(otlp_json(trace.spans[:1]))
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["start_time_unix_nano"] = str(span.pop("startTimeUnixNano"))  # snake_case, a string
    span["someFutureField"] = {"x": 1}
    document["resourceSpans"][0]["futureToo"] = True
    spans, rejected = spans_of(parse(json.dumps(document).encode(), "json"))
    assert rejected == []
    assert spans[0].start_ns == trace.spans[0].start_time


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/x-protobuf", "protobuf"),
        ("application/json", "json"),
        ("Application/JSON; charset=utf-8", "json"),
    ],
)
def test_content_types(content_type: str, expected: str) -> None:
    assert encoding_of(content_type) == expected


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/grpc"])
def test_other_content_types_are_415(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        encoding_of(content_type)
    assert caught.value.status == 415
    assert caught.value.field == "Content-Type"


def test_gzip_and_deflate_are_inflated(trace: Any) -> None:
    body = otlp_protobuf(trace.spans)
    assert inflate(gzip.compress(body), "gzip", 1 << 20) == body
    assert inflate(zlib.compress(body), "deflate", 1 << 20) == body
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert inflate(raw.compress(body) + raw.flush(), "deflate", 1 << 20) == body
    assert inflate(body, None, 1 << 20) == body
    assert inflate(body, "identity", 1 << 20) == body


def test_a_zip_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b"\0" * (50 << 20))  # 50 MiB of zeros in about 50 KiB
    assert len(bomb) < 100_000
    with pytest.raises(PayloadTooLarge) as caught:
        inflate(bomb, "gzip", 1 << 20)
    assert caught.value.status == 413
    with pytest.raises(PayloadTooLarge):
        inflate(b"x" * 2000, None, 1000)


@pytest.mark.parametrize(
    ("body", "coding", "status", "needle"),
    [
        (b"not gzip at all", "gzip", 400, "not valid gzip"),
        (gzip.compress(b"abc" * 100)[:-12], "gzip", 400, "truncated gzip"),
        (b"abc", "br", 415, "Content-Encoding"),
    ],
)
def test_bad_encodings(body: bytes, coding: str, status: int, needle: str) -> None:
    with pytest.raises(OtlpRequestError) as caught:
        inflate(body, coding, 1 << 20)
    assert caught.value.status == status
    assert needle in str(caught.value)


@pytest.mark.parametrize(
    ("body", "encoding", "needle"),
    [
        (b"\xff\xff\xff\xff garbage", "protobuf", "not a protobuf ExportTraceServiceRequest"),
        (b"{not json", "json", "is not JSON"),
        (b"[1, 2]", "json", "must be a JSON object"),
        (b'{"resourceSpans": {"a": 1}}', "json", "resourceSpans: must be a JSON array"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
            "json",
            "resourceSpans[0].scopeSpans[0].spans[0].traceId: must be a hex string",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
            "json",
            "not an OTLP JSON ExportTraceServiceRequest",
        ),
    ],
)
def test_undecodable_bodies_are_400_with_a_reason(body: bytes, encoding: Any, needle: str) -> None:
    with pytest.raises(OtlpRequestError) as caught:
        parse(body, encoding)
    assert caught.value.status == 400
    assert needle in str(caught.value)


def test_a_span_that_cannot_be_one_is_rejected_alone(trace: Any) -> None:
    message = ExportTraceServiceRequest.FromString(otlp_protobuf(trace.spans))
    spans = message.resource_spans[0].scope_spans[0].spans
    spans[0].span_id = b"\x00" * 8
    spans[1].trace_id = b"\x01" * 15
    spans[2].end_time_unix_nano = spans[2].start_time_unix_nano - 1
    spans[3].parent_span_id = b"\x01\x02"
    good, rejected = spans_of(message)
    assert len(good) == 2
    reasons = [r.reason for r in rejected]
    assert reasons == [
        "spanId must be 8 bytes, not all zero",
        "traceId must be 16 bytes, not all zero",
        "endTimeUnixNano must not be before startTimeUnixNano",
        "parentSpanId must be empty or 8 bytes",
    ]
    assert rejected[2].span_id == spans[2].span_id.hex()


def test_attributes_are_bounded() -> None:
    document = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "0af7651916cd43dd8448eb211c80319c",
                                "spanId": "b7ad6b7169203331",
                                "name": "x",
                                "startTimeUnixNano": "1",
                                "endTimeUnixNano": "2",
                                "attributes": [
                                    {"key": "big", "value": {"stringValue": "y" * 100_000}},
                                    {"key": "raw", "value": {"bytesValue": "AAEC"}},
                                    {
                                        "key": "list",
                                        "value": {
                                            "arrayValue": {"values": [{"intValue": "7"}] * 500}
                                        },
                                    },
                                    *[
                                        {"key": f"k{i}", "value": {"boolValue": True}}
                                        for i in range(300)
                                    ],
                                ],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    spans, _ = spans_of(parse(json.dumps(document).encode(), "json"))
    values = spans[0].attributes
    assert len(values["big"]) == 4096
    assert values["raw"] == "000102"
    assert values["list"] == [7] * 128
    assert len(values) == 128
    assert spans[0].size < 20_000


def test_replies_are_encoded_as_the_request_was() -> None:
    missing = [Rejection("ab" * 16, f"{i:016x}", "simulation x does not exist") for i in range(12)]
    others = [Rejection(f"{i:032x}", "cd" * 8, "late") for i in range(25)]
    rejected = [*missing, *others]
    proto = accepted("protobuf", rejected)
    assert proto.status == 200
    assert proto.content_type == "application/x-protobuf"
    response = ExportTraceServiceResponse.FromString(proto.body)
    assert response.partial_success.rejected_spans == 37
    message = response.partial_success.error_message
    assert message.startswith(
        f"37 span(s) rejected: trace {'ab' * 16} spans 0000000000000000, 0000000000000001"
    )
    assert "0000000000000009 and 2 more: simulation x does not exist; " in message
    assert f"trace {0:032x} span {'cd' * 8}: late" in message
    assert message.endswith("; and 6 more")  # 26 entries, 20 listed
    as_json = json.loads(accepted("json", rejected[:1]).body)
    assert as_json["partialSuccess"]["rejectedSpans"] in ("1", 1)
    assert json.loads(accepted("json", []).body) == {}  # a full success sets nothing
    assert ExportTraceServiceResponse.FromString(accepted("protobuf", []).body).ByteSize() == 0
    busy = refused("protobuf", 429, "full", retry_after=3)
    assert busy.headers == {"Retry-After": "3"}
    assert Status.FromString(busy.body).code == 8
    bad = json_format.Parse(refused("json", 400, "why").body, Status())
    assert (bad.code, bad.message) == (3, "why")
