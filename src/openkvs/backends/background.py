"""The periodic work a backend runs while it serves: stats flushes, folds, sweeps
(behaviour.md#stats)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("openkvs.background")
FLUSH_INTERVAL = 0.25  # seconds between flushes of the buffered read/list counters


class Loops:
    """Tasks that each run one piece of work every so often, until stopped; a failure is logged
    and the loop goes on."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def every(self, seconds: float, work: Callable[[], Awaitable[object]], what: str) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await work()
                except Exception:
                    log.exception("%s failed", what)

        self._tasks.append(asyncio.create_task(loop()))

    async def stop(self) -> bool:
        """Cancel the loops and wait for them; False if none were running."""
        running = bool(self._tasks)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        return running
