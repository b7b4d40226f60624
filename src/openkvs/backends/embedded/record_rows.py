"""Records and their bodies in the embedded database."""

from __future__ import annotations

import sqlite3
from typing import Any

from openkvs.backends.base import BodySink
from openkvs.backends.embedded.blobs import FileBodyStream, SpooledBody
from openkvs.backends.embedded.put_batch import InlinePut
from openkvs.backends.embedded.read_cache import MISSING, record_changed
from openkvs.backends.embedded.state import After, EmbeddedState
from openkvs.backends.streams import BytesBodyStream
from openkvs.core.conditions import check_write_condition
from openkvs.core.errors import store_not_found
from openkvs.core.ids import now_ms
from openkvs.core.models import KeyItem, RecordMeta, WriteCondition


def _bound_clauses(
    after: str | None, lower: str | None, upper: str | None
) -> tuple[str, list[Any]]:
    sql, args = "", []
    for op, value in ((">", after), (">=", lower), ("<", upper)):
        if value is not None:
            sql += f" AND key {op} ?"
            args.append(value)
    return sql, args


def _current(conn: sqlite3.Connection, store_id: str, key: str, condition: WriteCondition) -> Any:
    """Inside a write: the record's current (etag, size, body_id, blob), or None, once the store
    is known to exist and the request's condition holds. One statement for both lookups."""
    row = conn.execute(
        "SELECT r.etag, r.size, r.body_id, r.blob FROM stores s LEFT JOIN records r "
        "ON r.store_id = s.id AND r.key = ?2 WHERE s.id = ?1",
        (store_id, key),
    ).fetchone()
    if row is None:
        raise store_not_found()
    old = row if row[0] is not None else None
    check_write_condition(condition, old[0] if old else None)
    return old


def _record(row: Any) -> RecordMeta:
    inline = None if row[7] is not None else bytes(row[6] or b"")
    return RecordMeta(row[0], row[1], row[2], row[3], row[4], row[5], inline, row[7])


class RecordRows(EmbeddedState):
    inline_threshold: int

    async def list_keys(
        self, store_id: str, after: str | None, lower: str | None, upper: str | None, limit: int
    ) -> list[KeyItem]:
        bounds, args = _bound_clauses(after, lower, upper)
        rows = self._reader.execute(
            f"SELECT key, size FROM records WHERE store_id = ?{bounds} ORDER BY key LIMIT ?",
            (store_id, *args, limit),
        ).fetchall()
        return [KeyItem(r[0], r[1]) for r in rows]

    async def get_record(self, store_id: str, key: str) -> RecordMeta | None:
        # One statement, one snapshot: read separately, an overwrite committing in between
        # would delete the body row this record points at.
        cache = self._cache
        cache.refresh()
        record = cache.records.get((store_id, key), MISSING)
        looked = self.telemetry.cache["record"]
        if record is not MISSING:
            looked[0] += 1
        else:
            looked[1] += 1
            row = self._reader.execute(
                "SELECT r.key, r.size, r.content_type, r.content_encoding, r.etag, "
                "r.modified_at, b.data, r.blob FROM records r "
                "LEFT JOIN bodies b ON b.id = r.body_id WHERE r.store_id = ? AND r.key = ?",
                (store_id, key),
            ).fetchone()
            record = _record(row) if row else None
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
        return SpooledBody(self._files, self.inline_threshold)

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
        assert isinstance(body, SpooledBody)
        modified = now_ms()
        inline, blob, size = body.inline, body.blob, body.size
        record = RecordMeta(key, size, content_type, content_encoding, etag, modified, inline, blob)

        def op(conn: sqlite3.Connection, after: After) -> RecordMeta:
            old = _current(conn, store_id, key, condition)
            body_id = None
            if inline is not None:
                body_id = conn.execute("INSERT INTO bodies (data) VALUES (?)", (inline,)).lastrowid
            conn.execute(
                "INSERT OR REPLACE INTO records (store_id, key, size, content_type, "
                "content_encoding, etag, modified_at, body_id, blob) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*record.row_head(store_id), body_id, blob),
            )
            delta = size
            if old:
                delta -= old[1]
                if old[2] is not None:
                    conn.execute("DELETE FROM bodies WHERE id = ?", (old[2],))
                if old[3] is not None:
                    conn.execute("INSERT OR IGNORE INTO dead_blobs (blob) VALUES (?)", (old[3],))
            if blob is not None:
                after.append(lambda: self._files.publish(blob))
            if old and old[3] is not None:
                self._bury(after, [old[3]])
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

    async def delete_record(self, store_id: str, key: str, condition: WriteCondition) -> bool:
        def op(conn: sqlite3.Connection, after: After) -> bool:
            old = _current(conn, store_id, key, condition)
            if not old:
                return False
            conn.execute("DELETE FROM records WHERE store_id = ? AND key = ?", (store_id, key))
            if old[2] is not None:
                conn.execute("DELETE FROM bodies WHERE id = ?", (old[2],))
            if old[3] is not None:
                conn.execute("INSERT OR IGNORE INTO dead_blobs (blob) VALUES (?)", (old[3],))
                self._bury(after, [old[3]])
            self._writer.count(store_id, 0, 1, -old[1], -1, now_ms())
            return True

        changes = [record_changed(store_id, key)]
        return bool(await self._writer.run(op, changes=changes, checks_first=True))
