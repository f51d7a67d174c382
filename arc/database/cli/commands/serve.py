"""`arc-db serve`: /healthz, /readyz and /metrics over HTTP until SIGTERM (extra `server`)."""

import argparse
import sys
from typing import Any

from arc.database.cli.common import EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, CliError, database_url


def cmd_serve(args: argparse.Namespace) -> int:
    url = database_url(args)
    try:
        from arc.database.service.server import listen, run
        from arc.database.service.settings import ServiceSettings
    except ImportError as exc:
        raise CliError(
            f"arc-db serve needs {exc.name or 'its extra'}",
            "pip install 'arc-eval-db[server]'",
            EXIT_USAGE,
        ) from exc
    settings = ServiceSettings.from_env(
        url,
        host=args.host,
        port=args.port,
        ready_timeout=args.ready_timeout,
        metrics_ttl=args.metrics_ttl,
        graceful_timeout=args.graceful_timeout,
    )
    try:
        sock = listen(settings.host, settings.port)
    except OSError as exc:
        raise CliError(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}",
            "choose another --port / ARC_SERVE_PORT, or --host / ARC_SERVE_HOST",
            EXIT_RUNTIME,
        ) from exc
    host, port = sock.getsockname()[:2]
    print(f"arc-db serve: listening on http://{host}:{port}", file=sys.stderr, flush=True)
    run(settings, sock)
    return EXIT_OK


def register(sub: Any) -> None:
    sv = sub.add_parser(
        "serve",
        help="serve /healthz, /readyz, /metrics and OTLP /v1/traces over HTTP (extra [server])",
    )
    sv.add_argument("--host", help="bind address (default: $ARC_SERVE_HOST or 127.0.0.1)")
    sv.add_argument("--port", type=int, help="port (default: $ARC_SERVE_PORT or 8080)")
    sv.add_argument(
        "--ready-timeout",
        type=float,
        default=5.0,
        help="seconds /readyz and a /metrics collection may take (default 5)",
    )
    sv.add_argument(
        "--metrics-ttl",
        type=float,
        default=10.0,
        help="seconds the database-side metrics are cached between scrapes (default 10)",
    )
    sv.add_argument(
        "--graceful-timeout",
        type=float,
        default=30.0,
        help="seconds in-flight requests get to finish after SIGTERM (default 30)",
    )
    sv.set_defaults(func=cmd_serve)
