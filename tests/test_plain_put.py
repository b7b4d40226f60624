"""The plain PUT (http/plain_put.py) answers and stores exactly what the general path answers and
stores, and takes only the requests it may.

In process, on the embedded backend: each request is sent to the app twice, once with plain PUTs
on and once with them off, each time after the record was deleted; the two answers are compared
byte for byte, and so is the record read back after each. The HTTP suites exercise the same path
through a real server: most of their record PUTs are plain.
"""

from __future__ import annotations

import asyncio
import errno
import gzip
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from openkvs.http.graceful_stop import GracefulStop
from openkvs.http.plain_get import PLAIN_HEADERS_LIMIT
from openkvs.http.plain_put import plain_put
from openkvs.http.routes import RECORD_ROUTE
from tests.in_process_app import App, Message, Receive, scope, sent_at_the_stop

TOKEN = "plain-put-token"
OTHER_TOKEN = "plain-put-other-token"
BEARER = (b"authorization", b"Bearer " + TOKEN.encode())
MAX_RECORD_SIZE = 64 * 1024
BODY_TIMEOUT = 0.3
SCHEMA = {
    "actorKeyValueStoreSchemaVersion": 1,
    "title": "plain PUT",
    "collections": {
        "shots": {"title": "Shots", "keyPrefix": "shot-", "contentTypes": ["image/*"]},
        "config": {
            "title": "Config",
            "key": "CONFIG",
            "contentTypes": ["application/json"],
            "jsonSchema": {"type": "object", "required": ["port"]},
        },
    },
}
Headers = list[tuple[bytes, bytes]]


class Served:
    def __init__(self, app: App, store_id: str, schema_store_id: str) -> None:
        self.app = app
        self.store_id = store_id
        self.schema_store_id = schema_store_id

    def path(self, key: str, store_id: str | None = None) -> str:
        return f"/v2/key-value-stores/{store_id or self.store_id}/records/{key}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    app = App(
        tmp_path_factory.mktemp("plain-put"),
        inline_threshold=1024,
        max_record_size=MAX_RECORD_SIZE,
        body_timeout=BODY_TIMEOUT,
    )
    kvs = app.app
    app.run(kvs.startup())
    app.add_user("owner", TOKEN)
    app.add_user("other", OTHER_TOKEN)
    stores = "/v2/key-value-stores"
    created = app.request("POST", stores, [BEARER], query=b"name=plain")
    schema = orjson.dumps({"schema": SCHEMA})
    json_headers = [BEARER, (b"content-type", b"application/json")]
    with_schema = app.request("POST", stores, json_headers, schema, b"name=plain-schema")
    try:
        yield Served(
            app,
            orjson.loads(created[1]["body"])["data"]["id"],
            orjson.loads(with_schema[1]["body"])["data"]["id"],
        )
    finally:
        app.run(kvs.shutdown())
        app.loop.close()


def put_headers(body: bytes, content_type: bytes | None = b"text/plain", *extra: Any) -> Headers:
    headers = [BEARER, (b"content-length", str(len(body)).encode())]
    if content_type is not None:
        headers.append((b"content-type", content_type))
    return [*headers, *extra]


def is_plain(served: Served, method: str, path: str, headers: Headers, query: bytes = b"") -> bool:
    if method != "PUT":
        return False
    request = scope(method, path, headers, query)
    found = served.app.run(plain_put(served.app.app.backend, request, MAX_RECORD_SIZE))
    return found is not None


def stored(served: Served, path: str) -> tuple[int, dict[bytes, bytes], bytes]:
    """The record as a GET reads it back: status, the headers that describe it, body."""
    answer = served.app.request("GET", path, [BEARER])
    described = {b"content-type", b"etag", b"content-length", b"content-encoding"}
    headers = {name: value for name, value in answer[0]["headers"] if name in described}
    return answer[0]["status"], headers, b"".join(m.get("body", b"") for m in answer[1:])


