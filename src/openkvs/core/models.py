"""The data shapes that flow between the layers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True, frozen=True)
class User:
    id: str
    username: str
    created_at: int


@dataclass(slots=True)
class TokenInfo:
    id: str
    user_id: str
    username: str
    name: str
    created_at: int
    revoked: bool


@dataclass(slots=True)
class Stats:
    read_count: int = 0
    write_count: int = 0
    delete_count: int = 0
    list_count: int = 0
    storage_bytes: int = 0
    record_count: int = 0  # an openkvs addition: records in the store


@dataclass(slots=True)
class Store:
    id: str
    name: str | None
    title: str | None
    user_id: str
    username: str
    created_at: int
    modified_at: int
    accessed_at: int
    general_access: str
    schema: dict[str, Any] | None
    secret: str
    stats: Stats = field(default_factory=Stats)


@dataclass(slots=True)
class RecordMeta:
    """A record as stored: body either inline (small) or in the backend's blob storage."""

    key: str
    size: int
    content_type: str
    content_encoding: str | None
    etag: str
    modified_at: int
    inline: bytes | None = None
    blob: str | None = None


@dataclass(slots=True)
class KeyItem:
    key: str
    size: int


@dataclass(slots=True)
class WriteCondition:
    """If-Match / If-None-Match of a PUT or DELETE; None means no condition."""

    if_match: list[str] | None = None
    if_none_match: list[str] | None = None
