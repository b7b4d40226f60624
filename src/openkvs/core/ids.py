"""Identifiers, secrets, tokens and timestamps (behaviour.md#ids-names-and-keys)."""

from __future__ import annotations

import hashlib
import secrets
import string
import time
from datetime import UTC, datetime

ALPHANUMERIC = string.ascii_letters + string.digits
TOKEN_PREFIX = "okvs_"


def random_id(length: int = 17) -> str:
    """A store or user id: 17 characters of [a-zA-Z0-9] from a cryptographic source."""
    return "".join(secrets.choice(ALPHANUMERIC) for _ in range(length))


def new_secret() -> str:
    """A per-store URL signing secret."""
    return random_id(32)


def new_token() -> str:
    return TOKEN_PREFIX + random_id(40)


def hash_token(token: str) -> str:
    # Tokens carry ~238 bits of entropy, so a plain digest is enough to make a leaked table useless.
    # Not memoised: a cache keyed by the token would keep plaintext tokens in memory.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso_ms(ms: int) -> str:
    """ISO 8601 UTC with milliseconds and Z."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
