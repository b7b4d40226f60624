"""Unit tests of Apify's pre-signed URL scheme (as Apify documents it).

Test vectors come from Apify's documentation of the scheme and from what the Apify clients
compute; a few more are computed by an independent copy of the algorithm below.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import string
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkvs.core.signing import (
    hmac_base62,
    record_key_reserved,
    record_signature,
    sign_record,
    storage_signature,
    verify_record_signature,
    verify_storage_signature,
)

B62 = string.digits + string.ascii_lowercase + string.ascii_uppercase
EXPIRES_2026 = 1767225600000  # 2026-01-01T00:00:00.000Z, used by the reference vectors
STORE_ID = "WkzbQMuFYuamGv3YF"  # the store the record signatures below are checked for


def reference_hmac_b62(secret: str, message: str) -> str:
    """The scheme as Apify documents it, written independently of openkvs."""
    n = int(hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()[:30], 16)
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = B62[r] + out
    return out or "0"


def b64url(raw: str | bytes, pad: bool = False) -> str:
    data = raw.encode() if isinstance(raw, str) else raw
    encoded = base64.urlsafe_b64encode(data).decode()
    return encoded if pad else encoded.rstrip("=")


def now_ms() -> int:
    return int(time.time() * 1000)


# --- createHmacSignature ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "message", "expected"),
    [
        ("hmac-secret-key", "0.0.resource-id", "3TwfEE659ufSNsmS47lR"),
        ("hmac-secret-key", "INPUT", "126LysVkMQ2fTk8WTp14h"),
        ("hmac-secret-key", "0.1767225600000.WkzbQMuFYuamGv3YF", "NV5AsVGk1gkyfi4XpH9w"),
        ("hmac-secret-key", "hmac-message-to-be-authenticated", "pcVagAsudj8dFqdlg7mG"),
        ("secret", "0.0.store1", "13QepVpozICxkExzWflt8"),
        ("secret", "OUTPUT", "1i8Igbei9uoBwpEshyavA"),
    ],
)
def test_hmac_base62_matches_reference_vectors(secret: str, message: str, expected: str) -> None:
    assert hmac_base62(secret, message) == expected


@given(secret=st.text(min_size=0, max_size=64), message=st.text(min_size=0, max_size=300))
@settings(max_examples=200)
def test_hmac_base62_matches_reference_algorithm_for_any_input(secret: str, message: str) -> None:
    got = hmac_base62(secret, message)
    assert got == reference_hmac_b62(secret, message)
    assert 1 <= len(got) <= 21
    assert set(got) <= set(B62)


def test_hmac_base62_uses_the_secret_string_as_is() -> None:
    # The secret is UTF-8 key bytes, not hex or base64 decoded: these two must differ.
    assert hmac_base62("00ff", "m") != hmac_base62("\x00\xff", "m")
    assert hmac_base62("00ff", "m") == reference_hmac_b62("00ff", "m")


# --- record signatures --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "key", "expected"),
    [
        ("hmac-secret-key", "INPUT", "126LysVkMQ2fTk8WTp14h"),
        ("secret", "OUTPUT", "1i8Igbei9uoBwpEshyavA"),
    ],
)
def test_record_signature_matches_reference_vectors(secret: str, key: str, expected: str) -> None:
    assert record_signature(secret, key) == expected
    assert verify_record_signature(secret, STORE_ID, key, expected) is True


def test_record_signature_is_the_hmac_of_just_the_key() -> None:
    assert record_signature("s3cr3t", "my-key.json") == reference_hmac_b62("s3cr3t", "my-key.json")


def test_record_signature_for_another_key_is_rejected() -> None:
    sig = record_signature("secret", "OUTPUT")
    assert verify_record_signature("secret", STORE_ID, "INPUT", sig) is False
    assert verify_record_signature("secret", STORE_ID, "OUTPUT2", sig) is False
    assert verify_record_signature("secret", STORE_ID, "output", sig) is False


def test_record_signature_with_another_secret_is_rejected() -> None:
    sig = record_signature("secret", "OUTPUT")
    assert verify_record_signature("secret2", STORE_ID, "OUTPUT", sig) is False
    assert verify_record_signature("", STORE_ID, "OUTPUT", sig) is False


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "1i8Igbei9uoBwpEshyav",  # one character short
        "1i8Igbei9uoBwpEshyavA0",  # one character too many
        "1I8IGBEI9UOBWPESHYAVA",  # base62 is case-sensitive
        "1i8Igbei9uoBwpEshyavB",  # last character changed
        " 1i8Igbei9uoBwpEshyavA",
        "1i8Igbei9uoBwpEshyavA\n",
        "MC4wLjEzUWVwVnBveklDeGtFeHpXZmx0OA",  # a storage signature is not a record signature
        "é",
        "签名",
        "\x00",
        "%31i8Igbei9uoBwpEshyavA",
    ],
)
def test_record_signature_garbage_is_rejected_without_raising(signature: str) -> None:
    assert verify_record_signature("secret", STORE_ID, "OUTPUT", signature) is False


@given(signature=st.text(max_size=64))
@settings(max_examples=200)
def test_record_signature_random_text_is_rejected_without_raising(signature: str) -> None:
    if signature == "1i8Igbei9uoBwpEshyavA":
        return
    assert verify_record_signature("secret", STORE_ID, "OUTPUT", signature) is False


# --- storage-content signatures -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "store_id", "expires_at", "expected"),
    [
        ("hmac-secret-key", "resource-id", 0, "MC4wLjNUd2ZFRTY1OXVmU05zbVM0N2xS"),
        (
            "hmac-secret-key",
            "WkzbQMuFYuamGv3YF",
            EXPIRES_2026,
            "MC4xNzY3MjI1NjAwMDAwLk5WNUFzVkdrMWdreWZpNFhwSDl3",
        ),
        ("secret", "store1", 0, "MC4wLjEzUWVwVnBveklDeGtFeHpXZmx0OA"),
        (
            "secret",
            "store1",
            EXPIRES_2026,
            "MC4xNzY3MjI1NjAwMDAwLm85Q1JFd1pocUZGMmZqaG5EZlky",
        ),
    ],
)
def test_storage_signature_matches_reference_vectors(
    secret: str, store_id: str, expires_at: int, expected: str
) -> None:
    assert storage_signature(secret, store_id, expires_at) == expected


def test_storage_signature_defaults_to_never_expiring() -> None:
    assert storage_signature("hmac-secret-key", "resource-id") == "MC4wLjNUd2ZFRTY1OXVmU05zbVM0N2xS"


def test_storage_signature_decodes_to_version_expiry_and_hmac() -> None:
    sig = storage_signature("secret", "store1", EXPIRES_2026)
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)).decode()
    assert raw == f"0.{EXPIRES_2026}.{reference_hmac_b62('secret', f'0.{EXPIRES_2026}.store1')}"


@given(
    secret=st.text(min_size=1, max_size=40),
    store_id=st.text(alphabet=string.ascii_letters + string.digits, min_size=17, max_size=17),
    expires_at=st.one_of(st.just(0), st.integers(min_value=1, max_value=10**13)),
)
@settings(max_examples=100)
def test_storage_signature_is_unpadded_base64url(
    secret: str, store_id: str, expires_at: int
) -> None:
    sig = storage_signature(secret, store_id, expires_at)
    assert "=" not in sig
    assert set(sig) <= set(string.ascii_letters + string.digits + "-_")
    # Same bytes as the reference implementation, whose padding the JS client strips.
    mac = reference_hmac_b62(secret, f"0.{expires_at}.{store_id}")
    assert sig == b64url(f"0.{expires_at}.{mac}")


def test_storage_signature_unpadded_js_form_is_accepted() -> None:
    assert verify_storage_signature("secret", "store1", "MC4wLjEzUWVwVnBveklDeGtFeHpXZmx0OA")


def test_storage_signature_padded_python_form_is_accepted() -> None:
    # apify-client (Python) keeps the `=` padding of urlsafe_b64encode.
    assert verify_storage_signature("secret", "store1", "MC4wLjEzUWVwVnBveklDeGtFeHpXZmx0OA==")


@pytest.mark.parametrize(
    ("secret", "store_id", "signature"),
    [
        ("hmac-secret-key", "resource-id", "MC4wLjNUd2ZFRTY1OXVmU05zbVM0N2xS"),
        ("secret", "store1", "MC4wLjEzUWVwVnBveklDeGtFeHpXZmx0OA"),
        ("secret", "store1", "MC4wLjEzUWVwVnBveklDeGtFeHpXZmx0OA=="),
    ],
)
def test_non_expiring_storage_signature_is_accepted_at_any_time(
    secret: str, store_id: str, signature: str
) -> None:
    assert verify_storage_signature(secret, store_id, signature) is True
    assert verify_storage_signature(secret, store_id, signature, now=0) is True
    assert verify_storage_signature(secret, store_id, signature, now=10**15) is True


@pytest.mark.parametrize(
    ("secret", "store_id", "signature"),
    [
        ("secret", "store1", "MC4xNzY3MjI1NjAwMDAwLm85Q1JFd1pocUZGMmZqaG5EZlky"),
        (
            "hmac-secret-key",
            "WkzbQMuFYuamGv3YF",
            "MC4xNzY3MjI1NjAwMDAwLk5WNUFzVkdrMWdreWZpNFhwSDl3",
        ),
    ],
)
def test_expiring_vector_is_accepted_before_expiry(
    secret: str, store_id: str, signature: str
) -> None:
    assert verify_storage_signature(secret, store_id, signature, now=EXPIRES_2026 - 86_400_000)
    assert verify_storage_signature(secret, store_id, signature, now=EXPIRES_2026 - 1)
    # Rejected only when now > expiresAt (both references agree).
    assert verify_storage_signature(secret, store_id, signature, now=EXPIRES_2026)


@pytest.mark.parametrize(
    ("secret", "store_id", "signature"),
    [
        ("secret", "store1", "MC4xNzY3MjI1NjAwMDAwLm85Q1JFd1pocUZGMmZqaG5EZlky"),
        (
            "hmac-secret-key",
            "WkzbQMuFYuamGv3YF",
            "MC4xNzY3MjI1NjAwMDAwLk5WNUFzVkdrMWdreWZpNFhwSDl3",
        ),
    ],
)
def test_expiring_vector_is_rejected_after_expiry(
    secret: str, store_id: str, signature: str
) -> None:
    assert verify_storage_signature(secret, store_id, signature, now=EXPIRES_2026 + 1) is False
    assert verify_storage_signature(secret, store_id, signature, now=EXPIRES_2026 + 10**9) is False


def test_expiry_in_the_past_is_rejected_with_the_real_clock() -> None:
    past = now_ms() - 60_000
    sig = storage_signature("secret", "store1", past)
    assert verify_storage_signature("secret", "store1", sig) is False
    assert verify_storage_signature("secret", "store1", sig + "=" * (-len(sig) % 4)) is False


def test_expiry_in_the_future_is_accepted_with_the_real_clock() -> None:
    future = now_ms() + 14 * 24 * 3600 * 1000
    sig = storage_signature("secret", "store1", future)
    assert verify_storage_signature("secret", "store1", sig) is True
    assert verify_storage_signature("secret", "store1", sig + "=" * (-len(sig) % 4)) is True


def test_extending_the_expiry_of_a_signature_is_rejected() -> None:
    # Keep the HMAC of an expired signature but claim a later (or no) expiry.
    sig = storage_signature("secret", "store1", EXPIRES_2026)
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)).decode()
    _, _, mac = raw.split(".", 2)
    for forged_expiry in (0, EXPIRES_2026 + 86_400_000, 99999999999999):
        forged = b64url(f"0.{forged_expiry}.{mac}")
        assert verify_storage_signature("secret", "store1", forged, now=EXPIRES_2026 + 1) is False


def test_storage_signature_for_another_store_id_is_rejected() -> None:
    sig = storage_signature("secret", "store1")
    assert verify_storage_signature("secret", "store2", sig) is False
    assert verify_storage_signature("secret", "Store1", sig) is False
    assert verify_storage_signature("secret", "store1 ", sig) is False
    assert verify_storage_signature("secret", "", sig) is False
    expiring = "MC4xNzY3MjI1NjAwMDAwLm85Q1JFd1pocUZGMmZqaG5EZlky"
    assert verify_storage_signature("secret", "store2", expiring, now=EXPIRES_2026 - 1) is False


def test_storage_signature_with_another_secret_is_rejected() -> None:
    sig = storage_signature("secret", "store1")
    assert verify_storage_signature("secret2", "store1", sig) is False
    assert verify_storage_signature("", "store1", sig) is False


def test_record_signature_is_not_accepted_as_storage_signature() -> None:
    rec = record_signature("secret", "0.0.store1")
    assert verify_storage_signature("secret", "store1", rec) is False
    assert verify_storage_signature("secret", "store1", b64url(rec)) is False


@pytest.mark.parametrize("version", ["1", "2", "00", "-0", "+0", " 0", "v0", ""])
def test_storage_signature_version_other_than_0_is_rejected(version: str) -> None:
    # The HMAC is right for the claimed version, so only the version check can reject it.
    mac = reference_hmac_b62("secret", f"{version}.0.store1")
    sig = b64url(f"{version}.0.{mac}")
    assert verify_storage_signature("secret", "store1", sig) is False
    assert (
        verify_storage_signature("secret", "store1", b64url(f"{version}.0.{mac}", pad=True))
        is False
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"0",
        b"0.0",
        b"0.0.",
        b"0..13QepVpozICxkExzWflt8",
        b"0.abc.13QepVpozICxkExzWflt8",
        b"0.-1.13QepVpozICxkExzWflt8",
        b"0.1e3.13QepVpozICxkExzWflt8",
        b"0.0.13QepVpozICxkExzWflt8 ",
        b"0.0.13QepVpozICxkExzWflt",
        b"0.0.13qEPvPOZicXKeXZwFLT8",
        b"\xff\xfe\xfd.0.13QepVpozICxkExzWflt8",
        b"0.0.\xff\xfe",
        b"\x00\x00\x00",
        b"hello world",
    ],
)
def test_storage_signature_with_a_bad_payload_is_rejected_without_raising(raw: bytes) -> None:
    for pad in (False, True):
        assert verify_storage_signature("secret", "store1", b64url(raw, pad=pad)) is False


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "=",
        "====",
        "a",
        "abcde",  # length 1 mod 4 is never valid base64
        "MC4wLjEzUWVwVnBveklDeGtFeHpXZmx0O",  # truncated by one character
        "MC4wLjEzUWVwVnBveklDeGtFeHpXZmx1OA",  # one HMAC character changed
        "MD4wLjEzUWVwVnBveklDeGtFeHpXZmx0OA",  # the version changed
        "%%%%",
        "!!!!!!!!",
        "not a signature at all",
        "é",
        "签名签名",
        "\x00\x00\x00\x00",
        "MC4wLjEzUWVwVnBveklDeGtFeHpXZmx0OA%3D%3D",  # still URL-encoded: not our job to accept
        "1i8Igbei9uoBwpEshyavA",
    ],
)
def test_storage_signature_garbage_is_rejected_without_raising(signature: str) -> None:
    assert verify_storage_signature("secret", "store1", signature) is False


@given(signature=st.text(max_size=80))
@settings(max_examples=300)
def test_storage_signature_random_text_is_rejected_without_raising(signature: str) -> None:
    valid = {"MC4wLjEzUWVwVnBveklDeGtFeHpXZmx0OA", "MC4wLjEzUWVwVnBveklDeGtFeHpXZmx0OA=="}
    if signature in valid:
        return
    assert verify_storage_signature("secret", "store1", signature) is False


@given(raw=st.binary(max_size=80))
@settings(max_examples=300)
def test_storage_signature_random_base64url_is_rejected_without_raising(raw: bytes) -> None:
    if raw == b"0.0.13QepVpozICxkExzWflt8":
        return
    assert verify_storage_signature("secret", "store1", b64url(raw)) is False
    assert verify_storage_signature("secret", "store1", b64url(raw, pad=True)) is False


@given(
    secret=st.text(min_size=1, max_size=40),
    store_id=st.text(alphabet=string.ascii_letters + string.digits, min_size=17, max_size=17),
    expires_in=st.one_of(st.none(), st.integers(min_value=1, max_value=10**10)),
)
@settings(max_examples=100)
def test_storage_signature_round_trips(secret: str, store_id: str, expires_in: int | None) -> None:
    now = 1_800_000_000_000
    expires_at = 0 if expires_in is None else now + expires_in
    sig = storage_signature(secret, store_id, expires_at)
    assert verify_storage_signature(secret, store_id, sig, now=now) is True
    assert verify_storage_signature(secret, store_id, sig + "=" * (-len(sig) % 4), now=now) is True
    if expires_at:
        assert verify_storage_signature(secret, store_id, sig, now=expires_at + 1) is False


# --- keys reserved because they spell a storage signature's message (issue 15 item 6) ----------


def storage_mac(signature: str) -> str:
    """The HMAC part of a storage signature `base64url("0.<expiry>.<mac>")`."""
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)).decode()
    return raw.split(".", 2)[2]


@pytest.mark.parametrize(
    "key",
    [
        f"0.0.{STORE_ID}",
        f"0.{EXPIRES_2026}.{STORE_ID}",
        f"0.00.{STORE_ID}",
        f"0.{'9' * 40}.{STORE_ID}",
    ],
)
def test_key_spelling_a_storage_message_of_the_store_is_reserved(key: str) -> None:
    assert record_key_reserved(STORE_ID, key) is True


@pytest.mark.parametrize(
    "key",
    [
        "0.0.AAAAAAAAAAAAAAAAA",  # another store
        f"1.0.{STORE_ID}",  # another version
        f"0..{STORE_ID}",  # no expiry digits: no storage signature has this message
        f"0.a.{STORE_ID}",
        f"0.-1.{STORE_ID}",
        f"0.\u0661.{STORE_ID}",  # a non-ASCII digit
        f"0.0.{STORE_ID}x",
        f"0.0.{STORE_ID.lower()}",
        f"x0.0.{STORE_ID}",
        f"0.0.{STORE_ID[1:]}",
        f"0.0{STORE_ID}",
        "0.0.",
        STORE_ID,
        "OUTPUT",
    ],
)
def test_other_keys_are_not_reserved(key: str) -> None:
    assert record_key_reserved(STORE_ID, key) is False


@given(
    secret=st.text(min_size=1, max_size=40),
    expires_at=st.one_of(st.just(0), st.integers(min_value=1, max_value=10**15)),
)
@settings(max_examples=50)
def test_storage_signature_mac_never_serves_as_a_record_signature(
    secret: str, expires_at: int
) -> None:
    key = f"0.{expires_at}.{STORE_ID}"
    mac = storage_mac(storage_signature(secret, STORE_ID, expires_at))
    assert record_signature(secret, key) == mac  # the collision the reservation guards against
    assert verify_record_signature(secret, STORE_ID, key, mac) is False
    assert sign_record(secret, STORE_ID, key) is None


@given(
    secret=st.text(min_size=1, max_size=40),
    key=st.text(alphabet=string.ascii_letters + string.digits + ".-_", min_size=1, max_size=60),
)
@settings(max_examples=100)
def test_unreserved_keys_are_signed_and_verified_as_the_scheme_says(secret: str, key: str) -> None:
    if record_key_reserved(STORE_ID, key):
        return
    assert sign_record(secret, STORE_ID, key) == reference_hmac_b62(secret, key)
    assert verify_record_signature(secret, STORE_ID, key, reference_hmac_b62(secret, key))
