"""EmbeddedBackend: reads on the event loop's connection, writes through the group-commit writer."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from openkvs.backends.background import FLUSH_INTERVAL, Loops
from openkvs.backends.embedded.accounts import EmbeddedAccounts
from openkvs.backends.embedded.blobs import BlobFiles
from openkvs.backends.embedded.dead_bodies import DeadBodies
from openkvs.backends.embedded.migrations import migrate
from openkvs.backends.embedded.private import make_private
from openkvs.backends.embedded.read_cache import ReadCache, counters_changed
from openkvs.backends.embedded.record_rows import EmbeddedRecords
from openkvs.backends.embedded.store_rows import EmbeddedStores
from openkvs.backends.embedded.writer import After, Writer
from openkvs.backends.stats_buffer import StatsBuffer
from openkvs.core.storage import Accounts, ChangeWatcher, Records, StorageTotals, Stores
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


class EmbeddedBackend:
    """The parts share one reader connection (on the event loop thread), the writer (every
    write), the body files and the read cache; this object opens and closes them and runs the
    background work."""

    # made by start(): EmbeddedAccounts, EmbeddedStores, EmbeddedRecords
    accounts: Accounts
    stores: Stores
    records: Records

    def __init__(self, data_dir: Path, durability: str, inline_threshold: int):
        self.data_dir = data_dir
        self.strict = durability == "strict"
        self.inline_threshold = inline_threshold
        self.stats = StatsBuffer()
        self._db_path = data_dir / "openkvs.db"
        self._files: BlobFiles
        self._dead_bodies: DeadBodies
        self._reader: sqlite3.Connection
        self._writer: Writer
        self._lock_fd: int | None = None
        self._loops = Loops()
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
        self._make_parts()
        if serve:
            self._loops.every(FLUSH_INTERVAL, self._flush_stats, "stats flush")

    def _make_parts(self) -> None:
        reader, writer, cache, telemetry = self._reader, self._writer, self._cache, self.telemetry
        dead_bodies = self._dead_bodies = DeadBodies(self._files)
        self.accounts = EmbeddedAccounts(reader, writer, cache, telemetry, self._served_elsewhere)
        self.stores = EmbeddedStores(reader, writer, cache, self.stats, telemetry, dead_bodies)
        self.records = EmbeddedRecords(
            reader, writer, self._files, cache, telemetry, dead_bodies, self.inline_threshold
        )

    def _take_lock(self) -> None:
        fd = os.open(self.data_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RuntimeError(f"another openkvs server is using {self.data_dir}") from None
        self._lock_fd = fd

    def _served_elsewhere(self) -> bool:
        """Whether a server in another process uses this data directory."""
        return not self._serving and server_running(self.data_dir)

    def _recover(self) -> None:
        """Finish what a crash interrupted: publish committed blobs, remove uncommitted ones."""
        conn = self._reader
        for name in self._files.leftover_tmp():
            if conn.execute("SELECT 1 FROM records WHERE blob = ?", (name,)).fetchone():
                self._files.publish(name)
            else:
                self._files.remove(name)
        dead = [blob for (blob,) in conn.execute("SELECT blob FROM dead_blobs")]
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
        stores, records, record_bytes = self._reader.execute(
            "SELECT count(*), coalesce(sum(record_count), 0), coalesce(sum(storage_bytes), 0) "
            "FROM stores"
        ).fetchone()
        return StorageTotals(stores, records, record_bytes)

    def watch_changes(self, watcher: ChangeWatcher) -> Callable[[], None]:
        """Every write goes through this process's writer, which queues what it changed."""
        self._cache.watch(watcher)
        return self._cache.refresh

    async def close(self) -> None:
        await self._loops.stop()
        await self._flush_stats()
        self._writer.stop()
        self._reader.close()
        self._files.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)

    async def _flush_stats(self) -> None:
        removed = self._dead_bodies.take_removed()
        if not self.stats.pending and not removed:
            return
        async with self.stats.flushing() as batch:

            def op(conn: sqlite3.Connection, after: After) -> None:
                conn.executemany(
                    "UPDATE stores SET read_count = read_count + ?, list_count = list_count + ?, "
                    "accessed_at = max(accessed_at, ?) WHERE id = ?",
                    [(e.reads, e.lists, e.accessed_at, sid) for sid, e in batch.items()],
                )
                conn.executemany("DELETE FROM dead_blobs WHERE blob = ?", [(n,) for n in removed])

            await self._writer.run(op, changes=[counters_changed(sid) for sid in batch])
