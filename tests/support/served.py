"""`arc-db serve` as a user runs it: a subprocess on a free loopback port, talked to over real
HTTP (the service tests and the OTLP tests)."""

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import ROOT
from tests.support.faults import free_port

STARTUP_TIMEOUT = 60.0


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def traces_url(self) -> str:
        return f"{self.base}/v1/traces"

    def get(self, path: str, timeout: float = 30.0) -> httpx.Response:
        with httpx.Client(trust_env=False, timeout=timeout) as http:
            return http.get(self.base + path)

    def post(self, body: bytes, **headers: str) -> httpx.Response:
        """An OTLP export request to /v1/traces."""
        with httpx.Client(trust_env=False, timeout=30.0) as http:
            return http.post(self.traces_url, content=body, headers=headers)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def start(
    tmp_path: Path, url: str, *args: str, port: int | None = None, env: dict[str, str]
) -> Served:
    """`arc-db serve --url URL ARGS` with `env` on a free port; returns once /healthz answers."""
    port = port or free_port()
    log = tmp_path / f"serve-{port}.log"
    command = [sys.executable, "-m", "arc.database.cli", "--url", url, "--log-level", "INFO"]
    command += ["serve", *args]
    if "--port" not in args and "ARC_SERVE_PORT" not in env:
        command += ["--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=sink
        )
    served = Served(process, port, log)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"arc-db serve exited {process.returncode}: {served.stderr()}")
        try:
            if served.get("/healthz", timeout=1.0).status_code == 200:
                return served
        except httpx.TransportError:
            time.sleep(0.1)
    served.stop()
    raise AssertionError(f"arc-db serve did not answer: {served.stderr()}")
