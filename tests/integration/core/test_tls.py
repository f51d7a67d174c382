"""TLS against the real test server (certificates of the harness's local CA): the libpq
parameters sslmode, sslrootcert, sslcert and sslkey are honoured, and a wrong CA or host name
is refused with a clear error, for the engine, the client and the migrations."""

import ssl
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from arc.database.core.engine import build_engine
from arc.database.core.errors import ArcConfigurationError
from arc.database.ingest.client import ArcDBClient
from arc.database.schema.migrate import locked_migration
from tests.support.topology import tls_dir

__all__ = ["tls_dir"]
# Every test here needs the harness's TLS server (skips, or fails in CI, without it).
pytestmark = pytest.mark.usefixtures("tls_dir")


def _with(url: str, host: str | None = None, **query: str) -> str:
    target = make_url(url)
    if host is not None:
        target = target.set(host=host)
    return target.update_query_dict(query).render_as_string(hide_password=False)


async def _tls_state(url: str) -> tuple[bool, str | None]:
    engine = build_engine(url=url, pool_size=1, max_overflow=0, connect_timeout=5)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                )
            ).one()
        return bool(row[0]), row[1]
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA the server's certificate does not come from."""
    folder = tmp_path_factory.mktemp("other-ca")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=someone else",
            "-keyout",
            str(folder / "ca.key"),
            "-out",
            str(folder / "ca.crt"),
        ],
        check=True,
        capture_output=True,
    )
    return folder / "ca.crt"


async def test_verify_full_with_the_right_ca_and_a_client_certificate(
    database_url: str, tls_dir: Path
) -> None:
    url = _with(
        database_url,
        sslmode="verify-full",
        sslrootcert=str(tls_dir / "ca.crt"),
        sslcert=str(tls_dir / "client.crt"),
        sslkey=str(tls_dir / "client.key"),
    )
    encrypted, client_dn = await _tls_state(url)
    assert encrypted
    assert client_dn == "/CN=arc"  # the client certificate reached the server


@pytest.mark.parametrize(
    ("mode", "encrypted"), [("require", True), ("prefer", True), ("disable", False)]
)
async def test_the_mode_decides_encryption(database_url: str, mode: str, encrypted: bool) -> None:
    assert (await _tls_state(_with(database_url, sslmode=mode)))[0] is encrypted


async def test_a_wrong_ca_is_refused(database_url: str, other_ca: Path) -> None:
    for mode in ("verify-ca", "verify-full", "require"):  # require + rootcert verifies (libpq)
        url = _with(database_url, sslmode=mode, sslrootcert=str(other_ca))
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            await _tls_state(url)


async def test_a_wrong_host_name_is_refused_by_verify_full_only(
    database_url: str, tls_dir: Path
) -> None:
    """The server's certificate names 127.0.0.1; "localhost" reaches the same server."""
    root = str(tls_dir / "ca.crt")
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        await _tls_state(_with(database_url, "localhost", sslmode="verify-full", sslrootcert=root))
    assert (
        await _tls_state(_with(database_url, "localhost", sslmode="verify-ca", sslrootcert=root))
    )[0]


def test_missing_files_are_configuration_errors(database_url: str, tls_dir: Path) -> None:
    for parameter, query in (
        ("sslrootcert", {"sslmode": "verify-full", "sslrootcert": "/nonexistent/ca.crt"}),
        (
            "sslkey",
            {
                "sslmode": "require",
                "sslcert": str(tls_dir / "client.crt"),
                "sslkey": "/nonexistent/client.key",
            },
        ),
    ):
        with pytest.raises(ArcConfigurationError) as caught:
            build_engine(url=_with(database_url, **query))
        assert caught.value.setting == parameter
    with pytest.raises(ArcConfigurationError) as caught:
        build_engine(url=_with(database_url, sslmode="sometimes"))
    assert caught.value.setting == "sslmode"


async def test_the_client_refuses_a_wrong_ca_without_retrying(
    database_url: str, other_ca: Path
) -> None:
    client = ArcDBClient(_with(database_url, sslmode="verify-full", sslrootcert=str(other_ca)))
    try:
        with pytest.raises(ArcConfigurationError, match="certificate verify failed"):
            await client.initialize()
    finally:
        await client.close()


def test_migrations_honour_the_tls_parameters(
    database_url: str, tls_dir: Path, other_ca: Path
) -> None:
    good = _with(database_url, sslmode="verify-full", sslrootcert=str(tls_dir / "ca.crt"))
    assert "(head)" in locked_migration(good, "current")
    bad = _with(database_url, sslmode="verify-full", sslrootcert=str(other_ca))
    with pytest.raises(Exception, match="certificate verify failed"):
        locked_migration(bad, "current")
