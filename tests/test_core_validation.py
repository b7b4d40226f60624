"""Unit tests of core/validation.py: the input rules of behaviour.md#ids-names-and-keys,
#records and #listing, called directly (no server)."""

from __future__ import annotations

import string
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkvs.core import validation as v
from openkvs.core.errors import ApiError

KEY_ALPHABET = string.ascii_letters + string.digits + "!-_.'()"


def refused(call: Callable[[], object], status: int, error_type: str) -> ApiError:
    """The ApiError that `call()` raised, checked for its status and type."""
    with pytest.raises(ApiError) as caught:
        call()
    assert (caught.value.status, caught.value.type) == (status, error_type)
    return caught.value


# --- record keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["a", "Z", "0", "!", "-", "_", ".", "'", "(", ")", "..", KEY_ALPHABET, "k" * 256, "OUTPUT"],
)
def test_a_key_of_1_to_256_allowed_characters_is_accepted(key: str) -> None:
    assert v.check_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "k" * 257,
        "a b",
        "a/b",
        "a~b",
        "a*b",
        "a+b",
        "a%20b",
        "a:b",
        'a"b',
        "a\x00",
        "a\n",
        "é",
        "ａ",  # fullwidth a: a letter, but not from a-z
        "٣",  # an Arabic-Indic digit: a digit, but not from 0-9
    ],
    ids=repr,
)
def test_a_key_with_another_character_or_length_is_400_invalid_record_key(key: str) -> None:
    error = refused(lambda: v.check_key(key), 400, "invalid-record-key")
    assert "1 to 256 characters" in error.message


@given(st.text(alphabet=KEY_ALPHABET, min_size=1, max_size=256))
def test_every_key_from_the_alphabet_is_accepted(key: str) -> None:
    assert v.check_key(key) == key


@given(
    st.text(alphabet=KEY_ALPHABET, max_size=20),
    st.characters(exclude_characters=KEY_ALPHABET),
    st.text(alphabet=KEY_ALPHABET, max_size=20),
)
def test_one_character_outside_the_alphabet_makes_a_key_invalid(
    head: str, odd: str, tail: str
) -> None:
    refused(lambda: v.check_key(head + odd + tail), 400, "invalid-record-key")


# --- store names, usernames, titles, general access ---------------------------------------------


@pytest.mark.parametrize("name", ["a", "A", "7", "my-store", "a--b", "0-0", "x" * 63, "Ab-9z"])
def test_a_store_name_of_letters_digits_and_inner_hyphens_is_accepted(name: str) -> None:
    assert v.check_store_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "-a", "a-", "-", "x" * 64, "a_b", "a.b", "a b", "a~b", "é", None, 5, ["a"]],
    ids=repr,
)
def test_any_other_store_name_is_400_invalid_value(name: object) -> None:
    error = refused(lambda: v.check_store_name(name), 400, "invalid-value")
    assert "1 to 63 characters" in error.message


@pytest.mark.parametrize("name", ["abc", "a_b.c-d", "0" * 30, "..."])
def test_a_username_of_3_to_30_lowercase_characters_is_accepted(name: str) -> None:
    assert v.check_username(name) == name


@pytest.mark.parametrize("name", ["ab", "a" * 31, "Abc", "a b", "a~b", "äbc", "abc!"])
def test_any_other_username_is_400_invalid_value(name: str) -> None:
    refused(lambda: v.check_username(name), 400, "invalid-value")


@pytest.mark.parametrize("title", [None, "", "A title", "x" * 1024, "é" * 1024])
def test_a_title_up_to_1024_characters_is_kept_as_is(title: str | None) -> None:
    assert v.check_title(title) == title


@pytest.mark.parametrize("title", ["x" * 1025, "a\x00b", 5, ["t"], {"t": 1}], ids=repr)
def test_a_longer_title_a_nul_or_a_non_string_is_400_invalid_value(title: object) -> None:
    refused(lambda: v.check_title(title), 400, "invalid-value")


@pytest.mark.parametrize("value", v.GENERAL_ACCESS)
def test_the_four_general_access_values_are_accepted(value: str) -> None:
    assert v.check_general_access(value) == value


