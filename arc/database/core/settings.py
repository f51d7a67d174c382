"""Connection settings, read from the environment with the defaults the design card sets."""

import os
import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from arc.database.core.errors import ArcConfigurationError

# libpq-style TLS parameters: asyncpg takes TLS as one `ssl` argument, built from these.
_TLS_PARAMS = ("sslmode", "ssl", "sslrootcert", "sslcert", "sslkey", "sslpassword")
# libpq parameters asyncpg has no use for, and ours: dropped from the URL before connecting.
_DROPPED_PARAMS = ("channel_binding", "target_session_attrs", "pgbouncer")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
SslArgument = ssl.SSLContext | str | None


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
    read_url: str | None = None  # a streaming replica for dashboards and analytics
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
            pgbouncer=_env_bool("ARC_DB_PGBOUNCER", False) or url_wants_pgbouncer(resolved),
            read_url=os.environ.get("ARC_DB_READ_URL") or None,
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
        """The TLS mode asked for in the URL (`sslmode=verify-full` etc.), if any."""
        return tls_options(self.url).mode

    @property
    def ssl_argument(self) -> SslArgument:
        """What asyncpg's `ssl` argument gets: a verifying SSLContext for verify-ca /
        verify-full (or require with a root certificate, as libpq does), the mode otherwise."""
        return ssl_argument(tls_options(self.url))

    @property
    def redacted_url(self) -> str:
        return redact_url(self.url)


def _parse(raw: str) -> URL:
    try:
        url = make_url(raw)
    except Exception as exc:  # sqlalchemy raises ArgumentError with the URL in the message
        raise ArcConfigurationError("TIMESCALE_SERVICE_URL", "is not a valid database URL") from exc
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise ArcConfigurationError(
            "TIMESCALE_SERVICE_URL", f"must be a PostgreSQL URL, not {url.get_backend_name()!r}"
        )
    return url


def _query_value(url: URL, key: str) -> str | None:
    value = url.query.get(key)
    if isinstance(value, tuple):
        value = value[-1]
    return value or None


def url_wants_pgbouncer(raw: str) -> bool:
    """`?pgbouncer=true` in the URL: the server behind it is a transaction-pooling PgBouncer."""
    value = _query_value(_parse(raw), "pgbouncer")
    return value is not None and value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class TlsOptions:
    """The libpq TLS parameters of a URL."""

    mode: str | None = None
    rootcert: str | None = None
    cert: str | None = None
    key: str | None = None
    password: str | None = None


def tls_options(raw: str) -> TlsOptions:
    url = _parse(raw)
    mode = _query_value(url, "sslmode") or _query_value(url, "ssl")
    if mode is not None:
        mode = mode.strip().lower()
        if mode in ("true", "1", "on"):
            mode = "require"
        if mode not in SSL_MODES:
            raise ArcConfigurationError("sslmode", f"must be one of {', '.join(SSL_MODES)}")
    return TlsOptions(
        mode=mode,
        rootcert=_query_value(url, "sslrootcert"),
        cert=_query_value(url, "sslcert"),
        key=_query_value(url, "sslkey"),
        password=_query_value(url, "sslpassword"),
    )


def _readable(path: str, parameter: str) -> str:
    resolved = Path(path).expanduser()
    if not resolved.is_file():
        raise ArcConfigurationError(parameter, f"file {path!r} does not exist")
    return str(resolved)


def ssl_argument(tls: TlsOptions) -> SslArgument:
    """libpq's semantics: `require` encrypts without checking the server (unless a root
    certificate is given: then it verifies the chain, like verify-ca), `verify-ca` checks the
    chain, `verify-full` also the host name. A client certificate is sent when given."""
    mode = tls.mode
    if mode is None or mode == "disable":
        return mode  # None: asyncpg's default, prefer (as libpq's)
    if mode == "require" and tls.rootcert:
        mode = "verify-ca"
    if mode not in ("verify-ca", "verify-full") and not tls.cert:
        return mode  # asyncpg's own handling of allow / prefer / require
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if mode in ("verify-ca", "verify-full"):
        root = tls.rootcert or str(Path("~/.postgresql/root.crt").expanduser())
        context.load_verify_locations(cafile=_readable(root, "sslrootcert"))
        context.check_hostname = mode == "verify-full"
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.cert:
        context.load_cert_chain(
            _readable(tls.cert, "sslcert"),
            _readable(tls.key, "sslkey") if tls.key else None,
            password=tls.password,
        )
    return context


def to_asyncpg_url(raw: str) -> tuple[URL, SslArgument]:
    """Turn any PostgreSQL URL (postgres://, postgresql://, +psycopg, ...) into an asyncpg URL,
    and the `ssl` argument asyncpg takes instead of the libpq TLS parameters."""
    url = _parse(raw)
    query = {k: v for k, v in url.query.items() if k not in _TLS_PARAMS + _DROPPED_PARAMS}
    return url.set(drivername="postgresql+asyncpg", query=query), ssl_argument(tls_options(raw))


def to_psycopg_url(raw: str) -> str:
    """The same URL for psycopg (libpq understands the TLS parameters itself)."""
    url = _parse(raw)
    query = {k: v for k, v in url.query.items() if k != "pgbouncer"}
    return url.set(drivername="postgresql+psycopg", query=query).render_as_string(
        hide_password=False
    )


def redact_url(raw: str) -> str:
    """The URL with its password masked, for logs and error messages."""
    try:
        return make_url(raw).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"
