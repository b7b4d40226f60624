"""Apify's pre-signed URL scheme, as Apify documents it (behaviour.md#access)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from openkvs.core.ids import now_ms

BASE62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
KEYS_URL_LIFETIME_MS = 14 * 24 * 3600 * 1000


def hmac_base62(secret: str, message: str) -> str:
    """HMAC-SHA256, first 30 hex digits, as a base62 number."""
    digest = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()
    number = int(digest[:30], 16)
    if number == 0:
        return "0"
    out = []
    while number:
        number, rest = divmod(number, 62)
        out.append(BASE62[rest])
    return "".join(reversed(out))


def record_key_reserved(store_id: str, key: str) -> bool:
    """Whether `key` is `0.<digits>.<store_id>`: a storage signature's message for that store.

    Both signatures are the HMAC of a string under the store's secret, and the real clients compute
    them, so the messages cannot change: such a key's record signature is a valid storage signature
    for the store (and the reverse). Such keys are never stored, signed or let in by a signature."""
    digits = key[2 : len(key) - len(store_id) - 1]
    return (
        key.startswith("0.")
        and key.endswith("." + store_id)
        and len(key) > len(store_id) + 3
        and digits.isascii()
        and digits.isdigit()
    )


def record_signature(secret: str, key: str) -> str:
    """The scheme itself; what is handed out goes through `sign_record`."""
    return hmac_base62(secret, key)


def sign_record(secret: str, store_id: str, key: str) -> str | None:
    """The signature for a record's public URL; None for a key that must never be signed."""
    if record_key_reserved(store_id, key):
        return None
    return record_signature(secret, key)


def storage_signature(secret: str, store_id: str, expires_at_ms: int = 0) -> str:
    """Signature for a store's keys list and ZIP download; 0 means it never expires."""
    raw = f"0.{expires_at_ms}.{hmac_base62(secret, f'0.{expires_at_ms}.{store_id}')}"
    return base64.urlsafe_b64encode(raw.encode("ascii")).decode("ascii").rstrip("=")


def verify_record_signature(secret: str, store_id: str, key: str, signature: str) -> bool:
    if record_key_reserved(store_id, key):  # its MAC is a storage signature's
        return False
    return hmac.compare_digest(record_signature(secret, key).encode(), signature.encode("utf-8"))


def verify_storage_signature(
    secret: str, store_id: str, signature: str, now: int | None = None
) -> bool:
    try:
        padded = signature + "=" * (-len(signature) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        version, expires_at, mac = raw.split(".", 2)
    except (ValueError, UnicodeError, binascii.Error):
        return False
    if (
        version != "0"
        or not (expires_at.isascii() and expires_at.isdigit())
        or len(expires_at) > 16
    ):
        return False
    expiry = int(expires_at)
    if expiry != 0 and (now if now is not None else now_ms()) > expiry:
        return False
    expected = hmac_base62(secret, f"{version}.{expires_at}.{store_id}")
    return hmac.compare_digest(expected.encode(), mac.encode("utf-8"))