def write_both(
    served: Served,
    method: str,
    path: str,
    headers: Headers,
    body: bytes = b"",
    query: bytes = b"",
    receive: Any = None,
) -> tuple[tuple[list[Message], Any], tuple[list[Message], Any]]:
    """(answer, record read back) with plain PUTs on, then off; the record deleted before each.
    `receive`, if given, makes a fresh `receive` for each request."""
    results = []
    kvs = served.app.app
    record = path.rstrip("/")
    for plain in (True, False):
        served.app.request("DELETE", record, [BEARER])
        kvs.plain_puts = plain
        try:
            fresh = receive() if receive is not None else None
            answer = served.app.request(method, path, headers, body, query, fresh)
        finally:
            kvs.plain_puts = True
        results.append((answer, stored(served, record)))
    return results[0], results[1]


PLAIN_CASES: list[tuple[str, bytes | None, bytes, list[tuple[bytes, bytes]]]] = [
    ("small", b"text/plain", b"hello", []),
    ("a!-_.'()b", b"application/json; charset=utf-8", b'{"a": 1}', []),
    ("k" * 256, b'x/y; a="b c"', b"odd type", []),
    ("no-type", None, b"\x00\x01 bytes", []),
    ("empty", b"text/plain", b"", []),
    ("kibibyte", b"application/octet-stream", bytes(range(256)) * 4, []),
    ("in-a-file", b"application/octet-stream", bytes(range(256)) * 16, []),
    (
        "client",
        b"application/json",
        b"[1, 2]",
        [(b"host", b"127.0.0.1:8010"), (b"user-agent", b"ApifyClient/2.0"), (b"accept", b"*/*")],
    ),
    (
        "cors",
        b"text/html",
        b"<p>hi</p>",
        [(b"origin", b"https://console.example"), (b"accept-encoding", b"gzip, br")],
    ),
]


@pytest.mark.parametrize(("key", "content_type", "body", "extra"), PLAIN_CASES)
def test_a_plain_put_answers_and_stores_as_the_general_path(
    served: Served, key: str, content_type: bytes | None, body: bytes, extra: Headers
) -> None:
    path = served.path(key)
    headers = put_headers(body, content_type, *extra)
    assert is_plain(served, "PUT", path, headers)
    (plain, plain_record), (general, general_record) = write_both(
        served, "PUT", path, headers, body
    )
    assert plain == general
    assert plain[0]["status"] == 201
    assert plain_record == general_record
    assert plain_record[0] == 200 and plain_record[2] == body


@pytest.mark.parametrize(
    ("key", "content_type", "body", "status"),
    [
        ("CONFIG", b"application/json", b'{"port": 8080}', 201),
        ("CONFIG", b"application/json", b'{"host": "x"}', 400),
        ("CONFIG", b"application/json", b"not json", 400),
        ("shot-1", b"text/plain", b"not an image", 400),
        ("shot-2", b"image/png", b"\x89PNG", 201),
    ],
)
def test_a_plain_put_to_a_store_with_a_schema_is_checked_as_the_general_path_checks_it(
    served: Served, key: str, content_type: bytes, body: bytes, status: int
) -> None:
    path = served.path(key, served.schema_store_id)
    headers = put_headers(body, content_type)
    assert is_plain(served, "PUT", path, headers)
    (plain, plain_record), (general, general_record) = write_both(
        served, "PUT", path, headers, body
    )
    assert plain == general
    assert plain[0]["status"] == status
    assert plain_record == general_record


