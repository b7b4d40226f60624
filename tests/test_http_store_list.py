"""Listing stores (D5) and store stats and timestamps (D6) over raw HTTP."""

from __future__ import annotations

import gzip
import time

import httpx
import pytest

from tests.http_helpers import (
    STATS_FIELDS,
    STORES,
    TIMESTAMP_RE,
    assert_error,
    create_store,
    get_store,
    poll,
    put_record,
    unique_name,
)


def list_ids(http: httpx.Client, **params: str) -> list[str]:
    response = http.get(STORES, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]["items"]]


def test_list_stores_shape_and_defaults(http: httpx.Client, store: dict[str, object]) -> None:
    response = http.get(STORES)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["offset"] == 0
    assert data["limit"] == 1000
    assert data["desc"] is False
    assert data["count"] == len(data["items"])
    assert data["total"] >= data["count"] >= 1
    item = next(i for i in data["items"] if i["id"] == store["id"])
    assert item["name"] == store["name"]
    for field in ("createdAt", "modifiedAt", "accessedAt"):
        assert TIMESTAMP_RE.match(item[field])
    for field in STATS_FIELDS:
        assert isinstance(item["stats"][field], int), field


def test_list_stores_shows_named_only_by_default(http: httpx.Client) -> None:
    named = create_store(http, unique_name())
    unnamed = create_store(http)
    for params in ({}, {"unnamed": "false"}, {"unnamed": "0"}):
        ids = list_ids(http, **params)
        assert named["id"] in ids, params
        assert unnamed["id"] not in ids, params
    for params in ({"unnamed": "true"}, {"unnamed": "1"}):
        ids = list_ids(http, **params)
        assert named["id"] in ids, params
        assert unnamed["id"] in ids, params


def test_list_stores_desc_reverses_creation_order(http: httpx.Client) -> None:
    made = []
    for _ in range(3):
        made.append(create_store(http, unique_name())["id"])
        time.sleep(0.005)
    asc = [i for i in list_ids(http) if i in made]
    assert asc == made
    for flag in ("true", "1"):
        response = http.get(STORES, params={"desc": flag})
        assert response.json()["data"]["desc"] is True
        desc = [item["id"] for item in response.json()["data"]["items"] if item["id"] in made]
        assert desc == made[::-1], flag
    response = http.get(STORES, params={"desc": "0"})
    assert response.json()["data"]["desc"] is False


def test_list_stores_offset_and_limit_page_through(http: httpx.Client) -> None:
    for _ in range(3):
        create_store(http, unique_name())
    full = http.get(STORES, params={"unnamed": "true"}).json()["data"]
    assert full["total"] == len(full["items"])
    all_ids = [item["id"] for item in full["items"]]
    response = http.get(STORES, params={"unnamed": "true", "offset": 1, "limit": 2})
    page = response.json()["data"]
    assert page["offset"] == 1
    assert page["limit"] == 2
    assert page["count"] == 2
    assert page["total"] == full["total"]
    assert [item["id"] for item in page["items"]] == all_ids[1:3]
    beyond = http.get(STORES, params={"unnamed": "1", "offset": len(all_ids)}).json()["data"]
    assert beyond["items"] == [] and beyond["count"] == 0


@pytest.mark.parametrize(("sent", "echoed"), [("0", 1000), ("5000", 1000), ("1", 1)])
def test_list_stores_limit_zero_means_default_and_large_is_capped(
    http: httpx.Client, store: dict[str, object], sent: str, echoed: int
) -> None:
    response = http.get(STORES, params={"limit": sent})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["limit"] == echoed
    assert data["count"] == len(data["items"]) <= echoed
    assert data["count"] >= 1


@pytest.mark.parametrize(
    "params",
    [{"limit": "-1"}, {"limit": "abc"}, {"limit": "1.5"}, {"offset": "-3"}, {"offset": "x"}],
)
def test_list_stores_bad_limit_or_offset_is_400_invalid_parameter(
    http: httpx.Client, params: dict[str, str]
) -> None:
    assert_error(http.get(STORES, params=params), 400, "invalid-parameter")


