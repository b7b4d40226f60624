"""Copies of recently read record bodies from files or the object store, kept in memory.

A body larger than the inline threshold lives in a file (embedded) or an object (scale-out)
whose name is made fresh for every upload and whose contents never change: a record that is
written again gets a new name. So a copy kept under that name is exact for as long as any record
names it, with nothing to invalidate; a lookup still finds the record first, which says which
name is current. A GET of a hot record is then answered from memory, without opening, reading
and closing its file, or a round trip to the object store.

Bounded: only bodies of at most ENTRY_LIMIT bytes are kept, `limit` bytes in all (the
`--body-cache` setting; 0 keeps nothing), the least recently used dropped first. A body is kept
when a GET reads the whole of it; reads of many records at once (a ZIP download) use what is
kept but keep nothing, so they do not push out the bodies being read over and over. The copy of
a deleted record stays until it is pushed out, unreachable: no record names it any more.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator

from openkvs.core.storage import BodyStream

ENTRY_LIMIT = 1024 * 1024


class KeptBodies:
    """Body bytes by file or object name; used on the event loop only."""

    def __init__(self, limit: int, lookups: list[int] | None = None) -> None:
        self.limit = limit
        self._bodies: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lookups = [0, 0] if lookups is None else lookups  # [hits, misses], for /metrics

    def get(self, name: str, miss_counts: bool = True) -> bytes | None:
        """The kept body, or None; `miss_counts=False` when a miss is looked up again later."""
        data = self._bodies.get(name)
        if data is None:
            self._lookups[1] += miss_counts
            return None
        self._lookups[0] += 1
        self._bodies.move_to_end(name)
        return data

    def wanted(self, size: int) -> bool:
        """Whether a body of `size` bytes would be kept."""
        return size <= min(ENTRY_LIMIT, self.limit)

    def keep(self, name: str, data: bytes) -> None:
        if not self.wanted(len(data)) or name in self._bodies:
            return
        self._bodies[name] = data
        self._bytes += len(data)
        while self._bytes > self.limit:
            _, dropped = self._bodies.popitem(last=False)
            self._bytes -= len(dropped)

    @property
    def size(self) -> int:
        """Bytes kept."""
        return self._bytes


class KeepingStream:
    """A body stream that, once a read has yielded the whole body, keeps it in `bodies`."""

    def __init__(self, stream: BodyStream, name: str, size: int, bodies: KeptBodies) -> None:
        self._stream = stream
        self._name = name
        self._size = size
        self._bodies = bodies

    async def chunks(self, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        whole = start == 0 and (length is None or length >= self._size)
        pieces: list[bytes] = []
        async for chunk in self._stream.chunks(start, length):
            if whole:
                pieces.append(chunk)
            yield chunk
        if whole:
            data = b"".join(pieces)  # one piece (a file read) is the same object, not a copy
            if len(data) == self._size:
                self._bodies.keep(self._name, data)

    async def close(self) -> None:
        await self._stream.close()
