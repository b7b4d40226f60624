"""Record endpoints over raw HTTP: PUT/POST, GET, HEAD, DELETE, headers (behaviour.md#records,
#http)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.http_helpers import (
    STORES,
    assert_error,
    list_keys,
    put_record,
    raw_request,
    record_url,
)

BINARY = bytes(range(256)) * 4


def test_put_record_is_201_with_location_and_empty_json_body(
    http: httpx.Client, store: dict[str, object], base_url: str
) -> None:
    response = http.put(
        record_url(str(store["id"]), "my-key"),
        content=b"hi",
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"{base_url}{STORES}/{store['id']}/records/my-key"
    assert response.json() == {}


def test_put_by_tilde_name_gives_location_with_store_id(
    http: httpx.Client, store: dict[str, object], base_url: str
) -> None:
    response = http.put(f"{STORES}/~{store['name']}/records/k1", content=b"x")
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"{base_url}{STORES}/{store['id']}/records/k1"
    assert http.get(record_url(str(store["id"]), "k1")).content == b"x"


def test_post_record_behaves_like_put(
    http: httpx.Client, store: dict[str, object], base_url: str
) -> None:
    response = http.post(
        record_url(str(store["id"]), "posted"),
        content=b'{"a": 1}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"{base_url}{STORES}/{store['id']}/records/posted"
    assert response.json() == {}
    got = http.get(record_url(str(store["id"]), "posted"))
    assert got.content == b'{"a": 1}'
    assert got.headers["content-type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain; charset=utf-8",
        "application/json; charset=UTF-8",
        "image/png",
        "x-custom/y; a=b",
    ],
)
def test_get_record_returns_exact_bytes_and_content_type(
    http: httpx.Client, store: dict[str, object], content_type: str
) -> None:
    put_record(http, str(store["id"]), "k", BINARY, content_type)
    response, body = raw_request(http, "GET", record_url(str(store["id"]), "k"))
    assert response.status_code == 200
    assert body == BINARY
    assert response.headers["content-type"] == content_type
    assert response.headers["content-length"] == str(len(BINARY))


def test_json_content_type_body_is_stored_without_parsing(
    http: httpx.Client, store: dict[str, object]
) -> None:
    body = b'{"not": "closed", \n  "indent":   [1,2,'
    put_record(http, str(store["id"]), "k", body, "application/json")
    assert http.get(record_url(str(store["id"]), "k")).content == body


def test_overwrite_replaces_bytes_and_content_type(
    http: httpx.Client, store: dict[str, object]
) -> None:
    put_record(http, str(store["id"]), "k", b"first", "text/plain")
    put_record(http, str(store["id"]), "k", b"second!", "application/x-second")
    response = http.get(record_url(str(store["id"]), "k"))
    assert response.content == b"second!"
    assert response.headers["content-type"] == "application/x-second"


def test_records_with_equal_bodies_answer_each_with_its_own_content_type(
    http: httpx.Client, store: dict[str, object]
) -> None:
    # Equal bodies, equal ETags: headers kept for one record must not answer for the other.
    put_record(http, str(store["id"]), "a", b"same", "text/plain")
    put_record(http, str(store["id"]), "b", b"same", "application/x-other")
    for _ in range(3):
        first = http.get(record_url(str(store["id"]), "a"))
        second = http.get(record_url(str(store["id"]), "b"))
        assert first.headers["etag"] == second.headers["etag"]
        assert first.headers["content-type"] == "text/plain"
        assert second.headers["content-type"] == "application/x-other"
    put_record(http, str(store["id"]), "a", b"same", "application/x-third")
    assert http.get(record_url(str(store["id"]), "a")).headers["content-type"] == (
        "application/x-third"
    )


def test_missing_content_type_is_stored_as_octet_stream(
    http: httpx.Client, store: dict[str, object]
) -> None:
    response = http.put(record_url(str(store["id"]), "k"), content=b"raw")
    assert response.status_code == 201
    assert "content-type" not in response.request.headers
    got = http.get(record_url(str(store["id"]), "k"))
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.content == b"raw"


def test_content_type_over_255_chars_is_400_and_nothing_stored(
    http: httpx.Client, store: dict[str, object]
) -> None:
    too_long = "text/plain; x=" + "a" * 242
    assert len(too_long) == 256
    response = http.put(
        record_url(str(store["id"]), "k"), content=b"x", headers={"Content-Type": too_long}
    )
    assert_error(response, 400, "invalid-content-type-header")
    assert list_keys(http, str(store["id"]))["items"] == []
    exactly = too_long[:255]
    put_record(http, str(store["id"]), "k", b"x", exactly)
    assert http.get(record_url(str(store["id"]), "k")).headers["content-type"] == exactly


def test_empty_body_is_a_record_of_size_zero(http: httpx.Client, store: dict[str, object]) -> None:
    put_record(http, str(store["id"]), "empty", b"", "text/plain")
    items = list_keys(http, str(store["id"]))["items"]
    assert [(i["key"], i["size"]) for i in items] == [("empty", 0)]
    response = http.get(record_url(str(store["id"]), "empty"))
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "text/plain"
    assert response.headers["content-length"] == "0"


def test_head_record_is_200_with_content_length_and_no_body(
    http: httpx.Client, store: dict[str, object]
) -> None:
    put_record(http, str(store["id"]), "k", b"0123456789", "text/plain")
    response = http.head(record_url(str(store["id"]), "k"))
    assert response.status_code == 200
    assert response.headers["content-length"] == "10"
    assert response.headers["content-type"] == "text/plain"
    assert response.content == b""


def test_head_missing_record_is_404(http: httpx.Client, store: dict[str, object]) -> None:
    assert http.head(record_url(str(store["id"]), "nope")).status_code == 404
    assert http.head(record_url("AAAAAAAAAAAAAAAAA", "nope")).status_code == 404


def test_get_missing_record_and_missing_store_are_404_record_not_found(
    http: httpx.Client, store: dict[str, object]
) -> None:
    assert_error(http.get(record_url(str(store["id"]), "nope")), 404, "record-not-found")
    assert_error(http.get(record_url("AAAAAAAAAAAAAAAAA", "nope")), 404, "record-not-found")


def test_delete_record_is_204_then_gone(http: httpx.Client, store: dict[str, object]) -> None:
    put_record(http, str(store["id"]), "k", b"v")
    response = http.delete(record_url(str(store["id"]), "k"))
    assert response.status_code == 204
    assert response.content == b""
    assert_error(http.get(record_url(str(store["id"]), "k")), 404, "record-not-found")
    assert list_keys(http, str(store["id"]))["items"] == []


def test_delete_missing_record_in_existing_store_is_204(
    http: httpx.Client, store: dict[str, object]
) -> None:
    response = http.delete(record_url(str(store["id"]), "never-was"))
    assert response.status_code == 204


def test_delete_record_in_missing_store_is_404(http: httpx.Client) -> None:
    assert_error(http.delete(record_url("AAAAAAAAAAAAAAAAA", "k")), 404, "record-not-found")


def test_put_record_in_missing_store_is_404(http: httpx.Client) -> None:
    response = http.put(record_url("AAAAAAAAAAAAAAAAA", "k"), content=b"v")
    assert_error(response, 404, "record-not-found")


def test_chunked_upload_without_content_length_is_stored(
    http: httpx.Client, store: dict[str, object]
) -> None:
    chunks = [bytes([i]) * 70_000 for i in range(5)]

    def body() -> Iterator[bytes]:
        yield from chunks

    response = http.put(
        record_url(str(store["id"]), "chunked"),
        content=body(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    got = http.get(record_url(str(store["id"]), "chunked"))
    assert got.content == b"".join(chunks)
    assert list_keys(http, str(store["id"]))["items"][0]["size"] == 350_000


@pytest.mark.parametrize("flag", ["true", "1"])
def test_attachment_sets_content_disposition_with_key(
    http: httpx.Client, store: dict[str, object], flag: str
) -> None:
    put_record(http, str(store["id"]), "report.html", b"<p>x</p>", "text/html")
    response = http.get(record_url(str(store["id"]), "report.html"), params={"attachment": flag})
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="report.html"'
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == b"<p>x</p>"


def test_attachment_false_sends_no_attachment_disposition(
    http: httpx.Client, store: dict[str, object]
) -> None:
    put_record(http, str(store["id"]), "k", b"x", "text/plain")
    for flag in ("false", "0"):
        response = http.get(record_url(str(store["id"]), "k"), params={"attachment": flag})
        assert response.status_code == 200
        assert not response.headers.get("content-disposition", "").startswith("attachment")


def test_nosniff_on_get_head_and_range_responses(
    http: httpx.Client, store: dict[str, object]
) -> None:
    put_record(http, str(store["id"]), "k", b"0123456789", "text/plain")
    url = record_url(str(store["id"]), "k")
    responses = [
        http.get(url),
        http.head(url),
        http.get(url, headers={"Range": "bytes=0-1"}),
        http.get(url, params={"attachment": "true"}),
    ]
    for response in responses:
        assert response.status_code in (200, 206)
        assert response.headers.get("x-content-type-options") == "nosniff", response.request


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html",
        "text/html; charset=utf-8",
        "image/svg+xml",
        "application/xml",
        "text/xml",
        "application/xhtml+xml",
    ],
)
def test_html_svg_xml_records_without_attachment_carry_csp_sandbox(
    http: httpx.Client, store: dict[str, object], content_type: str
) -> None:
    put_record(http, str(store["id"]), "doc", b"<x>alert(1)</x>", content_type)
    response = http.get(record_url(str(store["id"]), "doc"))
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert "sandbox" in response.headers.get("content-security-policy", ""), response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == b"<x>alert(1)</x>"
