"""Store and record rows kept in memory between writes, exact without asking SQLite.

Only this process writes stores and records (its data directory lock says so), and every write
commits on the writer thread. After each COMMIT, and before it answers any write of the batch,
the writer queues what the batch changed (`committed`). Lookups run on the event loop: each
first applies the queued changes (`refresh`), then uses a kept row or reads SQLite and keeps
what it read. Read and keep happen with no await in between, so a row read from a snapshot older
than some commit is kept only until the change that commit queued is applied, which is before
the loop runs anything that follows the write's answer. So no read goes back to a state older
than one already answered, and a record write drops only its own record and marks its store's
counters stale, so a store's identity (owner, access, schema, secret) stays kept across writes.

Tokens are kept too, but `openkvs token revoke` changes them from another process; the writer
thread watches for commits by other processes (`PRAGMA data_version` on its own connection,
every ACCOUNTS_POLL_SECONDS) and drops everything kept when it sees one, and the command waits
longer than that before it returns. (Anything else another process writes into the database
behind the server's back is noticed the same way, within that interval.) Checking on the event
loop instead would cost a SQLite call per request, and each call there, releasing and retaking
the GIL under load, costs more than the query itself. An unknown token is never kept, so a new
one works at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from openkvs.backends.store_shape import store_id_of
from openkvs.core.models import RecordMeta, Store
from openkvs.core.storage import ChangeWatcher

# Inline bodies kept, in all; one record's body is kept only up to RECORD_BODY_LIMIT.
RECORD_BYTES_LIMIT = 32 * 1024 * 1024
RECORD_BODY_LIMIT = 64 * 1024
ENTRIES_LIMIT = 100_000
QUEUED_LIMIT = 10_000
ACCOUNTS_POLL_SECONDS = 0.02
MISSING: Any = object()

# What a committed write changed, as the writer queues it:
Change = tuple[str, ...]
EVERYTHING: Change = ("everything",)  # anything at all: drop every kept row


def record_changed(store_id: str, key: str) -> Change:
    """A record was written or deleted; its store's counters moved with it."""
    return ("record", store_id, key)


def counters_changed(store_id: str) -> Change:
    """Only a store's counters and times moved (buffered read and list counts)."""
    return ("counters", store_id)


class StoreEntry:
    """A kept store row (store_shape.STORE_COLUMNS), or None for no such store; `counters` is
    the store's counters version when it was read."""

    __slots__ = ("counters", "identity", "row", "store_id")

    def __init__(self, row: Any, store_id: str | None, counters: int) -> None:
        self.row = row
        self.store_id = store_id
        self.counters = counters
        self.identity: Store | None = None


class ReadCache:
    def __init__(self) -> None:
        self._queued: deque[list[Change]] = deque()  # appended by the writer thread
        self.stores: dict[Any, StoreEntry] = {}
        self._counters: dict[str, int] = {}  # moved when a store's counters change
        self.records: dict[tuple[str, str], RecordMeta | None] = {}
        self._record_bytes = 0
        self.accounts_epoch = 0  # moved when users or tokens may have changed
        self._accounts_seen = 0
        self._tokens: dict[str, Any] = {}
        self._watcher: ChangeWatcher | None = None
        self._watched_epoch = 0

    def watch(self, watcher: ChangeWatcher) -> None:
        """Tell `watcher` of every change `refresh` applies, and of any change to accounts."""
        self._watcher = watcher
        self._watched_epoch = self.accounts_epoch

    # writer thread
    def committed(self, changes: list[Change]) -> None:
        """Queue what a committed batch changed, before any of its writes is answered."""
        if len(self._queued) >= QUEUED_LIMIT:  # nobody has looked for a long while
            self._queued.clear()
            changes = [EVERYTHING]
        self._queued.append(changes)

    # any thread
    def accounts_changed(self) -> None:
        self.accounts_epoch += 1

    def foreign_commit(self) -> None:
        """Another process committed: drop everything, tokens and rows alike."""
        self.accounts_epoch += 1
        self._queued.append([EVERYTHING])

    # event loop
    def token(self, token_hash: str) -> Any:
        """The User of a token kept earlier, or MISSING."""
        if self.accounts_epoch != self._accounts_seen:
            self._tokens.clear()
            self._accounts_seen = self.accounts_epoch
        return self._tokens.get(token_hash, MISSING)

    def keep_token(self, token_hash: str, user: Any, epoch: int) -> None:
        if user is None or epoch != self.accounts_epoch or epoch != self._accounts_seen:
            return
        if len(self._tokens) >= ENTRIES_LIMIT:
            self._tokens.clear()
        self._tokens[token_hash] = user

    def refresh(self) -> None:
        """Apply the changes queued by commits; every lookup calls this first."""
        queued = self._queued
        watcher = self._watcher
        while queued:
            for change in queued.popleft():
                if change[0] == "record":
                    self._drop_record((change[1], change[2]))
                    self._counters[change[1]] = self._counters.get(change[1], 0) + 1
                    if watcher is not None:
                        watcher.record_changed(change[1], change[2])
                elif change[0] == "counters":
                    self._counters[change[1]] = self._counters.get(change[1], 0) + 1
                else:
                    self._drop_all()
                    if watcher is not None:
                        watcher.everything_changed()
        if watcher is not None and self._watched_epoch != self.accounts_epoch:
            self._watched_epoch = self.accounts_epoch
            watcher.everything_changed()
        if len(self._counters) > ENTRIES_LIMIT:
            self._drop_all()

    def _drop_record(self, key: tuple[str, str]) -> None:
        record = self.records.pop(key, None)
        if record is not None:
            self._record_bytes -= len(record.inline or b"")

    def _drop_all(self) -> None:
        self.stores.clear()
        self._counters.clear()
        self.records.clear()
        self._record_bytes = 0

    def store(self, key: Any, current: bool) -> StoreEntry | None:
        """A kept store entry; with `current`, only if its counters are up to date too."""
        entry = self.stores.get(key)
        if entry is None or not current:
            return entry
        store_id = entry.store_id
        if store_id is not None and entry.counters != self._counters.get(store_id, 0):
            return None
        return entry

    def keep_store(self, key: Any, row: Any) -> StoreEntry:
        if len(self.stores) >= ENTRIES_LIMIT:
            self.stores.clear()
        store_id = store_id_of(row) if row is not None else None
        counters = self._counters.get(store_id, 0) if store_id is not None else 0
        entry = StoreEntry(row, store_id, counters)
        self.stores[key] = entry
        return entry

    def store_identity(self, entry: StoreEntry, build: Callable[[Any], Store]) -> Store:
        """The entry's row as a Store built once and shared: never to be changed or shown with
        its counters, which may be stale."""
        if entry.identity is None:
            entry.identity = build(entry.row)
        return entry.identity

    def keep_record(self, key: tuple[str, str], record: RecordMeta | None) -> None:
        """A record (None: no such record), unless its inline body is too big to keep. The
        object is shared by every lookup that finds it, so never changed."""
        body_size = len(record.inline or b"") if record is not None else 0
        if body_size > RECORD_BODY_LIMIT:
            return
        if (
            self._record_bytes + body_size > RECORD_BYTES_LIMIT
            or len(self.records) >= ENTRIES_LIMIT
        ):
            self.records.clear()
            self._record_bytes = 0
        self._drop_record(key)
        self.records[key] = record
        self._record_bytes += body_size
