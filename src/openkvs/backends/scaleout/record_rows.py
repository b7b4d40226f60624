"""Records in PostgreSQL; their large bodies in S3."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from openkvs.backends.scaleout.batches import RecordReads, RecordWrites
from openkvs.backends.scaleout.bodies import ObjectBody, ObjectBodyStream
from openkvs.backends.scaleout.lanes import Lanes
from openkvs.backends.scaleout.objects import ObjectStore
from openkvs.backends.scaleout.record_sql import (
    CALL_DELETE_RECORD,
    CALL_PUT_RECORD,
    RecordRow,
    record_from_row,
)
from openkvs.core.conditions import IF_MATCH_FAILED, IF_NONE_MATCH_FAILED
from openkvs.core.errors import ApiError, precondition_failed, store_not_found
from openkvs.core.ids import now_ms
from openkvs.core.models import KeyItem, RecordMeta, WriteCondition
from openkvs.core.storage import BodySink
from openkvs.core.streams import BytesBodyStream


def _key_range(after: str | None, lower: str | None, upper: str | None) -> tuple[str, list[Any]]:
    """after < key, lower <= key < upper (each bound optional) as SQL after `store_id = $1`."""
    sql, args = "", []
    for op, value in ((">", after), (">=", lower), ("<", upper)):
        if value is not None:
            if "\0" in value:  # PostgreSQL text cannot hold NUL, and no key has one
                op, value = _without_nul(op, value)
            args.append(value)
            sql += f" AND key {op} ${len(args) + 1}"
    return sql, args


def _without_nul(op: str, value: str) -> tuple[str, str]:
    """The same bound on keys (which never hold NUL) without the NUL: with `head` the text
    before the first NUL, every key above `value` is at least `head + "\x01"`, and every key
    below it is below that too."""
    head = value[: value.index("\0")] + "\x01"
    return (">=" if op == ">" else op), head


def _refused(outcome: str) -> ApiError:
    """The API's answer to a write record_sql.py refused (and undid)."""
    reason = outcome.removeprefix("openkvs:")
    if reason == "no-store":
        return store_not_found()
    if reason == "if-match":
        return precondition_failed(IF_MATCH_FAILED)
    if reason == "if-none-match":
        return precondition_failed(IF_NONE_MATCH_FAILED)
    if reason == "expired":
        return ApiError(500, "internal-server-error", "The upload expired before it was stored.")
    raise RuntimeError(f"unknown outcome of a record write: {outcome}")


class ScaleOutRecords:
    def __init__(
        self,
        pool: Any,
        lanes: Lanes,
        reads: RecordReads,
        writes: RecordWrites,
        objects: ObjectStore,
        inline_threshold: int,
        object_grace_ms: int,
    ) -> None:
        self._pool = pool  # asyncpg.Pool
        self._lanes = lanes  # for conditional writes and deletes
        self._reads = reads  # record GETs, read together when they come together
        self._writes = writes  # unconditional record PUTs, likewise
        self._objects = objects
        self._inline_threshold = inline_threshold
        # Heartbeats at a quarter of the grace period: a live upload is never taken for dead.
        self._heartbeat_s = min(60.0, max(0.25, object_grace_ms / 4000))

    async def keys(
        self, store_id: str, after: str | None, lower: str | None, upper: str | None, limit: int
    ) -> list[KeyItem]:
        bounds, args = _key_range(after, lower, upper)
        rows = await self._pool.fetch(
            f"SELECT key, size FROM records WHERE store_id = $1{bounds} "
            f"ORDER BY key LIMIT ${len(args) + 2}",
            store_id,
            *args,
            limit,
        )
        return [KeyItem(r["key"], r["size"]) for r in rows]

    async def get(self, store_id: str, key: str) -> RecordMeta | None:
        row = await self._reads.submit((store_id, key))
        return record_from_row(row) if row else None

    async def open_body(self, record: RecordMeta) -> BytesBodyStream | ObjectBodyStream | None:
        # Objects outlive the records that stop pointing at them by the sweeper's grace period,
        # so a version read a moment ago can still be streamed.
        if record.blob is None:
            return BytesBodyStream(record.inline or b"")
        return ObjectBodyStream(self._objects, record.blob, record.size)

    def new_body(self, content_type: str, encoding: str | None) -> ObjectBody:
        return ObjectBody(
            self._pool,
            self._objects,
            self._inline_threshold,
            content_type,
            encoding,
            self._heartbeat_s,
        )

    async def presigned_url(
        self, record: RecordMeta, disposition: str | None, expires: int
    ) -> str | None:
        if record.blob is None:
            return None
        return await self._objects.presigned_get(
            record.blob, record.content_type, disposition, expires
        )

    async def put(
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
        row = RecordRow.of(store_id, record)
        if condition.if_match is None and condition.if_none_match is None:
            outcome = await self._writes.submit(row)
            if outcome != "ok":
                raise _refused(outcome)
            return
        try:
            await self._lanes.execute(
                CALL_PUT_RECORD, *row, condition.if_match, condition.if_none_match
            )
        except asyncpg.RaiseError as error:
            raise _refused(str(error.args[0] if error.args else error)) from None

    async def delete(self, store_id: str, key: str, condition: WriteCondition) -> bool:
        try:
            deleted = await self._lanes.fetchval(
                CALL_DELETE_RECORD,
                store_id,
                key,
                now_ms(),
                condition.if_match,
                condition.if_none_match,
            )
        except asyncpg.RaiseError as error:
            raise _refused(str(error.args[0] if error.args else error)) from None
        return bool(deleted)
