"""Unit tests of core/key_range.py: a keys query (prefix, collection) as index bounds
(behaviour.md#listing), called directly (no server). The backends list `lower <= key < upper`
in byte order of UTF-8; the properties below check the bounds select exactly the keys the query
means, in that order."""

from __future__ import annotations

import string

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from openkvs.core.key_range import KeyRange, _prefix_upper, key_range
from openkvs.core.schema import KeyFilter

KEY_ALPHABET = string.ascii_letters + string.digits + "!-_.'()"
EVERYTHING = KeyRange()
NOTHING = KeyRange(empty=True)


def selects(bounds: KeyRange, key: str) -> bool:
    """Whether a backend listing `bounds` lists `key` (bounds compared as UTF-8 bytes)."""
    if bounds.empty:
        return False
    raw = key.encode()
    if bounds.lower is not None and raw < bounds.lower.encode():
        return False
    return bounds.upper is None or raw < bounds.upper.encode()


@pytest.mark.parametrize(
    ("prefix", "collection", "expected"),
    [
        (None, None, EVERYTHING),
        ("", None, EVERYTHING),
        ("a", None, KeyRange("a", "b")),
        ("az", None, KeyRange("az", "a{")),
        ("a)", None, KeyRange("a)", "a*")),
        ("Z", None, KeyRange("Z", "[")),
        ("9", None, KeyRange("9", ":")),
        ("img-", None, KeyRange("img-", "img.")),
        ("a b", None, NOTHING),
        ("a/", None, NOTHING),
        ("é", None, NOTHING),
        ("a\x00", None, NOTHING),
        (None, KeyFilter(exact="INPUT"), KeyRange("INPUT", "INPUT\x01")),
        ("", KeyFilter(exact="INPUT"), KeyRange("INPUT", "INPUT\x01")),
        ("IN", KeyFilter(exact="INPUT"), KeyRange("INPUT", "INPUT\x01")),
        ("INPUT", KeyFilter(exact="INPUT"), KeyRange("INPUT", "INPUT\x01")),
        ("INPUTS", KeyFilter(exact="INPUT"), NOTHING),
        ("x", KeyFilter(exact="INPUT"), NOTHING),
        (None, KeyFilter(prefix="img-"), KeyRange("img-", "img.")),
        ("img", KeyFilter(prefix="img-"), KeyRange("img-", "img.")),
        ("img-", KeyFilter(prefix="img-"), KeyRange("img-", "img.")),
        ("img-a", KeyFilter(prefix="img-"), KeyRange("img-a", "img-b")),
        ("doc", KeyFilter(prefix="img-"), NOTHING),
        ("im(", KeyFilter(prefix="img-"), NOTHING),
        ("a b", KeyFilter(prefix="img-"), NOTHING),
    ],
    ids=repr,
)
def test_a_query_becomes_these_bounds(
    prefix: str | None, collection: KeyFilter | None, expected: KeyRange
) -> None:
    assert key_range(prefix, collection) == expected


@pytest.mark.parametrize(
    ("prefix", "upper"),
    [
        ("a", "b"),
        ("ab", "ac"),
        ("~", "\x7f"),
        ("\x7f", "\x80"),
        ("é", "ê"),
        ("\ud7ff", "\ue000"),  # the surrogates in between cannot be encoded: skipped
        ("a\U0010ffff", "b"),  # nothing follows the last code point: its predecessor moves
        ("\U0010ffff\U0010ffff", None),
        ("", None),
    ],
    ids=repr,
)
def test_the_upper_bound_of_a_prefix_is_the_next_string_in_code_point_order(
    prefix: str, upper: str | None
) -> None:
    assert _prefix_upper(prefix) == upper


keys = st.text(alphabet=KEY_ALPHABET, min_size=1, max_size=8)
short = st.text(alphabet=KEY_ALPHABET, max_size=3)


@given(prefix=short, tail=st.text(alphabet=KEY_ALPHABET, max_size=4), other=keys)
@example(prefix="a", tail="", other="b")
@example(prefix="z", tail="", other="{")
@example(prefix="a", tail="", other="a")
def test_a_prefix_selects_exactly_the_keys_that_start_with_it(
    prefix: str, tail: str, other: str
) -> None:
    bounds = key_range(prefix, None)
    for key in (prefix + tail, other):
        if key:
            assert selects(bounds, key) is key.startswith(prefix), (bounds, key)


@given(
    prefix=short,
    collection_prefix=st.text(alphabet=KEY_ALPHABET, min_size=1, max_size=3),
    exact=st.booleans(),
    candidates=st.lists(keys, max_size=6),
)
def test_a_prefix_and_a_collection_select_the_keys_that_both_take(
    prefix: str, collection_prefix: str, exact: bool, candidates: list[str]
) -> None:
    collection = (
        KeyFilter(exact=collection_prefix) if exact else KeyFilter(prefix=collection_prefix)
    )
    bounds = key_range(prefix, collection)
    # Keys near the bounds: the collection's own, longer and shorter.
    near = [collection_prefix, collection_prefix + "!", collection_prefix[:-1], prefix + "a"]
    for key in [*candidates, *near]:
        if key:
            wanted = key.startswith(prefix) and collection.matches(key)
            assert selects(bounds, key) is wanted, (bounds, key)


@given(prefix=st.text(min_size=1, max_size=4), key=st.text(max_size=6))
@example(prefix="\ud7ff", key="\ue000")
@example(prefix="\U0010ffff", key="\U0010ffff")
def test_any_prefix_of_a_collection_bounds_its_keys_in_byte_order(prefix: str, key: str) -> None:
    """A collection's keyPrefix comes from a schema and may hold any character."""
    bounds = key_range(None, KeyFilter(prefix=prefix))
    for candidate in (key, prefix + key):
        assert selects(bounds, candidate) is candidate.startswith(prefix), (bounds, candidate)
