"""What core and http/ need from storage, as small interfaces every backend implements
(behaviour.md#backends): core owns them, backends/ fulfils them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from openkvs.core.models import KeyItem, RecordMeta, Store, TokenInfo, User, WriteCondition
from openkvs.telemetry import Telemetry

UNSET: Any = object()


class BodySink(Protocol):
    """Where an uploaded body goes while it streams in; nothing is visible until Records.put."""

    size: int

    async def write(self, chunk: bytes, tap: Callable[[bytes], object] | None = None) -> None:
        """Store `chunk` after the bytes before it. `tap`, if given, is called with `chunk` off the
        event loop before this returns: in the thread that stores it where there is one (a large
        body's hash then costs no trip of its own to a thread)."""

    async def finish(self) -> None:
        """Make the bytes durable (per the durability setting) before the commit."""

    async def discard(self) -> None: ...


class BodyStream(Protocol):
    """An opened record body: the bytes of one version, whatever writers do after it was opened."""

    def chunks(self, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """`length` bytes from `start` (all by default), a few hundred KiB at a time."""

    async def close(self) -> None: ...


class ChangeWatcher(Protocol):
    """Told of committed changes, on the event loop, before anything that follows their answer."""

    def record_changed(self, store_id: str, key: str) -> None: ...

    def everything_changed(self) -> None:
        """Anything may have changed: users, tokens, stores, their access, any record."""


@dataclass(slots=True, frozen=True)
class StorageTotals:
    """What the whole server holds, summed from the stores' own counters (no record scan)."""

    stores: int
    records: int
    record_bytes: int


class Accounts(Protocol):
    """Users and their API tokens."""

    async def count_users(self) -> int: ...

    async def create_user(self, username: str) -> User: ...

    async def user_by_id(self, user_id: str) -> User | None: ...

    async def user_by_username(self, username: str) -> User | None: ...

    async def user_by_token_hash(self, token_hash: str) -> User | None: ...

    async def add_token(self, user_id: str, token_hash: str, name: str) -> TokenInfo: ...

    async def list_tokens(self, user_id: str | None) -> list[TokenInfo]: ...

    async def revoke_token(self, token_id: str) -> bool: ...


class Stores(Protocol):
    """Key-value stores: their rows, names, access and counters."""

    async def by_id(self, store_id: str, *, counters: bool = True) -> Store | None:
        """The store; without `counters`, its stats and times may be stale and the object
        shared between callers (enough to decide access and find records, never to show)."""
        ...

    async def by_name(self, user_id: str, name: str, *, counters: bool = True) -> Store | None: ...

    async def page(
        self, user_id: str, offset: int, limit: int, desc: bool, unnamed: bool
    ) -> tuple[int, list[Store]]:
        """(total, one page of the user's stores by creation time)."""
        ...

    async def get_or_create(
        self, user_id: str, name: str | None, schema: dict[str, Any] | None
    ) -> tuple[Store, bool]: ...

    async def update(
        self, store_id: str, *, name: Any = UNSET, general_access: Any = UNSET, title: Any = UNSET
    ) -> Store | None: ...

    async def delete(self, store_id: str) -> bool: ...

    async def delete_unnamed(self, accessed_before_ms: int) -> int: ...

    # stats applied in the background (behaviour.md#stats)
    def note_read(self, store_id: str) -> None: ...

    def note_list(self, store_id: str) -> None: ...

    def note_access(self, store_id: str) -> None: ...


class Records(Protocol):
    """The records of stores: keys, metadata and bodies."""

    async def keys(
        self, store_id: str, after: str | None, lower: str | None, upper: str | None, limit: int
    ) -> list[KeyItem]:
        """Keys in byte order with after < key, lower <= key < upper (bounds optional)."""

    async def get(self, store_id: str, key: str) -> RecordMeta | None: ...

    async def open_body(self, record: RecordMeta) -> BodyStream | None:
        """None when the body is gone (the record was overwritten or deleted meanwhile)."""

    def new_body(self, content_type: str, encoding: str | None) -> BodySink: ...

    async def put(
        self,
        store_id: str,
        key: str,
        content_type: str,
        content_encoding: str | None,
        etag: str,
        body: BodySink,
        condition: WriteCondition,
    ) -> RecordMeta:
        """Commit a record; raises 404 if the store is gone and 412 if the condition fails."""

    async def delete(self, store_id: str, key: str, condition: WriteCondition) -> bool: ...

    async def presigned_url(
        self, record: RecordMeta, disposition: str | None, expires: int
    ) -> str | None:
        """A short-lived URL the object store serves the body from, if the backend has one."""


class Backend(Protocol):
    """Storage as three parts (accounts, stores, records), made by `start` and stopped by
    `close`, plus what concerns the whole of it."""

    telemetry: Telemetry  # what the backend counts for /metrics
    accounts: Accounts
    stores: Stores
    records: Records

    async def start(self, serve: bool = True) -> None:
        """Open storage and make the parts; `serve` also starts background work (stats,
        recovery, sweeping)."""

    async def close(self) -> None: ...

    async def ready(self) -> str | None:
        """None when storage takes writes (database and files or bucket answer), else why not."""

    async def totals(self) -> StorageTotals: ...

    def watch_changes(self, watcher: ChangeWatcher) -> Callable[[], None] | None:
        """Tell `watcher` of every change this process will see, and return what applies the
        changes queued so far (to call before trusting anything kept); None if this backend
        cannot see every change (other processes write behind its back)."""
