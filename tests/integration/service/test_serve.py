"""`arc-db serve` as it runs: a subprocess on a free loopback port, talked to over real HTTP.

/healthz answers without the database; /readyz is 200 on the test database and 503 on one
that cannot be reached, within its time bound; /metrics carries the database-side figures,
read once per cache period however many scrapes arrive; SIGTERM lets an in-flight request
finish (the test holds a lock the request waits for), then the process disposes its engine
and exits 0.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text

from arc.database.core.settings import to_psycopg_url
from tests.conftest import ROOT
from tests.support.faults import free_port
from tests.support.served import Served
from tests.support.served import start as start_service
from tests.support.topology import on_database, replica_url

__all__ = ["replica_url"]

APPLICATION_NAME = "arc-eval-db-serve"  # what the service's connections are called


def _env(**extra: str) -> dict[str, str]:
    drop = {"TIMESCALE_SERVICE_URL", "ARC_DB_READ_URL", "ARC_DB_APPLICATION_NAME"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("ARC_SERVE")}
    env.update(extra)
    return env


def start(
    tmp_path: Path, url: str, *args: str, port: int | None = None, env: dict[str, str] | None = None
) -> Served:
    """`arc-db serve` on a free port; returns once /healthz answers."""
    return start_service(tmp_path, url, *args, port=port, env=env or _env())


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[list[Served]]:
    """Started services, stopped at the end; each must exit 0 on SIGTERM."""
    started: list[Served] = []
    yield started
    for served in started:
        code = served.stop()
        assert code == 0, served.stderr()


@pytest.fixture
def sync_engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(to_psycopg_url(database_url), pool_size=2, max_overflow=0)
    yield engine
    engine.dispose()


def metric(body: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", body, flags=re.M)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def wait_for_lock_waiter(engine: Engine, timeout: float = 20.0) -> None:
    """Until a connection of the service waits on a lock (the request is in flight)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = :app AND wait_event_type = 'Lock'"
                ),
                {"app": APPLICATION_NAME},
            ).scalar_one()
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError("the request never waited on the lock")


# --------------------------------------------------------------------------- the endpoints
def test_the_three_endpoints(database_url: str, tmp_path: Path, serve: list[Served]) -> None:
    served = start(tmp_path, database_url)
    serve.append(served)

    alive = served.get("/healthz")
    assert alive.status_code == 200
    assert alive.json() == {"status": "alive"}

    ready = served.get("/readyz")
    body = ready.json()
    assert ready.status_code == 200, body
    assert body["status"] in ("healthy", "degraded")
    names = [c["name"] for c in body["checks"]]
    assert names == ["connection_pool", "extensions", "hypertables", "jobs", "aggregates"]
    assert "write_performance" not in names  # nothing is written, not even rolled back

    scraped = served.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    text_ = scraped.text
    assert metric(text_, "arc_db_database_up") == 1.0
    assert metric(text_, 'arc_db_health_status{check="overall"}') in (0.0, 1.0)
    assert metric(text_, "arc_db_database_bytes") > 1_000_000
    assert metric(text_, "arc_db_server_max_connections") >= 1
    assert metric(text_, 'arc_db_hypertable_bytes{hypertable="outcomes",stage="total"}') >= 0
    assert "arc_db_client_" not in text_  # the service owns no client


def test_metrics_are_read_once_per_cache_period(
    database_url: str, tmp_path: Path, serve: list[Served]
) -> None:
    """A scrape storm costs the database one collection per --metrics-ttl."""
    served = start(tmp_path, database_url, "--metrics-ttl", "3")
    serve.append(served)
    with ThreadPoolExecutor(max_workers=20) as pool:
        bodies = list(pool.map(lambda _: served.get("/metrics").text, range(20)))
    assert {metric(b, "arc_db_database_collections_total") for b in bodies} == {1.0}
    time.sleep(3.2)
    assert metric(served.get("/metrics").text, "arc_db_database_collections_total") == 2.0


def test_readyz_is_503_when_the_database_cannot_be_reached(
    tmp_path: Path, serve: list[Served]
) -> None:
    closed = free_port()  # nothing listens there: connections are refused
    served = start(tmp_path, f"postgresql://arc:arc@127.0.0.1:{closed}/arc", "--ready-timeout", "3")
    serve.append(served)
    assert served.get("/healthz").status_code == 200  # liveness does not need the database

    started = time.monotonic()
    ready = served.get("/readyz")
    assert time.monotonic() - started < 10
    body = ready.json()
    assert ready.status_code == 503, body
    assert body["status"] == "unhealthy"
    pool = next(c for c in body["checks"] if c["name"] == "connection_pool")
    assert pool["status"] == "unhealthy"
    assert any("refused" in r.lower() or "connect" in r.lower() for r in pool["reasons"]), pool

    scraped = served.get("/metrics")
    assert scraped.status_code == 200
    assert metric(scraped.text, "arc_db_database_up") == 0.0
    assert metric(scraped.text, 'arc_db_health_status{check="overall"}') == 2.0


