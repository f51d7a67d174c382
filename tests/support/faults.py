"""Helpers for the write-path tests: seed rows, realistic scenario results, fault injection.

- `TcpProxy`: a loopback TCP proxy between the client and the server that can cut every
  connection on demand (or when it sees a given message from the client, e.g. COMMIT).
- `ThrowawayCluster`: a PostgreSQL cluster of our own (initdb in a temporary folder, loopback,
  free port) that a test may stop and restart; the shared servers are never touched.
"""

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

PG_BIN = "/usr/lib/postgresql/15/bin"


# ----------------------------------------------------------------------------- data


async def make_config_version(engine: AsyncEngine) -> uuid.UUID:
    """A configuration and its first version (simulations reference config_versions)."""
    config_id, version_id = uuid.uuid4(), uuid.uuid4()
    parsed = {"model": "gpt-4o-mini", "temperature": 0.2}
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO configurations (config_id, name, user_id) VALUES (:c, :n, :u)"),
            {"c": config_id, "n": f"write path {config_id.hex[:8]}", "u": uuid.uuid4()},
        )
        await conn.execute(
            text(
                "INSERT INTO config_versions (version_id, config_id, version_number, raw_yaml,"
                " parsed_config, config_hash) VALUES (:v, :c, 1, :y, CAST(:p AS jsonb), :h)"
            ),
            {
                "v": version_id,
                "c": config_id,
                "y": "model: gpt-4o-mini\ntemperature: 0.2\n",
                "p": json.dumps(parsed),
                "h": hashlib.sha256(version_id.bytes).hexdigest(),
            },
        )
        await conn.execute(
            text("UPDATE configurations SET latest_version_id = :v WHERE config_id = :c"),
            {"v": version_id, "c": config_id},
        )
    return version_id


def scenario(slug: str, index: int = 0) -> dict[str, Any]:
    return {
        "id": slug,
        "name": f"Weather query test {index}",
        "task_prompt": f"What's the weather in city number {index}? Answer briefly.",
        "difficulty_level": "easy",
        "tags": ["weather", "tools"],
    }


def scenario_result(
    scen: dict[str, Any], *, ok: bool = True, score: float = 0.85, tools: int = 3
) -> dict[str, Any]:
    """A scenario result shaped like seed 003's evaluate_single_scenario output (~1.7 KB)."""
    steps: list[dict[str, Any]] = []
    for i in range(tools):
        steps.append(
            {
                "type": "tool_call",
                "tool_name": "weather_api" if i % 2 == 0 else "geocode",
                "arguments": {"city": "New York", "units": "metric", "step": i},
                "duration_ms": 120.0 + i,
                "success": ok or i < tools - 1,
                "error": None if ok or i < tools - 1 else "HTTP 503 from weather_api",
                "output": "Partly cloudy, 18C, wind 12 km/h from the north-west. " * 2,
            }
        )
    trajectory: dict[str, Any] = {
        "status": "success" if ok else "error",
        "task_prompt": scen["task_prompt"],
        "final_response": "The weather in NYC is partly cloudy with 18C." if ok else "",
        "execution_time_seconds": 2.5,
        "full_trajectory": steps,
        "token_usage": {
            "prompt_tokens": 150,
            "completion_tokens": 50,
            "total_tokens": 200,
            "total_cost": 0.006,
        },
    }
    if not ok:
        trajectory["error"] = "Tool weather_api failed: HTTP 503"
    return {
        "scenario": scen,
        "trajectory": trajectory,
        "reliability_score": {
            "overall_score": score if ok else 0.2,
            "grade": "B" if ok else "F",
            "dimension_scores": {
                "tool_execution": 0.9,
                "response_quality": 0.8,
                "error_handling": 0.85,
                "performance": 0.9,
                "completeness": 0.8,
            },
        },
        "detailed_trajectory": {"start_time": "2025-01-01T00:00:00+00:00", "turns": len(steps)},
    }


