"""The embedded store's group-commit writer (backends/embedded/writer.py), driven directly.

Over HTTP a batch's make-up depends on timing; here a first job holds the writer thread while
the jobs under test queue behind it, so they are committed as one batch every time.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from openkvs.backends.embedded import writer as writer_module
from openkvs.backends.embedded.backend import EmbeddedBackend
from openkvs.backends.embedded.read_cache import ReadCache, record_changed
from openkvs.backends.embedded.writer import Writer
from openkvs.config import Settings
from openkvs.core.errors import ApiError
from openkvs.core.models import RecordMeta, Store, WriteCondition

After = list[Callable[[], None]]


def _writer(path: Path) -> Writer:
    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    setup = connect()
    setup.execute("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER)")
    setup.execute(
        "CREATE TABLE IF NOT EXISTS stores (id TEXT PRIMARY KEY, write_count INTEGER, "
        "delete_count INTEGER, storage_bytes INTEGER, record_count INTEGER, "
        "modified_at INTEGER, accessed_at INTEGER)"
    )
    setup.execute("INSERT OR IGNORE INTO stores VALUES ('s', 0, 0, 0, 0, 0, 0)")
    setup.close()
    return Writer(connect, ReadCache())


def _insert(key: str, fail_after_write: bool = False) -> Callable[[sqlite3.Connection, After], str]:
    def op(conn: sqlite3.Connection, after: After) -> str:
        conn.execute("INSERT INTO t VALUES (?, 1)", (key,))
        if fail_after_write:
            raise RuntimeError(f"{key} failed after its write")
        return key

    return op


def _refuse(conn: sqlite3.Connection, after: After) -> None:
    raise ApiError(412, "precondition-failed", "refused before writing")


@contextlib.asynccontextmanager
async def _writer_held(writer: Writer) -> AsyncIterator[None]:
    """While the block runs, the writer thread is inside a job that waits; what the block queues
    is committed as one batch when it ends."""
    release = threading.Event()

    def hold(conn: sqlite3.Connection, after: After) -> None:
        release.wait(5)

    holder = asyncio.ensure_future(writer.run(hold))
    await asyncio.sleep(0.05)  # the writer thread is now inside `hold`
    try:
        yield
        await asyncio.sleep(0.05)  # what the block started reaches the queue
    finally:
        release.set()
        await holder


async def _one_batch(writer: Writer, jobs: list[dict[str, Any]]) -> list[Any]:
    """Run `jobs` (keyword arguments of Writer.run) as one batch."""
    async with _writer_held(writer):
        tasks = [asyncio.ensure_future(writer.run(**job)) for job in jobs]
    return await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def _store(path: Path, **options: Any) -> AsyncIterator[tuple[EmbeddedBackend, Store]]:
    """A started backend (not serving) with one user and one store, closed afterwards;
    `options`: settings other than `openkvs serve`'s defaults."""
    settings = Settings(data_dir=path, **options)
    backend = EmbeddedBackend(path, settings.durability, settings.inline_threshold)
    await backend.start(serve=False)
    try:
        user = await backend.accounts.create_user("u")
        store, _ = await backend.stores.get_or_create(user.id, "s", None)
        yield backend, store
    finally:
        await backend.close()


