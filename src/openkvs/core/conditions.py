"""Conditional requests (behaviour.md#http): ETag matching for reads and compare-and-set for
writes."""

from __future__ import annotations

from openkvs.core.errors import precondition_failed
from openkvs.core.models import WriteCondition


def parse_etag_list(header: str | None) -> list[str] | None:
    """Split an If-Match / If-None-Match header into opaque tags ("*" kept as is)."""
    if header is None:
        return None
    tags = []
    for part in header.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag:
            tags.append(tag)
    return tags


def etag_matches(tags: list[str], etag: str | None) -> bool:
    if etag is None:
        return False
    return "*" in tags or etag in tags


IF_MATCH_FAILED = "If-Match does not match the record's current ETag."
IF_NONE_MATCH_FAILED = "If-None-Match matches the record's current ETag."


def check_write_condition(condition: WriteCondition, current_etag: str | None) -> None:
    """Raise 412 when the record's current state does not satisfy the request's condition."""
    if condition.if_match is not None and not etag_matches(condition.if_match, current_etag):
        raise precondition_failed(IF_MATCH_FAILED)
    none_match = condition.if_none_match
    if none_match is not None and etag_matches(none_match, current_etag):
        raise precondition_failed(IF_NONE_MATCH_FAILED)
