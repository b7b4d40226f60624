"""Read/list counters and accessedAt kept in memory and applied in batches (behaviour.md#stats)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from openkvs.core.ids import now_ms
from openkvs.core.models import Store


@dataclass(slots=True)
class PendingStats:
    reads: int = 0
    lists: int = 0
    accessed_at: int = 0


class StatsBuffer:
    """Counts noted on the event loop, until a flush writes them to the stores' rows. A flush
    and a read of current counters never overlap (`settled`), so a read sees each count exactly
    once: in the row it read, or still pending here."""

    def __init__(self) -> None:
        self.pending: dict[str, PendingStats] = {}
        self._applying = asyncio.Lock()

    def _entry(self, store_id: str) -> PendingStats:
        entry = self.pending.get(store_id)
        if entry is None:
            entry = self.pending[store_id] = PendingStats()
        entry.accessed_at = now_ms()
        return entry

    def note_read(self, store_id: str) -> None:
        self._entry(store_id).reads += 1

    def note_list(self, store_id: str) -> None:
        self._entry(store_id).lists += 1

    def note_access(self, store_id: str) -> None:
        self._entry(store_id)

    @asynccontextmanager
    async def flushing(self) -> AsyncIterator[dict[str, PendingStats]]:
        """The pending counts, taken for one flush to write while the block runs; counts noted
        meanwhile wait for the next. A failed flush loses its counts (they are statistics)."""
        async with self._applying:
            batch, self.pending = self.pending, {}
            yield batch

    @asynccontextmanager
    async def settled(self) -> AsyncIterator[None]:
        """While the block runs, no flush is between taking its counts and having written them:
        read current counters from storage inside it, then `apply`."""
        async with self._applying:
            yield

    def forget(self, store_id: str) -> None:
        self.pending.pop(store_id, None)

    def apply(self, store: Store) -> Store:
        """Add what is not yet written to a store read from storage."""
        entry = self.pending.get(store.id)
        if entry is not None:
            store.stats.read_count += entry.reads
            store.stats.list_count += entry.lists
            store.accessed_at = max(store.accessed_at, entry.accessed_at)
        return store
