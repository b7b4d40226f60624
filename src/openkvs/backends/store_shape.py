"""The store columns both backends' databases share, and a row of them as a Store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from openkvs.core.models import Stats, Store
from openkvs.core.storage import UNSET

# store_id_of and store_from_row read rows of these, in this order.
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


def store_id_of(row: Sequence[Any]) -> str:
    """The id of a row of STORE_COLUMNS (without building the Store)."""
    store_id: str = row[0]  # s.id comes first
    return store_id


def store_from_row(row: Sequence[Any]) -> Store:
    """A row of STORE_COLUMNS as the Store."""
    (
        store_id,
        name,
        title,
        user_id,
        username,
        created_at,
        modified_at,
        accessed_at,
        general_access,
        schema,
        secret,
        read_count,
        write_count,
        delete_count,
        list_count,
        storage_bytes,
        record_count,
    ) = row
    return Store(
        id=store_id,
        name=name,
        title=title,
        user_id=user_id,
        username=username,
        created_at=created_at,
        modified_at=modified_at,
        accessed_at=accessed_at,
        general_access=general_access,
        schema=json.loads(schema) if schema is not None else None,
        secret=secret,
        stats=Stats(read_count, write_count, delete_count, list_count, storage_bytes, record_count),
    )
