"""The plain GET: a store's owner reading a small record by the store's id, with a Bearer token
and nothing else that could change the answer. It is most reads (a crawler's state, an Actor's
input, a scraper's cached pages), and here it is answered without the general path's parsing:
no `Ctx`, no query, no router, no view.

The answer is the general path's, byte for byte (`tests/test_plain_get.py` holds one to the
other): the same lookups through the same storage parts, the record's headers from
`record_views.version_headers`. Whatever else a request carries sends it down the general path,
which answers it as always, errors included:

- a query string (`token=`, `signature=`, `attachment=`, `method=`...), any method but GET;
- a header that changes the answer: a condition, a range, `Service-Worker`; more headers than
  `PLAIN_HEADERS_LIMIT`, or more bytes of them than the general path accepts (its 431);
- a store named by `~name`, a path or key the general path would refuse or change;
- no Bearer token, an unknown one, a store the token's user does not own;
- a record that is missing, stored encoded (its answer depends on Accept-Encoding), or stored
  as a file or object whose bytes are not kept in memory (core/kept_bodies.py; never offered
  when large records are redirected to the object store).

A plain GET still counts as a read of its store, and its metrics and log line are the same.
"""

from __future__ import annotations

import re
from typing import Any

from openkvs.core.ids import hash_token
from openkvs.core.kept_bodies import KeptBodies
from openkvs.core.storage import Backend
from openkvs.core.validation import KEY_RE, STORE_ID_RE
from openkvs.http.cors import CORS_HEADERS
from openkvs.http.record_views import version_headers
from openkvs.http.request_shape import MAX_HEADER_BYTES

PLAIN_PATH = re.compile(rf"/v2/key-value-stores/({STORE_ID_RE.pattern})/records/({KEY_RE.pattern})")
# Request headers that change a record GET's answer (record_views.get_record and _answer).
ANSWER_CHANGING = frozenset({b"if-none-match", b"if-modified-since", b"range", b"service-worker"})
PLAIN_HEADERS_LIMIT = 32  # below request_shape.MAX_HEADERS: a longer list is checked there
BEARER = b"Bearer "


class PlainAnswer:
    """What was sent, for the metrics, the log and the answer memo."""

    __slots__ = ("body", "headers", "key", "store_id", "user_id")

    def __init__(
        self, store_id: str, key: str, user_id: str, headers: list[Any], body: bytes
    ) -> None:
        self.store_id = store_id
        self.key = key
        self.user_id = user_id
        self.headers = headers
        self.body = body


def _bearer_token(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The value of the one Authorization header the general path would read, if it is a Bearer
    token and the request carries nothing else that changes the answer."""
    if len(headers) > PLAIN_HEADERS_LIMIT:
        return None
    token = None
    size = 0
    for name, value in headers:
        size += len(name) + len(value)
        if name == b"authorization":
            token = value[len(BEARER) :] if value.startswith(BEARER) else None
        elif name in ANSWER_CHANGING:
            return None
    if size > MAX_HEADER_BYTES:
        return None
    return token


async def plain_get(
    backend: Backend, kept: KeptBodies | None, scope: dict[str, Any]
) -> PlainAnswer | None:
    """The answer to a plain GET, or None for a request the general path must answer. Only
    reads: the caller sends the answer and counts the read. `kept`: the bodies in memory a
    record stored as a file or object may be answered from."""
    if scope["query_string"]:
        return None
    found = PLAIN_PATH.fullmatch(scope["path"])
    if found is None:
        return None
    raw_token = _bearer_token(scope["headers"])
    if raw_token is None:
        return None
    token = raw_token.decode("latin-1").strip()  # as authentication.py reads it
    if not token:
        return None
    user = await backend.accounts.user_by_token_hash(hash_token(token))
    if user is None:
        return None
    store_id, key = found.groups()
    store = await backend.stores.by_id(store_id, counters=False)
    if store is None or store.user_id != user.id:
        return None
    record = await backend.records.get(store_id, key)
    if record is None or record.content_encoding is not None:
        return None
    body = record.inline
    if body is None:
        if kept is None or record.blob is None:
            return None
        body = kept.get(record.blob, miss_counts=False)  # the general path looks again
        if body is None:
            return None
    headers = version_headers(record)
    headers.append((b"accept-ranges", b"bytes"))
    headers.append((b"content-length", str(len(body)).encode()))
    return PlainAnswer(store_id, key, user.id, headers + CORS_HEADERS, body)
