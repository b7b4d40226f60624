"""Unit tests of core/conditions.py: ETag lists, matching, and the compare-and-set rule of record
writes (behaviour.md#http), called directly (no server)."""

from __future__ import annotations

import pytest

from openkvs.core.conditions import (
    IF_MATCH_FAILED,
    IF_NONE_MATCH_FAILED,
    check_write_condition,
    etag_matches,
    parse_etag_list,
)
from openkvs.core.errors import ApiError
from openkvs.core.models import WriteCondition

CURRENT = '"0cc175b9c0f1b6a831c399e269772661"'
OTHER = '"92eb5ffee6ae2fec3ad71c777531578f"'


@pytest.mark.parametrize(
    ("header", "tags"),
    [
        (None, None),
        ("", []),
        ("*", ["*"]),
        ('"a"', ['"a"']),
        ('"a","b"', ['"a"', '"b"']),
        (' "a" ,  "b" ', ['"a"', '"b"']),
        ('W/"a"', ['"a"']),
        ('W/"a", "b", *', ['"a"', '"b"', "*"]),
        (",", []),
        (" , ,", []),
        ('W/, "x", W/', ['"x"']),
        ("unquoted", ["unquoted"]),
    ],
    ids=repr,
)
def test_a_header_is_split_into_tags_with_the_weak_prefix_dropped(
    header: str | None, tags: list[str] | None
) -> None:
    assert parse_etag_list(header) == tags


@pytest.mark.parametrize(
    ("tags", "etag", "matches"),
    [
        ([CURRENT], CURRENT, True),
        ([OTHER, CURRENT], CURRENT, True),
        ([OTHER], CURRENT, False),
        (["*"], CURRENT, True),
        ([OTHER, "*"], CURRENT, True),
        ([], CURRENT, False),
        (["*"], None, False),  # "*" means "any current record": there is none
        ([CURRENT], None, False),
        ([CURRENT.strip('"')], CURRENT, False),  # tags are opaque: the quotes are part of them
        ([CURRENT.upper()], CURRENT, False),
    ],
    ids=[
        "same",
        "in-list",
        "other",
        "star",
        "star-in-list",
        "empty-list",
        "star-no-record",
        "no-record",
        "unquoted",
        "case",
    ],
)
def test_an_etag_matches_a_listed_tag_or_star(
    tags: list[str], etag: str | None, matches: bool
) -> None:
    assert etag_matches(tags, etag) is matches


# (If-Match, If-None-Match, the record's current ETag or None when it is missing) -> the error
# message of the 412, or None when the write may go ahead.
WRITE_CASES = [
    (None, None, CURRENT, None),
    (None, None, None, None),
    ([CURRENT], None, CURRENT, None),
    ([OTHER], None, CURRENT, IF_MATCH_FAILED),
    ([OTHER, CURRENT], None, CURRENT, None),
    (["*"], None, CURRENT, None),
    (["*"], None, None, IF_MATCH_FAILED),
    ([CURRENT], None, None, IF_MATCH_FAILED),
    ([], None, CURRENT, IF_MATCH_FAILED),
    (None, ["*"], CURRENT, IF_NONE_MATCH_FAILED),
    (None, ["*"], None, None),
    (None, [CURRENT], CURRENT, IF_NONE_MATCH_FAILED),
    (None, [OTHER], CURRENT, None),
    (None, [], CURRENT, None),
    ([CURRENT], [OTHER], CURRENT, None),
    ([CURRENT], ["*"], CURRENT, IF_NONE_MATCH_FAILED),
    ([OTHER], ["*"], None, IF_MATCH_FAILED),  # If-Match is decided first
]


@pytest.mark.parametrize(("if_match", "if_none_match", "current", "failure"), WRITE_CASES)
def test_a_write_goes_ahead_only_when_its_condition_holds(
    if_match: list[str] | None,
    if_none_match: list[str] | None,
    current: str | None,
    failure: str | None,
) -> None:
    condition = WriteCondition(if_match=if_match, if_none_match=if_none_match)
    if failure is None:
        check_write_condition(condition, current)
        return
    with pytest.raises(ApiError) as caught:
        check_write_condition(condition, current)
    assert (caught.value.status, caught.value.type) == (412, "precondition-failed")
    assert caught.value.message == failure
    assert caught.value.body() == {"error": {"type": "precondition-failed", "message": failure}}


@pytest.mark.parametrize(
    ("if_match", "if_none_match", "current", "fails"),
    [
        ("*", None, None, True),
        ("*", None, CURRENT, False),
        (None, "*", CURRENT, True),
        (f'"nope", {CURRENT}', None, CURRENT, False),
        (None, f"W/{CURRENT}", CURRENT, True),  # If-None-Match compares weakly (RFC 9110)
    ],
)
def test_headers_as_sent_decide_a_write(
    if_match: str | None, if_none_match: str | None, current: str | None, fails: bool
) -> None:
    condition = WriteCondition(parse_etag_list(if_match), parse_etag_list(if_none_match))
    if not fails:
        check_write_condition(condition, current)
        return
    with pytest.raises(ApiError) as caught:
        check_write_condition(condition, current)
    assert caught.value.status == 412
