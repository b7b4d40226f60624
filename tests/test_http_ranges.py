"""Unit tests of http/ranges.py: the `Range` header of a record GET (behaviour.md#http), called
directly (no server). One satisfiable range is (start, length); None sends the whole body (an
absent, multiple, foreign-unit or malformed range, as RFC 9110 lets a server ignore them)."""

from __future__ import annotations

from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkvs.http.ranges import parse_range

Parsed = tuple[int, int] | Literal["unsatisfiable"] | None
UNSATISFIABLE = "unsatisfiable"


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        # first-last
        ("bytes=0-9", 100, (0, 10)),
        ("bytes=0-0", 100, (0, 1)),
        ("bytes=10-19", 100, (10, 10)),
        ("bytes=99-99", 100, (99, 1)),
        ("bytes=90-500", 100, (90, 10)),  # the end is clipped to the body
        ("bytes=0-99999999999", 100, (0, 100)),
        ("bytes=007-008", 100, (7, 2)),
        # first- (to the end)
        ("bytes=10-", 100, (10, 90)),
        ("bytes=0-", 100, (0, 100)),
        ("bytes=99-", 100, (99, 1)),
        # -suffix (the last n bytes)
        ("bytes=-5", 100, (95, 5)),
        ("bytes=-100", 100, (0, 100)),
        ("bytes=-500", 100, (0, 100)),
        ("bytes=-1", 1, (0, 1)),
        # spelling: unit in any case, spaces around the parts
        ("BYTES=0-1", 100, (0, 2)),
        ("Bytes=0-1", 100, (0, 2)),
        (" bytes = 2 - 3 ", 100, (2, 2)),
    ],
    ids=lambda value: repr(value)[:40],
)
def test_one_satisfiable_range_is_start_and_length(
    header: str, size: int, expected: tuple[int, int]
) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=100-", 100),
        ("bytes=100-200", 100),
        ("bytes=0-", 0),
        ("bytes=0-0", 0),
        ("bytes=-0", 100),  # an empty suffix
        ("bytes=-5", 0),  # a suffix of an empty body: no byte to send
    ],
    ids=repr,
)
def test_a_range_past_the_end_or_an_empty_suffix_is_unsatisfiable(header: str, size: int) -> None:
    assert parse_range(header, size) == UNSATISFIABLE


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes=0-1,2-3",  # more than one range: the whole body
        "bytes=0-1, 5-",
        "items=0-1",
        "pages=0-1",
        "bytes 0-1",
        "bytes=",
        "bytes=-",
        "bytes=5",
        "bytes=5-2",  # last before first: invalid, so ignored
        "bytes=a-b",
        "bytes=1-b",
        "bytes=--1",
        "bytes=0-1-2",
        "bytes=+1-2",
        "bytes=1.5-2",
        "bytes=²-",  # digits that are not ASCII
        "bytes=-³",
        "bytes=0-¹",
        "bytes=٣-",
        "bytes=" + "9" * 20 + "-",  # beyond any size: treated as absent
        "bytes=-" + "9" * 20,
        "bytes=0-" + "9" * 5000,
        "x" * 8000,
    ],
    ids=lambda value: repr(value)[:30],
)
def test_no_range_multiple_ranges_or_garbage_send_the_whole_body(header: str | None) -> None:
    assert parse_range(header, 100) is None


@given(size=st.integers(1, 10**12), data=st.data())
def test_every_satisfiable_range_lies_within_the_body(size: int, data: st.DataObject) -> None:
    first = data.draw(st.integers(0, size - 1), label="first")
    last = data.draw(st.integers(first, 2 * size), label="last")
    start, length = _satisfied(parse_range(f"bytes={first}-{last}", size))
    assert start == first
    assert length == min(last, size - 1) - first + 1
    assert start + length <= size


@given(size=st.integers(1, 10**12), suffix=st.integers(1, 10**13))
def test_a_suffix_range_is_the_last_bytes_of_the_body(size: int, suffix: int) -> None:
    start, length = _satisfied(parse_range(f"bytes=-{suffix}", size))
    assert length == min(suffix, size)
    assert start + length == size


@given(header=st.text(max_size=30), size=st.integers(0, 1000))
def test_any_header_is_whole_body_unsatisfiable_or_a_range_inside_the_body(
    header: str, size: int
) -> None:
    parsed = parse_range(header, size)
    if isinstance(parsed, tuple):
        start, length = parsed
        assert start >= 0 and length >= 1 and start + length <= size
    else:
        assert parsed in (None, UNSATISFIABLE)


def _satisfied(parsed: Parsed) -> tuple[int, int]:
    assert isinstance(parsed, tuple), parsed
    return parsed
