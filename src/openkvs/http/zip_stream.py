"""The ZIP download's archive: stream-zip, run in threads of its own.

stream-zip's own async wrapper runs the zipping in the default executor, where each step blocks
a thread until the event loop hands it the members' bytes; reading those bytes needs that same
executor (file reads not in the page cache, fsyncs). Thirty parallel downloads filled it with
waiting threads and nothing could be read or fsynced any more, for anyone: a deadlock. Here the
zipping has threads the member reads never need.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from stream_zip import stream_zip

# Enough for several downloads to compress at once; more wait their turn, step by step.
ZIP_THREADS = 8
T = TypeVar("T")

_threads: ThreadPoolExecutor | None = None


async def zip_stream(
    members: AsyncIterable[tuple[Any, ...]], get_compressobj: Callable[[], Any]
) -> AsyncIterator[bytes]:
    """The archive of `members` (stream-zip's member tuples, whose last item is an async
    iterable of the member's bytes), chunk by chunk."""
    global _threads
    if _threads is None:
        _threads = ThreadPoolExecutor(ZIP_THREADS, thread_name_prefix="openkvs-zip")
    loop = asyncio.get_running_loop()

    def blocking(source: AsyncIterable[T]) -> Iterator[T]:
        """`source` for a zipping thread: each item is fetched on the event loop."""
        items = source.__aiter__()

        async def step() -> T:
            return await items.__anext__()

        while True:
            try:
                yield asyncio.run_coroutine_threadsafe(step(), loop).result()
            except StopAsyncIteration:
                return

    files = ((*member[:-1], blocking(member[-1])) for member in blocking(members))
    chunks = iter(stream_zip(files, get_compressobj=get_compressobj))
    while chunk := await loop.run_in_executor(_threads, _next_chunk, chunks):
        yield chunk


def _next_chunk(chunks: Iterator[bytes]) -> bytes:
    """The next chunk, or b"" at the end (stream-zip never yields an empty one)."""
    return next(chunks, b"")
