"""The plain GET (http/plain_get.py) answers exactly what the general path answers, and only the
requests it may.

In process, on the embedded backend: each request is sent to the app twice, once with plain GETs
on and once with them off (the answer memo off both times, so that nothing is replayed), and
the two answers are compared byte for byte. The HTTP suites exercise the same path through a
real server: most of their record GETs are plain.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator

import orjson
import pytest

from openkvs.http.graceful_stop import GracefulStop
from openkvs.http.plain_get import PLAIN_HEADERS_LIMIT, plain_get
from tests.in_process_app import App, Message, scope, sent_at_the_stop

TOKEN = "plain-get-token"
OTHER_TOKEN = "plain-get-other-token"
INLINE_THRESHOLD = 1024
BEARER = (b"authorization", b"Bearer " + TOKEN.encode())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[App, str]]:
    """The app, with the store id holding the records below."""
    served = App(tmp_path_factory.mktemp("plain-get"), inline_threshold=INLINE_THRESHOLD)
    app = served.app
    served.run(app.startup())
    served.add_user("owner", TOKEN)
    served.add_user("other", OTHER_TOKEN)
    created = served.request("POST", "/v2/key-value-stores", [BEARER], query=b"name=plain")
    store_id = orjson.loads(created[1]["body"])["data"]["id"]
    for key, content_type, body, encoding in RECORDS:
        headers = [BEARER, (b"content-type", content_type)]
        if encoding:
            headers.append((b"content-encoding", encoding))
        answer = served.request(
            "PUT", f"/v2/key-value-stores/{store_id}/records/{key}", headers, body
        )
        assert answer[0]["status"] == 201, answer
    app.memo = None  # nothing replayed: every answer below is made again
    try:
        yield served, store_id
    finally:
        served.run(app.shutdown())
        served.loop.close()


RECORDS = [
    ("small", b"application/octet-stream", b"\x00\x01 some bytes", None),
    ("page", b"text/html; charset=utf-8", b"<p>hello</p>", None),
    ("data.json", b"application/json; charset=utf-8", b'{"a": 1}', None),
    ("empty", b"text/plain", b"", None),
    ("odd-type", b'x/y; a="b c"', b"odd", None),
    ("a!-_.'()b", b"text/plain", b"punctuation", None),
    ("k" * 256, b"text/plain", b"long key", None),
    ("zipped", b"text/plain", gzip.compress(b"encoded"), b"gzip"),
    ("large", b"application/octet-stream", bytes(range(256)) * 8, None),
    ("large-kept", b"text/plain", b"0123456789" * 300, None),
    (
        "large-zipped",
        b"text/plain",
        gzip.compress(bytes(range(256)) * 64, compresslevel=0),
        b"gzip",
    ),
]


def answers(
    served: App, method: str, path: str, headers: list[tuple[bytes, bytes]], query: bytes = b""
) -> tuple[list[Message], list[Message]]:
    """The app's answer with plain GETs on, then off."""
    served.app.plain_gets = True
    plain = served.request(method, path, headers, query=query)
    served.app.plain_gets = False
    try:
        general = served.request(method, path, headers, query=query)
    finally:
        served.app.plain_gets = True
    return plain, general


def is_plain(
    served: App, method: str, path: str, headers: list[tuple[bytes, bytes]], query: bytes = b""
) -> bool:
    if method != "GET":
        return False
    kept = served.app.records.kept
    found = served.run(plain_get(served.app.backend, kept, scope(method, path, headers, query)))
    return found is not None


PLAIN_KEYS = ["small", "page", "data.json", "empty", "odd-type", "a!-_.'()b", "k" * 256]


@pytest.mark.parametrize("key", PLAIN_KEYS)
@pytest.mark.parametrize(
    "extra",
    [
        [],
        [(b"host", b"127.0.0.1:8010"), (b"user-agent", b"ApifyClient/2.0"), (b"accept", b"*/*")],
        [(b"accept-encoding", b"gzip, br"), (b"origin", b"https://console.example")],
        [(b"if-match", b'"whatever"'), (b"connection", b"keep-alive")],
    ],
    ids=["bare", "client", "encoding-cors", "ignored"],
)
def test_a_plain_get_answers_as_the_general_path(
    served: tuple[App, str], key: str, extra: list[tuple[bytes, bytes]]
) -> None:
    app, store_id = served
    path = f"/v2/key-value-stores/{store_id}/records/{key}"
    headers = [*extra, BEARER]
    assert is_plain(app, "GET", path, headers)
    plain, general = answers(app, "GET", path, headers)
    assert plain == general
    assert plain[0]["status"] == 200


def test_a_token_with_surrounding_spaces_is_read_as_the_general_path_reads_it(
    served: tuple[App, str],
) -> None:
    app, store_id = served
    path = f"/v2/key-value-stores/{store_id}/records/small"
    headers = [(b"authorization", b"Bearer  " + TOKEN.encode() + b" \t")]
    assert is_plain(app, "GET", path, headers)
    plain, general = answers(app, "GET", path, headers)
    assert plain == general and plain[0]["status"] == 200


