"""What a node keeps in memory of the rows that change rarely (tokens, users, stores), so that a
small GET asks PostgreSQL for the record alone (behaviour.md#backends).

Every change to those rows is announced by PostgreSQL on one channel at commit
(record_sql.py's triggers), whoever made it; the node listens on a connection of its own and
forgets everything it keeps at each notice. Only while it listens does it keep anything: with
the listening connection lost, every lookup goes to the database until it listens again. An
answer fetched while a notice arrived is not kept (it may predate the change), and no entry is
used after MAX_AGE seconds whatever happens: a revoked token or a store made private stops
working on every node within milliseconds, and never later than MAX_AGE."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import asyncpg

from openkvs.backends.scaleout.record_sql import CHANGES_CHANNEL

log = logging.getLogger("openkvs.scaleout")
MAX_AGE = 1.0  # seconds: the bound on how long a change may go unseen
MAX_ENTRIES = 10_000  # per kind; when full, everything of that kind is forgotten
RECONNECT_DELAY = 1.0

K = TypeVar("K")
V = TypeVar("V")


class Kept(Generic[K, V]):
    """One kind of row (tokens, stores by id...): key -> (value, when fetched)."""

    def __init__(self, cache: NodeCache) -> None:
        self.cache = cache
        self.entries: dict[K, tuple[V, float]] = {}
        cache.kinds.append(self)

    async def get(self, key: K, fetch: Callable[[], Awaitable[V | None]]) -> V | None:
        """The kept value, or `fetch()`'s, kept if it is not None and nothing changed meanwhile."""
        now = time.monotonic()
        found = self.entries.get(key)
        if found is not None and now - found[1] < MAX_AGE:
            return found[0]
        generation = self.cache.generation
        value = await fetch()
        if value is not None and self.cache.listening and self.cache.generation == generation:
            if len(self.entries) >= MAX_ENTRIES:
                self.entries.clear()
            self.entries[key] = (value, now)
        return value


class NodeCache:
    """The listener and every kind of kept row; `generation` counts the changes heard."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.kinds: list[Kept[Any, Any]] = []
        self.generation = 0
        self.listening = False
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    def forget(self, *_: object) -> None:
        """A change was announced (or may have been missed): nothing kept can be trusted."""
        self.generation += 1
        for kind in self.kinds:
            kind.entries.clear()

    async def start(self) -> None:
        """Listen now (so that the node starts with its cache on), then keep listening."""
        with contextlib.suppress(Exception):
            await self._listen()
        self._task = asyncio.create_task(self._keep_listening())

    async def _listen(self) -> None:
        self._lost.clear()
        conn = await asyncpg.connect(self.database_url, timeout=10)
        conn.add_termination_listener(self._on_lost)
        await conn.add_listener(CHANGES_CHANNEL, self.forget)
        self._conn = conn
        # Whatever changed before the listening began is unseen: start from nothing.
        self.forget()
        self.listening = True

    def _on_lost(self, *_: object) -> None:
        self.listening = False
        self.forget()
        self._lost.set()

    async def _keep_listening(self) -> None:
        while True:
            if self.listening:
                await self._lost.wait()
                log.warning("lost the connection that hears changes; not caching until back")
            await asyncio.sleep(RECONNECT_DELAY)
            try:
                await self._listen()
            except Exception as exc:
                log.warning("cannot listen for changes (%s); retrying", type(exc).__name__)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.listening = False
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
