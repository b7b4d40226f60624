"""The records table's rows: the columns the SQL names, beside the code that reads or writes
them (the table itself is in migrations.py)."""

from __future__ import annotations

from typing import Any

from openkvs.core.models import RecordMeta

# Every column, in the order record_values gives them; the body is in `bodies` (body_id) when
# inline, else in the file `blob`.
RECORD_COLUMNS = (
    "store_id, key, size, content_type, content_encoding, etag, modified_at, body_id, blob"
)
RECORD_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_RECORD = f"INSERT OR REPLACE INTO records ({RECORD_COLUMNS}) VALUES {RECORD_ROW}"


def record_values(
    store_id: str, record: RecordMeta, body_id: int | None, blob: str | None
) -> tuple[Any, ...]:
    """A row of RECORD_COLUMNS."""
    return (
        store_id,
        record.key,
        record.size,
        record.content_type,
        record.content_encoding,
        record.etag,
        record.modified_at,
        body_id,
        blob,
    )


# A record with its inline body, for record_from_row (filtered by the caller's WHERE).
RECORD_SELECT = (
    "SELECT r.key, r.size, r.content_type, r.content_encoding, r.etag, r.modified_at, b.data, "
    "r.blob FROM records r LEFT JOIN bodies b ON b.id = r.body_id"
)


def record_from_row(row: Any) -> RecordMeta:
    """A row of RECORD_SELECT as the record it stores."""
    key, size, content_type, content_encoding, etag, modified_at, data, blob = row
    inline = None if blob is not None else bytes(data or b"")
    return RecordMeta(key, size, content_type, content_encoding, etag, modified_at, inline, blob)
