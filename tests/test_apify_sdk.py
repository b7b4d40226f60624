"""The Apify SDK for Python (4.1.0) against openkvs, run locally the way an Actor developer would.

Set APIFY_TOKEN, APIFY_API_BASE_URL and APIFY_API_PUBLIC_BASE_URL, then
`async with Actor(...)` and `Actor.open_key_value_store(name=..., force_cloud=True)`
(as the SDK's source shows). The SDK's client sends bodies of 1 KiB or more brotli-compressed.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from apify import Actor
from apify.storage_clients._apify._alias_resolving import AliasResolver
from apify.storages import KeyValueStore
from crawlee import service_locator

T = TypeVar("T")


@pytest.fixture
def sdk_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, base_url: str, token: str
) -> Iterator[None]:
    monkeypatch.setenv("APIFY_TOKEN", token)
    monkeypatch.setenv("APIFY_API_BASE_URL", base_url)
    # Not derived from the base URL by the SDK: without it public URLs point at api.apify.com.
    monkeypatch.setenv("APIFY_API_PUBLIC_BASE_URL", base_url)
    monkeypatch.setenv("CRAWLEE_STORAGE_DIR", str(tmp_path / "storage"))
    # APIFY_LOCAL_STORAGE_DIR would win over CRAWLEE_STORAGE_DIR; the others would switch on
    # platform behaviour (alias mapping records, websocket events, charging).
    for name in (
        "APIFY_LOCAL_STORAGE_DIR",
        "APIFY_IS_AT_HOME",
        "ACTOR_DEFAULT_KEY_VALUE_STORE_ID",
        "APIFY_DEFAULT_KEY_VALUE_STORE_ID",
        "ACTOR_STORAGES_JSON",
        "ACTOR_EVENTS_WEBSOCKET_URL",
        "APIFY_ACTOR_EVENTS_WS_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    # The SDK keeps configuration, event manager, storage client and opened storages in
    # process-wide singletons; each test starts from fresh ones, as the SDK's own tests do, or the
    # second test would reuse the first one's configuration and an event manager of a closed loop.
    monkeypatch.setattr(service_locator, "_configuration", None)
    monkeypatch.setattr(service_locator, "_event_manager", None)
    monkeypatch.setattr(service_locator, "_storage_client", None)
    monkeypatch.setattr(AliasResolver, "_alias_map", {})
    monkeypatch.setattr(AliasResolver, "_alias_map_loaded", False)
    monkeypatch.setattr(AliasResolver, "_alias_init_lock", None)
    service_locator.storage_instance_manager.clear_cache()
    yield
    service_locator.storage_instance_manager.clear_cache()


def store_name() -> str:
    return "sdk-" + uuid.uuid4().hex[:12]


def run_actor(name: str, body: Callable[[KeyValueStore], Awaitable[T]]) -> T:
    """Run `body` on the cloud (openkvs) store `name` inside an Actor context."""

    async def main() -> T:
        # exit_process=False: the Actor would otherwise sys.exit() when the block ends.
        # configure_logging=False keeps the SDK from adding handlers to pytest's root logger.
        async with Actor(exit_process=False, configure_logging=False):
            kvs = await Actor.open_key_value_store(name=name, force_cloud=True)
            return await body(kvs)

    return asyncio.run(main())


def raw_record(http: httpx.Client, store_id: str, key: str, **headers: str) -> httpx.Response:
    request = http.build_request("GET", f"/v2/key-value-stores/{store_id}/records/{key}")
    del request.headers["Accept-Encoding"]
    request.headers.update(headers)
    return http.send(request)


@pytest.mark.usefixtures("sdk_env")
def test_sdk_opens_a_named_cloud_store(http: httpx.Client) -> None:
    name = store_name()

    async def body(kvs: KeyValueStore) -> tuple[str, Any]:
        metadata = await kvs.get_metadata()
        return kvs.id, metadata

    store_id, metadata = run_actor(name, body)

    assert metadata.id == store_id
    assert metadata.name == name
    response = http.get(f"/v2/key-value-stores/{store_id}")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["name"] == name
    # Opening again by name reaches the same store.
    assert run_actor(name, body)[0] == store_id


VALUES: dict[str, Any] = {
    "dict": {"a": 1, "ü": "ž", "nested": {"list": [1, 2, None]}},
    "list": [1, "two", {"three": 3.0}, None],
    "str": "Příliš žluťoučký kůň",
    "int": 42,
    "bytes": bytes(range(256)),
}
CONTENT_TYPES = {
    "dict": "application/json; charset=utf-8",
    "list": "application/json; charset=utf-8",
    "str": "text/plain; charset=utf-8",
    "int": "application/json; charset=utf-8",
    "bytes": "application/octet-stream",
}


@pytest.mark.usefixtures("sdk_env")
def test_sdk_set_value_and_get_value_of_each_type(http: httpx.Client) -> None:
    async def body(kvs: KeyValueStore) -> tuple[str, dict[str, Any]]:
        for key, value in VALUES.items():
            await kvs.set_value(key, value)
        return kvs.id, {key: await kvs.get_value(key) for key in VALUES}

    store_id, read_back = run_actor(store_name(), body)

    assert read_back == VALUES
    assert type(read_back["int"]) is int
    assert type(read_back["bytes"]) is bytes
    for key, content_type in CONTENT_TYPES.items():
        response = raw_record(http, store_id, key)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == content_type


@pytest.mark.usefixtures("sdk_env")
def test_sdk_delete_value_removes_the_record(http: httpx.Client) -> None:
    async def body(kvs: KeyValueStore) -> tuple[str, bool, Any, Any]:
        await kvs.set_value("doomed", {"x": 1})
        assert await kvs.record_exists("doomed") is True
        await kvs.delete_value("doomed")
        return (
            kvs.id,
            await kvs.record_exists("doomed"),
            await kvs.get_value("doomed"),
            await kvs.get_value("doomed", "fallback"),
        )

    store_id, exists, value, defaulted = run_actor(store_name(), body)

    assert exists is False
    assert value is None
    assert defaulted == "fallback"
    response = raw_record(http, store_id, "doomed")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "record-not-found"


@pytest.mark.usefixtures("sdk_env")
def test_sdk_set_value_none_stores_json_null(http: httpx.Client) -> None:
    # SDK 4.x (crawlee 1.x) does not delete on None: the client serialises it as the JSON `null`.
    async def body(kvs: KeyValueStore) -> tuple[str, bool, Any]:
        await kvs.set_value("nothing", {"was": "something"})
        await kvs.set_value("nothing", None)
        return kvs.id, await kvs.record_exists("nothing"), await kvs.get_value("nothing", "dflt")

    store_id, exists, value = run_actor(store_name(), body)

    assert exists is True
    assert value is None  # the record exists, so the default is not used
    response = raw_record(http, store_id, "nothing")
    assert response.status_code == 200
    assert response.content == b"null"
    assert response.headers["content-type"] == "application/json; charset=utf-8"


LARGE_VALUE = {"text": "openkvs " * 2000, "numbers": list(range(500))}


@pytest.mark.usefixtures("sdk_env")
def test_sdk_large_value_round_trips_through_brotli(http: httpx.Client) -> None:
    big_bytes = bytes(range(256)) * 64

    async def body(kvs: KeyValueStore) -> tuple[str, Any, Any]:
        await kvs.set_value("large", LARGE_VALUE)
        await kvs.set_value("large-bytes", big_bytes)
        return kvs.id, await kvs.get_value("large"), await kvs.get_value("large-bytes")

    store_id, value, value_bytes = run_actor(store_name(), body)

    assert value == LARGE_VALUE
    assert value_bytes == big_bytes
    # The SDK uploaded it with Content-Encoding: br; it is kept so (behaviour.md#records) and served
    # so when accepted.
    with http.stream(
        "GET", f"/v2/key-value-stores/{store_id}/records/large", headers={"Accept-Encoding": "br"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "br"
        assert json.loads(response.read()) == LARGE_VALUE  # httpx decodes br (brotli module)
    plain = raw_record(http, store_id, "large")
    assert plain.headers.get("content-encoding", "identity") == "identity"
    assert plain.json() == LARGE_VALUE


KEY_COUNT = 1200


@pytest.mark.usefixtures("sdk_env")
def test_sdk_iterate_keys_returns_every_key(http: httpx.Client) -> None:
    keys = [f"key-{i}" for i in range(KEY_COUNT)]  # unpadded: byte order != numeric order

    async def body(kvs: KeyValueStore) -> tuple[list[str], list[str], list[str]]:
        for start in range(0, KEY_COUNT, 100):
            await asyncio.gather(
                *(kvs.set_value(key, i) for i, key in enumerate(keys[start : start + 100]))
            )
        # The SDK's iterate_keys sends no limit and follows isTruncated across the 1000-key pages.
        iterated = [item.key async for item in kvs.iterate_keys()]
        via_aiter = [key async for key in kvs]
        after = [item.key async for item in kvs.iterate_keys(exclusive_start_key="key-5", limit=3)]
        return iterated, via_aiter, after

    iterated, via_aiter, after = run_actor(store_name(), body)

    expected = sorted(keys, key=str.encode)
    assert len(iterated) == KEY_COUNT
    assert iterated == expected
    assert via_aiter == expected
    start = expected.index("key-5") + 1
    assert after == expected[start : start + 3]


@pytest.mark.usefixtures("sdk_env")
def test_sdk_public_url_is_readable_without_a_token(base_url: str, anon: httpx.Client) -> None:
    async def body(kvs: KeyValueStore) -> tuple[str, str]:
        await kvs.set_value("public", {"hello": "world"})
        return kvs.id, await kvs.get_public_url("public")

    store_id, url = run_actor(store_name(), body)

    assert url.startswith(f"{base_url}/v2/key-value-stores/{store_id}/records/public?signature=")
    response = anon.get(url)
    assert response.status_code == 200, response.text
    assert response.json() == {"hello": "world"}
    assert response.headers["content-type"] == "application/json; charset=utf-8"


@pytest.mark.usefixtures("sdk_env")
def test_sdk_drop_deletes_the_store(http: httpx.Client) -> None:
    name = store_name()

    async def body(kvs: KeyValueStore) -> str:
        await kvs.set_value("x", 1)
        await kvs.drop()
        return kvs.id

    store_id = run_actor(name, body)

    response = http.get(f"/v2/key-value-stores/{store_id}")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "record-not-found"
    by_name = http.get(f"/v2/key-value-stores/~{name}")
    assert by_name.status_code == 404
