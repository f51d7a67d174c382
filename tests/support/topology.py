"""The servers around the test server that `make test` starts (scripts/localdb.sh env): a
PgBouncer in transaction mode, a streaming replica, and the TLS files of the local CA.

Without them (a server given by ARC_TEST_DATABASE_URL alone, or the Docker image) the tests that
need them skip and say why; CI sets ARC_TEST_REQUIRE_TOPOLOGY=1, which turns the skip into a
failure so that they cannot silently stop running.
"""

import os
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url


def _server(url: str) -> tuple[str | None, int | None]:
    parsed = make_url(url)
    return parsed.host, parsed.port


def _required(variable: str, what: str) -> str:
    value = os.environ.get(variable)
    owner = os.environ.get("ARC_TEST_TOPOLOGY_OF")
    tested = os.environ.get("ARC_TEST_DATABASE_URL")
    if value and (not owner or not tested or _server(owner) == _server(tested)):
        return value
    message = f"{what}: set {variable} (make test starts it through scripts/localdb.sh env)"
    if value:  # the harness's servers surround another cluster than the one under test
        message = f"{what}: {variable} belongs to the cluster at {_server(owner or '')}"
    if os.environ.get("ARC_TEST_REQUIRE_TOPOLOGY") == "1":
        pytest.fail(message)
    pytest.skip(message)


def on_database(server: str, database_url: str) -> str:
    """`server`'s URL (host, port, query) pointing at `database_url`'s database."""
    target = make_url(database_url)
    return make_url(server).set(database=target.database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pgbouncer_url() -> str:
    return _required("ARC_TEST_PGBOUNCER_URL", "needs PgBouncer in front of the test server")


@pytest.fixture(scope="session")
def replica_url() -> str:
    return _required("ARC_TEST_REPLICA_URL", "needs a streaming replica of the test server")


@pytest.fixture(scope="session")
def tls_dir() -> Path:
    return Path(_required("ARC_TEST_TLS_DIR", "needs the test server's TLS certificates"))
