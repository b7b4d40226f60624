"""Record reads asked for together are read together: one statement for every GET waiting at
that moment, the way a busy node's many small GETs cost little more than a few.

A read is sent when a lane is free; the reads that arrive while every lane is busy go together in
the next statement. Each statement is sent after every read in it was asked for, so it sees
every write acknowledged before (by any node): batching never serves an older record."""

from __future__ import annotations

import asyncio
from typing import Any

from openkvs.backends.scaleout.lanes import Lanes

RECORD_COLUMNS = "key, size, content_type, content_encoding, etag, modified_at, body, object"
ONE = f"SELECT {RECORD_COLUMNS} FROM records WHERE store_id = $1 AND key = $2"
# Keys compare in byte order (COLLATE "C"), as the table's primary key does.
MANY = (
    "SELECT r.store_id, r.key, r.size, r.content_type, r.content_encoding, r.etag, "
    "r.modified_at, r.body, r.object FROM unnest($1::text[], $2::text[]) AS q(store_id, key) "
    'JOIN records r ON r.store_id = q.store_id AND r.key = q.key COLLATE "C"'
)
MAX_BATCH = 256

Wanted = tuple[str, str]  # (store id, key)


class RecordReads:
    def __init__(self, lanes: Lanes) -> None:
        self.lanes = lanes
        self._asked: dict[Wanted, list[asyncio.Future[Any]]] = {}
        self._sending = False  # a task is waiting for a lane to send what is asked
        self._tasks: set[asyncio.Task[None]] = set()

    async def row(self, store_id: str, key: str) -> Any:
        """The record's row (RECORD_COLUMNS), or None."""
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._asked.setdefault((store_id, key), []).append(waiter)
        if not self._sending:
            self._start_sending()
        return await waiter

    def _start_sending(self) -> None:
        self._sending = True
        task = asyncio.get_running_loop().create_task(self._send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self) -> None:
        try:
            lane = await self.lanes.take()
        except asyncio.CancelledError:  # the node is stopping
            self._sending = False
            _fail(self._take_asked(), ConnectionError("the node is stopping"))
            raise
        asked = self._take_asked()
        self._sending = False
        if self._asked:  # more than one statement's worth: the rest goes next
            self._start_sending()
        try:
            found = await self._read(lane, list(asked))
        except asyncio.CancelledError:
            _fail(asked, ConnectionError("the node is stopping"))
            raise
        except Exception as exc:  # each reader answers it as its own read's failure
            _fail(asked, exc)
            return
        finally:
            self.lanes.give_back(lane)
        for wanted, waiters in asked.items():
            row = found.get(wanted)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(row)

    async def _read(self, lane: Any, wanted: list[Wanted]) -> dict[Wanted, Any]:
        if len(wanted) == 1:
            row = await self.lanes.run_on(lane, "fetchrow", ONE, wanted[0])
            return {wanted[0]: row} if row is not None else {}
        ids, keys = [w[0] for w in wanted], [w[1] for w in wanted]
        rows = await self.lanes.run_on(lane, "fetch", MANY, (ids, keys))
        return {(r[0], r[1]): tuple(r)[1:] for r in rows}

    def _take_asked(self) -> dict[Wanted, list[asyncio.Future[Any]]]:
        if len(self._asked) <= MAX_BATCH:
            asked, self._asked = self._asked, {}
            return asked
        return {k: self._asked.pop(k) for k in list(self._asked)[:MAX_BATCH]}


def _fail(asked: dict[Wanted, list[asyncio.Future[Any]]], exc: BaseException) -> None:
    for waiters in asked.values():
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(exc)
