"""structlog configuration: JSON or console output, a level, and password redaction.

Connection strings end up in log fields in many ways (a URL in an error message, a DSN in a
config dump); the redaction processor masks the password wherever it appears in an event.
"""

import logging
import os
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

# scheme://user:password@host  ->  scheme://user:***@host
_URL_PASSWORD = re.compile(r"(?P<prefix>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/?#@\s]*:)(?P<pw>[^@\s]+)@")
# libpq key/value form: password=secret   (also password='secret')
_KV_PASSWORD = re.compile(
    r"(?P<prefix>\bpassword\s*=\s*)(?P<pw>'[^']*'|\"[^\"]*\"|[^\s&;,]+)", re.I
)
_SECRET_KEYS = frozenset({"password", "passwd", "pwd", "secret", "api_key", "token"})

LOG_FORMATS = ("json", "console")


def redact_text(text: str) -> str:
    """Mask passwords in any URL or `password=` pair inside `text`."""
    if "@" in text:
        text = _URL_PASSWORD.sub(r"\g<prefix>***@", text)
    if "=" in text:
        text = _KV_PASSWORD.sub(r"\g<prefix>***", text)
    return text


def _redact_value(value: Any, depth: int = 0) -> Any:
    if depth > 6:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            k: (
                "***"
                if isinstance(k, str) and k.lower() in _SECRET_KEYS
                else _redact_value(v, depth + 1)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v, depth + 1) for v in value)
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: redact connection-string passwords in every field of an event."""
    for key in list(event_dict):
        if key.lower() in _SECRET_KEYS:
            event_dict[key] = "***"
        else:
            event_dict[key] = _redact_value(event_dict[key])
    return event_dict


def _level_number(level: str | int) -> int:
    if isinstance(level, int):
        return level
    number = logging.getLevelName(level.upper())
    if not isinstance(number, int):
        raise ValueError(f"unknown log level {level!r}")
    return number


def configure_logging(level: str | int = "INFO", fmt: str | None = None) -> None:
    """Configure structlog for the process (format from `fmt` or ARC_LOG_FORMAT, else console).

    Exceptions are rendered before redaction so their text is masked too.
    """
    chosen = (fmt or os.environ.get("ARC_LOG_FORMAT") or "console").lower()
    if chosen not in LOG_FORMATS:
        raise ValueError(f"ARC_LOG_FORMAT must be one of {LOG_FORMATS}, got {chosen!r}")
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if chosen == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_level_number(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.getLogger("arc.database").setLevel(_level_number(level))


def ensure_logging(level: str | int = "INFO") -> None:
    """Configure logging only if the application has not configured structlog itself."""
    if not structlog.is_configured():
        configure_logging(level)
