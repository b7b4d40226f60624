"""Property test of keys paging (behaviour.md#ids-names-and-keys byte order, behaviour.md#listing
listing) against the live session server.

One store holds a few hundred keys chosen to stress byte order: every key character, shared
prefixes, keys that are prefixes of other keys, and lengths up to 256. For any limit, any
exclusiveStartKey and any prefix, following nextExclusiveStartKey must list every matching key
exactly once, in byte order of the UTF-8 encoding.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

KEY_ALPHABET = string.ascii_letters + string.digits + "!-_.'()"
BOUNDARY_CHARS = ["!", "'", "(", ")", "-", ".", "0", "9", "A", "Z", "_", "a", "z"]


def build_keys() -> list[str]:
    rng = random.Random(20260101)
    keys: set[str] = set(KEY_ALPHABET)  # every single character
    for base in ["a", "A", "ab", "a-", "a_", "a.", "Z9", "x(", "'q", "__", "00", "!"]:
        keys.add(base)
        keys.update(base + char for char in BOUNDARY_CHARS)
    for _ in range(120):
        length = rng.choice([1, 2, 3, 5, 8, 13, 40, 100, 255, 256])
        keys.add("".join(rng.choice(KEY_ALPHABET) for _ in range(length)))
    long_prefix = "".join(rng.choice(KEY_ALPHABET) for _ in range(200))
    keys.add(long_prefix)
    keys.update(long_prefix + char for char in BOUNDARY_CHARS)
    keys.update(long_prefix + "_" * 55 + char for char in "!Aaz")  # 256 characters each
    max_key = "z" * 256
    keys.update([max_key, max_key[:-1], "z" * 255 + "Z", "(" * 256, ")" * 3])
    keys.update(f"record-{n:04d}" for n in range(0, 60, 3))
    keys.update(f"RECORD_{n}" for n in range(12))
    assert all(1 <= len(key) <= 256 for key in keys)
    return sorted(keys, key=lambda k: k.encode())


KEYS = build_keys()
SIZES = {key: (len(key) * 7 + ord(key[0])) % 37 for key in KEYS}
PREFIXES = sorted({key[:n] for key in KEYS for n in (1, 2, 3, 201)})


def record_path(store_id: str, key: str) -> str:
    # HTTP clients drop "." and ".." path segments (RFC 3986 dot segments); %2E survives.
    escaped = key.replace(".", "%2E") if set(key) == {"."} else key
    return f"/v2/key-value-stores/{store_id}/records/{escaped}"


def body_of(key: str) -> bytes:
    return (key.encode() * 37)[: SIZES[key]]


@pytest.fixture(scope="module")
def client(base_url: str, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as http:
        yield http


@pytest.fixture(scope="module")
def paging_store(client: httpx.Client) -> str:
    created = client.post(
        "/v2/key-value-stores", params={"name": "paging-" + uuid.uuid4().hex[:10]}
    )
    assert created.status_code == 201, created.text
    store_id: str = created.json()["data"]["id"]

    def put(key: str) -> None:
        response = client.put(
            record_path(store_id, key),
            content=body_of(key),
            headers={"Content-Type": "text/plain"},
        )
        assert response.status_code == 201, (key, response.status_code, response.text)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, KEYS))
    return store_id


def expected_keys(start: str | None, prefix: str | None) -> list[str]:
    bound = (start or "").encode()
    return [
        key
        for key in sorted(KEYS, key=lambda k: k.encode())
        if key.encode() > bound and key.startswith(prefix or "")
    ]


def effective_limit(limit: int | None) -> int:
    if not limit:
        return 1000
    return min(limit, 1000)


def list_page(
    client: httpx.Client, store_id: str, limit: int | None, start: str | None, prefix: str | None
) -> dict[str, Any]:
    params: dict[str, str] = {}
    if limit is not None:
        params["limit"] = str(limit)
    if start is not None:
        params["exclusiveStartKey"] = start
    if prefix is not None:
        params["prefix"] = prefix
    response = client.get(f"/v2/key-value-stores/{store_id}/keys", params=params)
    assert response.status_code == 200, (params, response.status_code, response.text)
    data: dict[str, Any] = response.json()["data"]
    return data


LIMITS = st.one_of(
    st.none(),
    st.just(0),
    st.integers(min_value=1, max_value=1000),
    st.sampled_from([1, 2, 3, 7, 50, 999, 1000, 1001, 5000]),
)
STARTS = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from(KEYS),
    st.sampled_from(PREFIXES),
    st.text(alphabet=KEY_ALPHABET, min_size=1, max_size=6),
    st.text(alphabet=KEY_ALPHABET, min_size=250, max_size=256),
    st.sampled_from(["~", "~~~", "z" * 257, "zzzzzz~", " ", "!!!!!!!!", "!"]),
)
PREFIX_VALUES = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from(PREFIXES),
    st.sampled_from(KEYS),
    st.text(alphabet=KEY_ALPHABET, min_size=1, max_size=3),
    st.sampled_from(["~", "zzzzzzzzzzzzzzzzzz", "a!(", "no-such-prefix"]),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(limit=LIMITS, start=STARTS, prefix=PREFIX_VALUES)
@example(limit=None, start=None, prefix=None)
@example(limit=0, start=None, prefix="")
@example(limit=1, start=None, prefix="a")
@example(limit=2, start="a", prefix="a")
@example(limit=5, start=KEYS[-1], prefix=None)
@example(limit=1000, start="~", prefix=None)
@example(limit=3, start="", prefix="~")
@example(limit=1001, start=KEYS[0], prefix="")
@example(limit=7, start="ab", prefix="ab")
def test_paging_lists_every_matching_key_once_in_byte_order(
    client: httpx.Client,
    paging_store: str,
    limit: int | None,
    start: str | None,
    prefix: str | None,
) -> None:
    want = expected_keys(start, prefix)
    page_limit = effective_limit(limit)
    seen: list[str] = []
    cursor = start
    for _page in range(len(KEYS) + 2):
        data = list_page(client, paging_store, limit, cursor, prefix)
        items = data["items"]
        page_keys = [item["key"] for item in items]
        remaining = len(want) - len(seen)

        assert data["limit"] == page_limit
        assert data["count"] == len(items)
        # A page holds the next keys in order: full unless it is the last one.
        assert page_keys == want[len(seen) : len(seen) + page_limit]
        assert len(items) == min(page_limit, remaining)
        assert data["isTruncated"] is (remaining > len(items))
        assert "nextExclusiveStartKey" in data
        if data["isTruncated"]:
            assert data["nextExclusiveStartKey"] == page_keys[-1]
        else:
            assert data["nextExclusiveStartKey"] is None
        if cursor:
            assert data["exclusiveStartKey"] == cursor
        elif cursor is None:
            assert data["exclusiveStartKey"] is None
        for item in items:
            assert item["size"] == SIZES[item["key"]]
            url = item["recordPublicUrl"]
            assert url.startswith(("http://", "https://")), url
            marker = f"/v2/key-value-stores/{paging_store}/records/"
            assert marker in url, url
            assert unquote(url.split(marker, 1)[1].split("?", 1)[0]) == item["key"], url

        seen += page_keys
        if data["nextExclusiveStartKey"] is None:
            break
        cursor = data["nextExclusiveStartKey"]
    else:
        pytest.fail(f"paging did not end after {len(KEYS) + 2} pages")

    assert seen == want
    assert len(set(seen)) == len(seen)


def test_keys_are_stored_as_built(client: httpx.Client, paging_store: str) -> None:
    # The whole store in one default page, in UTF-8 byte order.
    data = list_page(client, paging_store, None, None, None)
    assert [item["key"] for item in data["items"]] == sorted(KEYS, key=lambda k: k.encode())
    assert data["count"] == len(KEYS)
    assert data["isTruncated"] is False
    assert data["nextExclusiveStartKey"] is None
