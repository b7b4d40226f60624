"""The backend contract: one suite every storage backend passes, calling the `Backend` interface
(backends/base.py) directly, in process, without a server (behaviour.md#backends).

Each test runs once per backend (conftest's `backend` fixture: `-k embedded`, or
OPENKVS_TEST_BACKENDS=embedded) on fresh storage of its own: a new data directory, or a new
PostgreSQL database and bucket prefix. Each opens the backend as `openkvs serve` does
(`start(serve=True)`), with a small inline threshold so that a few KiB already make a body a
file (embedded) or an S3 object (scale-out). The embedded store runs with relaxed durability:
what reaches the disk when is the reliability suite's to check, and each fsync costs time here.

Every call to the backend is written `backend.<method>(`, once per line, so that a change of the
interface's names is a search and replace.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from openkvs.backends.factory import open_backend
from openkvs.config import Settings
from openkvs.core.conditions import IF_MATCH_FAILED, IF_NONE_MATCH_FAILED
from openkvs.core.errors import ApiError
from openkvs.core.ids import now_ms
from openkvs.core.key_range import key_range
from openkvs.core.models import RecordMeta, Store, User, WriteCondition
from openkvs.core.schema import KeyFilter
from openkvs.core.storage import Backend, StorageTotals
from openkvs.core.validation import STORE_ID_RE

INLINE_THRESHOLD = 1024  # bodies above it are files (embedded) or objects (scale-out)
SMALL = b"a small body"
LARGE = bytes(range(256)) * 20  # 5,120 bytes
BODIES = {"inline": SMALL, "blob": LARGE, "empty": b""}
# A change of tokens, users or stores reaches a scale-out node's cache within this (node_cache.py
# promises at most 1 s); the embedded backend sees it at once.
CHANGE_SEEN_WITHIN = 1.5

Scenario = Callable[[Backend], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Deployment:
    """Fresh storage of one backend for one test; `opened()` may be used more than once (a
    restart)."""

    name: str
    make: Callable[[], Backend]

    @contextlib.asynccontextmanager
    async def opened(self) -> AsyncIterator[Backend]:
        backend = self.make()
        await backend.start(serve=True)
        try:
            yield backend
        finally:
            await backend.close()

    def run(self, scenario: Scenario) -> None:
        async def main() -> None:
            async with self.opened() as backend:
                await scenario(backend)

        asyncio.run(main())


@pytest.fixture
def deployment(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    data_dir = tmp_path / "data"
    if backend == "embedded":
        return Deployment(
            backend,
            lambda: open_backend(
                Settings(data_dir=data_dir, durability="relaxed", inline_threshold=INLINE_THRESHOLD)
            ),
        )
    from tests import services

    postgres, s3 = services.start_all()
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    database_url = postgres.url(postgres.create_database("contract"))
    blob_url = f"s3://{services.S3_BUCKET}/contract-{uuid.uuid4().hex[:16]}"
    return Deployment(
        backend,
        lambda: open_backend(
            Settings(
                data_dir=data_dir,
                database_url=database_url,
                blob_url=blob_url,
                s3_endpoint=s3.endpoint,
                inline_threshold=INLINE_THRESHOLD,
            )
        ),
    )


# --- helpers: each makes the calls a server makes for one request ---------------------------------


def etag_of(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


async def put(
    backend: Backend,
    store_id: str,
    key: str,
    data: bytes,
    condition: WriteCondition | None = None,
    content_type: str = "application/octet-stream",
    encoding: str | None = None,
    chunk_size: int = 1000,
) -> RecordMeta:
    """A record PUT: the body streamed into a sink, then committed."""
    body = backend.records.new_body(content_type, encoding)
    for start in range(0, len(data), chunk_size):
        await body.write(data[start : start + chunk_size])
    await body.finish()
    return await backend.records.put(
        store_id, key, content_type, encoding, etag_of(data), body, condition or WriteCondition()
    )


async def read(
    backend: Backend, record: RecordMeta, start: int = 0, length: int | None = None
) -> bytes | None:
    """The bytes of an opened body (None when the backend says it is gone)."""
    stream = await backend.records.open_body(record)
    if stream is None:
        return None
    try:
        return b"".join([chunk async for chunk in stream.chunks(start, length)])
    finally:
        await stream.close()


async def read_key(backend: Backend, store_id: str, key: str) -> bytes | None:
    record = await backend.records.get(store_id, key)
    return None if record is None else await read(backend, record)


async def new_store(
    backend: Backend, username: str = "alice", name: str | None = "things"
) -> tuple[User, Store]:
    user = await backend.accounts.create_user(username)
    store, created = await backend.stores.get_or_create(user.id, name, None)
    assert created
    return user, store


async def store(backend: Backend, store_id: str) -> Store:
    found = await backend.stores.by_id(store_id)
    assert found is not None, store_id
    return found


async def keys(backend: Backend, store_id: str, **bounds: Any) -> list[str]:
    bounds = {"after": None, "lower": None, "upper": None, "limit": 1000, **bounds}
    items = await backend.records.keys(store_id, **bounds)
    return [item.key for item in items]


async def eventually(check: Callable[[], Awaitable[bool]], within: float) -> bool:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def refused(error: object, status: int, error_type: str) -> None:
    assert isinstance(error, ApiError), error
    assert (error.status, error.type) == (status, error_type), error.message


# --- users and tokens ----------------------------------------------------------------------------


def test_a_user_is_counted_and_found_by_id_and_username(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        assert await backend.accounts.count_users() == 0
        before = now_ms()
        alice = await backend.accounts.create_user("alice")
        bob = await backend.accounts.create_user("bob")
        assert (alice.username, bob.username) == ("alice", "bob")
        assert STORE_ID_RE.fullmatch(alice.id) and alice.id != bob.id
        assert before <= alice.created_at <= now_ms()
        assert await backend.accounts.count_users() == 2
        assert await backend.accounts.user_by_id(alice.id) == alice
        assert await backend.accounts.user_by_username("bob") == bob
        assert await backend.accounts.user_by_id("X" * 17) is None
        assert await backend.accounts.user_by_username("carol") is None

    deployment.run(scenario)


def test_a_taken_username_is_400_name_not_unique(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        alice = await backend.accounts.create_user("alice")
        with pytest.raises(ApiError) as caught:
            await backend.accounts.create_user("alice")
        refused(caught.value, 400, "name-not-unique")
        assert await backend.accounts.count_users() == 1
        assert await backend.accounts.user_by_username("alice") == alice

    deployment.run(scenario)


def test_a_change_made_here_is_seen_by_the_next_read_here(deployment: Deployment) -> None:
    """Kept rows (tokens, stores without counters) are forgotten when this same backend changes
    them, not only when a notification comes back: a user's next request sees the change."""

    async def scenario(backend: Backend) -> None:
        alice, made = await new_store(backend)
        token = await backend.accounts.add_token(alice.id, "h-now", "cli")
        for _ in range(2):  # kept after the first lookup
            assert await backend.accounts.user_by_token_hash("h-now") == alice
            kept = await backend.stores.by_id(made.id, counters=False)
            assert kept is not None and kept.general_access == "FOLLOW_USER_SETTING"
            assert await backend.stores.by_name(alice.id, "things", counters=False) is not None
        await backend.stores.update(made.id, general_access="ANYONE_WITH_ID_CAN_READ")
        seen = await backend.stores.by_id(made.id, counters=False)
        assert seen is not None and seen.general_access == "ANYONE_WITH_ID_CAN_READ"
        await backend.stores.update(made.id, name="renamed")
        assert await backend.stores.by_name(alice.id, "things", counters=False) is None
        assert await backend.accounts.revoke_token(token.id) is True
        assert await backend.accounts.user_by_token_hash("h-now") is None
        assert await backend.stores.delete(made.id) is True
        assert await backend.stores.by_id(made.id, counters=False) is None

    deployment.run(scenario)


