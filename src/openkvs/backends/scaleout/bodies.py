"""Uploads for the scale-out backend: in memory up to the inline threshold, then S3 multipart."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from openkvs.backends.scaleout.objects import ObjectStore
from openkvs.core.codecs import in_thread
from openkvs.core.ids import now_ms

PART_SIZE = 8 * 1024 * 1024  # S3 wants >= 5 MiB per part; memory per upload stays near this


class ObjectBody:
    """A body being uploaded. Once it leaves memory it is an object registered as pending, so a
    crash at any point leaves something the sweeper can find."""

    def __init__(
        self,
        pool: Any,
        objects: ObjectStore,
        inline_threshold: int,
        content_type: str = "application/octet-stream",
        encoding: str | None = None,
        heartbeat_s: float = 60.0,
    ) -> None:
        self._pool = pool
        self._objects = objects
        self._threshold = inline_threshold
        self.content_type = content_type
        self.encoding = encoding
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._etags: list[str] = []
        self.object: str | None = None
        self.size = 0
        self.inline: bytes | None = None
        self._heartbeat_s = heartbeat_s
        self._touched = 0.0

    async def _register(self) -> None:
        self.object = secrets.token_hex(16)
        await self._pool.execute(
            "INSERT INTO pending_objects (object, touched_at) VALUES ($1, $2)",
            self.object,
            now_ms(),
        )
        self._touched = time.monotonic()

    async def _heartbeat(self) -> None:
        """Keep the sweeper away from an upload that is still going (throttled)."""
        if time.monotonic() - self._touched < self._heartbeat_s:
            return
        self._touched = time.monotonic()
        await self._pool.execute(
            "UPDATE pending_objects SET touched_at = $2 WHERE object = $1", self.object, now_ms()
        )

    async def write(self, chunk: bytes, tap: Callable[[bytes], object] | None = None) -> None:
        if tap is not None:
            await in_thread(tap, chunk)
        self.size += len(chunk)
        self._buffer += chunk
        if self.object is None and len(self._buffer) <= self._threshold:
            return
        if self.object is None:
            await self._register()
        await self._heartbeat()
        while len(self._buffer) >= PART_SIZE:
            part, self._buffer = bytes(self._buffer[:PART_SIZE]), self._buffer[PART_SIZE:]
            await self._put_part(part)

    async def _put_part(self, part: bytes) -> None:
        assert self.object is not None
        if self._upload_id is None:
            self._upload_id = await self._objects.start_multipart(
                self.object, self.content_type, self.encoding
            )
        etag = await self._objects.put_part(
            self.object, self._upload_id, len(self._etags) + 1, part
        )
        self._etags.append(etag)
        if len(self._etags) == 1:  # the sweeper needs the id to abort an abandoned upload
            await self._pool.execute(
                "UPDATE pending_objects SET upload_id = $2, touched_at = $3 WHERE object = $1",
                self.object,
                self._upload_id,
                now_ms(),
            )
            self._touched = time.monotonic()
        else:
            await self._heartbeat()

    async def finish(self) -> None:
        if self.object is None:
            self.inline = bytes(self._buffer)
            self._buffer = bytearray()
            return
        await self._heartbeat()
        if self._upload_id is None:
            await self._objects.put(
                self.object, bytes(self._buffer), self.content_type, self.encoding
            )
        else:
            if self._buffer:
                await self._put_part(bytes(self._buffer))
            await self._objects.complete_multipart(self.object, self._upload_id, self._etags)
        self._buffer = bytearray()

    async def discard(self) -> None:
        """Remove what was uploaded; only for bodies that are certainly not committed."""
        self._buffer = bytearray()
        if self.object is None:
            return
        if self._upload_id is not None:
            await self._objects.abort_multipart(self.object, self._upload_id)
        await self._objects.delete(self.object)
        await self._pool.execute("DELETE FROM pending_objects WHERE object = $1", self.object)
        self.object = None


class ObjectBodyStream:
    def __init__(self, objects: ObjectStore, name: str, size: int) -> None:
        self._objects = objects
        self._name = name
        self._size = size

    async def chunks(self, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        left = self._size - start if length is None else min(length, self._size - start)
        async for chunk in self._objects.read(self._name, start, left):
            yield chunk

    async def close(self) -> None:
        return None