def _general_cases(served: Served) -> list[tuple[str, str, Headers, bytes, bytes]]:
    small = served.path("small")
    body = b"body"
    plain = put_headers(body)
    zipped = gzip.compress(body)
    too_large = b"x" * (MAX_RECORD_SIZE + 1)
    reserved = served.path(f"0.123456.{served.store_id}")
    other = (b"authorization", b"Bearer " + OTHER_TOKEN.encode())
    return [
        ("POST", small, plain, body, b""),
        ("PUT", small, put_headers(body)[1:], body, b"token=" + TOKEN.encode()),
        ("PUT", small, plain, body, b"x=1"),
        ("PUT", small, [*plain, (b"if-match", b"*")], body, b""),
        ("PUT", small, [*plain, (b"if-none-match", b"*")], body, b""),
        ("PUT", small, [*put_headers(zipped), (b"content-encoding", b"gzip")], zipped, b""),
        ("PUT", small, [BEARER, (b"transfer-encoding", b"chunked")], body, b""),
        ("PUT", small, [BEARER, (b"content-type", b"text/plain")], body, b""),
        ("PUT", small, [BEARER, (b"content-length", b"4x")], body, b""),
        ("PUT", small, [*plain, (b"content-length", b"4")], body, b""),
        ("PUT", small, put_headers(too_large), too_large, b""),
        ("PUT", small, put_headers(body, b"t/" + b"x" * 300), body, b""),
        ("PUT", small, [(b"authorization", b"bearer " + TOKEN.encode()), *plain[1:]], body, b""),
        ("PUT", small, [(b"authorization", b"Bearer unknown"), *plain[1:]], body, b""),
        ("PUT", small, [other, *plain[1:]], body, b""),
        ("PUT", small, [(b"authorization", b"Bearer "), *plain[1:]], body, b""),
        ("PUT", small, plain[1:], body, b""),
        ("PUT", small, [(b"x-filler", b"x")] * PLAIN_HEADERS_LIMIT + plain, body, b""),
        ("PUT", small, [(b"x-filler", b"x" * 70_000), *plain], body, b""),
        ("PUT", small + "/", plain, body, b""),
        ("PUT", small + "\n", plain, body, b""),
        ("PUT", served.path("k" * 257), plain, body, b""),
        ("PUT", reserved, plain, body, b""),
        ("PUT", "/v2/key-value-stores/~plain/records/small", plain, body, b""),
        ("PUT", "/v2/key-value-stores/AAAAAAAAAAAAAAAAA/records/small", plain, body, b""),
    ]


def test_any_other_write_takes_the_general_path(served: Served) -> None:
    """Each of these carries something a plain PUT may not: the plain path leaves it alone, and
    the answer (a 201 of another kind, an error) and what is stored are the general path's."""
    statuses = []
    for method, path, headers, body, query in _general_cases(served):
        case = (method, path[-40:], headers[:3], query)
        assert not is_plain(served, method, path, headers, query), case
        (plain, plain_record), (general, general_record) = write_both(
            served, method, path, headers, body, query
        )
        assert plain[0] == general[0], case
        assert plain[1:] == general[1:], case
        assert plain_record == general_record, case
        statuses.append(plain[0]["status"])
    # They do reach what they ask for: not one refusal for all.
    assert {201, 400, 401, 403, 404, 412, 413, 431} <= set(statuses)


def _in_pieces(*pieces: bytes) -> Any:
    """A maker of `receive`s that hand the body over in `pieces`."""

    def make() -> Receive:
        messages = [
            {"type": "http.request", "body": piece, "more_body": at < len(pieces) - 1}
            for at, piece in enumerate(pieces)
        ]

        async def receive() -> Message:
            return messages.pop(0)

        return receive

    return make


def test_a_body_in_pieces_is_handed_to_the_general_path_whole(served: Served) -> None:
    body = b"first half, second half"
    path = served.path("pieces")
    headers = put_headers(body)
    assert is_plain(served, "PUT", path, headers)
    (plain, plain_record), (general, general_record) = write_both(
        served, "PUT", path, headers, receive=_in_pieces(body[:10], body[10:])
    )
    assert plain == general
    assert plain[0]["status"] == 201
    assert plain_record == general_record and plain_record[2] == body


