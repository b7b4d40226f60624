"""Per-store request limits (behaviour.md#retention-and-rate-limits): a fixed one-second window, off
unless configured."""

from __future__ import annotations

import time

from openkvs.core.errors import ApiError


class RateLimiter:
    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self._window = 0
        self._counts: dict[str, int] = {}

    def hit(self, store_id: str) -> None:
        window = int(time.monotonic())
        if window != self._window:
            self._window = window
            self._counts = {}
        count = self._counts.get(store_id, 0) + 1
        self._counts[store_id] = count
        if count > self.per_second:
            raise ApiError(
                429,
                "rate-limit-exceeded",
                f"You have exceeded the rate limit of {self.per_second} requests per second",
            )
