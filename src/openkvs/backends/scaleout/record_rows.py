"""Records in PostgreSQL; their large bodies in S3."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from openkvs.backends.base import BodySink
from openkvs.backends.scaleout.bodies import ObjectBody, ObjectBodyStream
from openkvs.backends.scaleout.state import ScaleOutState
from openkvs.backends.streams import BytesBodyStream
from openkvs.core.conditions import check_write_condition
from openkvs.core.errors import ApiError, store_not_found
from openkvs.core.ids import now_ms
from openkvs.core.models import KeyItem, RecordMeta, WriteCondition

log = logging.getLogger("openkvs.scaleout")
RECORD_COLUMNS = "key, size, content_type, content_encoding, etag, modified_at, body, object"
# $4 is 1 when the write created the key, 0 when it replaced a record (stats.recordCount).
WRITE_STATS = (
    "UPDATE stores SET write_count = write_count + 1, storage_bytes = storage_bytes + $2, "
    "record_count = record_count + $4, "
    "modified_at = $3, accessed_at = greatest(accessed_at, $3) WHERE id = $1"
)
DELETE_STATS = (
    "UPDATE stores SET delete_count = delete_count + 1, storage_bytes = storage_bytes - $2, "
    "record_count = record_count - 1, "
    "modified_at = $3, accessed_at = greatest(accessed_at, $3) WHERE id = $1"
)
OLD_RECORD = "SELECT etag, size, object FROM records WHERE store_id = $1 AND key = $2"
# Writes to one store serialise on its row, which they update anyway (stats); this also makes
# "the store still exists" part of the same transaction.
LOCK_STORE = "SELECT 1 FROM stores WHERE id = $1 FOR NO KEY UPDATE"
BURY = "INSERT INTO dead_objects (object, dead_at) VALUES ($1, $2) ON CONFLICT DO NOTHING"


def _bounds(after: str | None, lower: str | None, upper: str | None) -> tuple[str, list[Any]]:
    sql, args = "", []
    for op, value in ((">", after), (">=", lower), ("<", upper)):
        if value is not None:
            args.append(value)
            sql += f" AND key {op} ${len(args) + 1}"
    return sql, args


def _record(row: Any) -> RecordMeta:
    body = row[6]
    return RecordMeta(row[0], row[1], row[2], row[3], row[4], row[5], body, row[7])


async def _current(conn: Any, store_id: str, key: str, condition: WriteCondition) -> Any:
    """Inside a write: the record's current (etag, size, object), with the store row locked and
    the request's condition checked."""
    if not await conn.fetchval(LOCK_STORE, store_id):
        raise store_not_found()
    old = await conn.fetchrow(OLD_RECORD, store_id, key)
    check_write_condition(condition, old[0] if old else None)
    return old


class RecordRows(ScaleOutState):
    async def list_keys(
        self, store_id: str, after: str | None, lower: str | None, upper: str | None, limit: int
    ) -> list[KeyItem]:
        bounds, args = _bounds(after, lower, upper)
        rows = await self.pool.fetch(
            f"SELECT key, size FROM records WHERE store_id = $1{bounds} "
            f"ORDER BY key LIMIT ${len(args) + 2}",
            store_id,
            *args,
            limit,
        )
        return [KeyItem(r[0], r[1]) for r in rows]

    async def get_record(self, store_id: str, key: str) -> RecordMeta | None:
        row = await self.pool.fetchrow(
            f"SELECT {RECORD_COLUMNS} FROM records WHERE store_id = $1 AND key = $2", store_id, key
        )
        return _record(row) if row else None

    async def open_body(self, record: RecordMeta) -> BytesBodyStream | ObjectBodyStream | None:
        # Objects outlive the records that stop pointing at them by the sweeper's grace period,
        # so a version read a moment ago can still be streamed.
        if record.blob is None:
            return BytesBodyStream(record.inline or b"")
        return ObjectBodyStream(self.objects, record.blob, record.size)

    def new_body(self, content_type: str, encoding: str | None) -> ObjectBody:
        # Heartbeats at a quarter of the grace period: a live upload is never taken for dead.
        heartbeat = min(60.0, max(0.25, self.object_grace_ms / 4000))
        return ObjectBody(
            self.pool, self.objects, self.inline_threshold, content_type, encoding, heartbeat
        )

    async def presigned_url(
        self, record: RecordMeta, disposition: str | None, expires: int
    ) -> str | None:
        if record.blob is None:
            return None
        return await self.objects.presigned_get(
            record.blob, record.content_type, disposition, expires
        )

    async def put_record(
        self,
        store_id: str,
        key: str,
        content_type: str,
        content_encoding: str | None,
        etag: str,
        body: BodySink,
        condition: WriteCondition,
    ) -> RecordMeta:
        assert isinstance(body, ObjectBody)
        record = RecordMeta(
            key, body.size, content_type, content_encoding, etag, now_ms(), body.inline, body.object
        )
        # Shielded: a client that goes away must not leave the outcome of the commit unknown.
        task = asyncio.ensure_future(self._commit_put(store_id, record, condition))
        try:
            await asyncio.shield(task)
        except ApiError:  # rolled back for certain: the object is ours alone to remove
            await body.discard()
            raise
        return record

    async def _commit_put(
        self, store_id: str, record: RecordMeta, condition: WriteCondition
    ) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            old = await _current(conn, store_id, record.key, condition)
            if record.blob is not None:
                claimed = await conn.execute(
                    "DELETE FROM pending_objects WHERE object = $1", record.blob
                )
                if claimed.endswith(" 0"):  # the sweeper took it: the upload stalled too long
                    raise ApiError(
                        500, "internal-server-error", "The upload expired before it was stored."
                    )
            await conn.execute(
                "INSERT INTO records (store_id, key, size, content_type, content_encoding, etag, "
                "modified_at, body, object) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                "ON CONFLICT (store_id, key) DO UPDATE SET size = EXCLUDED.size, "
                "content_type = EXCLUDED.content_type, "
                "content_encoding = EXCLUDED.content_encoding, etag = EXCLUDED.etag, "
                "modified_at = EXCLUDED.modified_at, body = EXCLUDED.body, "
                "object = EXCLUDED.object",
                *record.row_head(store_id),
                record.inline,
                record.blob,
            )
            delta = record.size
            if old:
                delta -= old[1]
                if old[2] is not None:
                    await conn.execute(BURY, old[2], record.modified_at)
            await conn.execute(WRITE_STATS, store_id, delta, record.modified_at, 0 if old else 1)

    async def delete_record(self, store_id: str, key: str, condition: WriteCondition) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            old = await _current(conn, store_id, key, condition)
            if not old:
                return False
            now = now_ms()
            await conn.execute(
                "DELETE FROM records WHERE store_id = $1 AND key = $2", store_id, key
            )
            if old[2] is not None:
                await conn.execute(BURY, old[2], now)
            await conn.execute(DELETE_STATS, store_id, old[1], now)
        return True
