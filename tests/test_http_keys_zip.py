"""Listing keys (behaviour.md#listing) and downloading records as a ZIP (behaviour.md#http) over raw
HTTP."""

from __future__ import annotations

import gzip
import io
import zipfile
from concurrent.futures import ThreadPoolExecutor

import brotli
import httpx
import pytest

from tests.http_helpers import (
    STORES,
    assert_error,
    get_store,
    key_names,
    list_keys,
    put_record,
    record_sig,
)

KEYS = ["b0", "a", "_x", "Z", "A", "(c", "'b", "!a", "b.2", "b-1", "0", "zz"]


@pytest.fixture
def filled(http: httpx.Client, store: dict[str, object]) -> str:
    sid = str(store["id"])
    for key in KEYS:
        put_record(http, sid, key, key.encode() * 2, "text/plain")
    return sid


def test_keys_are_sorted_in_byte_order_with_sizes(http: httpx.Client, filled: str) -> None:
    data = list_keys(http, filled)
    assert [item["key"] for item in data["items"]] == sorted(KEYS, key=lambda k: k.encode())
    assert {item["key"]: item["size"] for item in data["items"]} == {k: 2 * len(k) for k in KEYS}
    assert data["count"] == len(KEYS)
    assert data["limit"] == 1000
    assert data["isTruncated"] is False
    assert "nextExclusiveStartKey" in data and data["nextExclusiveStartKey"] is None
    assert data["exclusiveStartKey"] is None


@pytest.mark.parametrize(("sent", "echoed"), [("0", 1000), ("5000", 1000), ("1000", 1000)])
def test_keys_limit_zero_is_default_and_large_is_capped(
    http: httpx.Client, filled: str, sent: str, echoed: int
) -> None:
    data = list_keys(http, filled, limit=sent)
    assert data["limit"] == echoed
    assert data["count"] == len(KEYS)


@pytest.mark.parametrize("limit", ["-1", "abc", "2.5", "1e3"])
def test_keys_bad_limit_is_400_invalid_parameter(
    http: httpx.Client, store: dict[str, object], limit: str
) -> None:
    response = http.get(f"{STORES}/{store['id']}/keys", params={"limit": limit})
    assert_error(response, 400, "invalid-parameter")


def test_keys_pagination_walks_all_pages(http: httpx.Client, filled: str) -> None:
    seen: list[str] = []
    start = None
    pages = 0
    while True:
        params: dict[str, object] = {"limit": 5}
        if start is not None:
            params["exclusiveStartKey"] = start
        data = list_keys(http, filled, **params)
        pages += 1
        assert data["limit"] == 5
        assert data["count"] == len(data["items"])
        assert data["exclusiveStartKey"] == start
        seen += [item["key"] for item in data["items"]]
        if not data["isTruncated"]:
            assert "nextExclusiveStartKey" in data
            assert data["nextExclusiveStartKey"] is None
            break
        assert data["count"] == 5
        assert data["nextExclusiveStartKey"] == data["items"][-1]["key"]
        start = data["nextExclusiveStartKey"]
    assert seen == sorted(KEYS)
    assert pages == 3


def test_exclusive_start_key_need_not_exist(http: httpx.Client, filled: str) -> None:
    assert key_names(http, filled, exclusiveStartKey="b") == ["b-1", "b.2", "b0", "zz"]
    assert key_names(http, filled, exclusiveStartKey="zzz") == []


def test_prefix_filters_keys(http: httpx.Client, filled: str) -> None:
    assert key_names(http, filled, prefix="b") == ["b-1", "b.2", "b0"]
    data = list_keys(http, filled, prefix="b", limit=2)
    assert [i["key"] for i in data["items"]] == ["b-1", "b.2"]
    assert data["isTruncated"] is True
    assert data["nextExclusiveStartKey"] == "b.2"
    assert key_names(http, filled, prefix="b", exclusiveStartKey="b.2") == ["b0"]
    assert key_names(http, filled, prefix="nothing") == []