def test_readyz_is_bounded_in_time(
    database_url: str, tmp_path: Path, serve: list[Served], sync_engine: Engine
) -> None:
    """Checks stuck behind a lock: 503 after --ready-timeout, 200 again once released."""
    served = start(tmp_path, database_url, "--ready-timeout", "2")
    serve.append(served)
    with sync_engine.connect() as locker:
        locker.execute(text("LOCK TABLE outcomes IN ACCESS EXCLUSIVE MODE"))
        started = time.monotonic()
        ready = served.get("/readyz")
        elapsed = time.monotonic() - started
        locker.rollback()
    body = ready.json()
    assert ready.status_code == 503, body
    assert 1.5 < elapsed < 8, elapsed
    assert any("did not finish within 2s" in r for r in body["reasons"]), body["reasons"]
    time.sleep(1.1)  # past the readiness cache
    again = served.get("/readyz")
    assert again.status_code == 200, again.json()


def test_readyz_checks_the_replica_of_arc_db_read_url(
    database_url: str, replica_url: str, tmp_path: Path, serve: list[Served]
) -> None:
    env = _env(ARC_DB_READ_URL=on_database(replica_url, database_url))
    served = start(tmp_path, database_url, env=env)
    serve.append(served)
    body = served.get("/readyz").json()
    replica = next(c for c in body["checks"] if c["name"] == "replica")
    assert replica["details"]["configured"] is True
    assert replica["details"]["standby"] is True, replica


# --------------------------------------------------------------------------- lifecycle
def test_sigterm_lets_the_request_in_flight_finish(
    database_url: str, tmp_path: Path, sync_engine: Engine
) -> None:
    served = start(tmp_path, database_url, "--ready-timeout", "30")
    try:
        answer: dict[str, httpx.Response] = {}
        with sync_engine.connect() as locker:
            locker.execute(text("LOCK TABLE outcomes IN ACCESS EXCLUSIVE MODE"))
            request = threading.Thread(target=lambda: answer.update(r=served.get("/readyz", 60)))
            request.start()
            wait_for_lock_waiter(sync_engine)
            served.process.send_signal(signal.SIGTERM)
            refused = False
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not refused:
                try:
                    with socket.create_connection(("127.0.0.1", served.port), timeout=1):
                        time.sleep(0.1)
                except OSError:
                    refused = True  # no new connections once stopping
            assert refused, "still accepting connections after SIGTERM"
            assert request.is_alive(), "the request ended before the lock was released"
            assert served.process.poll() is None, "exited with a request in flight"
            locker.rollback()
        request.join(timeout=30)
        response = answer["r"]
        assert response.status_code == 200, response.text
        assert response.json()["status"] in ("healthy", "degraded")
        assert served.process.wait(timeout=30) == 0, served.stderr()
        assert "service.stopped" in served.stderr()
        assert "engines_disposed=True" in served.stderr()
    finally:
        if served.process.poll() is None:
            served.process.kill()


# --------------------------------------------------------------------------- configuration
def test_address_and_port_from_the_environment(
    database_url: str, tmp_path: Path, serve: list[Served]
) -> None:
    port = free_port()
    env = _env(ARC_SERVE_HOST="127.0.0.1", ARC_SERVE_PORT=str(port))
    served = start(tmp_path, database_url, port=port, env=env)
    serve.append(served)
    assert served.get("/healthz").status_code == 200
    assert f"listening on http://127.0.0.1:{port}" in served.stderr()


def test_bad_port_and_taken_port_are_explained(database_url: str) -> None:
    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "arc.database.cli", "--url", database_url, "serve"]
        return subprocess.run(
            [*command, *args], cwd=ROOT, env=_env(**env), capture_output=True, text=True, timeout=60
        )

    bad = run(ARC_SERVE_PORT="http")
    assert bad.returncode == 2
    assert "ARC_SERVE_PORT" in bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = run("--port", str(taken.getsockname()[1]))
    assert busy.returncode == 3
    assert "cannot listen on 127.0.0.1" in busy.stderr


def test_a_missing_extra_is_explained(database_url: str) -> None:
    """Without uvicorn (blocked from importing, as if not installed): exit 2 and the extra."""
    program = (
        "import sys; sys.modules['uvicorn'] = None; "
        "from arc.database.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, "--url", database_url, "serve"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'arc-eval-db[server]'" in done.stderr
