"""No record runs script on the server's origin (issue 15 items 3 and 10, behaviour.md#http).

Every record answer carries `Content-Security-Policy: sandbox` and `X-Content-Type-Options:
nosniff`, whatever the spelling of the record's Content-Type and whatever the answer (GET, HEAD,
206, 304, attachment, small records from the database or the answer memo, large ones streamed,
encoded ones as stored or decoded). With `--redirect-large-records`, only records of an inert type
(one media type, strictly parsed, from a short list) go to the object store, whose answer has
neither header; everything else is served here.
"""

from __future__ import annotations

import gzip
import os

import httpx
import pytest

from tests.http_helpers import put_record, record_url
from tests.server_process import MakeServer, ServerProcess

HTML = b"<!doctype html><script>document.title='pwned'</script><p>hi</p>"
LARGE = 100_000  # above the default 64 KiB inline threshold: a file or an object

# Spellings that a browser may treat as HTML, SVG or XML, or that escaped the old type list.
SPELLINGS = [
    "text/html",
    "text/plain,text/html",
    "text/html,",
    "text/plain, text/html",
    "image/svg+xml,",
    "text/xsl",
    "multipart/x-mixed-replace",
    "multipart/x-mixed-replace; boundary=x",
    "TEXT/HTML",
    "Text/Html; Charset=UTF-8",
    "text/html ;charset=utf-8",
    "text/html\t;\tcharset=utf-8",
    "image/SVG+xml",
    "application/xhtml+xml",
    "application/xml",
    "text/xml",
    "application/rdf+xml",
    "text/plain",
    "image/png",
    "application/json",
    "application/octet-stream",
]


def _assert_sandboxed(response: httpx.Response, what: object) -> None:
    assert response.headers.get("content-security-policy") == "sandbox", (what, response.headers)
    assert response.headers.get("x-content-type-options") == "nosniff", (what, response.headers)


def _answers(client: httpx.Client, url: str) -> list[tuple[str, httpx.Response]]:
    """Every kind of answer a record GET or HEAD can give, each checked for its status."""
    first = client.get(url)
    assert first.status_code == 200, first.text
    got = [
        ("get", first),
        ("get-again", client.get(url)),
        ("get-third", client.get(url)),  # the embedded backend answers this one from the memo
        ("head", client.head(url)),
        ("range", client.get(url, headers={"Range": "bytes=0-9"})),
        ("not-modified", client.get(url, headers={"If-None-Match": first.headers["etag"]})),
        ("attachment", client.get(url, params={"attachment": "true"})),
        ("attachment-head", client.head(url, params={"attachment": "1"})),
    ]
    expected = {"range": 206, "not-modified": 304}
    for what, response in got:
        assert response.status_code == expected.get(what, 200), (what, response.status_code)
    return got


@pytest.mark.parametrize("size", ["small", "large"])
@pytest.mark.parametrize("content_type", SPELLINGS)
def test_every_record_answer_is_sandboxed_and_nosniff(
    http: httpx.Client, store: dict[str, object], content_type: str, size: str
) -> None:
    body = HTML if size == "small" else HTML + b" " * LARGE
    sid = str(store["id"])
    put_record(http, sid, "page", body, content_type)
    for what, response in _answers(http, record_url(sid, "page")):
        _assert_sandboxed(response, (content_type, size, what))
        if what != "not-modified":
            assert response.headers["content-type"] == content_type, what


def test_anonymous_and_signed_readers_get_the_sandbox_too(
    http: httpx.Client, anon: httpx.Client, store: dict[str, object]
) -> None:
    sid = str(store["id"])
    put_record(http, sid, "page", HTML, "text/plain,text/html")
    http.put(f"/v2/key-value-stores/{sid}", json={"generalAccess": "ANYONE_WITH_ID_CAN_READ"})
    keys = http.get(f"/v2/key-value-stores/{sid}/keys").json()["data"]["items"]
    signed_url = keys[0]["recordPublicUrl"]
    assert "signature=" in signed_url
    for what, response in [
        ("anonymous", anon.get(record_url(sid, "page"))),
        ("signed", anon.get(signed_url)),
    ]:
        assert response.status_code == 200, (what, response.text)
        _assert_sandboxed(response, what)


