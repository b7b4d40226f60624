"""Opening record bodies for reading, whatever concurrent writers do meanwhile
(behaviour.md#durability)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from openkvs.core.codecs import make_decoder, off_loop
from openkvs.core.errors import record_not_found
from openkvs.core.kept_bodies import KeepingStream, KeptBodies
from openkvs.core.models import RecordMeta
from openkvs.core.storage import Backend, BodyStream
from openkvs.core.streams import BytesBodyStream

OPEN_ATTEMPTS = 5


class RecordReader:
    def __init__(self, backend: Backend, kept: KeptBodies) -> None:
        self.backend = backend
        self.kept = kept

    async def open(
        self, store_id: str, record: RecordMeta, keep: bool = True
    ) -> tuple[RecordMeta, BodyStream]:
        """An open body and the record it belongs to: `record`, or the value that replaced it.

        Everything a response says about the body (length, ETag, type) must come from the record
        returned here, never from the one passed in. A body kept in memory (kept_bodies.py) is
        served from there; with `keep`, one read whole is kept for the next reader.
        """
        for _ in range(OPEN_ATTEMPTS):
            name = record.blob
            if name is not None:
                data = self.kept.get(name)
                if data is not None:
                    return record, BytesBodyStream(data)
            stream = await self.backend.records.open_body(record)
            if stream is not None:
                if keep and name is not None and self.kept.wanted(record.size):
                    stream = KeepingStream(stream, name, record.size, self.kept)
                return record, stream
            fresh = await self.backend.records.get(store_id, record.key)
            if fresh is None:
                raise record_not_found()
            record = fresh
        raise record_not_found()


async def decoded_chunks(record: RecordMeta, stream: BodyStream) -> AsyncIterator[bytes]:
    """An opened record's bytes as the client uploaded them before encoding; closes the stream."""
    try:
        async for piece in decoded(record, stream.chunks()):
            yield piece
    finally:
        await stream.close()


async def decoded(record: RecordMeta, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """A record's bytes, as stored, decoded to what the client uploaded before encoding.

    Decoding runs off the event loop (codecs.off_loop); how much it costs was bounded when the
    record was written (codecs.BoundedDecoder)."""
    decoder = make_decoder(record.content_encoding) if record.content_encoding else None
    async for chunk in chunks:
        if decoder is None:
            yield chunk
        else:
            async for piece in off_loop(decoder.feed(chunk), len(chunk)):
                yield piece
    if decoder is not None:
        async for piece in off_loop(decoder.end(), 0):
            yield piece
