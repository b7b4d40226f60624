"""Read/list counters and accessedAt kept in memory and applied in batches (behaviour.md#stats)."""

from __future__ import annotations

from dataclasses import dataclass

from openkvs.core.ids import now_ms
from openkvs.core.models import Store


@dataclass(slots=True)
class PendingStats:
    reads: int = 0
    lists: int = 0
    accessed_at: int = 0


class StatsBuffer:
    def __init__(self) -> None:
        self.pending: dict[str, PendingStats] = {}
        self.flushing: dict[str, PendingStats] = {}

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

    def take(self) -> dict[str, PendingStats]:
        """Move pending counters to the in-flight set for one flush."""
        self.flushing, self.pending = self.pending, {}
        return self.flushing

    def flushed(self) -> None:
        self.flushing = {}

    def forget(self, store_id: str) -> None:
        self.pending.pop(store_id, None)
        self.flushing.pop(store_id, None)

    def apply(self, store: Store) -> Store:
        """Add what is not yet written to a store read from storage."""
        for source in (self.flushing, self.pending):
            entry = source.get(store.id)
            if entry is not None:
                store.stats.read_count += entry.reads
                store.stats.list_count += entry.lists
                store.accessed_at = max(store.accessed_at, entry.accessed_at)
        return store
