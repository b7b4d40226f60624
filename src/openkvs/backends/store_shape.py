"""The store columns both backends' databases share, and a row of them as a Store."""

from __future__ import annotations

import json
from typing import Any

from openkvs.backends.base import UNSET
from openkvs.core.models import Stats, Store

STORE_COLUMNS = (
    "s.id, s.name, s.title, s.user_id, u.username, s.created_at, s.modified_at, s.accessed_at, "
    "s.general_access, s.schema, s.secret, s.read_count, s.write_count, s.delete_count, "
    "s.list_count, s.storage_bytes, s.record_count"
)
STORE_SELECT = f"SELECT {STORE_COLUMNS} FROM stores s JOIN users u ON u.id = s.user_id"


def store_changes(name: Any, general_access: Any, title: Any) -> dict[str, Any]:
    """The columns an update sets: every argument that is not UNSET."""
    pairs = (("name", name), ("general_access", general_access), ("title", title))
    return {column: value for column, value in pairs if value is not UNSET}


def store_from_row(row: tuple[Any, ...]) -> Store:
    return Store(
        id=row[0],
        name=row[1],
        title=row[2],
        user_id=row[3],
        username=row[4],
        created_at=row[5],
        modified_at=row[6],
        accessed_at=row[7],
        general_access=row[8],
        schema=json.loads(row[9]) if row[9] is not None else None,
        secret=row[10],
        stats=Stats(row[11], row[12], row[13], row[14], row[15], row[16]),
    )
