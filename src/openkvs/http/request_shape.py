"""What the HTTP parser lets through but the API refuses: huge headers, control characters in
the path."""

from __future__ import annotations

import itertools
import re
from typing import Any

from openkvs.core.errors import ApiError, page_not_found, store_not_found

CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
# Lower than the parser's own limit (serving.HTTP_BUFFER_BYTES), so this 431 is the one users meet.
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 200


def check_request_shape(scope: dict[str, Any]) -> None:
    headers = scope["headers"]
    size = sum(map(len, itertools.chain.from_iterable(headers)))
    if len(headers) > MAX_HEADERS or size > MAX_HEADER_BYTES:
        raise ApiError(
            431,
            "request-header-fields-too-large",
            f"Request headers may have at most {MAX_HEADERS} fields and {MAX_HEADER_BYTES} bytes.",
        )
    path = scope["path"]
    found = CONTROL_CHARS.search(path)
    if found:
        records = path.find("/records/")
        if 0 <= records < found.start():  # inside a record key
            raise ApiError(400, "invalid-record-key", "Record key contains invalid character.")
        if path.startswith("/v2/key-value-stores/"):  # a store reference that names nothing
            raise store_not_found()
        raise page_not_found()