def _general_cases(store_id: str) -> list[tuple[str, str, list[tuple[bytes, bytes]], bytes]]:
    records = f"/v2/key-value-stores/{store_id}/records"
    small = f"{records}/small"
    return [
        ("HEAD", small, [BEARER], b""),
        ("GET", small, [BEARER], b"attachment=true"),
        ("GET", small, [], b"token=" + TOKEN.encode()),
        ("GET", small, [BEARER, (b"range", b"bytes=0-3")], b""),
        ("GET", small, [BEARER, (b"if-none-match", b"*")], b""),
        ("GET", small, [BEARER, (b"if-modified-since", b"Tue, 01 Jan 2999 00:00:00 GMT")], b""),
        ("GET", small, [BEARER, (b"service-worker", b"script")], b""),
        ("GET", small, [(b"authorization", b"bearer " + TOKEN.encode())], b""),
        ("GET", small, [(b"authorization", b"Bearer unknown-token")], b""),
        ("GET", small, [(b"authorization", b"Bearer " + OTHER_TOKEN.encode())], b""),
        ("GET", small, [(b"authorization", b"Bearer ")], b""),
        ("GET", small, [], b""),
        ("GET", small, [(b"x-filler", b"x")] * PLAIN_HEADERS_LIMIT + [BEARER], b""),
        ("GET", small, [(b"x-filler", b"x" * 70_000), BEARER], b""),
        ("GET", small + "/", [BEARER], b""),
        ("GET", small + "\n", [BEARER], b""),
        ("GET", f"{records}/missing", [BEARER], b""),
        ("GET", f"{records}/zipped", [BEARER], b""),
        ("GET", f"{records}/large", [BEARER], b""),
        ("GET", f"{records}/{'k' * 257}", [BEARER], b""),
        ("GET", "/v2/key-value-stores/~plain/records/small", [BEARER], b""),
        ("GET", "/v2/key-value-stores/AAAAAAAAAAAAAAAAA/records/small", [BEARER], b""),
    ]


def test_any_other_request_takes_the_general_path(served: tuple[App, str]) -> None:
    """Each of these carries something a plain GET may not: the plain path leaves it alone, and
    the answer (a 200 of another kind, an error) is the general path's."""
    app, store_id = served
    statuses = []
    for method, path, headers, query in _general_cases(store_id):
        assert not is_plain(app, method, path, headers, query), (method, path, headers, query)
        plain, general = answers(app, method, path, headers, query)
        assert plain[0] == general[0], (path, headers, query)
        statuses.append(plain[0]["status"])
    # They do reach what they ask for: not one refusal for all.
    assert {200, 206, 304, 400, 401, 403, 404, 431} <= set(statuses)


def test_a_plain_get_counts_a_read(served: tuple[App, str]) -> None:
    app, store_id = served
    backend = app.app.backend

    async def reads() -> int:
        store = await backend.stores.by_id(store_id)
        assert store is not None
        return int(store.stats.read_count)

    before = app.run(reads())
    path = f"/v2/key-value-stores/{store_id}/records/small"
    for _ in range(3):
        assert app.request("GET", path, [BEARER])[0]["status"] == 200
    assert app.run(reads()) == before + 3


def test_a_plain_get_cancelled_by_the_stop_is_answered_503(
    served: tuple[App, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the general path does (http/graceful_stop.py): a request still waiting for storage
    when the stop's time is up gets 503 `server-shutting-down`."""
    app, store_id = served
    path = f"/v2/key-value-stores/{store_id}/records/small"
    assert is_plain(app, "GET", path, [BEARER])
    waited: list[str] = []

    async def stuck(store_id: str, key: str) -> None:
        waited.append(key)
        await asyncio.Event().wait()

    monkeypatch.setattr(app.app.backend.records, "get", stuck)
    monkeypatch.setattr(app.app, "stop", GracefulStop(0.05))
    sent = sent_at_the_stop(app, scope("GET", path, [BEARER]), waited, "small")
    assert sent[0]["status"] == 503
    assert orjson.loads(sent[1]["body"])["error"]["type"] == "server-shutting-down"


def test_a_large_record_kept_in_memory_is_answered_plain_as_the_general_path(
    served: tuple[App, str],
) -> None:
    """A record stored as a file is plain once a GET has read it whole (core/kept_bodies.py):
    answered from the copy in memory, with the general path's answer byte for byte."""
    app, store_id = served
    path = f"/v2/key-value-stores/{store_id}/records/large-kept"
    assert not is_plain(app, "GET", path, [BEARER])  # not read yet: only its file has it
    first = app.request("GET", path, [BEARER])
    assert first[0]["status"] == 200
    assert is_plain(app, "GET", path, [BEARER])
    plain, general = answers(app, "GET", path, [BEARER])
    assert plain == general == first
    assert plain[1]["body"] == b"0123456789" * 300


def test_a_kept_encoded_record_still_takes_the_general_path(served: tuple[App, str]) -> None:
    """Its answer depends on Accept-Encoding, kept in memory or not."""
    app, store_id = served
    path = f"/v2/key-value-stores/{store_id}/records/large-zipped"
    headers = [(b"accept-encoding", b"gzip"), BEARER]
    assert app.request("GET", path, headers)[0]["status"] == 200
    record = app.run(app.app.backend.records.get(store_id, "large-zipped"))
    assert record is not None and record.blob is not None
    assert app.app.records.kept.get(record.blob) is not None
    assert not is_plain(app, "GET", path, headers)
    plain, general = answers(app, "GET", path, [BEARER])
    assert plain == general
    sent = b"".join(m.get("body", b"") for m in plain if m["type"] == "http.response.body")
    assert sent == bytes(range(256)) * 64  # decoded for a client that did not ask for gzip
