"""One writer thread that commits concurrent writes together: one transaction, one flush (D10)."""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from openkvs.backends.embedded.read_cache import ACCOUNTS_POLL_SECONDS, ReadCache

T = TypeVar("T")
log = logging.getLogger("openkvs.writer")

# An operation runs inside the batch transaction; it may register callbacks to run after COMMIT.
Operation = Callable[[sqlite3.Connection, list[Callable[[], None]]], Any]
MAX_BATCH = 256


class Writer:
    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        cache: ReadCache | None = None,
    ) -> None:
        self._connect = connect
        self._cache = cache or ReadCache()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="openkvs-writer", daemon=True)
        self._ready = threading.Event()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    async def run(self, op: Operation, on_error: Callable[[], None] | None = None) -> Any:
        """Run `op` in the next batch; a cancelled caller does not cancel the write itself."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def done(fut: asyncio.Future[Any]) -> None:
            if fut.exception() is not None and on_error is not None:
                on_error()

        future.add_done_callback(done)
        self._queue.put((op, future, loop))
        return await asyncio.shield(future)

    def _run(self) -> None:
        conn = self._connect()
        self._ready.set()
        seen = _data_version(conn)
        while True:
            try:
                item = self._queue.get(timeout=ACCOUNTS_POLL_SECONDS)
            except queue.Empty:
                item = False
            # Another process committed (openkvs user/token commands): tokens may have changed.
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

    def _commit(self, conn: sqlite3.Connection, batch: list[Any]) -> None:
        outcomes: list[tuple[Any, BaseException | None]] = []
        after: list[Callable[[], None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op, _future, _loop in batch:
                conn.execute("SAVEPOINT op")
                op_after: list[Callable[[], None]] = []
                try:
                    result = op(conn, op_after)
                except Exception as exc:
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    outcomes.append((None, exc))
                else:
                    conn.execute("RELEASE op")
                    outcomes.append((result, None))
                    after.extend(op_after)
            self._cache.commit_starts()
            conn.execute("COMMIT")
        except Exception as exc:  # the whole batch failed (disk full, I/O error): nothing committed
            log.error("write transaction failed: %s", exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [(None, exc) for _ in batch]
            after = []
        self._cache.commit_ended()
        for callback in after:
            try:
                callback()
            except Exception:
                log.exception("post-commit step failed")
        for (_op, future, loop), (result, error) in zip(batch, outcomes, strict=True):
            loop.call_soon_threadsafe(_settle, future, result, error)


def _data_version(conn: sqlite3.Connection) -> int:
    """Changes when a connection other than `conn` commits."""
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
