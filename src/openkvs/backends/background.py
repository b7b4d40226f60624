"""The background work both backends share: periodic loops and buffered stats
(behaviour.md#stats)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from openkvs.backends.stats_buffer import StatsBuffer

log = logging.getLogger("openkvs.background")
FLUSH_INTERVAL = 0.25


class BackgroundWork:
    """Owns the backend's periodic tasks and the in-memory stats they apply."""

    stats: StatsBuffer
    _tasks: list[asyncio.Task[None]]

    async def _flush_stats(self) -> None:
        """Apply buffered read/list counters and accessedAt to storage."""
        raise NotImplementedError

    def _every(self, seconds: float, work: Callable[[], Awaitable[object]], what: str) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await work()
                except Exception:
                    log.exception("%s failed", what)

        self._tasks.append(asyncio.create_task(loop()))

    def _start_stats_flush(self) -> None:
        self._every(FLUSH_INTERVAL, self._flush_stats, "stats flush")

    async def _stop_background(self) -> bool:
        """Cancel the loops and apply what is still buffered; False if none were running."""
        running = bool(self._tasks)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._flush_stats()
        return running

    def note_read(self, store_id: str) -> None:
        self.stats.note_read(store_id)

    def note_list(self, store_id: str) -> None:
        self.stats.note_list(store_id)

    def note_access(self, store_id: str) -> None:
        self.stats.note_access(store_id)
