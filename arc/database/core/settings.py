"""Connection settings, read from the environment with the defaults the design card sets."""

import os
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.engine import URL, make_url

from arc.database.core.errors import ArcConfigurationError

# libpq-style parameters that asyncpg does not take as keyword arguments; translated or dropped.
_SSL_PARAMS = ("sslmode", "ssl")
_LIBPQ_ONLY_PARAMS = ("sslrootcert", "sslcert", "sslkey", "channel_binding", "target_session_attrs")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ArcConfigurationError(name, f"must be an integer, got {raw!r}") from exc


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ArcConfigurationError(name, f"must be a number, got {raw!r}") from exc


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class DatabaseSettings:
    """Everything needed to build the engine. `url` accepts what Timescale Cloud hands out."""

    url: str
    pool_size: int = 20
    max_overflow: int = 30
    pool_timeout: float = 30.0
    pool_recycle: int = 3600
    command_timeout: float = 60.0
    connect_timeout: float = 10.0
    pgbouncer: bool = False
    application_name: str = "arc-eval-db"
    echo: bool = False
    server_settings: dict[str, str] = field(
        default_factory=lambda: {"jit": "off", "timezone": "UTC"}
    )

    @classmethod
    def from_env(cls, url: str | None = None, **overrides: Any) -> "DatabaseSettings":
        resolved = url or os.environ.get("TIMESCALE_SERVICE_URL") or os.environ.get("DATABASE_URL")
        if not resolved:
            raise ArcConfigurationError(
                "TIMESCALE_SERVICE_URL",
                "is not set: pass a connection string or export TIMESCALE_SERVICE_URL",
            )
        settings = cls(
            url=resolved,
            pool_size=_env_int("ARC_DB_POOL_SIZE", 20),
            max_overflow=_env_int("ARC_DB_MAX_OVERFLOW", 30),
            pool_timeout=_env_float("ARC_DB_POOL_TIMEOUT", 30.0),
            pool_recycle=_env_int("ARC_DB_POOL_RECYCLE", 3600),
            command_timeout=_env_float("ARC_DB_COMMAND_TIMEOUT", 60.0),
            connect_timeout=_env_float("ARC_DB_CONNECT_TIMEOUT", 10.0),
            pgbouncer=_env_bool("ARC_DB_PGBOUNCER", False),
            application_name=os.environ.get("ARC_DB_APPLICATION_NAME", "arc-eval-db"),
            echo=_env_bool("ARC_DB_ECHO", False),
        )
        return replace(settings, **overrides) if overrides else settings

    @property
    def async_url(self) -> URL:
        """The URL for SQLAlchemy's asyncpg dialect, without the libpq-only query parameters."""
        return to_asyncpg_url(self.url)[0]

    @property
    def ssl(self) -> str | None:
        """The SSL mode asked for in the URL (`sslmode=require` etc.), if any."""
        return to_asyncpg_url(self.url)[1]

    @property
    def redacted_url(self) -> str:
        return redact_url(self.url)


def to_asyncpg_url(raw: str) -> tuple[URL, str | None]:
    """Turn any PostgreSQL URL (postgres://, postgresql://, +psycopg, ...) into an asyncpg URL.

    asyncpg takes SSL as a keyword argument, not as `sslmode` in the query string, so the mode
    is returned separately for the engine's connect_args.
    """
    try:
        url = make_url(raw)
    except Exception as exc:  # sqlalchemy raises ArgumentError with the URL in the message
        raise ArcConfigurationError("TIMESCALE_SERVICE_URL", "is not a valid database URL") from exc
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise ArcConfigurationError(
            "TIMESCALE_SERVICE_URL", f"must be a PostgreSQL URL, not {url.get_backend_name()!r}"
        )
    ssl: str | None = None
    query = dict(url.query)
    for key in _SSL_PARAMS:
        value = query.pop(key, None)
        if isinstance(value, tuple):
            value = value[-1]
        if value:
            ssl = value
    for key in _LIBPQ_ONLY_PARAMS:
        query.pop(key, None)
    if ssl == "disable":
        ssl = None
    return url.set(drivername="postgresql+asyncpg", query=query), ssl


def to_psycopg_url(raw: str) -> str:
    """The same URL for psycopg (libpq understands sslmode itself)."""
    url = make_url(raw).set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def redact_url(raw: str) -> str:
    """The URL with its password masked, for logs and error messages."""
    try:
        return make_url(raw).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"
