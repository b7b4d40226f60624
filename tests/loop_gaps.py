"""How long the event loop was kept from other work while something ran on it: for tests that
say a piece of work never holds the loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")
TICK_SECONDS = 0.005


async def while_ticking(work: Awaitable[T], gaps: list[float]) -> T:
    """Await `work` while a timer on the same loop ticks every TICK_SECONDS; every gap between
    two ticks is appended to `gaps` (a gap much longer than a tick is the loop held)."""
    done = False

    async def ticker() -> None:
        last = time.monotonic()
        while not done:
            await asyncio.sleep(TICK_SECONDS)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticking = asyncio.ensure_future(ticker())
    await asyncio.sleep(2 * TICK_SECONDS)
    try:
        return await work
    finally:
        done = True
        await ticking
