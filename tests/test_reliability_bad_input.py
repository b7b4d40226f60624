"""Hostile and malformed input, beyond tests/test_http_bad_input.py and test_http_encoding.py.

Whatever is sent, the answer is never a 5xx (every test below that sends bad input checks the
status is < 500), nothing is stored or changed, nothing is left behind, and the server keeps
serving. Raw sockets (loopback only) send what an HTTP client library would refuse to.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import os
import re
import socket
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import quote

import brotli
import httpx
import pytest

from openkvs.http.routes import RECORD_ROUTE
from tests.http_helpers import (
    STORES,
    assert_error,
    create_store,
    decode_storage_sig,
    get_store,
    key_names,
    poll,
    put_record,
    record_sig,
    record_url,
    set_access,
    storage_sig,
    unique_name,
)
from tests.metrics_scrape import scrape
from tests.server_process import ServerProcess
from tests.store_inspection import body_storage

pytestmark = pytest.mark.reliability

MIB = 1024 * 1024
FORBIDDEN = "insufficient-permissions"


# --- helpers -------------------------------------------------------------------------------------


def raw_path(
    client: httpx.Client, method: str, path: str, content: bytes | None = None
) -> httpx.Response:
    """Send `path` exactly as written: already percent-encoded, and with its dot segments (httpx
    would remove them, turning `.../records/..` into a request for the store itself)."""
    url = client.base_url
    connection = HTTPConnection(url.host, url.port, timeout=60)
    try:
        headers = {k: v for k, v in client.headers.items() if k.lower() == "authorization"}
        connection.request(method, path, body=content, headers=headers)
        answer = connection.getresponse()
        body = answer.read()
        return httpx.Response(
            answer.status,
            headers=answer.getheaders(),
            content=body,
            request=httpx.Request(method, str(url) + path),
        )
    finally:
        connection.close()


def not_5xx(response: httpx.Response) -> httpx.Response:
    assert response.status_code < 500, (
        response.request.method,
        str(response.request.url)[:300],
        response.status_code,
        response.text[:500],
    )
    assert "Traceback" not in response.text
    return response


def exchange(server: ServerProcess, data: bytes, timeout: float = 15.0) -> bytes:
    """Send raw bytes on a fresh connection; everything the server answers until it closes.

    A server that stops reading and closes (or resets) while we still send counts as closed.
    """
    chunks: list[bytes] = []
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def statuses(answer: bytes) -> list[int]:
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]


def request_head(server: ServerProcess, method: str, path: str, *headers: str) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Bearer {server.token}",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def assert_still_serving(http: httpx.Client) -> None:
    response = http.get("/v2/users/me")
    assert response.status_code == 200, response.text


def record_bytes(http: httpx.Client, sid: str, key: str) -> bytes | None:
    response = http.get(record_url(sid, key), headers={"Accept-Encoding": "identity"})
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return response.content


def answered_record_puts(server: ServerProcess) -> float:
    """Record PUTs the server has answered, or given up on (499), whatever their status: a
    request is counted once its body is stored or thrown away (`/metrics`)."""
    return sum(
        count
        for (name, labels), count in scrape(server).items()
        if name == "openkvs_http_requests_total"
        and ("route", RECORD_ROUTE) in labels
        and ("method", "PUT") in labels
    )


def assert_no_upload_left(server: ServerProcess) -> None:
    """Embedded: no file in <data_dir>/tmp; scale-out: no open multipart upload (after a moment)."""
    left = poll(lambda: body_storage(server).in_progress, lambda found: not found, timeout=10)
    assert left == [], f"uploads left behind: {left}"
    if not server.backend.is_scaleout:
        tmp = server.data_dir / "tmp"
        assert not tmp.exists() or [p.name for p in tmp.iterdir()] == []


# --- keys, names, ids, limits, booleans -----------------------------------------------------------


@pytest.mark.parametrize(
    ("encoded", "stripped"),
    [("abc%2F", "abc"), ("%2e%2e%2f", ".."), ("k%2F%2F", "k")],
    ids=["abc-slash", "dotdot-slash", "double-slash"],
)
def test_key_ending_in_an_encoded_slash_is_invalid_not_the_key_without_it(
    http: httpx.Client, store: dict[str, object], encoded: str, stripped: str
) -> None:
    # "abc/" (sent as abc%2F) is not a valid key (behaviour.md#ids-names-and-keys: 400
    # invalid-record-key); it must not be
    # written as "abc".
    sid = str(store["id"])
    response = not_5xx(raw_path(http, "PUT", f"{STORES}/{sid}/records/{encoded}", content=b"v"))
    assert_error(response, 400, "invalid-record-key")
    assert key_names(http, sid) == []
    for method in ("GET", "DELETE"):
        response = not_5xx(raw_path(http, method, f"{STORES}/{sid}/records/{encoded}"))
        assert_error(response, 400, "invalid-record-key")
    assert stripped not in key_names(http, sid)


@pytest.mark.parametrize(
    "key",
    ["%00", "a%00b", "k%0A", "k%0D%0Aset-cookie:x", "%7F", "%C0%AE%C0%AE", "%FF", "k%09"],
    ids=["nul", "inner-nul", "lf", "crlf", "del", "overlong-dots", "bad-utf8", "tab"],
)
def test_control_and_undecodable_keys_are_400_on_every_method(
    http: httpx.Client, store: dict[str, object], key: str
) -> None:
    sid = str(store["id"])
    path = f"{STORES}/{sid}/records/{key}"
    for method in ("PUT", "POST", "GET", "DELETE"):
        response = not_5xx(raw_path(http, method, path, content=b"v"))
        assert_error(response, 400, "invalid-record-key")
    head = not_5xx(raw_path(http, "HEAD", path))
    assert head.status_code == 400 and head.content == b""
    assert key_names(http, sid) == []


@pytest.mark.parametrize(
    "body",
    [
        {"name": "-x"},
        {"name": "x-"},
        {"name": "a_b"},
        {"name": "x" * 64},
        {"name": ""},
        {"name": "a.b"},
        {"name": "ümlaut"},
        {"name": 5},
        {"name": True},
        {"name": ["a"]},
        {"name": {"a": 1}},
        {"generalAccess": "PUBLIC"},
        {"generalAccess": 1},
        {"generalAccess": ["RESTRICTED"]},
        {"title": 5},
        {"title": ["t"]},
    ],
    ids=lambda body: f"{next(iter(body))}={next(iter(body.values()))!r}"[:40],
)
def test_store_update_with_invalid_fields_is_400_invalid_value_and_changes_nothing(
    http: httpx.Client, store: dict[str, object], body: dict[str, object]
) -> None:
    response = not_5xx(http.put(f"{STORES}/{store['id']}", json=body))
    assert_error(response, 400, "invalid-value")
    after = get_store(http, str(store["id"]))
    assert (after["name"], after["generalAccess"], after.get("title")) == (
        store["name"],
        store["generalAccess"],
        store.get("title"),
    )


def test_store_update_with_several_fields_one_invalid_changes_none(
    http: httpx.Client, store: dict[str, object]
) -> None:
    body = {"name": unique_name(), "generalAccess": "NOT-A-LEVEL", "title": "new"}
    assert_error(not_5xx(http.put(f"{STORES}/{store['id']}", json=body)), 400, "invalid-value")
    after = get_store(http, str(store["id"]))
    assert after["name"] == store["name"] and "title" not in after


@pytest.mark.parametrize(
    "ref",
    [
        "~",
        "~~",
        "tester~",
        "nobody-here~x",
        "%00",
        "~%00",
        "tester~%00",
        "%00~x",
        "x" * 2000,
        "%F0%9F%98%80",
        "AAAAAAAAAAAAAAAAA",
        "%FF%FE",
        "~" + "a" * 500,
    ],
)
def test_store_refs_that_name_nothing_are_404_on_every_endpoint(
    http: httpx.Client, ref: str
) -> None:
    before = http.get(STORES, params={"unnamed": "true"}).json()["data"]["total"]
    for method, tail in [
        ("GET", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("GET", "/keys"),
        ("GET", "/records"),
        ("GET", "/records/k"),
        ("PUT", "/records/k"),
        ("DELETE", "/records/k"),
    ]:
        body = b'{"title": "x"}' if (method, tail) == ("PUT", "") else b"v"
        response = not_5xx(raw_path(http, method, f"{STORES}/{ref}{tail}", content=body))
        assert_error(response, 404, ("record-not-found", "page-not-found"))
    after = http.get(STORES, params={"unnamed": "true"}).json()["data"]["total"]
    assert after == before


@pytest.mark.parametrize(
    "ref", ["%00", "~", "%FF", "x" * 2000, "%F0%9F%98%80", "nobody%00x", "%2e%2e"]
)
def test_user_refs_that_name_nobody_are_404(http: httpx.Client, ref: str) -> None:
    response = not_5xx(raw_path(http, "GET", f"/v2/users/{ref}"))
    assert_error(response, 404, ("record-not-found", "page-not-found"))


@pytest.mark.parametrize(
    "offset",
    ["9223372036854775807", "9223372036854775808", "9" * 30, "9" * 5000],
    ids=["int64-max", "int64-max-plus-1", "30-digits", "5000-digits"],
)
def test_list_stores_with_a_huge_offset_is_an_empty_page_or_400(
    http: httpx.Client, offset: str
) -> None:
    # behaviour.md#listing: a non-negative integer; past the end means an empty page (400 would be
    # acceptable
    # for a number the server cannot represent). Never a 5xx.
    response = not_5xx(http.get(STORES, params={"offset": offset, "unnamed": "true"}))
    if response.status_code == 400:
        assert_error(response, 400, "invalid-parameter")
        return
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["items"] == [] and data["count"] == 0


@pytest.mark.parametrize(
    "limit",
    ["9223372036854775808", "9" * 30, "9" * 5000, "0000000000000000000000005"],
    ids=["int64-max-plus-1", "30-digits", "5000-digits", "zero-padded-5"],
)
def test_huge_or_padded_limits_are_capped_or_read_as_numbers(
    http: httpx.Client, store: dict[str, object], limit: str
) -> None:
    expected = 5 if limit.endswith("5") and set(limit[:-1]) == {"0"} else 1000
    keys = not_5xx(http.get(f"{STORES}/{store['id']}/keys", params={"limit": limit}))
    assert keys.status_code == 200, keys.text
    assert keys.json()["data"]["limit"] == expected
    stores = not_5xx(http.get(STORES, params={"limit": limit}))
    assert stores.status_code == 200, stores.text
    assert stores.json()["data"]["limit"] == expected


@pytest.mark.parametrize(
    "value",
    ["١٢", "²", "１０", "+5", " 5", "5 ", "0x10", "5\x00", "-0", "1_000", "٣"],
    ids=[
        "arabic",
        "superscript",
        "fullwidth",
        "plus",
        "lead-space",
        "trail-space",
        "hex",
        "nul",
        "minus-zero",
        "underscore",
        "arabic-3",
    ],
)
def test_limits_and_offsets_that_are_not_plain_ascii_integers_are_400(
    http: httpx.Client, store: dict[str, object], value: str
) -> None:
    for path, name in [
        (f"{STORES}/{store['id']}/keys", "limit"),
        (STORES, "limit"),
        (STORES, "offset"),
    ]:
        response = not_5xx(http.get(path, params={name: value}))
        assert_error(response, 400, "invalid-parameter")


@pytest.mark.parametrize("value", ["yes", "2", "truee", "t", "%00", "١", "true%00", "on"])
def test_bad_booleans_are_400_invalid_parameter(
    http: httpx.Client, store: dict[str, object], value: str
) -> None:
    sid = str(store["id"])
    put_record(http, sid, "k", b"v")
    query = "?{}=" + quote(value, safe="%")
    for path, name in [
        (record_url(sid, "k"), "attachment"),
        (STORES, "desc"),
        (STORES, "unnamed"),
    ]:
        response = not_5xx(raw_path(http, "GET", path + query.format(name)))
        assert_error(response, 400, "invalid-parameter")


@pytest.mark.parametrize("value", ["TRUE", "False", "1", "0", ""])
def test_boolean_spellings_that_are_accepted(
    http: httpx.Client, store: dict[str, object], value: str
) -> None:
    sid = str(store["id"])
    put_record(http, sid, "k", b"v")
    response = not_5xx(http.get(record_url(sid, "k"), params={"attachment": value}))
    assert response.status_code == 200, response.text
    attached = value.lower() in ("true", "1")
    assert ("content-disposition" in response.headers) == attached


@pytest.mark.parametrize(
    "ownership", ["OWNEDBYME", "owned", "%00", "ownedByMe%00", "ownedByMe,sharedWithMe"]
)
def test_bad_ownership_is_400(http: httpx.Client, ownership: str) -> None:
    response = not_5xx(raw_path(http, "GET", f"{STORES}?ownership={ownership}"))
    assert_error(response, 400, "invalid-parameter")


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"prefix": "\U0010ffff"}, 200),
        ({"prefix": "\ud7ff"}, 200),
        ({"prefix": "\uffff"}, 200),
        ({"prefix": "\x00"}, 200),
        ({"prefix": "k" * 5000}, 200),
        ({"exclusiveStartKey": "\x00"}, 200),
        ({"exclusiveStartKey": "\U0010ffff"}, 200),
        ({"exclusiveStartKey": "\ud7ff"}, 200),
        ({"exclusiveStartKey": "x" * 5000}, 200),
        ({"collection": "\x00"}, 400),
        ({"collection": "no-such"}, 400),
    ],
    ids=[
        "prefix-max-codepoint",
        "prefix-below-surrogates",
        "prefix-uffff",
        "prefix-nul",
        "prefix-long",
        "start-nul",
        "start-max-codepoint",
        "start-below-surrogates",
        "start-long",
        "collection-nul",
        "collection-unknown",
    ],
)
def test_odd_key_filters_on_keys_and_zip_are_answered_not_crashed(
    http: httpx.Client, store: dict[str, object], params: dict[str, str], status: int
) -> None:
    sid = str(store["id"])
    put_record(http, sid, "k", b"v")
    keys = not_5xx(http.get(f"{STORES}/{sid}/keys", params=params))
    assert keys.status_code == status, keys.text
    if status == 200:
        data = keys.json()["data"]
        assert data["count"] == len(data["items"])
        assert all(item["key"] == "k" for item in data["items"])
    if "exclusiveStartKey" in params:
        return  # the ZIP download has no exclusiveStartKey
    # The ZIP's status goes out before the archive: the whole body must arrive, too.
    with http.stream("GET", f"{STORES}/{sid}/records", params=params) as archive:
        body = b"".join(archive.iter_raw())
    assert archive.status_code < 500 and archive.status_code == status, body[:300]
    if status == 200:
        # A complete archive ends with its end-of-central-directory record.
        assert b"PK\x05\x06" in body[-100:], body[-100:]


@pytest.mark.parametrize(
    "value",
    ["bytes=²-", "bytes=-³", "bytes=0-¹", "bytes=¹-²"],
    ids=["sup2-start", "sup3-suffix", "sup1-end", "sup-both"],
)
def test_range_with_non_ascii_digits_is_ignored_or_416_not_a_crash(
    http: httpx.Client, store: dict[str, object], value: str
) -> None:
    # Latin-1 superscript digits pass str.isdigit() but not int(): RFC 9110 ranges are ASCII
    # digits only, so this is not a valid range (ignored: 200 with the whole body).
    sid = str(store["id"])
    put_record(http, sid, "k", b"0123456789")
    response = not_5xx(http.get(record_url(sid, "k"), headers={"Range": value.encode("latin-1")}))
    assert response.status_code in (200, 416), response.text
    if response.status_code == 200:
        assert response.content == b"0123456789"


@pytest.mark.parametrize(
    "value",
    [
        "bytes=" + "9" * 5000 + "-",
        "bytes=0-" + "9" * 5000,
        "bytes=-" + "9" * 5000,
        "bytes=99999999999999999999999-",
        "bytes=-99999999999999999999999",
        "bytes=0-99999999999999999999999",
        "bytes=5-2",
        "bytes=a-b",
        "pages=0-1",
        "bytes=0-0,1-1",
        "bytes=-0",
        "bytes=--1",
        "bytes=",
        "bytes=0-1-2",
        "x" * 8000,
    ],
    ids=lambda value: value[:30] + (f"...({len(value)})" if len(value) > 30 else ""),
)
def test_odd_ranges_are_200_206_or_416(
    http: httpx.Client, store: dict[str, object], value: str
) -> None:
    sid = str(store["id"])
    put_record(http, sid, "k", b"0123456789")
    response = not_5xx(http.get(record_url(sid, "k"), headers={"Range": value}))
    assert response.status_code in (200, 206, 416), response.text
    if response.status_code == 200:
        assert response.content == b"0123456789"


@pytest.mark.parametrize(
    "headers",
    [
        {"If-Modified-Since": "not a date"},
        {"If-Modified-Since": "Mon, 99 Foo 99999 99:99:99 GMT"},
        {"If-Modified-Since": "0"},
        {"If-Modified-Since": "Sat, 01 Jan 10000 00:00:00 GMT"},
        {"If-None-Match": ","},
        {"If-None-Match": 'W/, "x", W/'},
        {"If-None-Match": "x" * 8000},
        {"Accept-Encoding": "gzip;q=abc"},
        {"Accept-Encoding": "gzip;q=nan, br;q=inf"},
        {"Accept-Encoding": ",,,;;;"},
        {"Accept-Encoding": "*;q=-1"},
    ],
    ids=lambda h: f"{next(iter(h))}:{next(iter(h.values()))[:20]}",
)
def test_odd_conditional_and_accept_encoding_headers_are_answered(
    http: httpx.Client, store: dict[str, object], headers: dict[str, str]
) -> None:
    sid = str(store["id"])
    packed = gzip.compress(b"gzipped text")
    put_record(http, sid, "k", packed, "text/plain", **{"Content-Encoding": "gzip"})
    for method in ("GET", "HEAD"):
        response = not_5xx(http.request(method, record_url(sid, "k"), headers=headers))
        assert response.status_code in (200, 304), response.text


def test_content_type_with_latin1_bytes_is_stored_and_served_back(
    server: ServerProcess, http: httpx.Client, store: dict[str, object]
) -> None:
    sid = str(store["id"])
    value = 'text/plain; name="caf\xe9"'
    head = request_head(
        server,
        "PUT",
        record_url(sid, "k"),
        f"Content-Type: {value}",
        "Content-Length: 2",
        "Connection: close",
    )
    answer = exchange(server, head + b"ok")
    assert statuses(answer)[:1] == [201], answer[:300]
    response = not_5xx(http.get(record_url(sid, "k")))
    assert response.status_code == 200
    sent = {name.lower(): raw for name, raw in response.headers.raw}
    assert sent[b"content-type"] == value.encode("latin-1")


ODD_TEXTS = ["a\x00b", "\ud800", "\udfff\ud800", "\U0010ffff", "\uffff", "\x7f\x1b[2J"]
ODD_TEXT_IDS = [
    "nul",
    "lone-high-surrogate",
    "reversed-surrogates",
    "max-codepoint",
    "uffff",
    "ansi",
]


@pytest.mark.parametrize("text", ODD_TEXTS, ids=ODD_TEXT_IDS)
def test_odd_unicode_in_a_store_title_is_stored_or_refused_not_crashed(
    http: httpx.Client, store: dict[str, object], text: str
) -> None:
    # json.dumps writes these as \u escapes: valid JSON text, odd strings.
    headers = {"Content-Type": "application/json"}
    body = json.dumps({"title": text}).encode()
    response = not_5xx(http.put(f"{STORES}/{store['id']}", content=body, headers=headers))
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert get_store(http, str(store["id"])).get("title") == text


@pytest.mark.parametrize("text", ODD_TEXTS, ids=ODD_TEXT_IDS)
def test_odd_unicode_in_a_store_schema_is_stored_or_refused_not_crashed(
    http: httpx.Client, text: str
) -> None:
    headers = {"Content-Type": "application/json"}
    schema = {
        "actorKeyValueStoreSchemaVersion": 1,
        "title": text,
        "collections": {text: {"title": text, "key": "k"}},
    }
    name = unique_name()
    body = json.dumps({"schema": schema}).encode()
    created = not_5xx(http.post(STORES, params={"name": name}, content=body, headers=headers))
    assert created.status_code in (201, 400), created.text
    if created.status_code == 201:
        assert get_store(http, f"~{name}")["schema"] == schema
    else:
        assert http.get(f"{STORES}/~{name}").status_code == 404


# --- encoded bodies ------------------------------------------------------------------------------

CODECS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda data: gzip.compress(data, compresslevel=1),
    "br": lambda data: brotli.compress(data, quality=1),
    "deflate": lambda data: zlib.compress(data, 1),
}


def corrupted(encoding: str, data: bytes) -> dict[str, bytes]:
    packed = CODECS[encoding](data)
    middle = len(packed) // 2
    flipped = packed[:middle] + bytes(b ^ 0xFF for b in packed[middle : middle + 16])
    flipped += packed[middle + 16 :]
    found = {
        "empty": b"",
        "one-byte": packed[:1],
        "cut-in-half": packed[:middle],
        "last-bytes-missing": packed[: len(packed) - 4],
        "trailing-garbage": packed + b"\x00garbage after the end",
    }
    if encoding != "br":
        # gzip and zlib end with a checksum, so flipped bytes anywhere are a decoding error;
        # brotli has none (flipped bytes may decode, to other bytes).
        found["flipped-middle"] = flipped
    return found


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate"])
def test_corrupt_encoded_json_bodies_on_store_create_and_update_are_400(
    http: httpx.Client, store: dict[str, object], encoding: str
) -> None:
    good = b'{"title": "' + b"t" * 4000 + b'"}'
    for what, body in corrupted(encoding, good).items():
        name = unique_name()
        headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
        created = not_5xx(http.post(STORES, params={"name": name}, content=body, headers=headers))
        assert_error(created, 400, "invalid-request")
        assert http.get(f"{STORES}/~{name}").status_code == 404, what
        updated = not_5xx(http.put(f"{STORES}/{store['id']}", content=body, headers=headers))
        assert_error(updated, 400, "invalid-request")
        assert "title" not in get_store(http, str(store["id"])), what


def bomb(encoding: str) -> bytes:
    inflated = b'{"title": "' + b" " * (12 * MIB) + b'"}'
    if encoding == "br":
        return brotli.compress(inflated, quality=5)
    if encoding == "deflate":
        return zlib.compress(inflated, 9)
    return gzip.compress(inflated, compresslevel=9)


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate"])
def test_decompression_bombs_on_json_endpoints_are_413_and_change_nothing(
    http: httpx.Client, store: dict[str, object], encoding: str
) -> None:
    payload = bomb(encoding)
    assert len(payload) < 64 * 1024
    headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
    name = unique_name()
    created = not_5xx(http.post(STORES, params={"name": name}, content=payload, headers=headers))
    assert_error(created, 413, "request-too-large")
    assert http.get(f"{STORES}/~{name}").status_code == 404
    updated = not_5xx(http.put(f"{STORES}/{store['id']}", content=payload, headers=headers))
    assert_error(updated, 413, "request-too-large")
    assert "title" not in get_store(http, str(store["id"]))


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate"])
@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_corrupt_large_encoded_record_is_400_keeps_old_value_and_leaves_nothing(
    server: ServerProcess,
    http: httpx.Client,
    store: dict[str, object],
    encoding: str,
    method: str,
) -> None:
    # Incompressible data, so the body spills past the inline threshold (file / object store)
    # before the corruption is met.
    sid = str(store["id"])
    put_record(http, sid, "k", b"previous", "text/plain")
    data = os.urandom(MIB)
    for what, body in corrupted(encoding, data).items():
        if what in ("empty", "one-byte"):
            continue
        headers = {"Content-Type": "application/octet-stream", "Content-Encoding": encoding}
        for key in ("k", "fresh"):
            response = not_5xx(
                http.request(method, record_url(sid, key), content=body, headers=headers)
            )
            assert_error(response, 400, "invalid-request")
        assert record_bytes(http, sid, "k") == b"previous", what
        assert key_names(http, sid) == ["k"], what
    assert_no_upload_left(server)


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate"])
def test_empty_or_one_byte_encoded_record_is_400(
    http: httpx.Client, store: dict[str, object], encoding: str
) -> None:
    sid = str(store["id"])
    for what, body in corrupted(encoding, b"x" * 100).items():
        if what not in ("empty", "one-byte"):
            continue
        response = not_5xx(
            http.put(record_url(sid, "k"), content=body, headers={"Content-Encoding": encoding})
        )
        assert_error(response, 400, "invalid-request")
    assert key_names(http, sid) == []


# --- Content-Length that lies, uploads cut short ------------------------------------------------


@pytest.mark.parametrize("sent", [10, 300 * 1024, 12 * MIB])
def test_content_length_longer_than_the_body_then_close_stores_nothing(
    server: ServerProcess, http: httpx.Client, store: dict[str, object], sent: int
) -> None:
    sid = str(store["id"])
    put_record(http, sid, "k", b"previous")
    answered = answered_record_puts(server)
    for key in ("k", "fresh"):
        head = request_head(server, "PUT", record_url(sid, key), f"Content-Length: {sent * 2}")
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(head + b"x" * sent)
            # Wait until the server holds what was sent (a spilled upload is visible), then go.
            if sent > MIB:
                poll(lambda: body_storage(server).in_progress, bool, timeout=10)
    # Until both are given up on, a busy server may still be making a body's file.
    done = poll(lambda: answered_record_puts(server), lambda n: n >= answered + 2, timeout=10)
    assert done == answered + 2
    assert record_bytes(http, sid, "k") == b"previous"
    assert key_names(http, sid) == ["k"]
    assert_no_upload_left(server)
    assert_still_serving(http)


def test_content_length_shorter_than_the_body_stores_only_the_declared_bytes(
    server: ServerProcess, http: httpx.Client, store: dict[str, object]
) -> None:
    sid = str(store["id"])
    extra = b"EXTRA BYTES THAT ARE NOT HTTP\r\n\r\n"
    head = request_head(server, "PUT", record_url(sid, "k"), "Content-Length: 5")
    answer = exchange(server, head + b"hello" + extra)
    codes = statuses(answer)
    assert codes, answer[:300]
    assert all(code < 500 for code in codes), answer[:500]
    # The declared 5 bytes are the record (or, if the server refused the connection's garbage
    # first, nothing at all): never the extra bytes.
    assert record_bytes(http, sid, "k") in (b"hello", None)
    assert_still_serving(http)


def test_content_length_shorter_than_the_body_with_a_pipelined_request(
    server: ServerProcess, http: httpx.Client, store: dict[str, object]
) -> None:
    sid = str(store["id"])
    second = request_head(server, "GET", record_url(sid, "k"), "Connection: close")
    head = request_head(server, "PUT", record_url(sid, "k"), "Content-Length: 5")
    answer = exchange(server, head + b"hello" + second)
    assert statuses(answer) == [201, 200], answer[:500]
    assert answer.endswith(b"hello")
    assert record_bytes(http, sid, "k") == b"hello"


@pytest.mark.parametrize(
    "value", ["abc", "-1", "5, 6", "0x10", "1e3", "99999999999999999999999", "5\x00"]
)
def test_malformed_content_length_is_4xx_and_stores_nothing(
    server: ServerProcess, http: httpx.Client, store: dict[str, object], value: str
) -> None:
    sid = str(store["id"])
    for path in (record_url(sid, "k"), f"{STORES}/{sid}"):
        head = request_head(server, "PUT", path, f"Content-Length: {value}", "Connection: close")
        answer = exchange(server, head + b"hello")
        codes = statuses(answer)
        assert not codes or 400 <= codes[0] < 500, answer[:300]
    assert key_names(http, sid) == []
    assert_still_serving(http)


@pytest.mark.parametrize("size", [10**12, 2**63 - 1])
def test_huge_declared_content_length_is_413_before_the_body(
    server: ServerProcess, http: httpx.Client, store: dict[str, object], size: int
) -> None:
    sid = str(store["id"])
    cases = [(record_url(sid, "k"), "record-too-large"), (f"{STORES}/{sid}", "request-too-large")]
    for path, error_type in cases:
        head = request_head(server, "PUT", path, f"Content-Length: {size}", "Connection: close")
        answer = exchange(server, head + b"x" * 100)
        assert statuses(answer)[:1] == [413], answer[:300]
        assert error_type.encode() in answer
    assert key_names(http, sid) == []


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        piece = data[start : start + size]
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("encoding", [None, "gzip"])
def test_upload_aborted_half_way_stores_nothing_and_leaves_no_temporary_data(
    server: ServerProcess,
    http: httpx.Client,
    store: dict[str, object],
    framing: str,
    encoding: str | None,
) -> None:
    sid = str(store["id"])
    put_record(http, sid, "k", b"previous")
    body = os.urandom(24 * MIB)
    if encoding:
        body = gzip.compress(body, compresslevel=1)
    half = body[: len(body) // 2]
    headers = [f"Content-Encoding: {encoding}"] if encoding else []
    if framing == "chunked":
        headers.append("Transfer-Encoding: chunked")
        payload = b"".join(chunked(half, MIB))
    else:
        headers.append(f"Content-Length: {len(body)}")
        payload = half
    for key in ("k", "fresh"):
        head = request_head(server, "PUT", record_url(sid, key), *headers)
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(head + payload)
            seen = poll(lambda: body_storage(server).in_progress, bool, timeout=10)
            assert seen, "the half upload never reached the server's temporary storage"
    assert record_bytes(http, sid, "k") == b"previous"
    assert key_names(http, sid) == ["k"]
    assert_no_upload_left(server)
    assert_still_serving(http)


# --- oversized headers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("what", "headers"),
    [
        ("one-100-KB-header", [f"X-Big: {'a' * 100 * 1024}"]),
        ("one-1-MB-header", [f"X-Big: {'a' * 1024 * 1024}"]),
        ("10000-headers", [f"X-H{i}: v" for i in range(10_000)]),
        ("100-KB-authorization", ["Authorization: Bearer " + "t" * 100 * 1024]),
    ],
)
def test_oversized_headers_are_refused_and_the_server_keeps_serving(
    server: ServerProcess, http: httpx.Client, what: str, headers: list[str]
) -> None:
    head = request_head(server, "GET", "/v2/users/me", *headers, "Connection: close")
    answer = exchange(server, head)
    codes = statuses(answer)
    # A 4xx (431 Request Header Fields Too Large, or 400) or a closed connection.
    assert not codes or 400 <= codes[0] < 500, (what, answer[:300])
    assert_still_serving(http)


def test_oversized_url_is_refused_and_the_server_keeps_serving(
    server: ServerProcess, http: httpx.Client
) -> None:
    head = request_head(server, "GET", "/v2/users/me?" + "a=b&" * 50_000, "Connection: close")
    answer = exchange(server, head)
    codes = statuses(answer)
    assert not codes or 400 <= codes[0] < 500, answer[:300]
    assert_still_serving(http)


# --- path traversal ------------------------------------------------------------------------------

TRAVERSAL_KEYS = [
    "..",
    ".",
    "...",
    "%2e%2e",
    "%2e%2e%2f",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%5C..%5Cwindows%5Cwin.ini",
    "%252e%252e%252f",
    "..%00",
    "%00..%2F",
    "..%c0%af",
    "..;%2F",
]
TRAVERSAL_STORES = [
    "..",
    "%2e%2e",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc",
    "~..",
    "tester~..%2F..",
    "..%00",
    "%2e%2e%5c%2e%2e",
]


def outside_state(server: ServerProcess) -> dict[str, tuple[int, float]]:
    """Files next to the data directory (not in it), with their sizes and times."""
    root = server.data_dir.parent
    found: dict[str, tuple[int, float]] = {}
    for path in root.rglob("*"):
        if path.is_relative_to(server.data_dir) or path == server.log_path or not path.is_file():
            continue
        stat = path.stat()
        found[str(path)] = (stat.st_size, stat.st_mtime)
    return found


@pytest.fixture
def sentinel(server: ServerProcess) -> Iterator[Path]:
    path = server.data_dir.parent / f"sentinel-{uuid.uuid4().hex[:8]}"
    path.write_bytes(b"outside the data directory")
    yield path
    path.unlink()


def test_path_traversal_in_record_keys_stays_inside_the_store(
    server: ServerProcess, http: httpx.Client, store: dict[str, object], sentinel: Path
) -> None:
    sid = str(store["id"])
    before = outside_state(server)
    passwd = Path("/etc/passwd").stat().st_mtime if Path("/etc/passwd").exists() else None
    stores_before = http.get(STORES, params={"unnamed": "true"}).json()["data"]["total"]
    for key in TRAVERSAL_KEYS:
        path = f"{STORES}/{sid}/records/{key}"
        for method in ("PUT", "POST", "GET", "HEAD", "DELETE"):
            response = not_5xx(raw_path(http, method, path, content=b"evil"))
            assert response.status_code in (200, 201, 204, 400, 404), (method, key, response.text)
    assert outside_state(server) == before
    assert sentinel.read_bytes() == b"outside the data directory"
    if passwd is not None:
        assert Path("/etc/passwd").stat().st_mtime == passwd
    # Keys made only of dots are valid keys (behaviour.md#ids-names-and-keys): they live in the
    # store like any other.
    assert set(key_names(http, sid)) <= {".", "..", "..."}
    assert get_store(http, sid)["id"] == sid
    assert http.get(STORES, params={"unnamed": "true"}).json()["data"]["total"] == stores_before
    response = not_5xx(raw_path(http, "PUT", f"{STORES}/{sid}/records/..", content=b"dots"))
    assert response.status_code == 201
    assert not_5xx(raw_path(http, "GET", f"{STORES}/{sid}/records/..")).content == b"dots"
    assert ".." in key_names(http, sid)


def test_path_traversal_in_store_ids_finds_nothing(
    server: ServerProcess, http: httpx.Client, store: dict[str, object], sentinel: Path
) -> None:
    before = outside_state(server)
    stores_before = http.get(STORES, params={"unnamed": "true"}).json()["data"]["total"]
    for ref in TRAVERSAL_STORES:
        for method, tail in [
            ("GET", ""),
            ("PUT", ""),
            ("DELETE", ""),
            ("GET", "/keys"),
            ("GET", "/records"),
            ("PUT", "/records/k"),
            ("GET", "/records/k"),
        ]:
            body = b'{"name": "evil"}' if tail == "" else b"evil"
            response = not_5xx(raw_path(http, method, f"{STORES}/{ref}{tail}", content=body))
            assert_error(response, 404, ("record-not-found", "page-not-found"))
    assert outside_state(server) == before
    assert sentinel.read_bytes() == b"outside the data directory"
    assert http.get(STORES, params={"unnamed": "true"}).json()["data"]["total"] == stores_before
    assert get_store(http, str(store["id"]))["name"] == store["name"]


@pytest.mark.parametrize(
    "path",
    [
        "/v2/key-value-stores/../../etc/passwd",
        "/v2/%2e%2e/%2e%2e/etc/passwd",
        "/v2/openapi.json/../../../etc/passwd",
        "/v2/openapi.json%00.txt",
        "/v2/users/..%2F..%2Fetc%2Fpasswd",
        "/..%2F..%2Fetc%2Fpasswd",
        "/v2/key-value-stores/%2e%2e%2f%2e%2e%2fopenkvs.db",
    ],
)
def test_path_traversal_elsewhere_is_404(http: httpx.Client, path: str) -> None:
    response = not_5xx(raw_path(http, "GET", path))
    assert_error(response, 404, ("record-not-found", "page-not-found"))
    assert b"root:" not in response.content and b"SQLite" not in response.content


# --- signatures ----------------------------------------------------------------------------------


@pytest.fixture
def restricted(http: httpx.Client) -> dict[str, str]:
    data = create_store(http, unique_name("sig"))
    put_record(http, data["id"], "k", b"secret bytes")
    set_access(http, data["id"], "RESTRICTED")
    return {"id": data["id"], "name": data["name"], "secret": data["urlSigningSecretKey"]}


def forge_expiry(signature: str, new_expiry_ms: int) -> str:
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)).decode()
    version, _expiry, mac = raw.split(".", 2)
    forged = f"{version}.{new_expiry_ms}.{mac}".encode()
    return base64.urlsafe_b64encode(forged).decode().rstrip("=")


def test_forged_storage_signatures_are_403(
    http: httpx.Client, anon: httpx.Client, restricted: dict[str, str]
) -> None:
    sid, secret = restricted["id"], restricted["secret"]
    expired = storage_sig(sid, secret, expires_in_ms=-60_000)
    far_future = int(time.time() * 1000) + 10**9
    other = create_store(http)
    forged = {
        "expiry-extended": forge_expiry(expired, far_future),
        "expiry-removed": forge_expiry(expired, 0),
        "other-stores-signature": storage_sig(other["id"], other["urlSigningSecretKey"]),
        "record-signature-as-storage": record_sig(secret, "k"),
        "mac-only": decode_storage_sig(storage_sig(sid, secret))[2],
        "non-ascii": "é" * 10,
        "nul": "\x00",
        "very-long": "A" * 20_000,
        "padding-only": "====",
        "negative-expiry": base64.urlsafe_b64encode(b"0.-1.abc").decode(),
        "400-digit-expiry": base64.urlsafe_b64encode(b"0." + b"9" * 400 + b".abc").decode(),
        "5000-digit-expiry": base64.urlsafe_b64encode(b"0." + b"9" * 5000 + b".abc").decode(),
        "empty-parts": base64.urlsafe_b64encode(b"..").decode(),
    }
    for what, signature in forged.items():
        for tail in ("keys", "records"):
            response = not_5xx(anon.get(f"{STORES}/{sid}/{tail}", params={"signature": signature}))
            assert response.status_code == 403, (what, response.text[:300])
            assert_error(response, 403, FORBIDDEN)


def test_forged_record_signatures_are_403_on_get_and_head(
    anon: httpx.Client, restricted: dict[str, str]
) -> None:
    sid, secret = restricted["id"], restricted["secret"]
    forged = {
        "storage-signature-as-record": storage_sig(sid, secret),
        "other-key": record_sig(secret, "other"),
        "case-changed": record_sig(secret, "k").swapcase(),
        "truncated": record_sig(secret, "k")[:-1],
        "extended": record_sig(secret, "k") + "0",
        "non-ascii": "é",
        "nul": "\x00",
        "very-long": "A" * 20_000,
    }
    url = f"{STORES}/{sid}/records/k"
    for what, signature in forged.items():
        response = not_5xx(anon.get(url, params={"signature": signature}))
        assert_error(response, 403, FORBIDDEN)
        head = not_5xx(anon.head(url, params={"signature": signature}))
        assert head.status_code == 403, what


def test_a_valid_signature_grants_no_write(anon: httpx.Client, restricted: dict[str, str]) -> None:
    sid, secret = restricted["id"], restricted["secret"]
    url = f"{STORES}/{sid}/records/k"
    for method in ("PUT", "POST", "DELETE"):
        response = not_5xx(
            anon.request(method, url, params={"signature": record_sig(secret, "k")}, content=b"x")
        )
        assert_error(response, 401, "token-not-provided")
    for method in ("PUT", "DELETE"):
        response = not_5xx(
            anon.request(
                method,
                f"{STORES}/{sid}",
                params={"signature": storage_sig(sid, secret)},
                json={"name": "taken-over"},
            )
        )
        assert_error(response, 401, "token-not-provided")


def test_a_signature_does_not_override_a_bad_token(
    anon: httpx.Client, restricted: dict[str, str]
) -> None:
    sid, secret = restricted["id"], restricted["secret"]
    response = not_5xx(
        anon.get(
            f"{STORES}/{sid}/records/k",
            params={"signature": record_sig(secret, "k"), "token": "bogus-" + uuid.uuid4().hex},
        )
    )
    assert_error(response, 401, "invalid-token")


# --- method override -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "%00", "G%0AET", "ÿ", "x" * 5000, "PATCH"])
def test_odd_method_overrides_are_405_not_a_crash(
    http: httpx.Client, store: dict[str, object], method: str
) -> None:
    response = not_5xx(raw_path(http, "GET", f"{STORES}/{store['id']}?method={quote(method)}"))
    assert_error(response, 405, "method-not-allowed")
    assert get_store(http, str(store["id"]))["id"] == store["id"]


# --- tokens in URLs are never logged ------------------------------------------------------------


@pytest.fixture(scope="module")
def log_token(server: ServerProcess) -> str:
    """A token of its own for these tests (the owner's is printed once in the banner)."""
    return server.create_user()


def percent_all(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode())


TOKEN_QUERIES = {
    # (query with {t} for the token, path, status when the token is taken as a token)
    "plain": ("token={t}", "/v2/users/me", 200),
    "after-other-params": ("a=1&token={t}&b=2", "/v2/users/me", 200),
    "value-percent-encoded": ("token={pt}", "/v2/users/me", 200),
    "name-percent-encoded": ("%74oken={t}", "/v2/users/me", 200),
    "name-partly-percent-encoded": ("tok%65n={t}", "/v2/users/me", 200),
    "name-fully-percent-encoded": ("%74%6F%6B%65%6E={t}", "/v2/users/me", 200),
    "method-override": ("method=GET&token={t}", "/v2/users/me", 200),
    "method-override-405": ("method=DELETE&token={t}", "/v2/users/me", 405),
    "unknown-route": ("token={t}", "/v2/datasets", 404),
    "bad-record-key": ("token={t}", "/v2/key-value-stores/x/records/a%20b", 400),
    "repeated": ("token=x&token={t}", "/v2/users/me", 200),
}


@pytest.mark.parametrize("variant", TOKEN_QUERIES)
def test_a_token_in_the_query_never_reaches_the_log(
    server: ServerProcess, anon: httpx.Client, log_token: str, variant: str
) -> None:
    template, path, status = TOKEN_QUERIES[variant]
    marker = "m" + uuid.uuid4().hex[:12]
    query = template.format(t=log_token, pt=percent_all(log_token)) + f"&marker={marker}"
    start = len(server.log())
    response = not_5xx(raw_path(anon, "GET", f"{path}?{query}"))
    assert response.status_code == status, response.text
    log = poll(lambda: server.log()[start:], lambda text: marker in text, timeout=5)
    assert marker in log, "the access log has no line for this request"
    for form in (log_token, quote(log_token, safe=""), percent_all(log_token)):
        assert form not in log, f"token written to the log ({variant}): {log.strip()[-300:]}"


def test_tokens_in_the_query_of_preflights_are_not_logged(
    server: ServerProcess, anon: httpx.Client, log_token: str
) -> None:
    marker = "m" + uuid.uuid4().hex[:12]
    start = len(server.log())
    response = not_5xx(anon.options(f"/v2/users/me?token={log_token}&marker={marker}"))
    assert response.status_code == 204
    log = poll(lambda: server.log()[start:], lambda text: marker in text, timeout=5)
    assert log_token not in log
