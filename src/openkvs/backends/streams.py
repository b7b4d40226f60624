"""Body streams both backends use."""

from __future__ import annotations

from collections.abc import AsyncIterator


class BytesBodyStream:
    def __init__(self, data: bytes) -> None:
        self._data = data

    async def chunks(self, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        end = len(self._data) if length is None else start + length
        data = self._data if (start, end) == (0, len(self._data)) else self._data[start:end]
        if data:
            yield data

    async def close(self) -> None:
        return None
