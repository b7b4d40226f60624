"""One access-log line per request: secrets masked, control characters escaped (D7, D13)."""

from __future__ import annotations

import logging
import re
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

access_log = logging.getLogger("openkvs.access")
SECRET_PARAMS = ("token", "signature")
# What could end a line, move the cursor or split a field: C0 and C1 controls, DEL, the quote
# around the request and the backslash of the escapes themselves.
UNSAFE = re.compile(r'[\x00-\x1f\x7f-\x9f"\\]')


def _escape_char(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def escape(text: str) -> str:
    """`text` with every unsafe character as `\\xNN`, so one request is always one line."""
    return UNSAFE.sub(_escape_char, text) if UNSAFE.search(text) else text


def redact_query(query: str) -> str:
    """The query for the log, secrets masked by their decoded name (so %74oken= is caught)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(name.lower() in SECRET_PARAMS for name, _ in pairs):
        return query
    return urlencode([(n, "***" if n.lower() in SECRET_PARAMS else v) for n, v in pairs])


def log_request(scope: dict[str, Any], status: int, started: float, request_id: str) -> None:
    query = scope["query_string"].decode("latin-1")
    access_log.info(
        '%s "%s %s%s" %s %.1fms id=%s',
        escape(scope["client"][0]) if scope.get("client") else "-",
        escape(scope["method"]),
        escape(scope["path"]),
        "?" + escape(redact_query(query)) if query else "",
        status,
        (time.perf_counter() - started) * 1000,
        request_id,
    )