@pytest.mark.parametrize("value", ["restricted", "PUBLIC", "", None, 1], ids=repr)
def test_any_other_general_access_is_400_invalid_value(value: object) -> None:
    error = refused(lambda: v.check_general_access(value), 400, "invalid-value")
    assert "ANYONE_WITH_ID_CAN_READ" in error.message


@pytest.mark.parametrize(
    ("ref", "is_id"),
    [("a" * 17, True), ("A1b2C3d4E5f6G7h8I", True), ("a" * 16, False), ("a" * 18, False)],
)
def test_a_store_id_is_17_letters_or_digits(ref: str, is_id: bool) -> None:
    assert (v.STORE_ID_RE.fullmatch(ref) is not None) is is_id


# --- query parameters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("1", True),
        ("false", False),
        ("FALSE", False),
        ("0", False),
    ],
)
def test_booleans_take_true_false_1_and_0_in_any_case(raw: str, expected: bool) -> None:
    assert v.parse_bool("desc", raw) is expected


@pytest.mark.parametrize("default", [True, False])
@pytest.mark.parametrize("raw", [None, ""])
def test_an_absent_or_empty_boolean_is_the_default(raw: str | None, default: bool) -> None:
    assert v.parse_bool("desc", raw, default) is default


@pytest.mark.parametrize("raw", ["yes", "no", "2", " true", "on", "t"])
def test_any_other_boolean_is_400_invalid_parameter_naming_it(raw: str) -> None:
    error = refused(lambda: v.parse_bool("unnamed", raw), 400, "invalid-parameter")
    assert "'unnamed'" in error.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, 7),
        ("", 7),
        ("0", 0),
        ("007", 7),
        ("123", 123),
        ("9" * 15, 10**15 - 1),
        ("1" + "0" * 15, v.MAX_COUNT),
        ("9" * 16, v.MAX_COUNT),
        ("9" * 5000, v.MAX_COUNT),
        ("0" * 30 + "5", 5),
    ],
    ids=lambda value: repr(value)[:20],
)
def test_a_count_is_ascii_digits_capped_past_everything(raw: str | None, expected: int) -> None:
    assert v.parse_non_negative_int("offset", raw, 7) == expected


@pytest.mark.parametrize("raw", ["-1", "+1", " 1", "1 ", "1.0", "1e3", "0x10", "²", "٣", "one"])
def test_anything_else_as_a_count_is_400_invalid_parameter(raw: str) -> None:
    error = refused(lambda: v.parse_non_negative_int("offset", raw, 0), 400, "invalid-parameter")
    assert "'offset'" in error.message


@pytest.mark.parametrize(
    ("text", "expected"), [("0", True), ("0123456789", True), ("", False), ("²", False)]
)
def test_a_number_is_ascii_digits_only(text: str, expected: bool) -> None:
    assert v.is_ascii_number(text) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, 1000),
        ("", 1000),
        ("0", 1000),
        ("1", 1),
        ("999", 999),
        ("1000", 1000),
        ("1001", 1000),
        ("9" * 40, 1000),
    ],
)
def test_a_page_limit_of_0_or_absent_is_the_maximum_and_larger_ones_are_capped(
    raw: str | None, expected: int
) -> None:
    assert v.parse_page_limit(raw, v.KEYS_PAGE_MAX) == expected


def test_a_page_limit_that_is_not_a_count_is_400_invalid_parameter() -> None:
    error = refused(lambda: v.parse_page_limit("-5", 1000), 400, "invalid-parameter")
    assert "'limit'" in error.message


# --- content types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "application/octet-stream"),
        ("", "application/octet-stream"),
        ("text/plain; charset=utf-8", "text/plain; charset=utf-8"),
        ("Weird/Type ;a=b", "Weird/Type ;a=b"),
        ("x" * 255, "x" * 255),
    ],
    ids=lambda value: repr(value)[:30],
)
def test_a_content_type_is_kept_exactly_as_sent(value: str | None, expected: str) -> None:
    assert v.check_content_type(value) == expected


def test_a_content_type_over_255_characters_is_400() -> None:
    refused(lambda: v.check_content_type("x" * 256), 400, "invalid-content-type-header")
