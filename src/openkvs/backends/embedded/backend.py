"""EmbeddedBackend: reads on the event loop's connection, writes through the group-commit writer."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from openkvs.backends.background import BackgroundWork
from openkvs.backends.base import ChangeWatcher, StorageTotals
from openkvs.backends.embedded.accounts import AccountRows
from openkvs.backends.embedded.blobs import BlobFiles
from openkvs.backends.embedded.migrations import migrate
from openkvs.backends.embedded.private import make_private
from openkvs.backends.embedded.read_cache import ReadCache, counters_changed
from openkvs.backends.embedded.record_rows import RecordRows
from openkvs.backends.embedded.state import After
from openkvs.backends.embedded.store_rows import StoreRows
from openkvs.backends.embedded.writer import Writer
from openkvs.backends.stats_buffer import StatsBuffer
from openkvs.telemetry import Telemetry

log = logging.getLogger("openkvs.embedded")
# Prepared statements kept per connection: the writer's group statements have one text per
# batch size (put_batch.py), up to MAX_BATCH of each kind.
STATEMENT_CACHE = 1024
READY_TIMEOUT = 2.0  # seconds the writer gets to answer a readiness check
# Free space below which the store is not ready: a write would fail with 507 storage-full.
READY_MIN_FREE_BYTES = 1024 * 1024


def server_running(data_dir: Path) -> bool:
    """Whether an `openkvs serve` process holds `data_dir` (it keeps `lock` locked)."""
    lock = data_dir / "lock"
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class EmbeddedBackend(BackgroundWork, AccountRows, StoreRows, RecordRows):
    def __init__(self, data_dir: Path, durability: str, inline_threshold: int):
        self.data_dir = data_dir
        self.strict = durability == "strict"
        self.inline_threshold = inline_threshold
        self.stats = StatsBuffer()
        self._db_path = data_dir / "openkvs.db"
        self._files: BlobFiles
        self._reader: sqlite3.Connection
        self._writer: Writer
        self._lock_fd: int | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._cleared_dead: list[str] = []
        self._deferred_dead: list[str] = []  # dead body files kept for a backup (state._bury)
        self._cache = ReadCache()
        self._serving = False
        self.telemetry = Telemetry()

    # lifecycle
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._db_path,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=STATEMENT_CACHE,
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if self.strict else 'NORMAL'}")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    async def start(self, serve: bool = True) -> None:
        """Open the store; `serve` also takes the data directory lock and runs crash recovery."""
        make_private(self.data_dir, self._db_path)
        self._files = BlobFiles(self.data_dir, self.strict)
        self._serving = serve
        if serve:
            self._take_lock()
        self._reader = self._connect()
        migrate(self._reader)
        if serve:
            self._recover()
        self._writer = Writer(self._connect, self._cache, self.telemetry)
        self._writer.start()
        if serve:
            self._start_stats_flush()

    def _take_lock(self) -> None:
        fd = os.open(self.data_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RuntimeError(f"another openkvs server is using {self.data_dir}") from None
        self._lock_fd = fd

    def _server_running(self) -> bool:
        return server_running(self.data_dir)

    def _recover(self) -> None:
        """Finish what a crash interrupted: publish committed blobs, remove uncommitted ones."""
        conn = self._reader
        for name in self._files.leftover_tmp():
            if conn.execute("SELECT 1 FROM records WHERE blob = ?", (name,)).fetchone():
                self._files.publish(name)
            else:
                self._files.remove(name)
        dead = [r[0] for r in conn.execute("SELECT blob FROM dead_blobs")]
        for name in dead:
            if not conn.execute("SELECT 1 FROM records WHERE blob = ?", (name,)).fetchone():
                self._files.remove(name)
        if dead:
            conn.execute("DELETE FROM dead_blobs")

    async def ready(self) -> str | None:
        for path in (self.data_dir, self._files.tmp, self._db_path):
            if not os.access(path, os.W_OK):
                return f"{path.name} is not writable"
        disk = os.statvfs(self.data_dir)
        if disk.f_bavail * disk.f_frsize < READY_MIN_FREE_BYTES:
            return "the data directory's file system is full"
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                # Through the writer: its thread is alive and its connection reads the database.
                await self._writer.run(
                    lambda conn, after: conn.execute("SELECT count(*) FROM users").fetchone(),
                    changes=[],
                )
        except TimeoutError:
            return f"the writer did not answer within {READY_TIMEOUT:g} s"
        except sqlite3.Error as exc:
            return f"the database failed: {exc}"
        return None

    async def totals(self) -> StorageTotals:
        row = self._reader.execute(
            "SELECT count(*), coalesce(sum(record_count), 0), coalesce(sum(storage_bytes), 0) "
            "FROM stores"
        ).fetchone()
        return StorageTotals(row[0], row[1], row[2])

    def watch_changes(self, watcher: ChangeWatcher) -> Callable[[], None]:
        """Every write goes through this process's writer, which queues what it changed."""
        self._cache.watch(watcher)
        return self._cache.refresh

    async def close(self) -> None:
        await self._stop_background()
        self._writer.stop()
        self._reader.close()
        self._files.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)

    async def _flush_stats(self) -> None:
        if self._deferred_dead and not self._files.held():
            deferred, self._deferred_dead = self._deferred_dead, []
            for blob in deferred:
                self._files.remove(blob)
            self._cleared_dead.extend(deferred)
        cleared, self._cleared_dead = self._cleared_dead, []
        if not self.stats.pending and not cleared:
            return
        batch = self.stats.take()

        def op(conn: sqlite3.Connection, after: After) -> None:
            conn.executemany(
                "UPDATE stores SET read_count = read_count + ?, list_count = list_count + ?, "
                "accessed_at = max(accessed_at, ?) WHERE id = ?",
                [(e.reads, e.lists, e.accessed_at, sid) for sid, e in batch.items()],
            )
            conn.executemany("DELETE FROM dead_blobs WHERE blob = ?", [(n,) for n in cleared])

        try:
            await self._writer.run(op, changes=[counters_changed(sid) for sid in batch])
        finally:
            self.stats.flushed()
