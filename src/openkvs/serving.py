"""Serving the ASGI app over HTTP/1.1 in this process, with Granian's Rust HTTP stack.

Granian runs embedded (one process, the app on this process's event loop) so the process that
holds the data directory's lock is the one that answers, and a signal to it stops everything.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
from typing import Any

import uvloop
from granian.constants import HTTPModes, Interfaces
from granian.errors import FatalError
from granian.http import HTTP1Settings
from granian.server.embed import Server

# Headers beyond this are refused by the HTTP parser before the app sees them; the app's own
# limit (http/request_shape.py, 431 with the JSON envelope) is lower, so it is the one users meet.
HTTP_BUFFER_BYTES = 128 * 1024

# The cyclic garbage collector, tuned for serving: what exists at start-up is frozen out of its
# scans, and a young-generation scan waits for 50,000 new objects rather than 700. Requests
# make little cyclic garbage (none in the record paths), but with 64 requests in flight each
# scan walked their live frames: under PUT load, collections took 13% of the event loop's
# time, and this setting took PUT 1 KiB from about 8,300 to 12,000 req/s (docs/performance.md).
GC_THRESHOLDS = (50_000, 20, 100)


def check_port_free(host: str, port: int) -> None:
    """Refuse a port something already listens on.

    Granian binds with SO_REUSEPORT, which would let a second server share the port and take
    half of its connections; a plain bind here fails instead, as any other server's would.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


class PortInUse(Exception):
    pass


def serve(app: Any, host: str, port: int) -> bool:
    """Serve until SIGINT or SIGTERM; False when the app failed to start. Call check_port_free
    first: Granian itself would share a port that is in use."""
    # Granian's own start-up chatter, including its "experimental" note on embedded mode.
    logging.getLogger("_granian").setLevel(logging.ERROR)
    return uvloop.run(_serve(app, host, port))


async def _serve(app: Any, host: str, port: int) -> bool:
    server = Server(
        app,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(max_buffer_size=HTTP_BUFFER_BYTES),
        websockets=False,
        backlog=2048,
        log_enabled=False,
        log_access=False,
    )
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    loop = asyncio.get_running_loop()

    def stop() -> None:
        # Granian closes its listener and waits for the connections in flight; the app bounds
        # that wait (--shutdown-timeout) by cancelling what is still running.
        server.stop()  # type: ignore[no-untyped-call]
        app.begin_stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    try:
        await server.serve()
    except FatalError:
        return False
    return True
