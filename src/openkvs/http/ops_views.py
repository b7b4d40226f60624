"""For the operator's probes and scrapers: /health/live, /health/ready and /metrics.

None needs a user's token (a token sent along is not even checked), none touches a store's
counters, and the health checks are left out of the access log unless --log-health-checks.
Readiness is checked at most once per READY_SECONDS, whatever the number of probes: a check goes
through the storage (the embedded writer, or PostgreSQL and the bucket), which probes polling
every second must not load.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST

from openkvs.core.errors import ApiError, page_not_found
from openkvs.core.storage import Backend
from openkvs.http.context import Ctx

if TYPE_CHECKING:
    from openkvs.app import OpenKvs

READY_SECONDS = 1.0
HEALTH_ROUTES = frozenset({"/health/live", "/health/ready"})
NO_STORE = (b"cache-control", b"no-store")


class Readiness:
    """The last readiness check's answer, and the lock that lets one check run at a time."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.checked_at = -READY_SECONDS
        self.lock = asyncio.Lock()

    async def check(self, backend: Backend) -> str | None:
        async with self.lock:
            if time.monotonic() - self.checked_at >= READY_SECONDS:
                try:
                    self.reason = await backend.ready()
                except Exception as exc:  # a check that fails is an answer, not an error
                    self.reason = f"the storage check failed: {type(exc).__name__}"
                self.checked_at = time.monotonic()
            return self.reason


def _only_get(ctx: Ctx) -> None:
    if ctx.method not in ("GET", "HEAD"):
        raise ApiError(
            405,
            "method-not-allowed",
            "This API end-point can only be accessed using the following HTTP methods: "
            "OPTIONS,GET,HEAD",
            headers={"Allow": "OPTIONS, GET, HEAD"},
        )


async def health_live(app: OpenKvs, ctx: Ctx) -> None:
    _only_get(ctx)
    await ctx.json(200, {"status": "ok"}, [NO_STORE])


async def health_ready(app: OpenKvs, ctx: Ctx) -> None:
    _only_get(ctx)
    reason = await app.readiness.check(ctx.backend)
    if reason is None:
        await ctx.json(200, {"status": "ready"}, [NO_STORE])
    else:
        await ctx.json(503, {"status": "unavailable", "reason": reason}, [NO_STORE])


async def metrics(app: OpenKvs, ctx: Ctx) -> None:
    _only_get(ctx)
    if app.metrics_export is None:
        raise page_not_found()
    wanted = app.settings.metrics_token
    if wanted:
        scheme, _, given = ctx.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), wanted.encode()
        ):
            raise ApiError(
                401,
                "token-not-provided",
                "/metrics needs the metrics token (--metrics-token) as a Bearer token.",
                headers={"WWW-Authenticate": "Bearer"},
            )
    data = await app.metrics_export.text()
    await ctx.start(
        200,
        [
            (b"content-type", CONTENT_TYPE_LATEST.encode()),
            (b"content-length", str(len(data)).encode()),
            NO_STORE,
        ],
    )
    await ctx.body(b"" if ctx.method == "HEAD" else data)


OPS_VIEWS = {
    "/health/live": health_live,
    "/health/ready": health_ready,
    "/metrics": metrics,
}
