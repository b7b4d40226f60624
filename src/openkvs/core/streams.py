"""Body streams of bytes in memory: inline records, and bodies kept (kept_bodies.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator


class BytesBodyStream:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def part(self, start: int = 0, length: int | None = None) -> bytes:
        end = len(self._data) if length is None else start + length
        return self._data if (start, end) == (0, len(self._data)) else self._data[start:end]

    async def chunks(self, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        data = self.part(start, length)
        if data:
            yield data

    async def close(self) -> None:
        return None
