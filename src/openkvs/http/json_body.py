"""JSON request bodies (store create/update): encoded or not, bounded after decoding (D4)."""

from __future__ import annotations

from typing import Any

import orjson

from openkvs.core.codecs import DecodeError, decode_bytes, normalize_encoding
from openkvs.core.errors import ApiError
from openkvs.http.context import Ctx, request_too_large


async def read_json_object(ctx: Ctx, limit: int) -> dict[str, Any] | None:
    """The body as a JSON object; None when the body is empty."""
    encoding = normalize_encoding(ctx.headers.get("content-encoding"))
    length = ctx.content_length()
    if length is not None and length > limit:
        raise request_too_large(limit, length)
    raw = await ctx.read_body(limit)
    try:
        data = decode_bytes(encoding, raw, limit)
    except OverflowError:
        raise request_too_large(limit) from None
    except DecodeError as exc:
        raise ApiError(
            400, "invalid-request", f"The request body does not match its Content-Encoding: {exc}"
        ) from None
    if not data.strip():
        return None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid-request", "The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid-request", "POST data must be a JSON object.")
    return value
