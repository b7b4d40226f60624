"""Cross-origin access (behaviour.md#http): any origin may call the API; the headers every answer
carries, and the answer to a preflight."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openkvs.http.context import Ctx, Headers

CORS_HEADERS: Headers = [
    (b"access-control-allow-origin", b"*"),
    (
        b"access-control-expose-headers",
        b"Location, ETag, Last-Modified, Content-Disposition, Content-Range, Content-Encoding, "
        b"X-RateLimit-Limit, X-Request-Id",
    ),
]
PREFLIGHT_HEADERS: Headers = [
    *CORS_HEADERS,
    (b"access-control-allow-methods", b"GET, HEAD, PUT, POST, DELETE, OPTIONS"),
    (b"access-control-max-age", b"86400"),
]


async def preflight(ctx: Ctx) -> None:
    """OPTIONS: any origin, the methods the API has, the headers asked for."""
    asked = ctx.headers.get("access-control-request-headers", "Authorization, Content-Type")
    headers = [*PREFLIGHT_HEADERS, (b"access-control-allow-headers", asked.encode("latin-1"))]
    await ctx.send({"type": "http.response.start", "status": 204, "headers": headers})
    await ctx.body(b"")
