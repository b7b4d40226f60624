"""Receiving a record body (behaviour.md#records, #sizes-and-limits, #store-names-and-schemas):
stream, check, spool, then commit."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

from openkvs.core import schema as store_schema
from openkvs.core.codecs import BoundedDecoder, DecodeError, off_loop
from openkvs.core.errors import ApiError
from openkvs.core.models import RecordMeta, Store, WriteCondition
from openkvs.core.schema_worker import SchemaWorkers
from openkvs.core.storage import Backend, BodySink

JSON_VALIDATION_LIMIT = 9 * 1024 * 1024
# A body is hashed and handed to its sink in pieces of about PIECE_BYTES (the HTTP server hands
# over chunks as they arrive: a few KiB to a few hundred KiB). A piece of OFF_LOOP_BYTES or more
# is hashed off the event loop, by the sink where it stores the piece: MD5 takes about 1.4 ms
# per MiB here, which would otherwise be the event loop's, and it releases the GIL while it works.
PIECE_BYTES = 256 * 1024
OFF_LOOP_BYTES = 64 * 1024


def record_too_large(limit: int) -> ApiError:
    return ApiError(
        413, "record-too-large", f"The record is larger than the limit of {limit} bytes."
    )


def _invalid_body(reason: str) -> ApiError:
    return ApiError(
        400, "invalid-request", f"The request body does not match its Content-Encoding: {reason}"
    )


async def receive_record(
    backend: Backend,
    store: Store,
    key: str,
    content_type: str,
    encoding: str | None,
    body: AsyncIterator[bytes],
    max_size: int,
    condition: WriteCondition,
    schema_workers: SchemaWorkers,
    max_inflation: int,
) -> RecordMeta:
    collections = store_schema.collections_for_key(store.schema, key)
    store_schema.check_record_content_type(collections, content_type)
    json_schemas = store_schema.json_schemas(collections)
    decoded: bytearray | None = bytearray() if json_schemas else None
    decoder = BoundedDecoder(encoding, max_inflation, max_size) if encoding else None
    digest = hashlib.md5(usedforsecurity=False)
    sink = backend.records.new_body(content_type, encoding)
    pending: list[bytes] = []  # received, not yet hashed and stored
    pending_size = 0
    try:
        async for chunk in body:
            pending_size += len(chunk)
            if sink.size + pending_size > max_size:
                raise record_too_large(max_size)
            if decoder is None:
                _collect(decoded, chunk)
            else:  # checked as it arrives (behaviour.md#records), off the event loop unless tiny
                async for piece in off_loop(decoder.feed(chunk), len(chunk)):
                    _collect(decoded, piece)
            pending.append(chunk)
            if pending_size >= PIECE_BYTES:
                await _take(digest, sink, pending, pending_size)
                pending, pending_size = [], 0
        if pending:
            await _take(digest, sink, pending, pending_size)
        if decoder is not None:
            async for piece in off_loop(decoder.end(), 0):
                _collect(decoded, piece)
        if decoded is not None:
            await _validate_json(schema_workers, json_schemas, bytes(decoded))
        await sink.finish()
    except DecodeError as exc:
        await sink.discard()
        raise _invalid_body(str(exc)) from None
    except BaseException:
        await sink.discard()
        raise
    etag = f'"{digest.hexdigest()}"'
    return await backend.records.put(store.id, key, content_type, encoding, etag, sink, condition)


async def _take(digest: Any, sink: BodySink, chunks: list[bytes], size: int) -> None:
    """Hash the next `size` bytes of a body and hand them to its sink (a large piece is hashed
    off the event loop, in the thread that stores it where the sink has one)."""
    piece = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if size < OFF_LOOP_BYTES:
        digest.update(piece)
        await sink.write(piece)
    else:
        await sink.write(piece, digest.update)


def _collect(decoded: bytearray | None, piece: bytes) -> None:
    """Keep the decoded body only when a JSON schema needs it."""
    if decoded is not None:
        decoded += piece
        if len(decoded) > JSON_VALIDATION_LIMIT:
            raise ApiError(
                413,
                "request-too-large",
                "A record validated by a JSON schema may have at most "
                f"{JSON_VALIDATION_LIMIT} bytes.",
            )


async def _validate_json(
    workers: SchemaWorkers, schemas: list[tuple[str, dict[str, Any]]], data: bytes
) -> None:
    """Parse and validate in a worker process, bounded in time: user-controlled schemas can be
    quadratic or backtrack, and both hold the GIL (core/schema_worker.py)."""
    await workers.check_record(schemas, data)