def _count_groups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on, the size of every group the writer writes, in order."""
    groups: list[int] = []
    real_write_group = writer_module.write_group

    def counting(conn: sqlite3.Connection, puts: list[Any], count: Any) -> Any:
        groups.append(len(puts))
        return real_write_group(conn, puts, count)

    monkeypatch.setattr(writer_module, "write_group", counting)
    return groups


async def _put(
    backend: EmbeddedBackend,
    store_id: str,
    key: str,
    data: bytes,
    condition: WriteCondition | None = None,
) -> RecordMeta:
    sink = backend.records.new_body("text/plain", None)
    await sink.write(data)
    await sink.finish()
    etag = f'"{key}-{len(data)}"'
    return await backend.records.put(
        store_id, key, "text/plain", None, etag, sink, condition or WriteCondition()
    )


def _keys(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT k FROM t ORDER BY k")]
    finally:
        conn.close()


def test_a_failure_after_a_write_without_savepoint_fails_only_its_own_job(tmp_path: Path) -> None:
    """Jobs that promise to refuse before writing run without savepoints; when one fails after
    writing anyway, the batch is run again with savepoints and only that job fails."""
    path = tmp_path / "w.db"
    writer = _writer(path)
    writer.start()
    try:
        results = asyncio.run(
            _one_batch(
                writer,
                [
                    {"op": _insert("a"), "checks_first": True},
                    {"op": _insert("b", fail_after_write=True), "checks_first": True},
                    {"op": _refuse, "checks_first": True},
                    {"op": _insert("c"), "checks_first": True},
                    {"op": _insert("d")},
                ],
            )
        )
    finally:
        writer.stop()
    assert results[0] == "a" and results[3] == "c" and results[4] == "d"
    assert isinstance(results[1], RuntimeError)
    assert isinstance(results[2], ApiError) and results[2].status == 412
    assert _keys(path) == ["a", "c", "d"]


def test_counters_of_a_batch_are_added_once_per_store(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    writer = _writer(path)

    def counted(
        size: int, created: int, modified: int
    ) -> Callable[[sqlite3.Connection, After], None]:
        def op(conn: sqlite3.Connection, after: After) -> None:
            writer.count("s", 1, 0, size, created, modified)

        return op

    def failing(conn: sqlite3.Connection, after: After) -> None:
        raise ApiError(412, "precondition-failed", "refused before counting")

    writer.start()
    try:
        asyncio.run(
            _one_batch(
                writer,
                [
                    {"op": counted(100, 1, 5), "checks_first": True},
                    {"op": failing, "checks_first": True},
                    {"op": counted(-40, 0, 9), "checks_first": True},
                    {"op": counted(7, 1, 7)},
                ],
            )
        )
    finally:
        writer.stop()
    conn = sqlite3.connect(path)
    row = conn.execute(
        "SELECT write_count, delete_count, storage_bytes, record_count, modified_at, accessed_at "
        "FROM stores WHERE id = 's'"
    ).fetchone()
    conn.close()
    assert row == (3, 0, 67, 2, 9, 9)


def test_a_cancelled_caller_does_not_stop_its_write_nor_its_clean_up(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    writer = _writer(path)
    cleaned: list[str] = []

    async def scenario() -> None:
        async with _writer_held(writer):
            kept = asyncio.ensure_future(writer.run(_insert("kept")))
            failed = asyncio.ensure_future(
                writer.run(
                    _insert("x", fail_after_write=True), on_error=lambda: cleaned.append("x")
                )
            )
            await asyncio.sleep(0)
            kept.cancel()
            failed.cancel()
        for task in (kept, failed):
            with pytest.raises(asyncio.CancelledError):
                await task
        await writer.run(_insert("after"))  # settles after the batch above

    writer.start()
    try:
        asyncio.run(scenario())
    finally:
        writer.stop()
    assert _keys(path) == ["after", "kept"]
    assert cleaned == ["x"]


def test_changes_are_queued_for_the_cache_before_the_writes_are_answered(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    cache = ReadCache()
    writer = _writer(path)
    writer._cache = cache
    cache.keep_record(("s", "k"), RecordMeta("k", 1, "text/plain", None, '"e"', 0, b"x"))
    cache.keep_record(("s", "other"), RecordMeta("other", 1, "text/plain", None, '"e"', 0, b"y"))

    async def scenario() -> None:
        await writer.run(_insert("k"), changes=[record_changed("s", "k")])
        cache.refresh()  # what every lookup does first

    writer.start()
    try:
        asyncio.run(scenario())
    finally:
        writer.stop()
    assert ("s", "k") not in cache.records
    assert ("s", "other") in cache.records


def test_small_writes_of_one_batch_go_together_with_every_outcome_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """put_batch.py: inline writes queued together share their statements; each still gets
    its own outcome (a new key, an overwrite, a key that held a file body, a failed condition,
    a deleted store), and bodies, counters and the replaced bodies come out right."""
    groups = _count_groups(monkeypatch)

    async def scenario() -> None:
        async with _store(tmp_path / "data", inline_threshold=1000) as (backend, store):
            gone, _ = await backend.stores.get_or_create(store.user_id, "gone", None)
            await backend.stores.delete(gone.id)

            await _put(backend, store.id, "inline", b"old")
            await _put(backend, store.id, "file", b"f" * 5000)
            before = await backend.records.get(store.id, "file")
            assert before is not None and before.blob is not None
            old_file = before.blob
            assert backend._files.final_path(old_file).exists()
            jobs = [
                _put(backend, store.id, "new", b"n" * 10),
                _put(backend, store.id, "inline", b"replaced"),
                _put(backend, store.id, "file", b"small now"),
                _put(backend, store.id, "cond", b"c", WriteCondition(if_match=['"nope"'])),
                _put(backend, gone.id, "x", b"x"),
                _put(backend, store.id, "empty", b""),
            ]
            async with _writer_held(backend._writer):
                tasks = [asyncio.ensure_future(job) for job in jobs]
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert [getattr(r, "key", None) for r in results] == [
                "new",
                "inline",
                "file",
                None,
                None,
                "empty",
            ]
            assert groups == [6]  # all six in one group
            assert isinstance(results[3], ApiError) and results[3].status == 412
            assert isinstance(results[4], ApiError) and results[4].status == 404
            bodies = {}
            for key in ("new", "inline", "file", "empty"):
                record = await backend.records.get(store.id, key)
                assert record is not None and record.blob is None
                bodies[key] = record.inline
            assert bodies == {
                "new": b"n" * 10,
                "inline": b"replaced",
                "file": b"small now",
                "empty": b"",
            }
            assert not backend._files.final_path(old_file).exists()  # buried after the commit
            assert await backend.records.get(store.id, "cond") is None
            fresh = await backend.stores.by_id(store.id)
            assert fresh is not None
            stats = fresh.stats
            assert (stats.write_count, stats.record_count, stats.storage_bytes) == (6, 4, 27)
            conn = sqlite3.connect(tmp_path / "data" / "openkvs.db")
            try:
                orphans = conn.execute(
                    "SELECT count(*) FROM bodies WHERE id NOT IN "
                    "(SELECT body_id FROM records WHERE body_id IS NOT NULL)"
                ).fetchone()[0]
            finally:
                conn.close()
            assert orphans == 0

    asyncio.run(scenario())


def test_a_full_batch_of_small_writes_is_one_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The group statements carry up to MAX_BATCH rows of bound values: a full batch, half of
    it overwriting earlier records, is written by one group, and nothing is lost or left."""

    async def scenario() -> None:
        async with _store(tmp_path / "data") as (backend, store):
            half = writer_module.MAX_BATCH // 2
            for i in range(half):
                await _put(backend, store.id, f"k{i}", b"old")
            groups = _count_groups(monkeypatch)  # the writes above are not counted
            async with _writer_held(backend._writer):
                tasks = [
                    asyncio.ensure_future(_put(backend, store.id, f"k{i}", f"new {i}".encode()))
                    for i in range(writer_module.MAX_BATCH)
                ]
            results = await asyncio.gather(*tasks)
            assert groups == [writer_module.MAX_BATCH]
            assert [r.key for r in results] == [f"k{i}" for i in range(writer_module.MAX_BATCH)]
            for i in (0, half - 1, half, writer_module.MAX_BATCH - 1):
                record = await backend.records.get(store.id, f"k{i}")
                assert record is not None and record.inline == f"new {i}".encode()
            fresh = await backend.stores.by_id(store.id)
            assert fresh is not None
            expected_bytes = sum(len(f"new {i}") for i in range(writer_module.MAX_BATCH))
            assert fresh.stats.record_count == writer_module.MAX_BATCH
            assert fresh.stats.storage_bytes == expected_bytes
            conn = sqlite3.connect(tmp_path / "data" / "openkvs.db")
            try:
                bodies = conn.execute("SELECT count(*) FROM bodies").fetchone()[0]
            finally:
                conn.close()
            assert bodies == writer_module.MAX_BATCH  # the replaced bodies are gone

    asyncio.run(scenario())


def test_a_group_that_fails_is_run_again_one_write_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(conn: sqlite3.Connection, puts: list[Any], count: Any) -> Any:
        conn.execute("INSERT INTO bodies (data) VALUES (x'00')")  # a write the rollback undoes
        raise sqlite3.OperationalError("the group statement failed")

    monkeypatch.setattr(writer_module, "write_group", broken)

    async def scenario() -> None:
        async with _store(tmp_path / "data") as (backend, store):
            async with _writer_held(backend._writer):
                tasks = [
                    asyncio.ensure_future(_put(backend, store.id, k, k.encode()))
                    for k in ("a", "b", "c")
                ]
            assert [r.key for r in await asyncio.gather(*tasks)] == ["a", "b", "c"]
            for key in ("a", "b", "c"):
                record = await backend.records.get(store.id, key)
                assert record is not None and record.inline == key.encode()
            fresh = await backend.stores.by_id(store.id)
            assert fresh is not None and fresh.stats.write_count == 3

    asyncio.run(scenario())
    conn = sqlite3.connect(tmp_path / "data" / "openkvs.db")
    try:
        assert conn.execute("SELECT count(*) FROM bodies").fetchone()[0] == 3
    finally:
        conn.close()
