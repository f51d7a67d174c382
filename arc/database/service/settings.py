"""What `arc-db serve` is told: where to listen, the database, and its time bounds.

Flags win over the environment: `ARC_SERVE_HOST` (default 127.0.0.1, loopback only) and
`ARC_SERVE_PORT` (default 8080). The database comes from DatabaseSettings (the URL,
ARC_DB_*, ARC_DB_READ_URL for the replica).
"""

import os
from dataclasses import dataclass

from arc.database.core.errors import ArcConfigurationError
from arc.database.core.settings import DatabaseSettings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def _port(raw: str | int, source: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise ArcConfigurationError(source, f"must be a port number, got {raw!r}") from None
    if not 0 <= port <= 65535:
        raise ArcConfigurationError(source, f"must be a port number (0-65535), got {port}")
    return port


def _positive(value: float, source: str) -> float:
    if not value > 0:
        raise ArcConfigurationError(source, f"must be positive, got {value!r}")
    return value


@dataclass(frozen=True)
class ServiceSettings:
    database: DatabaseSettings
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    ready_timeout: float = 5.0  # /readyz (and a /metrics collection) answers within this
    metrics_ttl: float = 10.0  # database-side metrics are read at most this often
    graceful_timeout: float = 30.0  # in-flight requests get this long after SIGTERM

    @classmethod
    def from_env(
        cls,
        url: str,
        *,
        host: str | None = None,
        port: int | None = None,
        ready_timeout: float = 5.0,
        metrics_ttl: float = 10.0,
        graceful_timeout: float = 30.0,
    ) -> "ServiceSettings":
        """Flags (the keyword arguments) over ARC_SERVE_HOST / ARC_SERVE_PORT over defaults."""
        env_port = os.environ.get("ARC_SERVE_PORT")
        if port is not None:
            resolved_port = _port(port, "--port")
        elif env_port:
            resolved_port = _port(env_port, "ARC_SERVE_PORT")
        else:
            resolved_port = DEFAULT_PORT
        database = DatabaseSettings.from_env(
            url, application_name=os.environ.get("ARC_DB_APPLICATION_NAME", "arc-eval-db-serve")
        )
        return cls(
            database=database,
            host=host or os.environ.get("ARC_SERVE_HOST") or DEFAULT_HOST,
            port=resolved_port,
            ready_timeout=_positive(ready_timeout, "--ready-timeout"),
            metrics_ttl=max(0.0, metrics_ttl),
            graceful_timeout=_positive(graceful_timeout, "--graceful-timeout"),
        )
