"""Receiving a record body (D3, D4, D8): stream, check, spool, then commit."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import orjson

from openkvs.backends.base import Backend
from openkvs.core import schema as store_schema
from openkvs.core.codecs import DecodeError, make_decoder
from openkvs.core.errors import ApiError
from openkvs.core.models import RecordMeta, Store, WriteCondition

JSON_VALIDATION_LIMIT = 9 * 1024 * 1024


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
) -> RecordMeta:
    collections = store_schema.collections_for_key(store.schema, key)
    store_schema.check_record_content_type(collections, content_type)
    json_schemas = store_schema.json_schemas(collections)
    decoded: bytearray | None = bytearray() if json_schemas else None
    decoder = make_decoder(encoding) if encoding else None
    digest = hashlib.md5(usedforsecurity=False)
    sink = backend.new_body(content_type, encoding)
    try:
        async for chunk in body:
            if sink.size + len(chunk) > max_size:
                raise record_too_large(max_size)
            digest.update(chunk)
            pieces = decoder.feed(chunk) if decoder else (chunk,)
            _collect(decoded, pieces)
            await sink.write(chunk)
        if decoder is not None:
            _collect(decoded, decoder.end())
        if decoded is not None:
            _validate_json(json_schemas, bytes(decoded))
        await sink.finish()
    except DecodeError as exc:
        await sink.discard()
        raise _invalid_body(str(exc)) from None
    except BaseException:
        await sink.discard()
        raise
    etag = f'"{digest.hexdigest()}"'
    return await backend.put_record(store.id, key, content_type, encoding, etag, sink, condition)


def _collect(decoded: bytearray | None, pieces: Any) -> None:
    """Run the decoder over a chunk, keeping the output only when a JSON schema needs it."""
    for piece in pieces:
        if decoded is not None:
            decoded += piece
            if len(decoded) > JSON_VALIDATION_LIMIT:
                raise ApiError(
                    413,
                    "request-too-large",
                    "A record validated by a JSON schema may have at most "
                    f"{JSON_VALIDATION_LIMIT} bytes.",
                )


def _validate_json(schemas: list[tuple[str, dict[str, Any]]], data: bytes) -> None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400,
            "schema-validation-failed",
            f"The record is not valid JSON: {exc}",
            data={"errors": [{"path": "/", "message": str(exc)}]},
        ) from None
    store_schema.check_record_json(schemas, value)