@pytest.mark.parametrize("params", [{"desc": "yes"}, {"unnamed": "maybe"}, {"desc": "2"}])
def test_list_stores_bad_boolean_is_400_invalid_parameter(
    http: httpx.Client, params: dict[str, str]
) -> None:
    assert_error(http.get(STORES, params=params), 400, "invalid-parameter")


def test_list_stores_shows_only_callers_own_stores(
    anon: httpx.Client, store: dict[str, object], other_user: str
) -> None:
    response = anon.get(
        STORES, params={"unnamed": "true"}, headers={"Authorization": f"Bearer {other_user}"}
    )
    assert response.status_code == 200, response.text
    assert store["id"] not in [item["id"] for item in response.json()["data"]["items"]]


def test_stats_count_writes_reads_lists_deletes_and_bytes(
    http: httpx.Client, store: dict[str, object]
) -> None:
    sid = str(store["id"])
    put_record(http, sid, "a", b"12345")
    put_record(http, sid, "b", b"123")
    put_record(http, sid, "b", b"1234")
    assert http.get(f"{STORES}/{sid}/records/a").status_code == 200
    assert http.get(f"{STORES}/{sid}/records/a").status_code == 200
    assert http.head(f"{STORES}/{sid}/records/a").status_code == 200  # not a read (D6)
    assert http.get(f"{STORES}/{sid}/keys").status_code == 200
    assert http.get(f"{STORES}/{sid}/records").status_code == 200
    assert http.delete(f"{STORES}/{sid}/records/b").status_code == 204
    want = {
        "writeCount": 3,
        "readCount": 2,
        "listCount": 2,
        "deleteCount": 1,
        "storageBytes": 5,
        "s3StorageBytes": 5,
    }

    def stats() -> dict[str, int]:
        return {k: get_store(http, sid)["stats"][k] for k in want}

    assert poll(stats, lambda s: s == want) == want


def test_storage_bytes_count_stored_compressed_size(
    http: httpx.Client, store: dict[str, object]
) -> None:
    sid = str(store["id"])
    packed = gzip.compress(b"hello world " * 500)
    put_record(http, sid, "z", packed, "text/plain", **{"Content-Encoding": "gzip"})
    put_record(http, sid, "p", b"abc")
    stats = get_store(http, sid)["stats"]
    assert stats["storageBytes"] == len(packed) + 3
    assert stats["s3StorageBytes"] == len(packed) + 3


def test_modified_at_moves_on_record_write_and_delete(
    http: httpx.Client, store: dict[str, object]
) -> None:
    sid = str(store["id"])
    before = get_store(http, sid)["modifiedAt"]
    time.sleep(0.01)
    put_record(http, sid, "k", b"v")
    after_write = get_store(http, sid)["modifiedAt"]
    assert TIMESTAMP_RE.match(after_write)
    assert after_write > before
    time.sleep(0.01)
    assert http.delete(f"{STORES}/{sid}/records/k").status_code == 204
    assert get_store(http, sid)["modifiedAt"] > after_write


def test_accessed_at_moves_on_access(http: httpx.Client, store: dict[str, object]) -> None:
    sid = str(store["id"])
    put_record(http, sid, "k", b"v")
    before = get_store(http, sid)["accessedAt"]
    time.sleep(0.01)
    assert http.get(f"{STORES}/{sid}/records/k").status_code == 200
    after = poll(lambda: get_store(http, sid)["accessedAt"], lambda v: v > before)
    assert TIMESTAMP_RE.match(after)
    assert after > before


def test_list_stores_ownership_filter(http: httpx.Client, store: dict[str, object]) -> None:
    assert store["id"] in list_ids(http, ownership="ownedByMe")
    assert store["id"] not in list_ids(http, ownership="sharedWithMe")
