"""A keys query (prefix, collection) as index bounds, so a page costs O(page)
(behaviour.md#listing)."""

from __future__ import annotations

from dataclasses import dataclass

from openkvs.core.schema import KeyFilter
from openkvs.core.validation import KEY_CHARS_RE


@dataclass(frozen=True, slots=True)
class KeyRange:
    lower: str | None = None
    upper: str | None = None
    empty: bool = False


def _prefix_upper(prefix: str) -> str | None:
    """The smallest string above every string that starts with `prefix` (code point order)."""
    for index in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[index]) + 1
        if 0xD800 <= code <= 0xDFFF:  # surrogates cannot be encoded; the next code point is
            code = 0xE000
        if code <= 0x10FFFF:
            return prefix[:index] + chr(code)
    return None


def key_range(prefix: str | None, collection: KeyFilter | None) -> KeyRange:
    prefix = prefix or None
    if prefix is not None and not KEY_CHARS_RE.fullmatch(prefix):
        return KeyRange(empty=True)  # no key has characters outside the key alphabet
    if collection is not None and collection.exact is not None:
        key = collection.exact
        if prefix is not None and not key.startswith(prefix):
            return KeyRange(empty=True)
        # Keys use characters from "!" up, so nothing sorts between key and key + "\x01".
        return KeyRange(lower=key, upper=key + "\x01")
    if collection is not None and collection.prefix is not None:
        other = collection.prefix
        if prefix is None or other.startswith(prefix):
            prefix = other
        elif not prefix.startswith(other):
            return KeyRange(empty=True)
    if prefix is None:
        return KeyRange()
    return KeyRange(lower=prefix, upper=_prefix_upper(prefix))