@pytest.mark.parametrize("size", ["small", "large"])
@pytest.mark.parametrize("accept", ["gzip", "identity"])
def test_encoded_records_are_sandboxed_as_stored_and_decoded(
    http: httpx.Client, store: dict[str, object], size: str, accept: str
) -> None:
    plain = HTML if size == "small" else HTML + os.urandom(LARGE).hex().encode()
    sid = str(store["id"])
    put_record(
        http, sid, "page.gz", gzip.compress(plain), "text/html,", **{"Content-Encoding": "gzip"}
    )
    url = record_url(sid, "page.gz")
    headers = {"Accept-Encoding": accept}
    for what, response in [
        ("get", http.get(url, headers=headers)),
        ("head", http.head(url, headers=headers)),
        ("attachment", http.get(url, headers=headers, params={"attachment": "true"})),
    ]:
        assert response.status_code == 200, (what, response.text)
        _assert_sandboxed(response, (accept, what))
        if what != "head":
            assert response.content == plain  # httpx decodes what came encoded


# --- --redirect-large-records (scale-out only) ----------------------------------------------------

MiB = 1024 * 1024
# Types the object store may serve: one media type from the inert list, parameters allowed.
INERT = [
    "image/png",
    "IMAGE/PNG",
    "image/jpeg; quality=high",
    "application/octet-stream",
    "application/json; charset=utf-8",
    "application/pdf",
    "application/zip",
    "video/mp4",
    "audio/mpeg",
]
# Anything else is served here, sandboxed: lists, trailing commas, HTML, SVG, XML, text.
NOT_INERT = [
    "text/html",
    "image/png,text/html",
    "image/png, text/html",
    "image/png,",
    "image/svg+xml",
    "IMAGE/SVG+XML",
    "text/plain",
    "text/xsl",
    "multipart/x-mixed-replace",
    "application/xml",
    "image/png;",
    'image/png; x="a,text/html"',
    "application/x-unknown",
]


@pytest.fixture
def redirecting(make_server: MakeServer) -> ServerProcess:
    return make_server(scaleout_args=("--redirect-large-records", "1MiB"))


def _owner(node: ServerProcess) -> httpx.Client:
    headers = {"Authorization": f"Bearer {node.token}"}
    return httpx.Client(base_url=node.url, headers=headers, timeout=60)


def _put_large(client: httpx.Client, content_type: str) -> tuple[str, bytes]:
    sid = str(client.post("/v2/key-value-stores", params={"name": "redir"}).json()["data"]["id"])
    body = HTML + b" " * (2 * MiB)
    put_record(client, sid, "big", body, content_type)
    return record_url(sid, "big"), body


@pytest.mark.scaleout_only("presigned URLs come from the object store")
@pytest.mark.parametrize("content_type", NOT_INERT)
def test_large_records_of_other_types_are_served_here_sandboxed(
    redirecting: ServerProcess, content_type: str
) -> None:
    with _owner(redirecting) as client:
        url, body = _put_large(client, content_type)
        for params in ({}, {"attachment": "true"}):
            response = client.get(url, params=params)
            assert response.status_code == 200, (content_type, params, response.status_code)
            assert response.content == body
            _assert_sandboxed(response, (content_type, params))


@pytest.mark.scaleout_only("presigned URLs come from the object store")
@pytest.mark.parametrize("content_type", INERT)
def test_large_records_of_inert_types_are_still_redirected(
    redirecting: ServerProcess, content_type: str
) -> None:
    with _owner(redirecting) as client:
        url, body = _put_large(client, content_type)
        response = client.get(url)
        assert response.status_code == 302, (content_type, response.status_code)
        followed = httpx.get(response.headers["location"], timeout=60)
    assert followed.status_code == 200
    assert followed.content == body
    assert followed.headers["content-type"] == content_type
