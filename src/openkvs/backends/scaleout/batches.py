"""Requests that come together go to PostgreSQL together: one statement for every record GET (or
every unconditional record PUT) waiting at that moment, the way a busy node's many small
requests cost little more than a few.

A batch is sent when a lane is free (lanes.py) and at most `concurrency` of a kind are in
flight; what arrives meanwhile goes together in the next. Each statement is sent after every
request in it arrived, so a read sees every write acknowledged before it (by any node), and a
write is acknowledged only once its batch committed."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

from openkvs.backends.scaleout.lanes import Lanes
from openkvs.backends.scaleout.record_sql import (
    CALL_PUT_RECORDS,
    MANY_RECORDS,
    ONE_RECORD,
    RecordRow,
)

T = TypeVar("T")
R = TypeVar("R")

Wanted = tuple[str, str]  # (store id, key)


class Batches(ABC, Generic[T, R]):
    def __init__(self, lanes: Lanes, concurrency: int, most: int) -> None:
        self.lanes = lanes
        self.most = most  # items per statement
        self._slots = asyncio.Semaphore(concurrency)
        self._queued: list[tuple[T, asyncio.Future[R]]] = []
        self._sending = False  # a task waits for a slot and a lane to send what is queued
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        waiter: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queued.append((item, waiter))
        if not self._sending:
            self._start_sending()
        return await waiter

    @abstractmethod
    async def run(self, lane: Any, items: list[T]) -> list[R]:
        """One statement for `items` on `lane`: their results, in their order."""

    def _start_sending(self) -> None:
        self._sending = True
        task = asyncio.get_running_loop().create_task(self._send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            async with self._slots:
                lane = await self.lanes.take()
                batch, self._queued = self._queued[: self.most], self._queued[self.most :]
                self._sending = False
                if self._queued:  # more than one statement's worth: the rest goes next
                    self._start_sending()
                try:
                    results = await self.run(lane, [item for item, _ in batch])
                finally:
                    self.lanes.give_back(lane)
        except asyncio.CancelledError:  # the node is stopping
            self._sending = False
            _fail(batch + self._queued, ConnectionError("the node is stopping"))
            self._queued = []
            raise
        except Exception as exc:  # every request in the batch answers it
            _fail(batch, exc)
            return
        for (_, waiter), result in zip(batch, results, strict=True):
            if not waiter.done():
                waiter.set_result(result)


def _fail(batch: list[tuple[Any, asyncio.Future[Any]]], exc: BaseException) -> None:
    for _, waiter in batch:
        if not waiter.done():
            waiter.set_exception(exc)


class RecordReads(Batches[Wanted, Any]):
    """Record rows (asyncpg.Records with RECORD_COLUMNS) by (store id, key); None for a missing
    record."""

    async def run(self, lane: Any, items: list[Wanted]) -> list[Any]:
        if len(items) == 1:
            return [await self.lanes.run_on(lane, "fetchrow", ONE_RECORD, items[0])]
        wanted = list(dict.fromkeys(items))
        ids, keys = [store_id for store_id, _ in wanted], [key for _, key in wanted]
        rows = await self.lanes.run_on(lane, "fetch", MANY_RECORDS, (ids, keys))
        found = {(r["store_id"], r["key"]): r for r in rows}
        return [found.get(item) for item in items]


class RecordWrites(Batches[RecordRow, str]):
    """Unconditional record writes, a row each; the outcome of each ('ok', 'no-store',
    'expired': record_sql.py)."""

    async def run(self, lane: Any, items: list[RecordRow]) -> list[str]:
        # Rows are locked in one order by every batch: no two batches wait for each other in a
        # circle (a stable sort keeps two writes of one key in the order they came).
        order = sorted(range(len(items)), key=lambda i: (items[i].store_id, items[i].key))
        # One array per column, in the order of openkvs_put_records' arguments.
        columns = [list(column) for column in zip(*(items[i] for i in order), strict=True)]
        outcomes = await self.lanes.run_on(lane, "fetchval", CALL_PUT_RECORDS, tuple(columns))
        results = [""] * len(items)
        for position, index in enumerate(order):
            results[index] = outcomes[position]
        return results
