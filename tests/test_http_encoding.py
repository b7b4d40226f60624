"""Content-Encoding of record and JSON request bodies (behaviour.md#records, #sizes-and-limits)."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable

import brotli
import httpx
import pytest

from tests.http_helpers import (
    STORES,
    assert_error,
    get_store,
    list_keys,
    put_record,
    raw_get_without_accept_encoding,
    raw_request,
    record_url,
    unique_name,
)

TEXT = b"The quick brown fox jumps over the lazy dog. " * 100

ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "br": brotli.compress,
    "deflate": zlib.compress,
}


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate"])
def test_encoded_record_is_stored_as_uploaded(
    http: httpx.Client, store: dict[str, object], encoding: str
) -> None:
    packed = ENCODERS[encoding](TEXT)
    sid = str(store["id"])
    put_record(http, sid, "k", packed, "text/plain", **{"Content-Encoding": encoding})
    assert list_keys(http, sid)["items"][0]["size"] == len(packed)
    response, body = raw_request(
        http, "GET", record_url(sid, "k"), headers={"Accept-Encoding": encoding}
    )
    assert response.status_code == 200
    assert response.headers["content-encoding"] == encoding
    assert response.headers["content-type"] == "text/plain"
    assert body == packed


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate"])
def test_encoded_record_is_decoded_for_clients_that_do_not_accept_it(
    http: httpx.Client, store: dict[str, object], encoding: str
) -> None:
    packed = ENCODERS[encoding](TEXT)
    sid = str(store["id"])
    put_record(http, sid, "k", packed, "text/plain", **{"Content-Encoding": encoding})
    response, body = raw_request(
        http, "GET", record_url(sid, "k"), headers={"Accept-Encoding": "identity"}
    )
    assert response.status_code == 200
    assert response.headers.get("content-encoding", "identity") == "identity"
    assert response.headers["content-type"] == "text/plain"
    assert body == TEXT
    assert response.headers.get("content-length") in (None, str(len(TEXT)))
    response, body = raw_get_without_accept_encoding(http, record_url(sid, "k"))
    assert response.status_code == 200
    assert "accept-encoding" not in response.request.headers
    assert response.headers.get("content-encoding", "identity") == "identity"
    assert body == TEXT


@pytest.mark.parametrize(
    ("accept", "encoded"),
    [("*", True), ("br, gzip;q=0.5", True), ("gzip;q=0", False), ("deflate, br", False)],
)
def test_accept_encoding_forms_decide_whether_gzip_is_sent_as_stored(
    http: httpx.Client, store: dict[str, object], accept: str, encoded: bool
) -> None:
    sid = str(store["id"])
    packed = gzip.compress(TEXT)
    put_record(http, sid, "k", packed, "text/plain", **{"Content-Encoding": "gzip"})
    response, body = raw_request(
        http, "GET", record_url(sid, "k"), headers={"Accept-Encoding": accept}
    )
    assert response.status_code == 200
    if encoded:
        assert response.headers["content-encoding"] == "gzip"
        assert body == packed
    else:
        assert response.headers.get("content-encoding") != "gzip"
        if response.headers.get("content-encoding") == "br":
            body = brotli.decompress(body)
        elif response.headers.get("content-encoding") == "deflate":
            body = zlib.decompress(body)
        assert body == TEXT


def test_gzip_record_is_decoded_when_client_accepts_only_br(
    http: httpx.Client, store: dict[str, object]
) -> None:
    sid = str(store["id"])
    put_record(http, sid, "k", gzip.compress(TEXT), "text/plain", **{"Content-Encoding": "gzip"})
    response, body = raw_request(
        http, "GET", record_url(sid, "k"), headers={"Accept-Encoding": "br"}
    )
    assert response.status_code == 200
    assert response.headers.get("content-encoding") != "gzip"
    if response.headers.get("content-encoding") == "br":
        body = brotli.decompress(body)
    assert body == TEXT


def test_head_on_encoded_record_describes_what_get_would_send(
    http: httpx.Client, store: dict[str, object]
) -> None:
    sid = str(store["id"])
    packed = gzip.compress(TEXT)
    put_record(http, sid, "k", packed, "text/plain", **{"Content-Encoding": "gzip"})
    head = http.head(record_url(sid, "k"), headers={"Accept-Encoding": "gzip"})
    assert head.status_code == 200
    assert head.headers["content-encoding"] == "gzip"
    assert head.headers["content-length"] == str(len(packed))
    head = http.head(record_url(sid, "k"), headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200
    assert head.headers.get("content-encoding", "identity") == "identity"
    assert head.headers.get("content-length") in (None, str(len(TEXT)))


def test_identity_encoding_means_not_encoded(http: httpx.Client, store: dict[str, object]) -> None:
    sid = str(store["id"])
    put_record(http, sid, "k", b"plain", "text/plain", **{"Content-Encoding": "identity"})
    response, body = raw_request(http, "GET", record_url(sid, "k"))
    assert body == b"plain"
    assert response.headers.get("content-encoding", "identity") == "identity"
    assert list_keys(http, sid)["items"][0]["size"] == 5


def test_unknown_content_encoding_is_415_and_nothing_stored(
    http: httpx.Client, store: dict[str, object]
) -> None:
    sid = str(store["id"])
    response = http.put(record_url(sid, "k"), content=b"data", headers={"Content-Encoding": "bla"})
    assert_error(response, 415, "unsupported-content-encoding")
    assert list_keys(http, sid)["items"] == []


def corrupt_bodies() -> list[tuple[str, bytes]]:
    gz = gzip.compress(TEXT)
    br = brotli.compress(TEXT)
    df = zlib.compress(TEXT)
    return [
        ("gzip", b"this is not gzip at all"),
        ("gzip", gz[: len(gz) // 2]),
        ("gzip", gz[:-8] + b"\x00" * 8),
        ("br", b"\xff\xff\xff\xffnot brotli"),
        ("br", br[: len(br) // 2]),
        ("deflate", b"\x00\x01 not deflate"),
        ("deflate", df[: len(df) // 2]),
    ]


@pytest.mark.parametrize(("encoding", "body"), corrupt_bodies())
def test_corrupt_or_truncated_body_is_400_and_previous_value_kept(
    http: httpx.Client, store: dict[str, object], encoding: str, body: bytes
) -> None:
    sid = str(store["id"])
    put_record(http, sid, "k", b"previous", "text/plain")
    response = http.put(
        record_url(sid, "k"),
        content=body,
        headers={"Content-Encoding": encoding, "Content-Type": "text/plain"},
    )
    assert_error(response, 400, "invalid-request")
    got = http.get(record_url(sid, "k"), headers={"Accept-Encoding": "identity"})
    assert got.content == b"previous"
    response = http.put(
        record_url(sid, "fresh"),
        content=body,
        headers={"Content-Encoding": encoding, "Content-Type": "text/plain"},
    )
    assert_error(response, 400, "invalid-request")
    assert [i["key"] for i in list_keys(http, sid)["items"]] == ["k"]


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate"])
def test_compressed_json_body_on_store_create_and_update(http: httpx.Client, encoding: str) -> None:
    schema = {
        "actorKeyValueStoreSchemaVersion": 1,
        "title": "t",
        "collections": {"c": {"title": "C", "key": "CONFIG"}},
    }
    name = unique_name()
    payload = ENCODERS[encoding](json.dumps({"schema": schema}).encode())
    response = http.post(
        STORES,
        params={"name": name},
        content=payload,
        headers={"Content-Type": "application/json", "Content-Encoding": encoding},
    )
    assert response.status_code == 201, response.text
    created = response.json()["data"]
    assert created["schema"] == schema
    new_name = unique_name()
    payload = ENCODERS[encoding](json.dumps({"name": new_name}).encode())
    response = http.put(
        f"{STORES}/{created['id']}",
        content=payload,
        headers={"Content-Type": "application/json", "Content-Encoding": encoding},
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["name"] == new_name


def test_unknown_encoding_on_store_update_is_415(
    http: httpx.Client, store: dict[str, object]
) -> None:
    response = http.put(
        f"{STORES}/{store['id']}",
        content=b'{"name": "x-y"}',
        headers={"Content-Type": "application/json", "Content-Encoding": "bla"},
    )
    assert_error(response, 415, "unsupported-content-encoding")
    assert get_store(http, str(store["id"]))["name"] == store["name"]


def test_gzip_bomb_on_store_update_is_413_request_too_large(
    http: httpx.Client, store: dict[str, object]
) -> None:
    inflated = b'{"name": "bomb", "title": "' + b" " * (10 * 1024 * 1024) + b'"}'
    bomb = gzip.compress(inflated, compresslevel=9)
    assert len(bomb) < 32 * 1024
    response = http.put(
        f"{STORES}/{store['id']}",
        content=bomb,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert_error(response, 413, "request-too-large")
    assert get_store(http, str(store["id"]))["name"] == store["name"]


def test_plain_json_over_9_mib_on_store_update_is_413(
    http: httpx.Client, store: dict[str, object]
) -> None:
    big = b'{"title": "' + b"x" * (9 * 1024 * 1024 + 10) + b'"}'
    response = http.put(
        f"{STORES}/{store['id']}", content=big, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 413, "request-too-large")


def test_range_is_ignored_on_gzip_stored_record(
    http: httpx.Client, store: dict[str, object]
) -> None:
    sid = str(store["id"])
    packed = gzip.compress(TEXT)
    put_record(http, sid, "k", packed, "text/plain", **{"Content-Encoding": "gzip"})
    response, body = raw_request(
        http,
        "GET",
        record_url(sid, "k"),
        headers={"Range": "bytes=0-9", "Accept-Encoding": "identity"},
    )
    assert response.status_code == 200
    assert "content-range" not in response.headers
    assert body == TEXT
    response, body = raw_request(
        http, "GET", record_url(sid, "k"), headers={"Range": "bytes=0-9", "Accept-Encoding": "gzip"}
    )
    assert response.status_code == 200
    assert body == packed
