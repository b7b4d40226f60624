"""Records and their bodies in the embedded database."""

from __future__ import annotations

import sqlite3
from typing import Any, NamedTuple

from openkvs.backends.embedded.blobs import BlobFiles, FileBodyStream, SpooledBody
from openkvs.backends.embedded.dead_bodies import DeadBodies
from openkvs.backends.embedded.put_batch import InlinePut
from openkvs.backends.embedded.read_cache import MISSING, ReadCache, record_changed
from openkvs.backends.embedded.records_table import (
    INSERT_RECORD,
    RECORD_SELECT,
    record_from_row,
    record_values,
)
from openkvs.backends.embedded.writer import After, Writer
from openkvs.core.conditions import check_write_condition
from openkvs.core.errors import store_not_found
from openkvs.core.ids import now_ms
from openkvs.core.models import KeyItem, RecordMeta, WriteCondition
from openkvs.core.storage import BodySink
from openkvs.core.streams import BytesBodyStream
from openkvs.telemetry import Telemetry

GET_RECORD = RECORD_SELECT + " WHERE r.store_id = ? AND r.key = ?"


def _key_range(after: str | None, lower: str | None, upper: str | None) -> tuple[str, list[Any]]:
    """The WHERE clauses (and their arguments) for after < key, lower <= key < upper."""
    sql, args = "", []
    for op, value in ((">", after), (">=", lower), ("<", upper)):
        if value is not None:
            sql += f" AND key {op} ?"
            args.append(value)
    return sql, args


class OldRecord(NamedTuple):
    """What a write needs of the record it replaces or deletes."""

    etag: str
    size: int
    body_id: int | None
    blob: str | None


def _current(
    conn: sqlite3.Connection, store_id: str, key: str, condition: WriteCondition
) -> OldRecord | None:
    """Inside a write: the record as it is, or None, once the store is known to exist and the
    request's condition holds. One statement for both lookups."""
    row = conn.execute(
        "SELECT r.etag, r.size, r.body_id, r.blob FROM stores s LEFT JOIN records r "
        "ON r.store_id = s.id AND r.key = ?2 WHERE s.id = ?1",
        (store_id, key),
    ).fetchone()
    if row is None:
        raise store_not_found()
    etag, size, body_id, blob = row
    check_write_condition(condition, etag)
    return OldRecord(etag, size, body_id, blob) if etag is not None else None


class EmbeddedRecords:
    """Reads on the event loop's connection (through the read cache); writes through the
    writer."""

    def __init__(
        self,
        reader: sqlite3.Connection,
        writer: Writer,
        files: BlobFiles,
        cache: ReadCache,
        telemetry: Telemetry,
        dead_bodies: DeadBodies,
        inline_threshold: int,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._files = files
        self._cache = cache
        self._telemetry = telemetry
        self._dead_bodies = dead_bodies
        self._inline_threshold = inline_threshold

    async def keys(
        self, store_id: str, after: str | None, lower: str | None, upper: str | None, limit: int
    ) -> list[KeyItem]:
        bounds, args = _key_range(after, lower, upper)
        rows = self._reader.execute(
            f"SELECT key, size FROM records WHERE store_id = ?{bounds} ORDER BY key LIMIT ?",
            (store_id, *args, limit),
        ).fetchall()
        return [KeyItem(key, size) for key, size in rows]

    async def get(self, store_id: str, key: str) -> RecordMeta | None:
        # One statement, one snapshot: read separately, an overwrite committing in between
        # would delete the body row this record points at.
        cache = self._cache
        cache.refresh()
        record = cache.records.get((store_id, key), MISSING)
        looked = self._telemetry.cache["record"]
        if record is not MISSING:
            looked[0] += 1
        else:
            looked[1] += 1
            row = self._reader.execute(GET_RECORD, (store_id, key)).fetchone()
            record = record_from_row(row) if row else None
            cache.keep_record((store_id, key), record)
        return record  # type: ignore[no-any-return]

    async def open_body(self, record: RecordMeta) -> FileBodyStream | BytesBodyStream | None:
        if record.blob is None:
            return BytesBodyStream(record.inline or b"")
        fd = self._files.open_fd(record.blob)
        return None if fd is None else FileBodyStream(fd, record.size)

    async def presigned_url(
        self, record: RecordMeta, disposition: str | None, expires: int
    ) -> str | None:
        return None  # files are served by this process

    def new_body(self, content_type: str, encoding: str | None) -> SpooledBody:
        return SpooledBody(self._files, self._inline_threshold)

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
        assert isinstance(body, SpooledBody)
        modified = now_ms()
        inline, blob, size = body.inline, body.blob, body.size
        record = RecordMeta(key, size, content_type, content_encoding, etag, modified, inline, blob)

        def op(conn: sqlite3.Connection, after: After) -> RecordMeta:
            old = _current(conn, store_id, key, condition)
            body_id = None
            if inline is not None:
                body_id = conn.execute("INSERT INTO bodies (data) VALUES (?)", (inline,)).lastrowid
            conn.execute(INSERT_RECORD, record_values(store_id, record, body_id, blob))
            delta = size
            if old:
                delta -= old.size
                if old.body_id is not None:
                    conn.execute("DELETE FROM bodies WHERE id = ?", (old.body_id,))
                if old.blob is not None:
                    conn.execute("INSERT OR IGNORE INTO dead_blobs (blob) VALUES (?)", (old.blob,))
            if blob is not None:
                after.append(lambda: self._files.publish(blob))
            if old and old.blob is not None:
                self._dead_bodies.bury(after, [old.blob])
            self._writer.count(store_id, 1, 0, delta, 0 if old else 1, modified)
            return record

        def failed() -> None:
            if blob is not None:
                self._files.remove(blob)

        grouped = InlinePut(store_id, condition, record) if inline is not None else None
        result: RecordMeta = await self._writer.run(
            op, failed, [record_changed(store_id, key)], checks_first=True, put=grouped
        )
        return result

    async def delete(self, store_id: str, key: str, condition: WriteCondition) -> bool:
        def op(conn: sqlite3.Connection, after: After) -> bool:
            old = _current(conn, store_id, key, condition)
            if not old:
                return False
            conn.execute("DELETE FROM records WHERE store_id = ? AND key = ?", (store_id, key))
            if old.body_id is not None:
                conn.execute("DELETE FROM bodies WHERE id = ?", (old.body_id,))
            if old.blob is not None:
                conn.execute("INSERT OR IGNORE INTO dead_blobs (blob) VALUES (?)", (old.blob,))
                self._dead_bodies.bury(after, [old.blob])
            self._writer.count(store_id, 0, 1, -old.size, -1, now_ms())
            return True

        changes = [record_changed(store_id, key)]
        return bool(await self._writer.run(op, changes=changes, checks_first=True))
