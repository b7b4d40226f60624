"""One writer thread that commits concurrent writes together: one transaction, one flush
(behaviour.md#durability)."""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from openkvs.backends.embedded.put_batch import InlinePut, write_group
from openkvs.backends.embedded.read_cache import (
    ACCOUNTS_POLL_SECONDS,
    EVERYTHING,
    Change,
    ReadCache,
)
from openkvs.core.errors import ApiError
from openkvs.telemetry import Telemetry

log = logging.getLogger("openkvs.writer")

# Callbacks an operation registers to run after COMMIT.
After = list[Callable[[], None]]
# An operation runs inside the batch transaction.
Operation = Callable[[sqlite3.Connection, After], Any]
MAX_BATCH = 256

# Per store, what a batch's record writes add to its counters, applied once before COMMIT
# (StoreCounters.values).
COUNTERS_UPDATE = (
    "UPDATE stores SET write_count = write_count + ?1, delete_count = delete_count + ?2, "
    "storage_bytes = storage_bytes + ?3, record_count = record_count + ?4, "
    "modified_at = ?5, accessed_at = max(accessed_at, ?5) WHERE id = ?6"
)


class _Unguarded(Exception):
    """An operation run without a savepoint failed after it may have written: run the batch
    again with a savepoint around every operation."""


class StoreCounters:
    """What a batch's record writes add to one store's counters."""

    __slots__ = ("deletes", "modified", "records", "size", "writes")

    def __init__(self, writes: int, deletes: int, size: int, records: int, modified: int) -> None:
        self.writes = writes
        self.deletes = deletes
        self.size = size  # bytes
        self.records = records
        self.modified = modified  # the latest modification time

    def values(self, store_id: str) -> tuple[int | str, ...]:
        """The parameters of COUNTERS_UPDATE."""
        return (self.writes, self.deletes, self.size, self.records, self.modified, store_id)


class Job:
    __slots__ = ("changes", "checks_first", "future", "loop", "on_error", "op", "put")

    def __init__(
        self,
        op: Operation,
        future: asyncio.Future[Any],
        loop: asyncio.AbstractEventLoop,
        changes: list[Change],
        checks_first: bool,
        on_error: Callable[[], None] | None,
        put: InlinePut | None,
    ) -> None:
        self.op = op
        self.on_error = on_error
        self.put = put
        self.future = future
        self.loop = loop
        self.changes = changes
        self.checks_first = checks_first


