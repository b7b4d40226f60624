"""A few PostgreSQL connections for the statements every request sends (a record's read, write or
delete: one statement each), handed out without asyncpg.Pool's cost per use, which is larger
than the statement's own (a task per release, timeouts, a queue).

A lane is a slot for one connection, opened on first use and again after it was lost; a request
takes an idle lane or waits for one. Transactions and everything else go through the pool."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

CONNECT_TIMEOUT = 10.0


class _Lane:
    __slots__ = ("conn",)

    def __init__(self) -> None:
        self.conn: asyncpg.Connection | None = None


class Lanes:
    def __init__(
        self,
        dsn: str,
        size: int,
        setup: Callable[[asyncpg.Connection], Awaitable[None]],
        command_timeout: float,
    ) -> None:
        self.dsn = dsn
        self.size = size
        self._setup = setup
        self._command_timeout = command_timeout
        self._all = [_Lane() for _ in range(size)]
        self._idle = list(self._all)
        self._waiting: deque[asyncio.Future[_Lane]] = deque()

    async def fetchrow(self, query: str, *args: Any) -> Any:
        return await self._run("fetchrow", query, args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self._run("fetchval", query, args)

    async def execute(self, query: str, *args: Any) -> str:
        status: str = await self._run("execute", query, args)
        return status

    async def _run(self, method: str, query: str, args: tuple[Any, ...]) -> Any:
        lane = await self.take()
        try:
            return await self.run_on(lane, method, query, args)
        finally:
            self.give_back(lane)

    async def take(self) -> _Lane:
        """An idle lane, once there is one; give it back with `give_back`."""
        return self._idle.pop() if self._idle else await self._wait()

    async def run_on(self, lane: _Lane, method: str, query: str, args: tuple[Any, ...]) -> Any:
        """One statement on a lane taken, its connection (re)opened first if need be."""
        conn = lane.conn
        if conn is None or conn.is_closed():
            lane.conn = None
            conn = await asyncpg.connect(
                self.dsn, timeout=CONNECT_TIMEOUT, command_timeout=self._command_timeout
            )
            await self._setup(conn)
            lane.conn = conn
        return await getattr(conn, method)(query, *args)

    async def _wait(self) -> _Lane:
        waiter: asyncio.Future[_Lane] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed over as it was cancelled
                self.give_back(waiter.result())
            raise

    def give_back(self, lane: _Lane) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(lane)
                return
        self._idle.append(lane)

    def use(self) -> tuple[int, int]:
        """Connections open, and of them idle."""
        opened = sum(1 for lane in self._all if lane.conn is not None and not lane.conn.is_closed())
        idle = sum(1 for lane in self._idle if lane.conn is not None and not lane.conn.is_closed())
        return opened, idle

    async def close(self) -> None:
        for lane in self._idle:
            if lane.conn is not None:
                await lane.conn.close()
                lane.conn = None
