"""Small-record writes of one batch in a few statements for all of them, not three each.

Every statement the writer thread runs releases the GIL and must win it back from the busy event
loop, and with three statements per record those hand-overs were most of a PUT's cost in the
writer (docs/performance.md). So consecutive writes of inline bodies to distinct keys go
together: one statement reads every store and old record (one JSON row out), one inserts every
body, one inserts every record row, one drops the replaced bodies. The statements take their
rows as multi-row VALUES lists of bound parameters: SQLite reads those as they are, where rows
passed as JSON cost a parse per column (docs/performance.md, "Writes"). A write whose key held a
file body leaves the group and runs its own operation (its file must be buried).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from openkvs.backends.embedded.records_table import RECORD_COLUMNS, RECORD_ROW, record_values
from openkvs.core.conditions import check_write_condition
from openkvs.core.errors import ApiError, store_not_found
from openkvs.core.models import RecordMeta, WriteCondition

Count = Callable[[str, int, int, int, int, int], None]
# A write's outcome: (result, None), (None, error), or None when it must run its own operation.
Outcome = tuple[Any, BaseException | None] | None


@dataclass(slots=True)
class InlinePut:
    """A record write whose body is inline: what the group path needs to do it."""

    store_id: str
    condition: WriteCondition
    record: RecordMeta  # its `inline` is the body


@cache
def read_old_sql(count: int) -> str:
    """Per write (index, store id, key): its index, whether the store exists, the old record's
    etag, size, body id and file, as one JSON row (each row fetched would cost a GIL
    hand-over); and the highest body id."""
    rows = ", ".join(["(?, ?, ?)"] * count)
    return (
        "SELECT json_group_array(json_array(j.column1, s.id IS NOT NULL, r.etag, r.size, "
        "r.body_id, r.blob)), (SELECT coalesce(max(id), 0) FROM bodies) "
        f"FROM (VALUES {rows}) j LEFT JOIN stores s ON s.id = j.column2 "
        "LEFT JOIN records r ON r.store_id = j.column2 AND r.key = j.column3"
    )


@cache
def insert_bodies_sql(count: int) -> str:
    return "INSERT INTO bodies (id, data) VALUES " + ", ".join(["(?, ?)"] * count)


@cache
def insert_records_sql(count: int) -> str:
    rows = ", ".join([RECORD_ROW] * count)
    return f"INSERT OR REPLACE INTO records ({RECORD_COLUMNS}) VALUES {rows}"


@cache
def delete_bodies_sql(count: int) -> str:
    return "DELETE FROM bodies WHERE id IN (" + ", ".join(["?"] * count) + ")"


def write_group(conn: sqlite3.Connection, puts: list[InlinePut], count: Count) -> list[Outcome]:
    """Write `puts` (distinct keys) inside the open transaction; per write, its outcome."""
    keys: list[Any] = []
    for index, put in enumerate(puts):
        keys += (index, put.store_id, put.record.key)
    found, body_id = conn.execute(read_old_sql(len(puts)), keys).fetchone()
    olds = {index: old for index, *old in orjson.loads(found)}
    outcomes: list[Outcome] = []
    bodies: list[Any] = []
    rows: list[Any] = []
    replaced: list[int] = []
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
        body_id += 1
        bodies += (body_id, record.inline or b"")
        rows += record_values(put.store_id, record, body_id, None)
        if old_body is not None:
            replaced.append(old_body)
        created = 0 if old_etag is not None else 1
        count(put.store_id, 1, 0, record.size - (old_size or 0), created, record.modified_at)
        outcomes.append((record, None))
    if rows:
        written = len(bodies) // 2  # two values per body
        conn.execute(insert_bodies_sql(written), bodies)
        conn.execute(insert_records_sql(written), rows)
    if replaced:
        conn.execute(delete_bodies_sql(len(replaced)), replaced)
    return outcomes
