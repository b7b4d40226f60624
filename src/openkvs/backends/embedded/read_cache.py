"""Store and record rows kept in memory between writes, exact without asking SQLite.

Only this process writes stores and records (its data directory lock says so), and every write
commits on the writer thread, which brackets each COMMIT: `committing` is set before it, and
`epoch` moves after it. A lookup on the event loop uses the cache only when no commit is under
way and none has ended since it last looked (else it drops everything), and keeps a row it read
only if no commit began or ended meanwhile. So a cached row is never older than the newest
committed state, and a read never goes back to an older state than one already served.

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

from typing import Any

# Inline bodies kept, in all; one record's body is kept only up to RECORD_BODY_LIMIT.
RECORD_BYTES_LIMIT = 32 * 1024 * 1024
RECORD_BODY_LIMIT = 64 * 1024
ENTRIES_LIMIT = 100_000
ACCOUNTS_POLL_SECONDS = 0.02
MISSING: Any = object()


class ReadCache:
    def __init__(self) -> None:
        self.epoch = 0  # moved by the writer thread after each COMMIT
        self.committing = False  # set by the writer thread while a COMMIT runs
        self._seen = 0
        self.stores: dict[Any, Any] = {}
        self.records: dict[tuple[str, str], Any] = {}
        self._record_bytes = 0
        self.accounts_epoch = 0  # moved when users or tokens may have changed
        self._accounts_seen = 0
        self._tokens: dict[str, Any] = {}

    # writer thread
    def commit_starts(self) -> None:
        self.committing = True

    def commit_ended(self) -> None:
        self.epoch += 1  # before `committing` drops, so no lookup sees the old epoch unguarded
        self.committing = False

    # any thread
    def accounts_changed(self) -> None:
        self.accounts_epoch += 1

    def foreign_commit(self) -> None:
        """Another process committed: drop everything, tokens and rows alike."""
        self.accounts_epoch += 1
        self.epoch += 1

    # event loop
    def token(self, token_hash: str) -> Any:
        """The user row of a token kept earlier, or MISSING."""
        if self.accounts_epoch != self._accounts_seen:
            self._tokens.clear()
            self._accounts_seen = self.accounts_epoch
        return self._tokens.get(token_hash, MISSING)

    def keep_token(self, token_hash: str, row: Any, epoch: int) -> None:
        if row is None or epoch != self.accounts_epoch or epoch != self._accounts_seen:
            return
        if len(self._tokens) >= ENTRIES_LIMIT:
            self._tokens.clear()
        self._tokens[token_hash] = row

    def usable(self) -> bool:
        """Whether lookups may use the cache now; drops it if a commit ended since last time."""
        if self.committing:
            return False
        if self.epoch != self._seen:
            self.stores.clear()
            self.records.clear()
            self._record_bytes = 0
            self._seen = self.epoch
        return True

    def still(self, epoch: int) -> bool:
        """After a query begun at `epoch`: no commit began or ended meanwhile."""
        return epoch == self.epoch == self._seen and not self.committing

    def keep_store(self, key: Any, row: Any, epoch: int) -> None:
        if not self.still(epoch):
            return
        if len(self.stores) >= ENTRIES_LIMIT:
            self.stores.clear()
        self.stores[key] = row

    def keep_record(self, key: tuple[str, str], row: Any, body_size: int, epoch: int) -> None:
        """A record row (None: no such record), unless its inline body is too big to keep."""
        if body_size > RECORD_BODY_LIMIT or not self.still(epoch):
            return
        if (
            self._record_bytes + body_size > RECORD_BYTES_LIMIT
            or len(self.records) >= ENTRIES_LIMIT
        ):
            self.records.clear()
            self._record_bytes = 0
        self.records[key] = row
        self._record_bytes += body_size