def test_record_public_url_is_absolute_signed_and_works_without_token(
    http: httpx.Client, anon: httpx.Client, filled: str, base_url: str
) -> None:
    http.put(f"{STORES}/{filled}", json={"generalAccess": "RESTRICTED"})
    secret = get_store(http, filled)["urlSigningSecretKey"]
    for item in list_keys(http, filled)["items"]:
        url = httpx.URL(item["recordPublicUrl"])
        assert item["recordPublicUrl"].startswith(f"{base_url}{STORES}/{filled}/records/")
        assert url.params["signature"] == record_sig(secret, item["key"])
    item = list_keys(http, filled)["items"][0]
    assert anon.get(f"{STORES}/{filled}/records/{item['key']}").status_code == 403
    response = anon.get(item["recordPublicUrl"])
    assert response.status_code == 200, response.text
    assert response.content == item["key"].encode() * 2


def test_keys_of_missing_store_is_404(http: httpx.Client) -> None:
    assert_error(http.get(f"{STORES}/AAAAAAAAAAAAAAAAA/keys"), 404, "record-not-found")


def read_zip(response: httpx.Response) -> dict[str, bytes]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/zip")
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def test_zip_has_one_entry_per_key_with_decoded_bytes(
    http: httpx.Client, store: dict[str, object]
) -> None:
    sid = str(store["id"])
    text = b"zip me please " * 200
    put_record(http, sid, "plain", b"\x00\x01binary", "application/octet-stream")
    put_record(http, sid, "gz", gzip.compress(text), "text/plain", **{"Content-Encoding": "gzip"})
    put_record(http, sid, "br", brotli.compress(text), "text/plain", **{"Content-Encoding": "br"})
    put_record(http, sid, "empty", b"", "text/plain")
    put_record(http, sid, "o'k(1)!", b"odd", "text/plain")
    entries = read_zip(http.get(f"{STORES}/{sid}/records"))
    assert entries == {
        "plain": b"\x00\x01binary",
        "gz": text,
        "br": text,
        "empty": b"",
        "o'k(1)!": b"odd",
    }


def test_zip_prefix_filter(http: httpx.Client, filled: str) -> None:
    entries = read_zip(http.get(f"{STORES}/{filled}/records", params={"prefix": "b"}))
    assert entries == {"b-1": b"b-1b-1", "b.2": b"b.2b.2", "b0": b"b0b0"}


def test_zip_of_empty_store_is_valid_and_empty(
    http: httpx.Client, store: dict[str, object]
) -> None:
    assert read_zip(http.get(f"{STORES}/{store['id']}/records")) == {}


def test_records_public_url_downloads_zip_without_token(
    http: httpx.Client, anon: httpx.Client, filled: str, base_url: str
) -> None:
    data = http.put(f"{STORES}/{filled}", json={"generalAccess": "RESTRICTED"}).json()["data"]
    assert data["recordsPublicUrl"].startswith(f"{base_url}{STORES}/{filled}/records")
    assert anon.get(f"{STORES}/{filled}/records").status_code == 403
    entries = read_zip(anon.get(data["recordsPublicUrl"]))
    assert sorted(entries) == sorted(KEYS)


def test_keys_public_url_lists_keys_without_token(
    http: httpx.Client, anon: httpx.Client, filled: str
) -> None:
    data = http.put(f"{STORES}/{filled}", json={"generalAccess": "RESTRICTED"}).json()["data"]
    assert anon.get(f"{STORES}/{filled}/keys").status_code == 403
    response = anon.get(data["keysPublicUrl"])
    assert response.status_code == 200, response.text
    assert [i["key"] for i in response.json()["data"]["items"]] == sorted(KEYS)


def test_zip_of_missing_store_is_404(http: httpx.Client) -> None:
    assert_error(http.get(f"{STORES}/AAAAAAAAAAAAAAAAA/records"), 404, "record-not-found")


def test_default_page_is_1000_keys_and_next_page_has_the_rest(
    http: httpx.Client, store: dict[str, object]
) -> None:
    sid = str(store["id"])
    keys = [f"k{i:05d}" for i in range(1001)]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(
                lambda k: http.put(f"{STORES}/{sid}/records/{k}", content=b"").status_code, keys
            )
        )
    assert set(statuses) == {201}
    first = list_keys(http, sid)
    assert first["count"] == 1000
    assert first["isTruncated"] is True
    assert first["nextExclusiveStartKey"] == keys[999]
    assert [i["key"] for i in first["items"]] == keys[:1000]
    assert list_keys(http, sid, limit=5000)["count"] == 1000
    rest = list_keys(http, sid, exclusiveStartKey=first["nextExclusiveStartKey"])
    assert [i["key"] for i in rest["items"]] == [keys[1000]]
    assert rest["isTruncated"] is False
    assert rest["nextExclusiveStartKey"] is None
