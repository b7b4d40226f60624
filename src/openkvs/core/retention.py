"""Unnamed stores not accessed for the retention period are deleted in the background
(behaviour.md#retention-and-rate-limits), like the backends' own periodic work."""

from __future__ import annotations

import asyncio
import logging

from openkvs.core.ids import now_ms
from openkvs.core.storage import Backend

log = logging.getLogger("openkvs")


def sweep_interval(retention: int) -> float:
    """Seconds between sweeps: a tenth of the retention, within 1 s and 60 s."""
    return min(60.0, max(1.0, retention / 10))


async def delete_unnamed_stores(backend: Backend, retention: int) -> None:
    """Every `sweep_interval`, the unnamed stores last accessed more than `retention` seconds ago;
    runs until cancelled, a failed sweep logged and tried again at the next."""
    while True:
        try:
            removed = await backend.stores.delete_unnamed(now_ms() - retention * 1000)
            backend.telemetry.swept_stores.inc(removed)
            if removed:
                log.info("removed %d unnamed stores not accessed for %ss", removed, retention)
        except Exception:
            log.exception("retention sweep failed")
        await asyncio.sleep(sweep_interval(retention))