def test_a_token_finds_its_user_until_it_is_revoked(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        alice = await backend.accounts.create_user("alice")
        assert await backend.accounts.user_by_token_hash("h-alice") is None  # not kept as missing
        token = await backend.accounts.add_token(alice.id, "h-alice", "laptop")
        assert (token.user_id, token.username, token.name) == (alice.id, "alice", "laptop")
        assert token.revoked is False
        assert await backend.accounts.user_by_token_hash("h-alice") == alice
        assert await backend.accounts.revoke_token(token.id) is True

        async def forgotten() -> bool:
            return await backend.accounts.user_by_token_hash("h-alice") is None

        assert await eventually(forgotten, CHANGE_SEEN_WITHIN)
        assert await backend.accounts.revoke_token(token.id) is False
        assert await backend.accounts.revoke_token("no-such-token") is False
        [listed] = await backend.accounts.list_tokens(alice.id)
        assert (listed.id, listed.revoked) == (token.id, True)

    deployment.run(scenario)


def test_tokens_are_listed_per_user_in_creation_order(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        alice = await backend.accounts.create_user("alice")
        bob = await backend.accounts.create_user("bob")
        made = []
        for user, name in ((alice, "a1"), (bob, "b1"), (alice, "a2")):
            made.append(await backend.accounts.add_token(user.id, f"hash-{name}", name))
            await asyncio.sleep(0.002)  # distinct creation times
        assert [t.name for t in await backend.accounts.list_tokens(alice.id)] == ["a1", "a2"]
        assert [t.name for t in await backend.accounts.list_tokens(bob.id)] == ["b1"]
        assert await backend.accounts.list_tokens(None) == made
        assert await backend.accounts.user_by_token_hash("hash-b1") == bob

    deployment.run(scenario)


# --- stores --------------------------------------------------------------------------------------


def test_get_or_create_by_name_returns_the_same_store_unchanged(deployment: Deployment) -> None:
    schema = {"actorKeyValueStoreSchemaVersion": 1, "title": "t", "collections": {}}

    async def scenario(backend: Backend) -> None:
        alice = await backend.accounts.create_user("alice")
        before = now_ms()
        made, created = await backend.stores.get_or_create(alice.id, "things", schema)
        assert created
        assert STORE_ID_RE.fullmatch(made.id)
        assert (made.name, made.title, made.user_id, made.username) == (
            "things",
            None,
            alice.id,
            "alice",
        )
        assert (made.general_access, made.schema) == ("FOLLOW_USER_SETTING", schema)
        assert made.secret and made.stats.record_count == 0 and made.stats.write_count == 0
        assert before <= made.created_at == made.modified_at == made.accessed_at <= now_ms()
        again, created = await backend.stores.get_or_create(alice.id, "things", {"other": 1})
        assert not created
        assert (again.id, again.schema, again.secret) == (made.id, schema, made.secret)

    deployment.run(scenario)


def test_unnamed_stores_are_always_new_and_names_are_per_owner(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        alice = await backend.accounts.create_user("alice")
        bob = await backend.accounts.create_user("bob")
        first, created_first = await backend.stores.get_or_create(alice.id, None, None)
        second, created_second = await backend.stores.get_or_create(alice.id, None, None)
        assert created_first and created_second and first.id != second.id
        assert first.name is None
        mine, _ = await backend.stores.get_or_create(alice.id, "shared", None)
        theirs, created = await backend.stores.get_or_create(bob.id, "shared", None)
        assert created and mine.id != theirs.id
        found = await backend.stores.by_name(bob.id, "shared")
        assert found is not None and found.id == theirs.id

    deployment.run(scenario)


def test_concurrent_get_or_create_of_one_name_makes_one_store(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        alice = await backend.accounts.create_user("alice")
        results = await asyncio.gather(
            *[backend.stores.get_or_create(alice.id, "race", None) for _ in range(8)]
        )
        assert len({made.id for made, _ in results}) == 1
        assert [created for _, created in results].count(True) == 1
        total, _ = await backend.stores.page(alice.id, 0, 100, False, True)
        assert total == 1

    deployment.run(scenario)


@pytest.mark.parametrize("counters", [True, False])
def test_a_store_is_found_by_id_and_by_owner_and_name(
    deployment: Deployment, counters: bool
) -> None:
    async def scenario(backend: Backend) -> None:
        alice, made = await new_store(backend)
        bob = await backend.accounts.create_user("bob")
        by_id = await backend.stores.by_id(made.id, counters=counters)
        by_name = await backend.stores.by_name(alice.id, "things", counters=counters)
        assert by_id is not None and by_name is not None
        for found in (by_id, by_name):
            assert (found.id, found.name, found.user_id, found.secret) == (
                made.id,
                "things",
                alice.id,
                made.secret,
            )
        assert await backend.stores.by_id("Z" * 17, counters=counters) is None
        assert await backend.stores.by_name(alice.id, "other", counters=counters) is None
        assert await backend.stores.by_name(bob.id, "things", counters=counters) is None

    deployment.run(scenario)


def test_stores_are_listed_in_creation_order_a_page_at_a_time(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        alice = await backend.accounts.create_user("alice")
        bob = await backend.accounts.create_user("bob")
        made: list[Store] = []
        for name in ("s1", None, "s2", "s3", None, "s4"):
            created, _ = await backend.stores.get_or_create(alice.id, name, None)
            made.append(created)
        await backend.stores.get_or_create(bob.id, "s1", None)
        order = [s.id for s in sorted(made, key=lambda s: (s.created_at, s.id))]
        named = [sid for sid in order if any(s.id == sid and s.name for s in made)]

        async def page(offset: int, limit: int, desc: bool, unnamed: bool) -> tuple[int, list[str]]:
            total, stores = await backend.stores.page(alice.id, offset, limit, desc, unnamed)
            return total, [s.id for s in stores]

        assert await page(0, 100, False, False) == (4, named)
        assert await page(0, 100, False, True) == (6, order)
        assert await page(0, 100, True, True) == (6, order[::-1])
        assert await page(1, 2, False, True) == (6, order[1:3])
        assert await page(1, 2, True, False) == (4, named[::-1][1:3])
        assert await page(5, 10, False, True) == (6, order[5:])
        assert await page(6, 10, False, True) == (6, [])
        assert await page(0, 100, False, False) != await page(0, 100, False, True)

    deployment.run(scenario)


def test_an_update_sets_name_title_and_general_access(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        alice, made = await new_store(backend)
        await asyncio.sleep(0.002)
        renamed = await backend.stores.update(made.id, name="renamed", title="My things")
        assert renamed is not None
        assert (renamed.name, renamed.title) == ("renamed", "My things")
        assert renamed.general_access == "FOLLOW_USER_SETTING"  # not sent: unchanged
        assert renamed.modified_at > made.modified_at
        assert await backend.stores.by_name(alice.id, "things") is None
        found = await backend.stores.by_name(alice.id, "renamed")
        assert found is not None and found.id == made.id
        opened = await backend.stores.update(made.id, general_access="ANYONE_WITH_ID_CAN_READ")
        assert opened is not None
        assert (opened.name, opened.title) == ("renamed", "My things")
        assert opened.general_access == "ANYONE_WITH_ID_CAN_READ"
        cleared = await backend.stores.update(made.id, name=None, title=None)
        assert cleared is not None and (cleared.name, cleared.title) == (None, None)
        total, _ = await backend.stores.page(alice.id, 0, 10, False, False)
        assert total == 0  # without its name the store is unnamed

    deployment.run(scenario)


def test_renaming_to_a_taken_name_is_400_name_not_unique(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        alice, first = await new_store(backend)
        second, _ = await backend.stores.get_or_create(alice.id, "second", None)
        with pytest.raises(ApiError) as caught:
            await backend.stores.update(second.id, name="things", title="lost")
        refused(caught.value, 400, "name-not-unique")
        kept = await store(backend, second.id)
        assert (kept.name, kept.title) == ("second", None)
        holder = await backend.stores.by_name(alice.id, "things")
        assert holder is not None and holder.id == first.id
        assert await backend.stores.update("Z" * 17, name="free") is None

    deployment.run(scenario)


def test_deleting_a_store_removes_it_with_its_records(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        alice, made = await new_store(backend)
        await put(backend, made.id, "small", SMALL)
        await put(backend, made.id, "large", LARGE)
        assert await backend.stores.delete(made.id) is True
        assert await backend.stores.by_id(made.id) is None
        assert await backend.stores.by_name(alice.id, "things") is None
        assert await backend.records.get(made.id, "small") is None
        assert await keys(backend, made.id) == []
        assert await backend.totals() == StorageTotals(0, 0, 0)
        assert await backend.stores.delete(made.id) is False
        again, created = await backend.stores.get_or_create(alice.id, "things", None)
        assert created and again.id != made.id  # the name is free again

    deployment.run(scenario)


def test_unnamed_stores_not_accessed_since_a_time_are_deleted(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        alice = await backend.accounts.create_user("alice")
        old, _ = await backend.stores.get_or_create(alice.id, None, None)
        written, _ = await backend.stores.get_or_create(alice.id, None, None)
        named, _ = await backend.stores.get_or_create(alice.id, "kept", None)
        await put(backend, old.id, "k", LARGE)
        await asyncio.sleep(0.01)
        cutoff = now_ms()
        await asyncio.sleep(0.01)
        await put(backend, written.id, "k", SMALL)  # a write is an access
        recent, _ = await backend.stores.get_or_create(alice.id, None, None)
        assert await backend.stores.delete_unnamed(cutoff) == 1
        assert await backend.stores.by_id(old.id) is None
        assert await backend.records.get(old.id, "k") is None
        for kept in (written, named, recent):
            assert await backend.stores.by_id(kept.id) is not None
        assert await backend.totals() == StorageTotals(3, 1, len(SMALL))
        assert await backend.stores.delete_unnamed(cutoff) == 0

    deployment.run(scenario)


# --- records -------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", BODIES.values(), ids=BODIES.keys())
def test_a_record_reads_back_as_it_was_written(deployment: Deployment, data: bytes) -> None:
    async def scenario(backend: Backend) -> None:
        _, made = await new_store(backend)
        before = now_ms()
        written = await put(
            backend, made.id, "rec", data, content_type="text/plain; charset=utf-8", encoding="br"
        )
        record = await backend.records.get(made.id, "rec")
        assert record is not None
        for meta in (written, record):
            assert (meta.key, meta.size, meta.etag) == ("rec", len(data), etag_of(data))
            assert (meta.content_type, meta.content_encoding) == ("text/plain; charset=utf-8", "br")
            assert before <= meta.modified_at <= now_ms()
        assert record.modified_at == written.modified_at
        assert await read(backend, record) == data
        [item] = await backend.records.keys(made.id, None, None, None, 10)
        assert (item.key, item.size) == ("rec", len(data))

    deployment.run(scenario)


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["inline", "blob"])
def test_a_body_is_read_in_any_part(deployment: Deployment, data: bytes) -> None:
    size = len(data)
    parts = [(0, None), (0, 1), (3, 5), (size - 1, None), (size - 4, 4), (1, size - 1)]

    async def scenario(backend: Backend) -> None:
        _, made = await new_store(backend)
        record = await put(backend, made.id, "rec", data, chunk_size=7)
        for start, length in parts:
            end = size if length is None else start + length
            assert await read(backend, record, start, length) == data[start:end], (start, length)

    deployment.run(scenario)


def test_a_body_larger_than_an_upload_part_streams_back_whole(deployment: Deployment) -> None:
    """9 MiB: more than one S3 multipart part (8 MiB) on scale-out."""
    data = hashlib.sha256(b"seed").digest() * (9 * 1024 * 1024 // 32)
    boundary = 8 * 1024 * 1024

    async def scenario(backend: Backend) -> None:
        _, made = await new_store(backend)
        record = await put(backend, made.id, "big", data, chunk_size=1024 * 1024)
        assert record.size == len(data)
        whole = await read(backend, record)
        assert whole is not None and hashlib.sha256(whole).digest() == hashlib.sha256(data).digest()
        assert await read(backend, record, boundary - 10, 20) == data[boundary - 10 : boundary + 10]

    deployment.run(scenario)


@pytest.mark.parametrize(
    ("first", "second"),
    [(SMALL, LARGE), (LARGE, SMALL), (LARGE, LARGE[::-1]), (SMALL, b"")],
    ids=["inline-to-blob", "blob-to-inline", "blob-to-blob", "inline-to-empty"],
)
def test_an_overwrite_replaces_body_etag_size_and_type(
    deployment: Deployment, first: bytes, second: bytes
) -> None:
    async def scenario(backend: Backend) -> None:
        _, made = await new_store(backend)
        old = await put(backend, made.id, "k", first, content_type="text/plain")
        new = await put(backend, made.id, "k", second, content_type="image/png")
        assert new.etag != old.etag
        record = await backend.records.get(made.id, "k")
        assert record is not None
        assert (record.size, record.etag, record.content_type) == (
            len(second),
            etag_of(second),
            "image/png",
        )
        assert await read(backend, record) == second
        stats = (await store(backend, made.id)).stats
        assert (stats.write_count, stats.record_count, stats.storage_bytes) == (2, 1, len(second))
        assert await backend.totals() == StorageTotals(1, 1, len(second))

    deployment.run(scenario)


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["inline", "blob"])
def test_an_opened_body_keeps_its_version_whatever_writers_do(
    deployment: Deployment, data: bytes
) -> None:
    async def scenario(backend: Backend) -> None:
        _, made = await new_store(backend)
        record = await put(backend, made.id, "k", data)
        for change in ("overwrite", "delete"):
            stream = await backend.records.open_body(record)
            assert stream is not None
            if change == "overwrite":
                record = await put(backend, made.id, "k", b"x" * len(data))
            else:
                assert await backend.records.delete(made.id, "k", WriteCondition()) is True
            try:
                got = b"".join([chunk async for chunk in stream.chunks()])
            finally:
                await stream.close()
            assert got == (data if change == "overwrite" else b"x" * len(data)), change

    deployment.run(scenario)


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["inline", "blob"])
def test_a_record_read_before_an_overwrite_opens_as_its_own_bytes_or_not_at_all(
    deployment: Deployment, data: bytes
) -> None:
    async def scenario(backend: Backend) -> None:
        _, made = await new_store(backend)
        await put(backend, made.id, "k", data)
        stale = await backend.records.get(made.id, "k")
        assert stale is not None
        await put(backend, made.id, "k", data[::-1] + b"!")
        assert await read(backend, stale) in (None, data)

    deployment.run(scenario)


def test_a_missing_record_or_store_reads_as_none(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        _, made = await new_store(backend)
        await put(backend, made.id, "k", SMALL)
        assert await backend.records.get(made.id, "K") is None
        assert await backend.records.get(made.id, "k2") is None
        assert await backend.records.get("Z" * 17, "k") is None
        assert await keys(backend, "Z" * 17) == []

    deployment.run(scenario)


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["inline", "blob"])
def test_a_write_to_a_missing_store_is_404(deployment: Deployment, data: bytes) -> None:
    async def scenario(backend: Backend) -> None:
        _, made = await new_store(backend)
        assert await backend.stores.delete(made.id) is True
        for condition in (WriteCondition(), WriteCondition(if_none_match=["*"])):
            with pytest.raises(ApiError) as caught:
                await put(backend, made.id, "k", data, condition)
            refused(caught.value, 404, "record-not-found")
            assert caught.value.message == "Key-value store was not found."
        with pytest.raises(ApiError) as caught:
            await backend.records.delete(made.id, "k", WriteCondition())
        refused(caught.value, 404, "record-not-found")
        assert await backend.records.get(made.id, "k") is None
        assert await backend.totals() == StorageTotals(0, 0, 0)

    deployment.run(scenario)


def test_deleting_a_record_is_true_once_then_false(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        _, made = await new_store(backend)
        await put(backend, made.id, "a", SMALL)
        await put(backend, made.id, "b", LARGE)
        assert await backend.records.delete(made.id, "b", WriteCondition()) is True
        assert await backend.records.get(made.id, "b") is None
        assert await keys(backend, made.id) == ["a"]
        assert await backend.records.delete(made.id, "b", WriteCondition()) is False
        assert await backend.records.delete(made.id, "never", WriteCondition()) is False
        stats = (await store(backend, made.id)).stats
        assert (stats.delete_count, stats.record_count, stats.storage_bytes) == (1, 1, len(SMALL))

    deployment.run(scenario)


OLD = b"old body"
OLD_ETAG = etag_of(OLD)
# (If-Match, If-None-Match, whether the key holds OLD) -> the 412's message, or None: written.
CONDITIONS = [
    ([OLD_ETAG], None, True, None),
    (['"other"', OLD_ETAG], None, True, None),
    (['"other"'], None, True, IF_MATCH_FAILED),
    (["*"], None, True, None),
    (["*"], None, False, IF_MATCH_FAILED),
    ([OLD_ETAG], None, False, IF_MATCH_FAILED),
    ([], None, True, IF_MATCH_FAILED),
    (None, ["*"], True, IF_NONE_MATCH_FAILED),
    (None, ["*"], False, None),
    (None, [OLD_ETAG], True, IF_NONE_MATCH_FAILED),
    (None, ['"other"'], True, None),
    ([OLD_ETAG], ['"other"'], True, None),
]
CONDITION_IDS = [
    "match",
    "match-in-list",
    "match-other",
    "match-star",
    "match-star-missing",
    "match-missing",
    "match-empty",
    "none-star",
    "none-star-missing",
    "none-match",
    "none-other",
    "both",
]


@pytest.mark.parametrize(
    ("if_match", "if_none_match", "exists", "failure"), CONDITIONS, ids=CONDITION_IDS
)
@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["inline", "blob"])
def test_a_conditional_put_is_written_only_when_its_condition_holds(
    deployment: Deployment,
    data: bytes,
    if_match: list[str] | None,
    if_none_match: list[str] | None,
    exists: bool,
    failure: str | None,
) -> None:
    async def scenario(backend: Backend) -> None:
        _, made = await new_store(backend)
        if exists:
            await put(backend, made.id, "k", OLD)
        condition = WriteCondition(if_match, if_none_match)
        if failure is None:
            await put(backend, made.id, "k", data, condition)
            assert await read_key(backend, made.id, "k") == data
            assert (await store(backend, made.id)).stats.write_count == int(exists) + 1
            return
        with pytest.raises(ApiError) as caught:
            await put(backend, made.id, "k", data, condition)
        refused(caught.value, 412, "precondition-failed")
        assert caught.value.message == failure
        assert await read_key(backend, made.id, "k") == (OLD if exists else None)
        stats = (await store(backend, made.id)).stats
        assert (stats.write_count, stats.record_count) == (int(exists), int(exists))

    deployment.run(scenario)


@pytest.mark.parametrize(
    ("if_match", "if_none_match", "exists", "failure"),
    [case for case in CONDITIONS if case[2]],
    ids=[name for name, case in zip(CONDITION_IDS, CONDITIONS, strict=True) if case[2]],
)
def test_a_conditional_delete_removes_only_when_its_condition_holds(
    deployment: Deployment,
    if_match: list[str] | None,
    if_none_match: list[str] | None,
    exists: bool,
    failure: str | None,
) -> None:
    async def scenario(backend: Backend) -> None:
        _, made = await new_store(backend)
        await put(backend, made.id, "k", OLD)
        condition = WriteCondition(if_match, if_none_match)
        if failure is None:
            assert await backend.records.delete(made.id, "k", condition) is True
            assert await backend.records.get(made.id, "k") is None
            return
        with pytest.raises(ApiError) as caught:
            await backend.records.delete(made.id, "k", condition)
        refused(caught.value, 412, "precondition-failed")
        assert caught.value.message == failure
        assert await read_key(backend, made.id, "k") == OLD
        assert (await store(backend, made.id)).stats.delete_count == 0

    deployment.run(scenario)


def test_a_conditional_delete_of_a_missing_record(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        _, made = await new_store(backend)
        with pytest.raises(ApiError) as caught:
            await backend.records.delete(made.id, "k", WriteCondition(if_match=["*"]))
        assert caught.value.message == IF_MATCH_FAILED
        condition = WriteCondition(if_none_match=["*"])
        assert await backend.records.delete(made.id, "k", condition) is False

    deployment.run(scenario)


# Keys whose byte order differs from a case-insensitive or locale order.
ORDERED_KEYS = sorted(
    {"!", "'", "(", ")", "-", ".", "0", "9", "A", "Z", "_", "a", "z", "a!", "aB", "a_", "ab"}
    | {"a-b", "A-b", "ZZ", "__", "b", "B", "a.", "a(", "k" * 256},
    key=lambda key: key.encode(),
)


def test_keys_are_listed_in_byte_order_within_bounds(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        _, made = await new_store(backend)
        for key in reversed(ORDERED_KEYS):
            await put(backend, made.id, key, key.encode())
        listed = await backend.records.keys(made.id, None, None, None, 1000)
        assert [item.key for item in listed] == ORDERED_KEYS
        assert [item.size for item in listed] == [len(key) for key in ORDERED_KEYS]
        assert await keys(backend, made.id, limit=3) == ORDERED_KEYS[:3]
        assert await keys(backend, made.id, after="a") == [k for k in ORDERED_KEYS if k > "a"]
        assert await keys(backend, made.id, after="a0") == [k for k in ORDERED_KEYS if k > "a0"]
        assert await keys(backend, made.id, lower="Z", upper="a") == ["Z", "ZZ", "_", "__"]
        assert await keys(backend, made.id, after="Z", lower="Z", upper="a", limit=2) == [
            "ZZ",
            "_",
        ]
        assert await keys(backend, made.id, after="z") == []
        assert await keys(backend, made.id, lower="b", upper="b") == []

    deployment.run(scenario)


QUERIES = [
    ("a", None),
    ("A", None),
    ("_", None),
    ("a-", None),
    ("k" * 255, None),
    ("nothing", None),
    (None, KeyFilter(exact="a")),
    ("a", KeyFilter(exact="a!")),
    (None, KeyFilter(prefix="a")),
    ("a(", KeyFilter(prefix="a")),
    ("b", KeyFilter(prefix="a")),
    (None, KeyFilter(prefix="~")),
]


def test_the_bounds_of_a_keys_query_list_exactly_its_keys(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        _, made = await new_store(backend)
        for key in ORDERED_KEYS:
            await put(backend, made.id, key, b"")
        for prefix, collection in QUERIES:
            bounds = key_range(prefix, collection)
            wanted = [
                k
                for k in ORDERED_KEYS
                if k.startswith(prefix or "") and (collection is None or collection.matches(k))
            ]
            listed = await keys(backend, made.id, lower=bounds.lower, upper=bounds.upper)
            assert (listed if not bounds.empty else []) == wanted, (prefix, collection)

    deployment.run(scenario)


def test_a_collection_key_with_a_nul_lists_nothing(deployment: Deployment) -> None:
    """A store schema may name any string as a collection's key or keyPrefix (core/schema.py
    accepts "\\u0000"); listing that collection must find no key, not fail, and a bound with a
    NUL keeps its place in byte order (no key holds one)."""

    async def scenario(backend: Backend) -> None:
        _, made = await new_store(backend)
        for key in ("a", "ab", "b"):
            await put(backend, made.id, key, SMALL)
        for collection in (KeyFilter(exact="a\x00"), KeyFilter(prefix="a\x00")):
            bounds = key_range(None, collection)
            assert await keys(backend, made.id, lower=bounds.lower, upper=bounds.upper) == []
        assert await keys(backend, made.id, lower="a\x00") == ["ab", "b"]
        assert await keys(backend, made.id, after="a\x00x") == ["ab", "b"]
        assert await keys(backend, made.id, upper="a\x00x") == ["a"]
        assert await keys(backend, made.id, upper="\x00") == []

    deployment.run(scenario)


def test_a_discarded_body_never_becomes_a_record(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        _, made = await new_store(backend)
        for data in (SMALL, LARGE):
            body = backend.records.new_body("text/plain", None)
            await body.write(data)
            assert body.size == len(data)
            await body.discard()
        assert await keys(backend, made.id) == []
        assert await backend.totals() == StorageTotals(1, 0, 0)

    deployment.run(scenario)


def test_writes_sent_together_each_get_their_own_outcome(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        alice, made = await new_store(backend)
        gone, _ = await backend.stores.get_or_create(alice.id, "gone", None)
        await put(backend, made.id, "taken", OLD)
        assert await backend.stores.delete(gone.id) is True
        writes = [put(backend, made.id, f"k{n:02d}", SMALL * n) for n in range(20)]
        writes += [
            put(backend, gone.id, "k", SMALL),
            put(backend, made.id, "taken", SMALL, WriteCondition(if_none_match=["*"])),
            put(backend, made.id, "taken", SMALL, WriteCondition(if_match=['"nope"'])),
            put(backend, made.id, "fresh", SMALL, WriteCondition(if_none_match=["*"])),
            put(backend, made.id, "large", LARGE),
        ]
        outcomes = await asyncio.gather(*writes, return_exceptions=True)
        assert all(isinstance(o, RecordMeta) for o in outcomes[:20]), outcomes[:20]
        refused(outcomes[20], 404, "record-not-found")
        refused(outcomes[21], 412, "precondition-failed")
        refused(outcomes[22], 412, "precondition-failed")
        assert isinstance(outcomes[23], RecordMeta) and isinstance(outcomes[24], RecordMeta)
        expected = {f"k{n:02d}": SMALL * n for n in range(20)}
        expected |= {"taken": OLD, "fresh": SMALL, "large": LARGE}
        assert await keys(backend, made.id) == sorted(expected)
        for key, data in expected.items():
            assert await read_key(backend, made.id, key) == data, key
        stats = (await store(backend, made.id)).stats
        assert stats.record_count == len(expected)
        assert stats.storage_bytes == sum(len(data) for data in expected.values())
        assert stats.write_count == 1 + 22  # the first "taken", then the writes that held

    deployment.run(scenario)


def test_a_presigned_url_if_any_serves_the_body(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        _, made = await new_store(backend)
        small = await put(backend, made.id, "small", SMALL)
        large = await put(backend, made.id, "large", LARGE, content_type="image/png")
        assert await backend.records.presigned_url(small, None, 60) is None  # inline: no object
        url = await backend.records.presigned_url(large, 'attachment; filename="large"', 60)
        if url is None:
            return  # this backend serves bodies itself
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
        assert response.status_code == 200
        assert response.content == LARGE
        assert response.headers["content-type"] == "image/png"

    deployment.run(scenario)


# --- stats and totals ----------------------------------------------------------------------------


def test_stats_count_writes_deletes_bytes_and_records(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        _, made = await new_store(backend)
        await put(backend, made.id, "a", SMALL)
        await put(backend, made.id, "b", LARGE)
        await put(backend, made.id, "a", SMALL * 2)
        await backend.records.delete(made.id, "b", WriteCondition())
        await backend.records.delete(made.id, "missing", WriteCondition())
        stats = (await store(backend, made.id)).stats
        assert (stats.write_count, stats.delete_count) == (3, 1)
        assert (stats.record_count, stats.storage_bytes) == (1, 2 * len(SMALL))
        assert (stats.read_count, stats.list_count) == (0, 0)
        total, [listed] = await backend.stores.page(made.user_id, 0, 10, False, False)
        assert total == 1 and listed.stats == stats

    deployment.run(scenario)


def test_reads_lists_and_accesses_are_counted_and_kept(deployment: Deployment) -> None:
    async def body(backend: Backend, made: Store) -> None:
        for _ in range(3):
            backend.stores.note_read(made.id)
        backend.stores.note_list(made.id)
        await asyncio.sleep(0.005)
        backend.stores.note_access(made.id)

    async def scenario() -> None:
        async with deployment.opened() as backend:
            _, made = await new_store(backend)
            await body(backend, made)
            seen = await store(backend, made.id)
            assert (seen.stats.read_count, seen.stats.list_count) == (3, 1)
            assert seen.accessed_at > made.accessed_at
            assert seen.modified_at == made.modified_at  # reading is not modifying
        async with deployment.opened() as backend:  # what was noted was kept at close
            kept = await store(backend, made.id)
            assert (kept.stats.read_count, kept.stats.list_count) == (3, 1)
            assert kept.accessed_at == seen.accessed_at

    asyncio.run(scenario())


def test_noted_counters_are_shown_once_while_they_are_applied(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        _, made = await new_store(backend)
        shown: set[tuple[int, int]] = set()
        noted = 0
        deadline = time.monotonic() + 2.0  # several background flushes
        while time.monotonic() < deadline:
            backend.stores.note_read(made.id)
            noted += 1
            await asyncio.sleep(0)  # a flush may start now, and commit while we read
            reads = await asyncio.gather(*[backend.stores.by_id(made.id) for _ in range(4)])
            shown.update((noted, found.stats.read_count) for found in reads if found)
        assert sorted((noted, count) for noted, count in shown if count != noted) == []

    deployment.run(scenario)


def test_record_writes_and_deletes_move_modified_at(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        _, made = await new_store(backend)
        await asyncio.sleep(0.005)
        record = await put(backend, made.id, "a", SMALL)
        written = await store(backend, made.id)
        assert written.modified_at == record.modified_at > made.modified_at
        assert written.accessed_at >= written.modified_at
        await asyncio.sleep(0.005)
        await backend.records.delete(made.id, "a", WriteCondition())
        assert (await store(backend, made.id)).modified_at > written.modified_at

    deployment.run(scenario)


def test_totals_sum_every_store_of_every_user(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        assert await backend.totals() == StorageTotals(0, 0, 0)
        _, mine = await new_store(backend, "alice")
        _, theirs = await new_store(backend, "bob")
        await backend.stores.get_or_create(mine.user_id, None, None)
        await put(backend, mine.id, "a", SMALL)
        await put(backend, mine.id, "b", LARGE)
        await put(backend, theirs.id, "a", LARGE)
        assert await backend.totals() == StorageTotals(3, 3, len(SMALL) + 2 * len(LARGE))
        await backend.stores.delete(theirs.id)
        assert await backend.totals() == StorageTotals(2, 2, len(SMALL) + len(LARGE))

    deployment.run(scenario)


def test_counters_noted_for_a_store_deleted_meanwhile_are_dropped(
    deployment: Deployment,
) -> None:
    async def scenario() -> None:
        async with deployment.opened() as backend:
            _, made = await new_store(backend)
            _, other = await new_store(backend, "bob")
            backend.stores.note_read(made.id)
            backend.stores.note_read(other.id)
            await backend.stores.delete(made.id)
        async with deployment.opened() as backend:
            assert await backend.stores.by_id(made.id) is None
            assert (await store(backend, other.id)).stats.read_count == 1

    asyncio.run(scenario())


# --- lifecycle -----------------------------------------------------------------------------------


def test_everything_committed_is_there_after_a_restart(deployment: Deployment) -> None:
    async def scenario() -> None:
        async with deployment.opened() as backend:
            alice, made = await new_store(backend)
            token = await backend.accounts.add_token(alice.id, "h", "laptop")
            await backend.stores.update(made.id, title="T", general_access="RESTRICTED")
            await put(backend, made.id, "small", SMALL)
            await put(backend, made.id, "large", LARGE)
            before = await store(backend, made.id)
        async with deployment.opened() as backend:
            assert await backend.ready() is None
            assert await backend.accounts.user_by_token_hash("h") == alice
            assert await backend.accounts.list_tokens(alice.id) == [token]
            assert await store(backend, made.id) == before
            assert await read_key(backend, made.id, "small") == SMALL
            assert await read_key(backend, made.id, "large") == LARGE
            assert await backend.totals() == StorageTotals(1, 2, len(SMALL) + len(LARGE))

    asyncio.run(scenario())


# --- changes a server keeps answers for ----------------------------------------------------------


class Watcher:
    def __init__(self) -> None:
        self.records: list[tuple[str, str]] = []
        self.everything = 0

    def record_changed(self, store_id: str, key: str) -> None:
        self.records.append((store_id, key))

    def everything_changed(self) -> None:
        self.everything += 1


def test_a_watcher_hears_of_every_committed_change(deployment: Deployment) -> None:
    async def scenario(backend: Backend) -> None:
        alice, made = await new_store(backend)
        token = await backend.accounts.add_token(alice.id, "h", "laptop")
        watcher = Watcher()
        refresh = backend.watch_changes(watcher)
        if refresh is None:
            pytest.skip(f"{deployment.name} cannot see every change (other nodes write)")
        refresh()
        watcher.records.clear()
        watcher.everything = 0
        await put(backend, made.id, "k", SMALL)
        refresh()
        assert (watcher.records, watcher.everything) == ([(made.id, "k")], 0)
        await backend.records.delete(made.id, "k", WriteCondition())
        refresh()
        assert watcher.records == [(made.id, "k"), (made.id, "k")]
        for change in ("update", "revoke"):
            seen = watcher.everything
            if change == "update":
                await backend.stores.update(made.id, general_access="ANYONE_WITH_ID_CAN_READ")
            else:
                await backend.accounts.revoke_token(token.id)
            refresh()
            assert watcher.everything > seen, change

    deployment.run(scenario)
