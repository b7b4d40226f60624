"""ETag, Last-Modified, conditional requests and Range on records (behaviour.md#http)."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime

import httpx
import pytest

from tests.http_helpers import (
    assert_error,
    etag_of,
    list_keys,
    put_record,
    raw_request,
    record_url,
)

BODY = bytes(range(100))


@pytest.fixture
def record(http: httpx.Client, store: dict[str, object]) -> str:
    """URL of a 100-byte record."""
    put_record(http, str(store["id"]), "k", BODY, "application/octet-stream")
    return record_url(str(store["id"]), "k")


def test_get_and_head_send_strong_md5_etag_and_last_modified(
    http: httpx.Client, record: str
) -> None:
    got = http.get(record)
    head = http.head(record)
    assert got.headers["etag"] == etag_of(BODY)
    assert head.headers["etag"] == etag_of(BODY)
    assert parsedate_to_datetime(got.headers["last-modified"]).tzinfo is not None
    assert head.headers["last-modified"] == got.headers["last-modified"]


def test_a_large_body_sent_in_pieces_has_the_md5_of_all_its_bytes_as_etag(
    http: httpx.Client, store: dict[str, object]
) -> None:
    """Hashed piece by piece off the event loop, where each backend stores the piece."""
    body = bytes(range(251)) * (3 * 1024 * 1024 // 251)
    put_record(http, str(store["id"]), "big", body, "application/octet-stream")
    got = http.get(record_url(str(store["id"]), "big"))
    assert got.content == body
    assert got.headers["etag"] == etag_of(body)


def test_etag_changes_when_record_changes(
    http: httpx.Client, store: dict[str, object], record: str
) -> None:
    put_record(http, str(store["id"]), "k", b"other bytes")
    assert http.get(record).headers["etag"] == etag_of(b"other bytes")


def test_if_none_match_with_current_etag_is_304(http: httpx.Client, record: str) -> None:
    response = http.get(record, headers={"If-None-Match": etag_of(BODY)})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag_of(BODY)
    other = http.get(record, headers={"If-None-Match": '"0000"'})
    assert other.status_code == 200
    assert other.content == BODY


@pytest.mark.parametrize(
    "header",
    ["*", f'"abc", {etag_of(BODY)}', f"W/{etag_of(BODY)}"],
    ids=["star", "list", "weak"],
)
def test_if_none_match_forms_that_match_are_304(
    http: httpx.Client, record: str, header: str
) -> None:
    assert http.get(record, headers={"If-None-Match": header}).status_code == 304


def test_head_with_matching_if_none_match_is_304(http: httpx.Client, record: str) -> None:
    assert http.head(record, headers={"If-None-Match": etag_of(BODY)}).status_code == 304


def test_if_modified_since_gives_304_when_not_modified(http: httpx.Client, record: str) -> None:
    last_modified = http.get(record).headers["last-modified"]
    response = http.get(record, headers={"If-Modified-Since": last_modified})
    assert response.status_code == 304
    assert response.content == b""
    earlier = format_datetime(
        parsedate_to_datetime(last_modified) - timedelta(hours=1), usegmt=True
    )
    response = http.get(record, headers={"If-Modified-Since": earlier})
    assert response.status_code == 200
    assert response.content == BODY


def test_put_with_wrong_if_match_is_412_and_record_unchanged(
    http: httpx.Client, record: str
) -> None:
    response = http.put(record, content=b"new", headers={"If-Match": '"deadbeef"'})
    assert_error(response, 412, "precondition-failed")
    assert http.get(record).content == BODY


def test_put_with_right_if_match_is_201(http: httpx.Client, record: str) -> None:
    response = http.put(record, content=b"new", headers={"If-Match": etag_of(BODY)})
    assert response.status_code == 201, response.text
    assert http.get(record).content == b"new"


def test_put_if_none_match_star_is_412_on_existing_and_201_on_missing(
    http: httpx.Client, store: dict[str, object], record: str
) -> None:
    response = http.put(record, content=b"new", headers={"If-None-Match": "*"})
    assert_error(response, 412, "precondition-failed")
    assert http.get(record).content == BODY
    fresh = record_url(str(store["id"]), "fresh")
    response = http.put(fresh, content=b"first", headers={"If-None-Match": "*"})
    assert response.status_code == 201, response.text
    assert http.get(fresh).content == b"first"


def test_put_if_match_star_needs_an_existing_record(
    http: httpx.Client, store: dict[str, object], record: str
) -> None:
    response = http.put(record, content=b"replaced", headers={"If-Match": "*"})
    assert response.status_code == 201, response.text
    assert http.get(record).content == b"replaced"
    missing = record_url(str(store["id"]), "missing")
    assert_error(
        http.put(missing, content=b"x", headers={"If-Match": "*"}), 412, "precondition-failed"
    )
    assert http.get(missing).status_code == 404


def test_put_if_match_on_missing_record_is_412(
    http: httpx.Client, store: dict[str, object]
) -> None:
    url = record_url(str(store["id"]), "missing")
    response = http.put(url, content=b"x", headers={"If-Match": etag_of(b"x")})
    assert_error(response, 412, "precondition-failed")
    assert list_keys(http, str(store["id"]))["items"] == []


def test_delete_with_wrong_if_match_is_412_and_record_kept(http: httpx.Client, record: str) -> None:
    response = http.delete(record, headers={"If-Match": '"deadbeef"'})
    assert_error(response, 412, "precondition-failed")
    assert http.get(record).content == BODY
    response = http.delete(record, headers={"If-Match": etag_of(BODY)})
    assert response.status_code == 204
    assert http.get(record).status_code == 404


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [("bytes=0-9", 0, 9), ("bytes=10-", 10, 99), ("bytes=-5", 95, 99), ("bytes=90-500", 90, 99)],
)
def test_range_request_is_206_with_content_range(
    http: httpx.Client, record: str, range_header: str, start: int, end: int
) -> None:
    response, body = raw_request(http, "GET", record, headers={"Range": range_header})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/100"
    assert body == BODY[start : end + 1]
    assert response.headers["content-length"] == str(end + 1 - start)


def test_unsatisfiable_range_is_416(http: httpx.Client, record: str) -> None:
    response = http.get(record, headers={"Range": "bytes=100-200"})
    assert_error(response, 416)
    assert response.headers.get("content-range") in (None, "bytes */100")


def test_range_and_etag_on_large_file_backed_record(
    http: httpx.Client, store: dict[str, object]
) -> None:
    body = bytes(i * 7 % 251 for i in range(300_000))
    put_record(http, str(store["id"]), "big", body)
    url = record_url(str(store["id"]), "big")
    head = http.head(url)
    assert head.headers["content-length"] == "300000"
    assert head.headers["etag"] == etag_of(body)
    response, got = raw_request(http, "GET", url, headers={"Range": "bytes=100000-100099"})
    assert response.status_code == 206
    assert response.headers["content-range"] == "bytes 100000-100099/300000"
    assert got == body[100000:100100]
    response, got = raw_request(http, "GET", url, headers={"Range": "bytes=-10"})
    assert got == body[-10:]
    assert http.get(url).content == body
