"""Single byte ranges (behaviour.md#http): `bytes=a-b`, `bytes=a-`, `bytes=-n`."""

from __future__ import annotations

from typing import Literal

from openkvs.core.validation import is_ascii_number


def parse_range(header: str | None, size: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """(start, length) for one satisfiable range; None to send the whole body."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # other units and multi-range requests get the full body
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    first, last = first.strip(), last.strip()
    if (first and not is_ascii_number(first)) or (last and not is_ascii_number(last)):
        return None
    if not (first or last) or len(first) > 19 or len(last) > 19:
        return None  # beyond any size: treated as absent
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        start = max(0, size - suffix)
        return start, size - start
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size:
        return "unsatisfiable"
    if end < start:
        return None
    return start, end - start + 1
