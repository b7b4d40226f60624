"""Removes objects no committed record points at, after a grace period (behaviour.md#durability):
dead versions, uploads a crashed node left pending, and multipart uploads nobody registered."""

from __future__ import annotations

import logging
import time
from typing import Any

from openkvs.backends.scaleout.objects import ObjectStore
from openkvs.core.ids import now_ms

log = logging.getLogger("openkvs.sweeper")
SWEEP_LOCK = 0x73776570  # one node sweeps at a time
BATCH = 500


async def sweep(pool: Any, objects: ObjectStore, grace_ms: int) -> int:
    """One pass; returns how many objects were removed."""
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", SWEEP_LOCK):
            return 0
        try:
            cutoff = now_ms() - grace_ms
            return (
                await _sweep_dead(conn, objects, cutoff)
                + await _sweep_pending(conn, objects, cutoff)
                + await _sweep_unregistered_uploads(conn, objects, cutoff)
            )
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", SWEEP_LOCK)


async def _referenced(conn: Any, name: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM records WHERE object = $1", name))


async def _sweep_dead(conn: Any, objects: ObjectStore, cutoff: int) -> int:
    rows = await conn.fetch(
        "SELECT object FROM dead_objects WHERE dead_at < $1 LIMIT $2", cutoff, BATCH
    )
    for row in rows:
        name = row["object"]
        if not await _referenced(conn, name):
            await objects.delete(name)
        await conn.execute("DELETE FROM dead_objects WHERE object = $1", name)
    return len(rows)


async def _sweep_pending(conn: Any, objects: ObjectStore, cutoff: int) -> int:
    removed = 0
    rows = await conn.fetch(
        "SELECT object FROM pending_objects WHERE touched_at < $1 LIMIT $2", cutoff, BATCH
    )
    for row in rows:
        name = row["object"]
        upload_id = await _declare_dead(conn, name, cutoff)
        if upload_id is None:
            continue
        if upload_id:  # a node dying before this leaves an unregistered upload, swept below
            await objects.abort_multipart(name, upload_id)
        removed += 1
    return removed


async def _declare_dead(conn: Any, name: str, cutoff: int) -> str | None:
    """Moves an abandoned upload from pending to dead in one transaction, so that a node dying
    at any point leaves it in one table or the other. Taking the pending row first means a late
    commit of this upload fails instead of pointing at an object about to disappear. The object
    is not deleted now: a PUT still in flight (say from a node that died mid-request) could
    create it after this; as a dead object it is deleted one grace period later. Returns the
    multipart upload id ('' for none), or None when the upload was not abandoned after all."""
    async with conn.transaction():
        upload_id: str | None = await conn.fetchval(
            "DELETE FROM pending_objects WHERE object = $1 AND touched_at < $2 RETURNING "
            "coalesce(upload_id, '')",
            name,
            cutoff,
        )
        if upload_id is None or await _referenced(conn, name):
            return None
        await conn.execute(
            "INSERT INTO dead_objects (object, dead_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            name,
            now_ms(),
        )
    return upload_id


async def _sweep_unregistered_uploads(conn: Any, objects: ObjectStore, cutoff: int) -> int:
    removed = 0
    for name, upload_id, initiated in await objects.stale_uploads():
        if initiated * 1000 >= cutoff or initiated > time.time():
            continue
        pending = await conn.fetchval("SELECT 1 FROM pending_objects WHERE object = $1", name)
        if pending or await _referenced(conn, name):
            continue
        await objects.abort_multipart(name, upload_id)
        removed += 1
    return removed