def test_a_body_that_never_comes_is_answered_408_as_the_general_path(served: Served) -> None:
    def silent() -> Receive:
        async def receive() -> Message:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        return receive

    path = served.path("silent")
    headers = put_headers(b"never sent")
    (plain, plain_record), (general, general_record) = write_both(
        served, "PUT", path, headers, receive=silent
    )
    assert plain == general
    assert plain[0]["status"] == 408
    assert orjson.loads(plain[1]["body"])["error"]["type"] == "request-timeout"
    assert plain_record[0] == general_record[0] == 404


def test_a_client_gone_before_its_body_is_counted_as_the_general_path_counts_it(
    served: Served,
) -> None:
    def gone() -> Receive:
        async def receive() -> Message:
            return {"type": "http.disconnect"}

        return receive

    numbers = served.app.app.requests.numbers(RECORD_ROUTE, "PUT")
    before = numbers.statuses[4]
    path = served.path("gone")
    (plain, plain_record), (general, general_record) = write_both(
        served, "PUT", path, put_headers(b"body"), receive=gone
    )
    assert plain == general == []
    assert plain_record[0] == general_record[0] == 404
    assert numbers.statuses[4] == before + 2  # a 499 each


def test_a_plain_put_is_counted_as_a_general_one(served: Served) -> None:
    """In the metrics (status, bytes each way) and in the store's stats."""
    app = served.app
    kvs = app.app
    numbers = kvs.requests.numbers(RECORD_ROUTE, "PUT")
    body = b"counted"
    path = served.path("counted")

    async def writes() -> int:
        store = await kvs.backend.stores.by_id(served.store_id)
        assert store is not None
        return int(store.stats.write_count)

    figures = []
    for plain in (True, False):
        kvs.plain_puts = plain
        try:
            before = (numbers.statuses[2], numbers.bytes_in, numbers.bytes_out, app.run(writes()))
            assert app.request("PUT", path, put_headers(body), body)[0]["status"] == 201
            after = (numbers.statuses[2], numbers.bytes_in, numbers.bytes_out, app.run(writes()))
        finally:
            kvs.plain_puts = True
        figures.append(tuple(b - a for a, b in zip(before, after, strict=True)))
    assert figures[0] == figures[1] == (1, len(body), 2, 1)


@pytest.mark.parametrize(
    ("failure", "status", "kind"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), 507, "insufficient-storage"),
        (RuntimeError("broken"), 500, "internal-server-error"),
    ],
)
def test_a_failed_write_is_answered_as_the_general_path_answers_it(
    served: Served,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
    status: int,
    kind: str,
) -> None:
    async def failing(*args: Any) -> None:
        raise failure

    monkeypatch.setattr(served.app.app.backend.records, "put", failing)
    body = b"lost"
    (plain, _), (general, _) = write_both(
        served, "PUT", served.path("failing"), put_headers(body), body
    )
    monkeypatch.undo()
    assert plain[0]["status"] == general[0]["status"] == status
    # The messages name the request's id, which differs.
    assert orjson.loads(plain[1]["body"])["error"]["type"] == kind
    assert orjson.loads(general[1]["body"])["error"]["type"] == kind


def test_a_plain_put_cancelled_by_the_stop_is_answered_503(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the general path does (http/graceful_stop.py): a write still waiting for storage when
    the stop's time is up gets 503 `server-shutting-down`."""
    kvs = served.app.app
    path = served.path("stopped")
    headers = put_headers(b"body")
    assert is_plain(served, "PUT", path, headers)
    waited: list[str] = []

    async def stuck(store_id: str, key: str, *args: Any) -> None:
        waited.append(key)
        await asyncio.Event().wait()

    monkeypatch.setattr(kvs.backend.records, "put", stuck)
    monkeypatch.setattr(kvs, "stop", GracefulStop(0.05))
    sent = sent_at_the_stop(served.app, scope("PUT", path, headers), waited, "stopped")
    assert sent[0]["status"] == 503
    assert orjson.loads(sent[1]["body"])["error"]["type"] == "server-shutting-down"