def outcome_dict(simulation_id: str, scenario_id: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "simulation_id": simulation_id,
        "scenario_id": scenario_id,
        "status": "success",
        "reliability_score": 0.9,
        "execution_time_ms": 1500,
        "tokens_used": 250,
        "cost_usd": 0.02,
        "trajectory": {
            "start_time": "2025-01-01T00:00:00+00:00",
            "status": "completed",
            "steps": [{"tool": "search", "output": "x" * 64}],
        },
    }
    base.update(overrides)
    return base


async def count(engine: AsyncEngine, sql: str, **params: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar() or 0)


# ----------------------------------------------------------------------------- proxy


class TcpProxy:
    """Loopback TCP proxy. `cut()` closes every open connection at once.

    `cut_on(marker)` arms a one-shot trigger: the first client packet containing `marker`
    (e.g. b"COMMIT") closes that connection; with `forward=True` the packet is delivered to
    the server first (the server commits, the client never hears back: a lost ack).
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._marker: bytes | None = None
        self._forward = False
        self.cuts = 0
        self.refuse = False  # when set, new connections are dropped at once
        self.triggered = asyncio.Event()

    async def start(self) -> "TcpProxy":
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        for client_w, server_w in list(self._pairs):
            self._close(client_w, server_w)
        self.cuts += 1

    def cut_on(self, marker: bytes, *, forward: bool) -> None:
        self.triggered.clear()
        self._marker = marker
        self._forward = forward

    def _close(self, client_w: asyncio.StreamWriter, server_w: asyncio.StreamWriter) -> None:
        for w in (client_w, server_w):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self._pairs.discard((client_w, server_w))

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.refuse:
            client_w.transport.abort()
            return
        try:
            server_r, server_w = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            client_w.transport.abort()
            return
        pair = (client_w, server_w)
        self._pairs.add(pair)
        muted = False  # once set, server replies are dropped (the client never hears back)

        async def upstream() -> None:
            while data := await client_r.read(65536):
                marker = self._marker
                if marker is not None and marker in data:
                    self._marker = None
                    if self._forward:
                        nonlocal muted
                        muted = True
                        server_w.write(data)
                        await server_w.drain()
                        await asyncio.sleep(0.2)  # let the server act on it
                    self.triggered.set()
                    self._close(client_w, server_w)
                    return
                server_w.write(data)
                await server_w.drain()

        async def downstream() -> None:
            while data := await server_r.read(65536):
                if muted:
                    continue
                client_w.write(data)
                await client_w.drain()

        tasks = [asyncio.create_task(upstream()), asyncio.create_task(downstream())]
        try:
            # When either side closes, close the other: a half-open pair would hang the peer.
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._close(client_w, server_w)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


# ----------------------------------------------------------------------------- cluster


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cluster_available() -> str | None:
    """None when a throwaway cluster can be made here, else the reason it cannot."""
    if not os.path.exists(os.path.join(PG_BIN, "initdb")):
        return f"PostgreSQL binaries not found in {PG_BIN}"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: initdb refuses root"
    try:
        subprocess.run(["id", "postgres"], check=True, capture_output=True)
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "no 'postgres' system user to own the throwaway cluster"
    return None


class ThrowawayCluster:
    """A private PostgreSQL 15 cluster (TimescaleDB preloaded) on a free loopback port."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="arc_write_cluster_")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.url = f"postgresql://arc:arc@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)

    def init(self) -> None:
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write("arc\n")
        subprocess.run(["chown", "-R", "postgres", self.dir], check=True)
        self._as_postgres(
            f"{PG_BIN}/initdb",
            "-D",
            self.data,
            "-U",
            "arc",
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.dir}'\nmax_connections = 100\n"
                "shared_preload_libraries = 'timescaledb'\ntimescaledb.telemetry_level = off\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )

    def start(self) -> None:
        self._as_postgres(
            f"{PG_BIN}/pg_ctl",
            "-D",
            self.data,
            "-l",
            os.path.join(self.dir, "log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


async def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.05)
