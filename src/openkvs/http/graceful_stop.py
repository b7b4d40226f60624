"""Stopping without losing a request: the requests in flight, and what a stop signal does to them.

On SIGTERM or SIGINT the HTTP server closes its listener and waits for its connections to end
before the app's lifespan shutdown; the bound on that wait (--shutdown-timeout) comes from here:
past it, every request still running is cancelled. A cancelled request that has not begun its
answer gets 503 `server-shutting-down`; an upload cancelled before its commit stores nothing and
its temporary body is removed (core/uploads.py), while a write already handed to the embedded
writer is committed when the backend closes. A second signal cancels at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from openkvs.core.errors import ApiError

log = logging.getLogger("openkvs")
# At lifespan shutdown, how long requests cancelled there get to unwind.
CANCEL_SECONDS = 5.0


def shutting_down() -> ApiError:
    return ApiError(
        503,
        "server-shutting-down",
        "The server is shutting down and ended this request before answering it; try again.",
    )


class GracefulStop:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.running: set[asyncio.Task[Any]] = set()  # request tasks (app._http adds its own)
        self._timer: asyncio.TimerHandle | None = None  # set once a stop signal came

    @property
    def stopping(self) -> bool:
        return self._timer is not None

    def begin(self) -> None:
        """A stop signal: the requests in flight get `timeout` seconds, a second signal none."""
        if self._timer is not None:
            self._timer.cancel()
            self._cancel_running("a second signal")
            return
        log.info(
            "stopping: %d requests in flight, waiting up to %g s", len(self.running), self.timeout
        )
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.timeout, self._cancel_running, f"{self.timeout:g} s")

    async def finish(self) -> None:
        """Lifespan shutdown: whatever still runs (normally nothing) is cancelled and given a
        moment to unwind before the backend closes."""
        if self._timer is not None:
            self._timer.cancel()
        late = list(self.running)
        if late:
            self._cancel_running("the server stopped")
            await asyncio.wait(late, timeout=CANCEL_SECONDS)

    def _cancel_running(self, after: str) -> None:
        late = list(self.running)
        for task in late:
            task.cancel()
        if late:
            log.warning("stopping: %d requests cancelled after %s", len(late), after)
