"""Small-record writes of one batch in a few statements for all of them, not three each.

Every statement the writer thread runs releases the GIL and must win it back from the busy event
loop; per record that hand-over, not SQLite's work, was the cost of a PUT (docs/performance.md).
So consecutive writes of inline bodies to distinct keys go together: one statement reads every
store and old record (JSON in, one aggregate row out), one inserts every body (one BLOB of all
of them, cut by `substr`), one inserts every record row, one drops the replaced bodies. A write
whose key held a file body leaves the group and runs its own operation (its file must be buried).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from openkvs.core.conditions import check_write_condition
from openkvs.core.errors import ApiError, store_not_found
from openkvs.core.models import RecordMeta, WriteCondition

# Each element: [index, store exists, old etag, old size, old body id, old file].
READ_OLD = (
    "SELECT json_group_array(json_array(j.key, s.id IS NOT NULL, r.etag, r.size, r.body_id, "
    "r.blob)), (SELECT coalesce(max(id), 0) FROM bodies) FROM json_each(?1) j "
    "LEFT JOIN stores s ON s.id = j.value ->> 0 "
    "LEFT JOIN records r ON r.store_id = j.value ->> 0 AND r.key = j.value ->> 1"
)
INSERT_BODIES = (
    "INSERT INTO bodies (id, data) "
    "SELECT value ->> 0, substr(?2, value ->> 1, value ->> 2) FROM json_each(?1)"
)
INSERT_RECORDS = (
    "INSERT OR REPLACE INTO records (store_id, key, size, content_type, content_encoding, etag, "
    "modified_at, body_id, blob) SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, "
    "value ->> 4, value ->> 5, value ->> 6, value ->> 7, NULL FROM json_each(?1)"
)
DELETE_BODIES = "DELETE FROM bodies WHERE id IN (SELECT value FROM json_each(?1))"

Count = Callable[[str, int, int, int, int, int], None]
# A write's outcome: (result, None), (None, error), or None when it must run its own operation.
Outcome = tuple[Any, BaseException | None] | None


@dataclass(slots=True)
class InlinePut:
    """A record write whose body is inline: what the group path needs to do it."""

    store_id: str
    condition: WriteCondition
    record: RecordMeta  # its `inline` is the body


def write_group(conn: sqlite3.Connection, puts: list[InlinePut], count: Count) -> list[Outcome]:
    """Write `puts` (distinct keys) inside the open transaction; per write, its outcome."""
    found, max_id = conn.execute(
        READ_OLD, (orjson.dumps([[p.store_id, p.record.key] for p in puts]),)
    ).fetchone()
    olds = {item[0]: item[1:] for item in orjson.loads(found)}
    outcomes: list[Outcome] = []
    bodies: list[list[int]] = []
    chunks: list[bytes] = []
    rows: list[list[Any]] = []
    replaced: list[int] = []
    body_id, offset = max_id, 1
    for index, put in enumerate(puts):
        exists, old_etag, old_size, old_body, old_file = olds[index]
        if not exists:
            outcomes.append((None, store_not_found()))
            continue
        if old_file is not None:
            outcomes.append(None)
            continue
        try:
            check_write_condition(put.condition, old_etag)
        except ApiError as exc:
            outcomes.append((None, exc))
            continue
        record = put.record
        body = record.inline or b""
        body_id += 1
        bodies.append([body_id, offset, len(body)])
        chunks.append(body)
        offset += len(body)
        rows.append(
            [
                put.store_id,
                record.key,
                record.size,
                record.content_type,
                record.content_encoding,
                record.etag,
                record.modified_at,
                body_id,
            ]
        )
        if old_body is not None:
            replaced.append(old_body)
        created = 0 if old_etag is not None else 1
        count(put.store_id, 1, 0, record.size - (old_size or 0), created, record.modified_at)
        outcomes.append((record, None))
    if rows:
        conn.execute(INSERT_BODIES, (orjson.dumps(bodies), b"".join(chunks)))
        conn.execute(INSERT_RECORDS, (orjson.dumps(rows),))
    if replaced:
        conn.execute(DELETE_BODIES, (orjson.dumps(replaced),))
    return outcomes
