"""JSON request bodies (store create/update): encoded or not, bounded after decoding
(behaviour.md#sizes-and-limits)."""

from __future__ import annotations

from typing import Any

import orjson

from openkvs.core.codecs import DecodeError, decode_bytes, in_thread, normalize_encoding
from openkvs.core.errors import ApiError
from openkvs.http.context import Ctx, request_too_large

# Larger bodies are decoded and parsed in a thread, which lets the event loop have turns.
INLINE_JSON = 64 * 1024
# Parsing costs by the value, and orjson holds the GIL: three million empty arrays in 9 MiB held
# the event loop half a second even from a thread. A store body has at most a 64 KiB schema and
# a short title, far under this many values (counted, from above, as commas and opening brackets).
MAX_JSON_VALUES = 100_000


async def read_json_object(ctx: Ctx, limit: int) -> dict[str, Any] | None:
    """The body as a JSON object; None when the body is empty."""
    encoding = normalize_encoding(ctx.headers.get("content-encoding"))
    length = ctx.content_length()
    if length is not None and length > limit:
        raise request_too_large(limit, length)
    raw = await ctx.read_body(limit)
    if encoding is None and len(raw) <= INLINE_JSON:
        return _parse(encoding, raw, limit)
    return await in_thread(_parse, encoding, raw, limit)


def _parse(encoding: str | None, raw: bytes, limit: int) -> dict[str, Any] | None:
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
    if len(data) > MAX_JSON_VALUES and (
        data.count(b",") + data.count(b"[") + data.count(b"{") > MAX_JSON_VALUES
    ):
        raise ApiError(
            413, "request-too-large", f"The JSON body has more than {MAX_JSON_VALUES} values."
        )
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid-request", "The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid-request", "POST data must be a JSON object.")
    return value
