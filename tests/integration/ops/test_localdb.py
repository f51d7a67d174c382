"""scripts/localdb.sh beside what is already on the machine: a second checkout's cluster finds
its own free port while the first one runs, and a pinned port that is taken is reported with
the process holding it."""

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import ROOT

SCRIPT = os.path.join(ROOT, "scripts", "localdb.sh")
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("runuser") is None,
    reason="the local cluster runs as the postgres user: starting one needs root (runuser)",
)


def localdb(state: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", SCRIPT, *args],
        env={**os.environ, "ARC_LOCAL_DIR": str(state), "ARC_NO_DOCKER": "1", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def second_checkout(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "other-checkout" / ".local"
    state.mkdir(parents=True)
    yield state
    localdb(state, "stop")
    data = state / "pgdata"
    if data.is_symlink():  # the cluster lived outside the private temp folder
        shutil.rmtree(data.resolve().parent, ignore_errors=True)


def test_a_second_checkout_gets_its_own_port(second_checkout: Path, server_url: str) -> None:
    started = localdb(second_checkout, "start")
    assert started.returncode == 0, started.stderr[-2000:]
    url = started.stdout.strip().splitlines()[-1]
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    assert (second_checkout / "postgres.port").read_text().strip() == str(port)
    ready = subprocess.run(
        ["psql", "-X", "-At", url, "-c", "SELECT inet_server_port()"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ready.stdout.strip() == str(port), ready.stderr
    again = localdb(second_checkout, "start")  # reuses its running cluster
    assert again.stdout.strip().splitlines()[-1] == url
    assert port != make_url(server_url).port  # the suite's own server keeps its port


def test_a_taken_pinned_port_names_the_process_holding_it(second_checkout: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        refused = localdb(second_checkout, "start", ARC_LOCALDB_PORT=str(port))
    assert refused.returncode != 0
    assert f"port {port} (ARC_LOCALDB_PORT) is taken by PID {os.getpid()}" in refused.stderr
    assert not (second_checkout / "pgdata").exists()  # refused before creating anything
