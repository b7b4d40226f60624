"""The plain PUT: a store's owner writing a record by the store's id, with a Bearer token, a
Content-Length and nothing else that could change what is stored or answered. It is most writes
(a crawler saving its state, an Actor its output), and here it is answered without the general
path's parsing: no `Ctx`, no query, no router, no view. The body is still received, checked and
committed by `core/uploads.receive_record`, as every record's is.

The answer and the record stored are the general path's (`tests/test_plain_put.py` holds one to
the other). Whatever else a request carries sends it down the general path, which answers it as
always, errors included:

- a query string, any method but PUT (POST included);
- a header that changes the write: a condition (`If-Match`, `If-None-Match`), `Content-Encoding`,
  `Transfer-Encoding`; no Content-Length, or one that is not plain digits, appears twice or is
  above `--max-record-size`; a Content-Type the general path refuses; more headers than
  `PLAIN_HEADERS_LIMIT`, or more bytes of them than the general path accepts (its 431);
- a store named by `~name`, a path or key the general path would refuse or change, a reserved key;
- no Bearer token, an unknown one, a store the token's user does not own;
- a body that does not come whole in its first message (it is handed on, nothing lost).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from openkvs.core.errors import ApiError
from openkvs.core.ids import hash_token
from openkvs.core.models import Store, User
from openkvs.core.signing import record_key_reserved
from openkvs.core.storage import Backend
from openkvs.core.uploads import receive_record
from openkvs.core.validation import check_content_type
from openkvs.http.access_log import RequestFacts
from openkvs.http.context import JSON_TYPE, Ctx, receive_within
from openkvs.http.cors import CORS_HEADERS
from openkvs.http.plain_get import BEARER, PLAIN_HEADERS_LIMIT, PLAIN_PATH
from openkvs.http.record_views import NO_CONDITION, in_memory
from openkvs.http.request_shape import MAX_HEADER_BYTES
from openkvs.http.routes import RECORD_ROUTE
from openkvs.http.serialize import record_url

if TYPE_CHECKING:
    from openkvs.app import OpenKvs

# Request headers that change a record PUT's write or answer (record_views.put_record).
WRITE_CHANGING = frozenset(
    {b"if-match", b"if-none-match", b"content-encoding", b"transfer-encoding"}
)
ANSWER_BODY = b"{}"
ANSWER_HEADERS = (JSON_TYPE, (b"content-length", str(len(ANSWER_BODY)).encode()))


class PlainPut:
    """A write the plain path may take: to whom, where, what, and how long its body is."""

    __slots__ = ("content_type", "key", "length", "store", "user")

    def __init__(self, user: User, store: Store, key: str, content_type: str, length: int) -> None:
        self.user = user
        self.store = store
        self.key = key
        self.content_type = content_type
        self.length = length


class _Headers:
    """The headers a plain PUT reads, or `plain` False if any other header sends it away."""

    __slots__ = ("content_type", "length", "plain", "token")

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.plain = False
        self.token: bytes | None = None
        self.content_type: bytes | None = None
        self.length: bytes | None = None
        if len(headers) > PLAIN_HEADERS_LIMIT:
            return
        size = 0
        for name, value in headers:
            size += len(name) + len(value)
            if name == b"authorization":
                self.token = value[len(BEARER) :] if value.startswith(BEARER) else None
            elif name == b"content-length":
                if self.length is not None:
                    return
                self.length = value
            elif name == b"content-type":
                self.content_type = value
            elif name in WRITE_CHANGING:
                return
        self.plain = size <= MAX_HEADER_BYTES


async def plain_put(backend: Backend, scope: dict[str, Any], max_size: int) -> PlainPut | None:
    """The write a plain PUT asks for, or None for a request the general path must answer.
    Reads nothing of the body and writes nothing."""
    if scope["query_string"]:
        return None
    found = PLAIN_PATH.fullmatch(scope["path"])
    if found is None:
        return None
    headers = _Headers(scope["headers"])
    if not headers.plain or headers.token is None or headers.length is None:
        return None
    raw_length = headers.length.strip()
    if not raw_length.isdigit():  # bytes: ASCII digits only
        return None
    length = int(raw_length)
    if length > max_size:
        return None
    token = headers.token.decode("latin-1").strip()  # as authentication.py reads it
    if not token:
        return None
    store_id, key = found.groups()
    if record_key_reserved(store_id, key):
        return None
    raw_type = headers.content_type
    try:
        content_type = check_content_type(None if raw_type is None else raw_type.decode("latin-1"))
    except ApiError:
        return None
    user = await backend.accounts.user_by_token_hash(hash_token(token))
    if user is None:
        return None
    store = await backend.stores.by_id(store_id, counters=False)
    if store is None or store.user_id != user.id:
        return None
    return PlainPut(user, store, key, content_type, length)


async def answer_plain_put(
    app: OpenKvs, scope: dict[str, Any], receive: Any, send: Any, started: float
) -> Any | None:
    """Answer a plain PUT and return None; else the `receive` the general path is to read the
    body with: the one given, or, if part of the body was read here, one that hands that part
    back first. Every other answer (an error, a 408, a 503 at the stop) is the general path's,
    made with the `Ctx` it would have had."""
    settings = app.settings
    try:
        put = await plain_put(app.backend, scope, settings.max_record_size)
    except asyncio.CancelledError as cancelled:
        await app.fast_path_stopped(app.new_ctx(scope, receive, send), started, cancelled)
        return None
    except Exception:
        return receive
    if put is None:
        return receive
    requests = app.requests
    requests.uploads_in_flight += 1
    body = b""
    try:
        if put.length:
            message = await receive_within(receive, settings.body_timeout)
            if message["type"] == "http.disconnect":
                app.note(_ctx(app, scope, receive, send, put, body), 499, started)
                return None
            body = message.get("body", b"")
            if len(body) != put.length:
                return _handing_back(message, receive)
        await receive_record(
            app.backend,
            put.store,
            put.key,
            put.content_type,
            None,
            in_memory(body),
            settings.max_record_size,
            NO_CONDITION,
            app.schema_workers,
            settings.max_inflation,
        )
    except asyncio.CancelledError as cancelled:
        await app.fast_path_stopped(_ctx(app, scope, receive, send, put, body), started, cancelled)
        return None
    except Exception as exc:
        ctx = _ctx(app, scope, receive, send, put, body)
        app.note(ctx, await app.answer_failure(ctx, exc), started)
        return None
    finally:
        requests.uploads_in_flight -= 1
    location = record_url(app.public_base, put.store, put.key, signed=False).encode()
    headers = [*ANSWER_HEADERS, (b"location", location), *CORS_HEADERS]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": ANSWER_BODY, "more_body": False})
    _note_written(app, scope, put.user.id, len(body), started)
    return None


def _ctx(
    app: OpenKvs, scope: dict[str, Any], receive: Any, send: Any, put: PlainPut, body: bytes
) -> Ctx:
    """The `Ctx` the general path would have had, to answer a plain PUT other than 201."""
    ctx = app.new_ctx(scope, receive, send)
    ctx.route = RECORD_ROUTE
    ctx.user = put.user
    ctx.body_done = True
    ctx.bytes_in = len(body)
    return ctx


def _note_written(
    app: OpenKvs, scope: dict[str, Any], user_id: str, size: int, started: float
) -> None:
    """A plain PUT answered 201: in the metrics and in the log, as the general path counts it."""
    seconds = time.perf_counter() - started
    sent = len(ANSWER_BODY)
    if app.metrics_export is not None:
        app.requests.observe(RECORD_ROUTE, "PUT", 201, seconds, size, sent)
    log = app.access_log
    if log is not None:
        facts = RequestFacts(RECORD_ROUTE, size, sent, user_id) if log.json else None
        log.request(scope, 201, seconds * 1000, app.request_id(), facts)


def _handing_back(message: dict[str, Any], receive: Any) -> Any:
    """A `receive` that returns `message` first, then what `receive` returns."""
    pending = [message]

    async def handing_back() -> dict[str, Any]:
        if pending:
            return pending.pop()
        answer: dict[str, Any] = await receive()
        return answer

    return handing_back
