"""ServiceSettings: flags over ARC_SERVE_* over defaults, and typed errors for bad values."""

import pytest

from arc.database.core.errors import ArcConfigurationError
from arc.database.service.settings import ServiceSettings

URL = "postgresql://arc:secret@127.0.0.1:5432/arc"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ARC_SERVE_HOST", "ARC_SERVE_PORT", "ARC_DB_APPLICATION_NAME", "ARC_DB_READ_URL"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_listen_on_loopback_8080() -> None:
    settings = ServiceSettings.from_env(URL)
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.database.application_name == "arc-eval-db-serve"
    assert settings.database.read_url is None


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARC_SERVE_HOST", "0.0.0.0")
    monkeypatch.setenv("ARC_SERVE_PORT", "9100")
    monkeypatch.setenv("ARC_DB_READ_URL", "postgresql://arc:secret@replica:5432/arc")
    from_env = ServiceSettings.from_env(URL)
    assert (from_env.host, from_env.port) == ("0.0.0.0", 9100)
    assert from_env.database.read_url == "postgresql://arc:secret@replica:5432/arc"
    flagged = ServiceSettings.from_env(URL, host="127.0.0.2", port=9200)
    assert (flagged.host, flagged.port) == ("127.0.0.2", 9200)


@pytest.mark.parametrize(
    ("env_port", "kwargs", "field"),
    [
        ("http", {}, "ARC_SERVE_PORT"),
        ("70000", {}, "ARC_SERVE_PORT"),
        (None, {"port": -1}, "--port"),
        (None, {"ready_timeout": 0.0}, "--ready-timeout"),
        (None, {"graceful_timeout": -5.0}, "--graceful-timeout"),
    ],
)
def test_bad_values_name_their_source(
    monkeypatch: pytest.MonkeyPatch, env_port: str | None, kwargs: dict[str, float], field: str
) -> None:
    if env_port is not None:
        monkeypatch.setenv("ARC_SERVE_PORT", env_port)
    with pytest.raises(ArcConfigurationError) as err:
        ServiceSettings.from_env(URL, **kwargs)  # type: ignore[arg-type]
    assert field in str(err.value)
