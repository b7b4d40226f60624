"""Repeated identical GETs of small records (answered again from http/answer_memo.py on the
embedded store) always show the current record, store, access and token, and still count."""

from __future__ import annotations

import httpx

from tests.http_helpers import (
    STORES,
    etag_of,
    get_store,
    poll,
    put_record,
    record_url,
    set_access,
    unique_name,
)

REPEATS = 5


def get_repeatedly(client: httpx.Client, url: str, **kwargs: object) -> httpx.Response:
    """The same request REPEATS times (so its answer is kept); the answers must be equal."""
    first = client.get(url, **kwargs)  # type: ignore[arg-type]
    for _ in range(REPEATS - 1):
        again = client.get(url, **kwargs)  # type: ignore[arg-type]
        assert again.status_code == first.status_code
        assert again.content == first.content
        assert _without_date(again.headers) == _without_date(first.headers)
    return first


def _without_date(headers: httpx.Headers) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name != "date"}


def test_a_repeated_get_shows_each_overwrite_and_delete_at_once(
    http: httpx.Client, store: dict[str, object]
) -> None:
    sid = str(store["id"])
    url = record_url(sid, "hot")
    for version in range(3):
        body = f"version {version}".encode()
        put_record(http, sid, "hot", body, "text/plain")
        answer = get_repeatedly(http, url)
        assert answer.content == body
        assert answer.headers["etag"] == etag_of(body)
        assert answer.headers["content-type"] == "text/plain"
    assert http.delete(url).status_code == 204
    assert get_repeatedly(http, url).status_code == 404
    put_record(http, sid, "hot", b"back", "application/json")
    answer = get_repeatedly(http, url)
    assert (answer.content, answer.headers["content-type"]) == (b"back", "application/json")


def test_a_write_to_another_key_leaves_the_answer_right(
    http: httpx.Client, store: dict[str, object]
) -> None:
    sid = str(store["id"])
    put_record(http, sid, "a", b"first a")
    get_repeatedly(http, record_url(sid, "a"))
    put_record(http, sid, "b", b"first b")
    assert get_repeatedly(http, record_url(sid, "a")).content == b"first a"
    put_record(http, sid, "a", b"second a")
    assert get_repeatedly(http, record_url(sid, "a")).content == b"second a"
    assert get_repeatedly(http, record_url(sid, "b")).content == b"first b"


def test_other_headers_get_their_own_answers(
    http: httpx.Client, store: dict[str, object], other_user: str
) -> None:
    sid = str(store["id"])
    body = b"0123456789"
    put_record(http, sid, "k", body)
    url = record_url(sid, "k")
    assert get_repeatedly(http, url).content == body
    tag = etag_of(body)
    assert get_repeatedly(http, url, headers={"If-None-Match": tag}).status_code == 304
    ranged = get_repeatedly(http, url, headers={"Range": "bytes=2-4"})
    assert (ranged.status_code, ranged.content) == (206, b"234")
    other = get_repeatedly(http, url, headers={"Authorization": f"Bearer {other_user}"})
    assert other.status_code == 403
    attached = get_repeatedly(http, url, params={"attachment": "true"})
    assert attached.headers["content-disposition"] == 'attachment; filename="k"'
    plain = get_repeatedly(http, url)
    assert plain.status_code == 200 and "content-disposition" not in plain.headers
    head = http.head(url)
    assert head.status_code == 200 and head.content == b""


def test_access_rename_and_delete_of_the_store_apply_at_once(
    http: httpx.Client, anon: httpx.Client, store: dict[str, object], token: str
) -> None:
    sid, name = str(store["id"]), str(store["name"])
    put_record(http, sid, "k", b"shared")
    set_access(http, sid, "ANYONE_WITH_ID_CAN_READ")
    assert get_repeatedly(anon, record_url(sid, "k")).content == b"shared"
    set_access(http, sid, "RESTRICTED")
    assert get_repeatedly(anon, record_url(sid, "k")).status_code == 403

    username = http.get("/v2/users/me").json()["data"]["username"]
    by_name = record_url(f"{username}~{name}", "k")
    assert get_repeatedly(http, by_name).content == b"shared"
    renamed = unique_name()
    response = http.put(f"{STORES}/{sid}", json={"name": renamed})
    assert response.status_code == 200, response.text
    assert get_repeatedly(http, by_name).status_code == 404
    assert get_repeatedly(http, record_url(f"{username}~{renamed}", "k")).content == b"shared"

    assert http.delete(f"{STORES}/{sid}").status_code == 204
    assert get_repeatedly(http, record_url(sid, "k")).status_code == 404


def test_repeated_gets_are_each_counted_as_a_read(
    http: httpx.Client, store: dict[str, object]
) -> None:
    sid = str(store["id"])
    put_record(http, sid, "k", b"counted")
    get_repeatedly(http, record_url(sid, "k"))
    get_repeatedly(http, record_url(sid, "k"))
    stats = poll(lambda: get_store(http, sid)["stats"], lambda s: s["readCount"] >= 2 * REPEATS)
    assert stats["readCount"] == 2 * REPEATS
