"""Bad input is refused with the right error and changes nothing (behaviour.md#ids-names-and-keys,
#records)."""

from __future__ import annotations

import httpx
import pytest

from tests.http_helpers import STORES, assert_error, get_store, key_names, put_record, unique_name

BAD_KEYS = {
    "space": "a%20b",
    "slash": "a%2Fb",
    "too-long": "k" * 257,
    "tilde": "a~b",
    "non-ascii": "kl%C3%AD%C4%8D",
    "star": "a*b",
    "percent": "a%25b",
    "hash": "a%23b",
    "colon": "a:b",
}


def raw_path_request(
    client: httpx.Client, method: str, path: str, content: bytes | None = None
) -> httpx.Response:
    """Send `path` exactly as written (already percent-encoded)."""
    url = client.base_url.copy_with(raw_path=path.encode("ascii"))
    return client.request(method, url, content=content)


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_invalid_record_key_is_400_and_nothing_is_stored(
    http: httpx.Client, store: dict[str, object], key: str
) -> None:
    sid = str(store["id"])
    path = f"{STORES}/{sid}/records/{key}"
    for method in ("PUT", "POST"):
        response = raw_path_request(http, method, path, content=b"value")
        assert_error(response, 400, "invalid-record-key")
    assert key_names(http, sid) == []
    assert get_store(http, sid)["stats"]["storageBytes"] == 0


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_invalid_record_key_on_get_and_delete_is_400(
    http: httpx.Client, store: dict[str, object], key: str
) -> None:
    path = f"{STORES}/{store['id']}/records/{key}"
    for method in ("GET", "DELETE"):
        assert_error(raw_path_request(http, method, path), 400, "invalid-record-key")


def test_longest_and_punctuated_keys_are_valid(
    http: httpx.Client, store: dict[str, object]
) -> None:
    sid = str(store["id"])
    keys = ["k" * 256, "a!-_.'()Z9"]
    for key in keys:
        put_record(http, sid, key, b"ok")
        assert http.get(f"{STORES}/{sid}/records/{key}").content == b"ok"
    assert key_names(http, sid) == sorted(keys)
    encoded = raw_path_request(http, "GET", f"{STORES}/{sid}/records/a%21-_.%27%28%29Z9")
    assert encoded.status_code == 200
    assert encoded.content == b"ok"


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'"a string"', b"{"],
    ids=["garbage", "array", "string", "truncated"],
)
def test_store_update_with_bad_json_is_400_and_store_unchanged(
    http: httpx.Client, store: dict[str, object], body: bytes
) -> None:
    response = http.put(
        f"{STORES}/{store['id']}", content=body, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, ("invalid-request", "invalid-input", "invalid-value"))
    after = get_store(http, str(store["id"]))
    assert (after["name"], after["generalAccess"]) == (store["name"], store["generalAccess"])


def test_store_create_with_bad_json_is_400_and_nothing_created(http: httpx.Client) -> None:
    name = unique_name()
    response = http.post(
        STORES,
        params={"name": name},
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 400, ("invalid-request", "invalid-input", "invalid-value"))
    assert_error(http.get(f"{STORES}/~{name}"), 404, "record-not-found")


def test_bad_store_name_creates_nothing(http: httpx.Client) -> None:
    before = http.get(STORES, params={"unnamed": "true"}).json()["data"]["total"]
    for name in ("-bad", "bad_", "x" * 64):
        assert_error(http.post(STORES, params={"name": name}), 400, "invalid-value")
    after = http.get(STORES, params={"unnamed": "true"}).json()["data"]["total"]
    assert after == before
