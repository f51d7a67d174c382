"""Loopback HTTP servers that speak the OpenAI (chat completions) and Anthropic (messages) wire
formats, answering from a script: the official SDKs talk to them exactly as to the real APIs.

    with ScriptedServer([reply(429, retry_ms=0), openai_answer({...})]) as server:
        provider = OpenAIProvider(api_key="test", base_url=server.url + "/v1")

Each request takes the next scripted reply (the last one repeats); `server.requests` keeps
what arrived (path, headers, JSON body).
"""

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow provider)


def reply(
    status: int, body: Any = None, *, retry_ms: int | None = None, delay: float = 0.0
) -> Reply:
    headers = {"retry-after-ms": str(retry_ms)} if retry_ms is not None else {}
    error = {"error": {"type": "error", "message": f"scripted {status}"}}
    return Reply(status, body if body is not None else error, headers, delay)


def openai_answer(
    content: Any,
    *,
    model: str = "gpt-4o-mini",
    prompt_tokens: int = 1200,
    completion_tokens: int = 300,
) -> Reply:
    text = content if isinstance(content, str) else json.dumps(content)
    return Reply(
        200,
        {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        },
    )


def anthropic_answer(
    tool_input: Any,
    *,
    model: str = "claude-3-5-sonnet-20241022",
    input_tokens: int = 1500,
    output_tokens: int = 400,
    tool_name: str = "submit_recommendations",
) -> Reply:
    return Reply(
        200,
        {
            "id": "msg_test",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [
                {"type": "tool_use", "id": "toolu_test", "name": tool_name, "input": tool_input}
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        },
    )


class ScriptedServer:
    def __init__(self, script: Sequence[Reply]) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                with server._lock:
                    server.requests.append(
                        {
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": json.loads(raw),
                        }
                    )
                    answer = server.script.pop(0) if len(server.script) > 1 else server.script[0]
                if answer.delay:
                    time.sleep(answer.delay)
                payload = json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for key, value in answer.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout)

            def log_message(self, *_: Any) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> "ScriptedServer":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
