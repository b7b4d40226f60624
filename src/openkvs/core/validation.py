"""Input rules (behaviour.md#ids-names-and-keys, #records, #listing): keys, names, limits and
booleans."""

from __future__ import annotations

import re

from openkvs.core.errors import ApiError, invalid_parameter

KEY_RE = re.compile(r"[a-zA-Z0-9!\-_.'()]{1,256}")
KEY_CHARS_RE = re.compile(r"[a-zA-Z0-9!\-_.'()]*")
STORE_NAME_RE = re.compile(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")
USERNAME_RE = re.compile(r"[a-z0-9_.-]{3,30}")
STORE_ID_RE = re.compile(r"[a-zA-Z0-9]{17}")
GENERAL_ACCESS = (
    "ANYONE_WITH_ID_CAN_READ",
    "ANYONE_WITH_NAME_CAN_READ",
    "FOLLOW_USER_SETTING",
    "RESTRICTED",
)
MAX_CONTENT_TYPE = 255
# characters; a page of the store list stays small (behaviour.md#store-names-and-schemas)
MAX_TITLE_LENGTH = 1024
KEYS_PAGE_MAX = 1000
STORES_PAGE_MAX = 1000


def check_key(key: str) -> str:
    if not KEY_RE.fullmatch(key):
        raise ApiError(
            400,
            "invalid-record-key",
            "Record key contains invalid character. Keys may have 1 to 256 characters "
            "from a-z, A-Z, 0-9 and !-_.'()",
        )
    return key


def check_store_name(name: object) -> str:
    if not isinstance(name, str) or not STORE_NAME_RE.fullmatch(name):
        raise ApiError(
            400,
            "invalid-value",
            "Invalid value provided: the name must have 1 to 63 characters: letters, digits and "
            "hyphens, starting and ending with a letter or digit.",
        )
    return name


def check_username(name: str) -> str:
    if not USERNAME_RE.fullmatch(name):
        raise ApiError(400, "invalid-value", "A username must match ^[a-z0-9_.-]{3,30}$.")
    return name


def check_title(title: object) -> str | None:
    if title is None:
        return None
    if not isinstance(title, str) or "\x00" in title:
        raise ApiError(400, "invalid-value", "Invalid value provided: title must be a string.")
    if len(title) > MAX_TITLE_LENGTH:
        raise ApiError(
            400,
            "invalid-value",
            f"Invalid value provided: title may have at most {MAX_TITLE_LENGTH} characters.",
        )
    return title


def check_general_access(value: object) -> str:
    if value not in GENERAL_ACCESS:
        raise ApiError(
            400,
            "invalid-value",
            f"Invalid value provided: generalAccess must be one of {', '.join(GENERAL_ACCESS)}.",
        )
    return str(value)


def parse_bool(name: str, raw: str | None, default: bool = False) -> bool:
    if raw is None or raw == "":
        return default
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise invalid_parameter(name, "must be a boolean (true, false, 1 or 0).")


MAX_COUNT = 10**15  # larger offsets and limits mean "past everything"


def parse_non_negative_int(name: str, raw: str | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    if not is_ascii_number(raw):
        raise invalid_parameter(name, "must be a non-negative integer.")
    # Digits beyond what any count can reach are capped before int() sees them.
    return MAX_COUNT if len(raw.lstrip("0")) > 15 else int(raw)


def is_ascii_number(text: str) -> bool:
    """Only 0-9: str.isdigit() also takes digits such as "²" that int() refuses."""
    return text.isascii() and text.isdigit()


def parse_page_limit(raw: str | None, maximum: int) -> int:
    """0 or absent means the maximum; larger values are capped (behaviour.md#listing)."""
    value = parse_non_negative_int("limit", raw, 0)
    if value == 0 or value > maximum:
        return maximum
    return value


def check_content_type(value: str | None) -> str:
    if value is None or value == "":
        return "application/octet-stream"
    if len(value) > MAX_CONTENT_TYPE:
        raise ApiError(
            400,
            "invalid-content-type-header",
            f"Content-Type header is longer than {MAX_CONTENT_TYPE} characters.",
        )
    return value
