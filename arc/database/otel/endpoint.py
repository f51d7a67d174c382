"""POST /v1/traces: the OTLP/HTTP trace endpoint of `arc-db serve` (a Starlette route).

The body is read up to the receiver's limit (a declared or actual larger one is 413 without
reading further), then handed to OtlpReceiver.receive, whose Reply becomes the response.
"""

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from arc.database.otel.receiver import OtlpReceiver
from arc.database.otel.replies import Reply

PATH = "/v1/traces"


def _response(reply: Reply) -> Response:
    return Response(
        reply.body, status_code=reply.status, media_type=reply.content_type, headers=reply.headers
    )


def routes(receiver: OtlpReceiver) -> list[Route]:
    limit = receiver.settings.max_body_bytes

    async def traces(request: Request) -> Response:
        content_type = request.headers.get("content-type")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return _response(receiver.too_large(content_type, int(declared)))
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > limit:
                return _response(receiver.too_large(content_type, len(body)))
        reply = await receiver.receive(
            bytes(body), content_type, request.headers.get("content-encoding")
        )
        return _response(reply)

    return [Route(PATH, traces, methods=["POST"])]
