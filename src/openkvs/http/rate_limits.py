"""Per-store request limits as answers show them (behaviour.md#retention-and-rate-limits): 429
over the limit (core/rate_limit.py counts), and X-RateLimit-Limit on every answer."""

from __future__ import annotations

from openkvs.core.rate_limit import RateLimiter
from openkvs.http.context import Ctx, Header


class RateLimit:
    """One limit (records, or the store itself); off when `per_second` is not set."""

    __slots__ = ("header", "limiter")

    def __init__(self, per_second: int | None) -> None:
        self.header: Header | None = (
            (b"x-ratelimit-limit", str(per_second).encode()) if per_second else None
        )
        self.limiter = RateLimiter(per_second or 0)

    def check(self, ctx: Ctx, store_id: str) -> None:
        header = self.header
        if header is not None:
            ctx.extra_headers.append(header)
            self.limiter.hit(store_id)