class Writer:
    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        cache: ReadCache | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._connect = connect
        self._cache = cache or ReadCache()
        self._telemetry = telemetry or Telemetry()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="openkvs-writer", daemon=True)
        self._ready = threading.Event()
        self._counters: dict[str, StoreCounters] = {}

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    async def run(
        self,
        op: Operation,
        on_error: Callable[[], None] | None = None,
        changes: list[Change] | None = None,
        checks_first: bool = False,
        put: InlinePut | None = None,
    ) -> Any:
        """Run `op` in the next batch; a cancelled caller does not cancel the write itself.

        `changes` names what the write changes, for the read cache (everything if not given).
        `checks_first` promises that `op` raises ApiError only before its first statement that
        writes: such an operation runs without a savepoint of its own. `put` describes an
        inline record write that `op` does, so that it can be done together with others."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(
            Job(
                op,
                future,
                loop,
                [EVERYTHING] if changes is None else changes,
                checks_first,
                on_error,
                put,
            )
        )
        # Cancelling the caller cancels only this wait: the job stays queued and runs.
        return await future

    def count(
        self, store_id: str, writes: int, deletes: int, size: int, records: int, modified: int
    ) -> None:
        """On the writer thread, as an operation's last step: add to a store's counters."""
        entry = self._counters.get(store_id)
        if entry is None:
            self._counters[store_id] = StoreCounters(writes, deletes, size, records, modified)
            return
        entry.writes += writes
        entry.deletes += deletes
        entry.size += size
        entry.records += records
        entry.modified = max(entry.modified, modified)

    def _run(self) -> None:
        conn = self._connect()
        self._ready.set()
        seen = _data_version(conn)
        next_check = time.monotonic() + ACCOUNTS_POLL_SECONDS
        while True:
            try:
                item = self._queue.get(timeout=ACCOUNTS_POLL_SECONDS)
            except queue.Empty:
                item = False
            # Another process committed (openkvs user/token commands): tokens may have changed.
            # Checked once per interval, not per batch: each statement here costs a GIL trip.
            now = time.monotonic()
            if now >= next_check:
                next_check = now + ACCOUNTS_POLL_SECONDS
                version = _data_version(conn)
                if version != seen:
                    seen = version
                    self._cache.foreign_commit()
            if item is False:
                continue
            if item is None:
                break
            batch = [item]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._commit(conn, batch)
            if stop:
                break
        conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[Job]) -> None:
        telemetry = self._telemetry
        began = time.perf_counter()
        try:
            try:
                outcomes, after = self._attempt(conn, batch, guarded=False)
            except _Unguarded:
                outcomes, after = self._attempt(conn, batch, guarded=True)
            telemetry.writer_commit.observe(time.perf_counter() - began)
            telemetry.writer_batch.observe(len(batch))
        except Exception as exc:  # the whole batch failed (disk full, I/O error): nothing committed
            telemetry.writer_failures.inc()
            log.error("write transaction failed: %s", exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [(None, exc) for _ in batch]
            after = []
        # Before any write of the batch is answered, and even if it failed (no harm then).
        self._cache.committed([change for job in batch for change in job.changes])
        for callback in after:
            try:
                callback()
            except Exception:
                log.exception("post-commit step failed")
        settle: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for job, (result, error) in zip(batch, outcomes, strict=True):
            settle.setdefault(job.loop, []).append((job, result, error))
        for loop, items in settle.items():
            loop.call_soon_threadsafe(_settle, items)

    def _attempt(
        self, conn: sqlite3.Connection, batch: list[Job], guarded: bool
    ) -> tuple[list[tuple[Any, BaseException | None]], After]:
        """Run the batch in one transaction and commit it; raise _Unguarded to be run again."""
        outcomes: list[tuple[Any, BaseException | None]] = []
        after: After = []
        self._counters = {}
        conn.execute("BEGIN IMMEDIATE")
        at = 0
        while at < len(batch):
            group = [] if guarded else _put_group(batch, at)
            if len(group) < 2:
                outcomes.append(self._run_op(conn, batch[at], guarded, after))
                at += 1
                continue
            try:
                grouped = write_group(conn, [job.put for job in group if job.put], self.count)
            except Exception:
                conn.execute("ROLLBACK")
                raise _Unguarded() from None
            for job, outcome in zip(group, grouped, strict=True):
                outcomes.append(outcome or self._run_op(conn, job, guarded, after))
            at += len(group)
        if self._counters:
            conn.executemany(
                COUNTERS_UPDATE, [entry.values(sid) for sid, entry in self._counters.items()]
            )
        conn.execute("COMMIT")
        return outcomes, after

    def _run_op(
        self, conn: sqlite3.Connection, job: Job, guarded: bool, after: After
    ) -> tuple[Any, BaseException | None]:
        op_after: After = []
        if job.checks_first and not guarded:
            try:
                result = job.op(conn, op_after)
            except ApiError as exc:  # refused before it wrote anything
                return None, exc
            except Exception:
                conn.execute("ROLLBACK")
                raise _Unguarded() from None
        else:
            conn.execute("SAVEPOINT op")
            try:
                result = job.op(conn, op_after)
            except Exception as exc:
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                return None, exc
            conn.execute("RELEASE op")
        after.extend(op_after)
        return result, None


def _put_group(batch: list[Job], at: int) -> list[Job]:
    """The inline writes from `at` on that can go together: consecutive, to distinct keys."""
    group: list[Job] = []
    keys: set[tuple[str, str]] = set()
    for job in batch[at:]:
        put = job.put
        if put is None or (put.store_id, put.record.key) in keys:
            break
        keys.add((put.store_id, put.record.key))
        group.append(job)
    return group


def _data_version(conn: sqlite3.Connection) -> int:
    """Changes when a connection other than `conn` commits."""
    (version,) = conn.execute("PRAGMA data_version").fetchone()
    return int(version)


def _settle(items: list[tuple[Job, Any, BaseException | None]]) -> None:
    """On the event loop: answer each job's caller; a failed job cleans up even if its caller
    stopped waiting."""
    for job, result, error in items:
        if error is not None and job.on_error is not None:
            try:
                job.on_error()
            except Exception:
                log.exception("clean-up after a failed write failed")
        future = job.future
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
