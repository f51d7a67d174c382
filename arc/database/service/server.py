"""Running the app under uvicorn, and stopping it gracefully.

SIGTERM (and SIGINT) stop accepting connections, let in-flight requests finish (up to the
graceful timeout), then run the application's shutdown, which disposes the engines. uvicorn
re-raises the signal it caught once it has shut down, into the handler that was installed
before it started; that handler is uvicorn's own `handle_exit` here, so the process ends
with exit code 0 rather than being killed by the re-raised signal. A signal that arrives
before uvicorn has installed its handlers makes it shut down right after starting.
"""

import math
import signal
import socket

import uvicorn

from arc.database.service.app import create_app
from arc.database.service.settings import ServiceSettings

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the server starts so that a taken port is an
    error the command line can explain (OSError)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family)


def run(settings: ServiceSettings, sock: socket.socket) -> None:
    """Serve on `sock` until SIGTERM or SIGINT; returns after a graceful shutdown."""
    config = uvicorn.Config(
        create_app(settings),
        lifespan="on",
        log_config=None,  # structlog is the process's logging; uvicorn's warnings still show
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=math.ceil(settings.graceful_timeout),  # typed int by uvicorn
    )
    server = uvicorn.Server(config)
    previous = {sig: signal.signal(sig, server.handle_exit) for sig in STOP_SIGNALS}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
