"""The real apify-client (3.4.0) against openkvs: every key-value-store method, unmodified.

Each test drives `ApifyClient` (or `ApifyClientAsync`) the way an Apify user would, and checks the
behaviour docs/behaviour.md promises. Plain httpx is used only to look at what the client hides
(encodings on the wire, anonymous access to signed URLs).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import os
import re
import threading
import time
import warnings
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import brotli
import httpx
import pytest
from apify_client import ApifyClient, ApifyClientAsync
from apify_client._models import KeyValueStoreResource
from apify_client._resource_clients import KeyValueStoreClient
from apify_client._utils.crypto import create_storage_content_signature
from apify_client.errors import ApifyApiError

from tests.http_helpers import unique_name
from tests.server_process import ServerProcess

ID_RE = re.compile(r"^[a-zA-Z0-9]{17}$")
# Key characters in their byte order: ! ' ( ) - . 0-9 A-Z _ a-z (behaviour.md#ids-names-and-keys).
KEY_ALPHABET = "!'()-.09AZ_az"


def byte_order(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda key: key.encode())


def make_client(base_url: str, token: str) -> ApifyClient:
    # Short retry delays only keep a failing run fast; the retry policy itself is the client's own.
    return ApifyClient(
        token,
        api_url=base_url,
        api_public_url=base_url,
        min_delay_between_retries=timedelta(milliseconds=50),
    )


def without_query_param(url: str, name: str) -> str:
    parts = urlparse(url)
    query = {k: v for k, v in parse_qs(parts.query, keep_blank_values=True).items() if k != name}
    return urlunparse(parts._replace(query=urlencode(query, doseq=True)))


def with_query_param(url: str, name: str, value: str) -> str:
    parts = urlparse(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    query[name] = [value]
    return urlunparse(parts._replace(query=urlencode(query, doseq=True)))


def query_param(url: str, name: str) -> str:
    values = parse_qs(urlparse(url).query)[name]
    assert len(values) == 1
    return values[0]


def assert_api_error(excinfo: pytest.ExceptionInfo[ApifyApiError], status: int, type_: str) -> None:
    assert excinfo.value.status_code == status, excinfo.value.message
    assert excinfo.value.type == type_, excinfo.value.message


def assert_forbidden(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["error"]["type"] == "insufficient-permissions"


@pytest.fixture
def client(base_url: str, token: str) -> ApifyClient:
    return make_client(base_url, token)


@pytest.fixture
def named_store(client: ApifyClient) -> Iterator[KeyValueStoreResource]:
    store = client.key_value_stores().get_or_create(name=unique_name("c"))
    yield store
    client.key_value_store(store.id).delete()


@pytest.fixture
def kvs(client: ApifyClient, named_store: KeyValueStoreResource) -> KeyValueStoreClient:
    return client.key_value_store(named_store.id)


@pytest.fixture
def restricted_kvs(kvs: KeyValueStoreClient) -> KeyValueStoreClient:
    updated = kvs.update(general_access="RESTRICTED")
    assert updated.general_access == "RESTRICTED"
    return kvs


@pytest.fixture
def other_client(base_url: str, other_user: str) -> ApifyClient:
    return make_client(base_url, other_user)


# --------------------------------------------------------------------------------------------------
# Collection: list, iterate, get_or_create
# --------------------------------------------------------------------------------------------------


def all_store_ids(client: ApifyClient, **kwargs: object) -> list[str]:
    return [store.id for store in client.key_value_stores().iterate(**kwargs)]  # type: ignore[arg-type]


def test_list_shows_only_named_stores_by_default(client: ApifyClient) -> None:
    named = client.key_value_stores().get_or_create(name=unique_name("c"))
    unnamed = client.key_value_stores().get_or_create()

    page = client.key_value_stores().list()

    ids = [store.id for store in page.items]
    assert named.id in ids
    assert unnamed.id not in ids
    assert all(store.name for store in page.items)
    assert page.count == len(page.items)
    assert page.limit >= 1
    assert page.offset == 0
    assert page.desc is False
    assert page.total >= page.count


def test_list_with_unnamed_true_includes_unnamed_stores(client: ApifyClient) -> None:
    named = client.key_value_stores().get_or_create(name=unique_name("c"))
    unnamed = client.key_value_stores().get_or_create()

    page = client.key_value_stores().list(unnamed=True)

    ids = [store.id for store in page.items]
    assert named.id in ids
    assert unnamed.id in ids
    assert any(store.name is None for store in page.items)
    # Every list item carries stats (the Apify CLI reads stats.s3StorageBytes without a check).
    assert all(store.stats is not None for store in page.items)


def test_list_desc_reverses_creation_order(client: ApifyClient) -> None:
    created = [client.key_value_stores().get_or_create(name=unique_name("c")).id for _ in range(3)]

    ascending = client.key_value_stores().list(unnamed=True)
    descending = client.key_value_stores().list(unnamed=True, desc=True)

    assert ascending.total == ascending.count, "test assumes fewer than 1000 stores"
    asc_ids = [store.id for store in ascending.items]
    desc_ids = [store.id for store in descending.items]
    assert descending.desc is True
    assert desc_ids == list(reversed(asc_ids))
    created_ats = [store.created_at for store in ascending.items]
    assert created_ats == sorted(created_ats)
    positions = [asc_ids.index(store_id) for store_id in created]
    assert positions == sorted(positions)


def test_list_offset_and_limit_select_a_page(client: ApifyClient) -> None:
    for _ in range(3):
        client.key_value_stores().get_or_create(name=unique_name("c"))
    full = client.key_value_stores().list(unnamed=True)
    assert full.total == full.count, "test assumes fewer than 1000 stores"

    page = client.key_value_stores().list(unnamed=True, offset=1, limit=2)

    assert [store.id for store in page.items] == [store.id for store in full.items[1:3]]
    assert page.offset == 1
    assert page.limit == 2
    assert page.count == 2
    assert page.total == full.total


def test_iterate_yields_every_store_exactly_once(client: ApifyClient) -> None:
    for _ in range(3):
        client.key_value_stores().get_or_create(name=unique_name("c"))
    client.key_value_stores().get_or_create()
    listed = [store.id for store in client.key_value_stores().list(unnamed=True).items]

    # The first call sends limit=0&offset=0; the answer must echo an effective limit >= 1
    # (behaviour.md#listing).
    iterated = all_store_ids(client, unnamed=True)
    chunked = all_store_ids(client, unnamed=True, chunk_size=2)

    assert iterated == listed
    assert chunked == listed
    assert len(set(iterated)) == len(iterated)
    assert all_store_ids(client, unnamed=True, limit=3) == listed[:3]


def test_get_or_create_without_name_creates_a_new_unnamed_store(client: ApifyClient) -> None:
    first = client.key_value_stores().get_or_create()
    second = client.key_value_stores().get_or_create()

    assert first.id != second.id
    assert ID_RE.match(first.id)
    assert first.name is None
    fetched = client.key_value_store(first.id).get()
    assert fetched is not None
    assert fetched.id == first.id
    assert fetched.name is None


def test_get_or_create_with_same_name_returns_the_same_store(client: ApifyClient) -> None:
    name = unique_name("c")

    first = client.key_value_stores().get_or_create(name=name)
    second = client.key_value_stores().get_or_create(name=name)

    assert first.id == second.id
    assert first.name == second.name == name
    assert first.created_at == second.created_at


def test_get_or_create_with_schema_stores_the_schema(client: ApifyClient) -> None:
    schema = {
        "actorKeyValueStoreSchemaVersion": 1,
        "title": "Compat schema",
        "collections": {
            "screenshots": {
                "title": "Screenshots",
                "keyPrefix": "screenshot-",
                "contentTypes": ["image/png", "image/jpeg"],
            },
            "config": {
                "title": "Config",
                "key": "config",
                "contentTypes": ["application/json"],
                "jsonSchema": {
                    "type": "object",
                    "properties": {"depth": {"type": "integer"}},
                    "required": ["depth"],
                },
            },
        },
    }
    name = unique_name("c")

    created = client.key_value_stores().get_or_create(name=name, schema=schema)
    fetched = client.key_value_store(created.id).get()

    assert fetched is not None
    assert fetched.schema_ == schema
    # Get-or-create of an existing name ignores a new schema (behaviour.md#store-names-and-schemas).
    other_schema = {**schema, "title": "Another title"}
    again = client.key_value_stores().get_or_create(name=name, schema=other_schema)
    assert again.id == created.id
    assert again.schema_ == schema


# --------------------------------------------------------------------------------------------------
# Store: get, update, delete
# --------------------------------------------------------------------------------------------------


def test_get_returns_the_store_object(
    client: ApifyClient, named_store: KeyValueStoreResource, server: ServerProcess
) -> None:
    store = client.key_value_store(named_store.id).get()

    assert store is not None
    assert store.id == named_store.id
    assert ID_RE.match(store.id)
    assert store.name == named_store.name
    assert store.user_id is not None and ID_RE.match(store.user_id)
    assert store.username == server.username
    for stamp in (store.created_at, store.modified_at, store.accessed_at):
        assert stamp.tzinfo is not None
        assert stamp.utcoffset() == timedelta(0)
    assert store.stats is not None
    assert isinstance(store.url_signing_secret_key, str) and store.url_signing_secret_key


def test_get_of_a_missing_store_returns_none(client: ApifyClient, server: ServerProcess) -> None:
    assert client.key_value_store("a" * 17).get() is None
    assert client.key_value_store(f"{server.username}/{unique_name('missing')}").get() is None


def test_update_renames_the_store(
    client: ApifyClient, kvs: KeyValueStoreClient, named_store: KeyValueStoreResource
) -> None:
    new_name = unique_name("renamed")

    updated = kvs.update(name=new_name)

    assert updated.id == named_store.id
    assert updated.name == new_name
    fetched = kvs.get()
    assert fetched is not None and fetched.name == new_name
    by_new_name = client.key_value_store(f"~{new_name}").get()
    assert by_new_name is not None and by_new_name.id == named_store.id
    assert client.key_value_store(f"~{named_store.name}").get() is None


def test_rename_to_a_taken_name_fails_with_name_not_unique(
    client: ApifyClient, kvs: KeyValueStoreClient, named_store: KeyValueStoreResource
) -> None:
    taken = client.key_value_stores().get_or_create(name=unique_name("c"))

    with pytest.raises(ApifyApiError) as excinfo:
        kvs.update(name=taken.name)

    assert_api_error(excinfo, 400, "name-not-unique")
    fetched = kvs.get()
    assert fetched is not None and fetched.name == named_store.name


def test_update_general_access_controls_anonymous_reads(
    kvs: KeyValueStoreClient, named_store: KeyValueStoreResource, anon: httpx.Client
) -> None:
    path = f"/v2/key-value-stores/{named_store.id}"

    opened = kvs.update(general_access="ANYONE_WITH_ID_CAN_READ")
    assert opened.general_access == "ANYONE_WITH_ID_CAN_READ"
    response = anon.get(path)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["id"] == named_store.id

    closed = kvs.update(general_access="RESTRICTED")
    assert closed.general_access == "RESTRICTED"
    assert_forbidden(anon.get(path))
    fetched = kvs.get()
    assert fetched is not None and fetched.general_access == "RESTRICTED"


def test_delete_removes_the_store_and_its_records(client: ApifyClient) -> None:
    store = client.key_value_stores().get_or_create(name=unique_name("c"))
    kvs = client.key_value_store(store.id)
    kvs.set_record("a", {"x": 1})

    kvs.delete()

    assert kvs.get() is None
    assert kvs.get_record("a") is None
    assert kvs.get_record_as_bytes("a") is None
    assert kvs.record_exists("a") is False
    with pytest.raises(ApifyApiError) as excinfo:
        kvs.list_keys()
    assert_api_error(excinfo, 404, "record-not-found")
    with pytest.raises(ApifyApiError) as excinfo:
        kvs.set_record("b", {"x": 2})
    assert_api_error(excinfo, 404, "record-not-found")
    with pytest.raises(ApifyApiError) as excinfo:
        kvs.delete_record("a")
    assert_api_error(excinfo, 404, "record-not-found")
    kvs.delete()  # the client swallows the 404 of a second delete
    assert client.key_value_store(f"~{store.name}").get() is None


# --------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------


def test_json_record_round_trips(kvs: KeyValueStoreClient) -> None:
    value = {"a": 1, "ü": "ž", "n": None, "list": [1, 2.5, "x"], "nested": {"t": True}}

    kvs.set_record("json", value)
    record = kvs.get_record("json")

    assert record is not None
    assert record["key"] == "json"
    assert record["value"] == value
    assert record["content_type"] == "application/json; charset=utf-8"
    raw = kvs.get_record_as_bytes("json")
    assert raw is not None
    # The client serialises with json.dumps(ensure_ascii=False); the server keeps those bytes
    # (behaviour.md#records).
    assert raw["value"] == json.dumps(value, ensure_ascii=False).encode()


def test_text_record_round_trips(kvs: KeyValueStoreClient) -> None:
    value = "Příliš žluťoučký kůň 🐎\nline two"

    kvs.set_record("text", value)
    record = kvs.get_record("text")

    assert record is not None
    assert record["value"] == value
    assert record["content_type"] == "text/plain; charset=utf-8"


def test_binary_record_with_every_byte_value_round_trips(kvs: KeyValueStoreClient) -> None:
    small = bytes(range(256))
    # >= 1 KiB: the client gzips it on the way up, the server must give the original back.
    large = bytes(range(256)) * 40

    kvs.set_record("bin-small", small)
    kvs.set_record("bin-large", large)

    for key, value in (("bin-small", small), ("bin-large", large)):
        record = kvs.get_record(key)
        assert record is not None
        assert record["value"] == value
        assert record["content_type"] == "application/octet-stream"


def test_empty_bytes_record_round_trips(kvs: KeyValueStoreClient) -> None:
    kvs.set_record("empty", b"")

    record = kvs.get_record("empty")
    raw = kvs.get_record_as_bytes("empty")

    assert record is not None
    assert record["value"] == b""
    assert record["content_type"] == "application/octet-stream"
    assert raw is not None and raw["value"] == b""
    assert kvs.record_exists("empty") is True
    [item] = kvs.list_keys().items
    assert (item.key, item.size) == ("empty", 0)


def test_get_record_as_bytes_returns_the_unparsed_body(kvs: KeyValueStoreClient) -> None:
    kvs.set_record("text", "héllo", content_type="text/plain; charset=utf-8")
    kvs.set_record("json", '{"raw": true}', content_type="application/json")

    text = kvs.get_record_as_bytes("text")
    as_json = kvs.get_record_as_bytes("json")

    assert text is not None and as_json is not None
    assert text == {
        "key": "text",
        "value": "héllo".encode(),
        "content_type": "text/plain; charset=utf-8",
    }
    assert as_json["value"] == b'{"raw": true}'
    assert as_json["content_type"] == "application/json"
    assert kvs.get_record_as_bytes("missing") is None


def test_stream_record_of_a_50_mib_record(kvs: KeyValueStoreClient, tmp_path: Path) -> None:
    size = 50 * 1024 * 1024
    source = tmp_path / "big.bin"
    expected = hashlib.sha256()
    with source.open("wb") as file:
        for _ in range(size // (1024 * 1024)):
            chunk = os.urandom(1024 * 1024)
            expected.update(chunk)
            file.write(chunk)

    with source.open("rb") as file, warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", UserWarning
        )  # the client flags streamed uploads experimental
        kvs.set_record("big", file, content_type="application/octet-stream")
    source.unlink()

    streamed = hashlib.sha256()
    received = 0
    with kvs.stream_record("big") as record:
        assert record is not None
        assert record["key"] == "big"
        assert record["content_type"] == "application/octet-stream"
        for chunk in record["value"].iter_bytes():
            streamed.update(chunk)
            received += len(chunk)

    assert received == size
    assert streamed.hexdigest() == expected.hexdigest()
    [item] = kvs.list_keys().items
    assert item.size == size


def test_stream_record_of_a_missing_key_yields_none(kvs: KeyValueStoreClient) -> None:
    with kvs.stream_record("missing") as record:
        assert record is None


def test_record_exists(kvs: KeyValueStoreClient) -> None:
    kvs.set_record("present", "x")

    assert kvs.record_exists("present") is True
    assert kvs.record_exists("absent") is False


def test_delete_record_removes_it(kvs: KeyValueStoreClient) -> None:
    kvs.set_record("doomed", {"x": 1})
    kvs.set_record("kept", {"x": 2})

    kvs.delete_record("doomed")

    assert kvs.get_record("doomed") is None
    assert kvs.record_exists("doomed") is False
    assert [item.key for item in kvs.list_keys().items] == ["kept"]
    # deleting a missing record in an existing store is a no-op (behaviour.md#records)
    kvs.delete_record("doomed")


def test_get_record_of_a_missing_key_returns_none(kvs: KeyValueStoreClient) -> None:
    assert kvs.get_record("missing") is None


def test_record_access_on_a_missing_store(client: ApifyClient) -> None:
    missing = client.key_value_store("b" * 17)

    assert missing.get_record("k") is None
    assert missing.get_record_as_bytes("k") is None
    assert missing.record_exists("k") is False
    with missing.stream_record("k") as record:
        assert record is None
    with pytest.raises(ApifyApiError) as excinfo:
        missing.set_record("k", "v")
    assert_api_error(excinfo, 404, "record-not-found")


LONG_CONTENT_TYPE = 'application/vnd.example+json; profile="x"; version="' + "9" * 150 + '"'


@pytest.mark.parametrize(
    "content_type",
    [
        "image/png",
        "text/plain; charset=utf-8",
        'application/vnd.example+json; profile="x"',
        LONG_CONTENT_TYPE,
        "Text/HTML; Charset=ISO-8859-2",
    ],
)
def test_content_type_round_trips_exactly(kvs: KeyValueStoreClient, content_type: str) -> None:
    body = b'{"k": "\x89PNG"}'

    kvs.set_record("typed", body, content_type=content_type)
    raw = kvs.get_record_as_bytes("typed")

    assert raw is not None
    assert raw["content_type"] == content_type
    assert raw["value"] == body


def test_content_type_of_255_chars_is_kept_and_256_rejected(kvs: KeyValueStoreClient) -> None:
    prefix = "application/x-long; p="
    ok = prefix + "a" * (255 - len(prefix))
    too_long = ok + "a"

    kvs.set_record("ok", b"1", content_type=ok)
    raw = kvs.get_record_as_bytes("ok")
    assert raw is not None and raw["content_type"] == ok

    with pytest.raises(ApifyApiError) as excinfo:
        kvs.set_record("long", b"1", content_type=too_long)
    assert_api_error(excinfo, 400, "invalid-content-type-header")
    assert kvs.record_exists("long") is False


def test_invalid_record_key_is_rejected(kvs: KeyValueStoreClient) -> None:
    with pytest.raises(ApifyApiError) as excinfo:
        kvs.set_record("bad key*", "v")
    assert_api_error(excinfo, 400, "invalid-record-key")
    with pytest.raises(ApifyApiError) as excinfo:
        kvs.set_record("k" * 257, "v")
    assert_api_error(excinfo, 400, "invalid-record-key")
    kvs.set_record("k" * 256, "v")
    assert kvs.record_exists("k" * 256) is True


# --------------------------------------------------------------------------------------------------
# Pre-compressed uploads
# --------------------------------------------------------------------------------------------------

PLAIN = ("openkvs stores records exactly as uploaded. " * 300).encode()
COMPRESSED = {
    "gzip": gzip.compress(PLAIN),
    "br": brotli.compress(PLAIN),
    "deflate": zlib.compress(PLAIN),
}


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate"])
def test_pre_compressed_record_reads_back_decoded(kvs: KeyValueStoreClient, encoding: str) -> None:
    body = COMPRESSED[encoding]

    kvs.set_record(
        "packed", body, content_type="application/octet-stream", content_encoding=encoding
    )

    raw = kvs.get_record_as_bytes("packed")
    assert raw is not None
    assert raw["value"] == PLAIN
    record = kvs.get_record("packed")
    assert record is not None and record["value"] == PLAIN
    # `size` is the stored byte length (behaviour.md#records).
    [item] = kvs.list_keys().items
    assert item.size == len(body)


def get_without_accept_encoding(http: httpx.Client, path: str) -> httpx.Response:
    request = http.build_request("GET", path)
    del request.headers["Accept-Encoding"]
    return http.send(request)


def test_gzip_record_is_decoded_or_sent_as_stored_per_accept_encoding(
    kvs: KeyValueStoreClient, named_store: KeyValueStoreResource, http: httpx.Client
) -> None:
    kvs.set_record("g", COMPRESSED["gzip"], content_type="text/plain", content_encoding="gzip")
    path = f"/v2/key-value-stores/{named_store.id}/records/g"

    plain = get_without_accept_encoding(http, path)
    assert plain.status_code == 200, plain.text
    assert plain.headers.get("content-encoding", "identity") == "identity"
    assert plain.headers["content-type"] == "text/plain"
    assert plain.content == PLAIN

    with http.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as response:
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["content-type"] == "text/plain"
        stored = b"".join(response.iter_raw())
    assert stored == COMPRESSED["gzip"]


def test_brotli_record_is_decoded_for_a_gzip_only_client(
    kvs: KeyValueStoreClient, named_store: KeyValueStoreResource, http: httpx.Client
) -> None:
    kvs.set_record("b", COMPRESSED["br"], content_type="text/plain", content_encoding="br")
    path = f"/v2/key-value-stores/{named_store.id}/records/b"

    with http.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as response:
        assert response.status_code == 200
        # gzip does not accept the stored br, so the bytes are decoded on the fly
        # (behaviour.md#records).
        assert response.headers.get("content-encoding", "identity") == "identity"
        body = b"".join(response.iter_raw())
    assert body == PLAIN
    plain = get_without_accept_encoding(http, path)
    assert plain.headers.get("content-encoding", "identity") == "identity"
    assert plain.content == PLAIN


# --------------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------------


def test_list_keys_pages_with_limit_and_exclusive_start_key(kvs: KeyValueStoreClient) -> None:
    for key in ("a", "b", "c", "d", "e"):
        kvs.set_record(key, key)

    first = kvs.list_keys(limit=2)
    assert [item.key for item in first.items] == ["a", "b"]
    assert (first.count, first.limit, first.is_truncated) == (2, 2, True)
    assert first.exclusive_start_key is None
    assert first.next_exclusive_start_key == "b"

    second = kvs.list_keys(limit=2, exclusive_start_key=first.next_exclusive_start_key)
    assert [item.key for item in second.items] == ["c", "d"]
    assert second.exclusive_start_key == "b"
    assert second.next_exclusive_start_key == "d"

    last = kvs.list_keys(limit=2, exclusive_start_key="d")
    assert [item.key for item in last.items] == ["e"]
    assert (last.count, last.is_truncated, last.next_exclusive_start_key) == (1, False, None)

    everything = kvs.list_keys()
    assert [item.key for item in everything.items] == ["a", "b", "c", "d", "e"]
    assert (everything.limit, everything.is_truncated) == (1000, False)
    assert everything.next_exclusive_start_key is None


def test_list_keys_exclusive_start_key_need_not_exist(kvs: KeyValueStoreClient) -> None:
    for key in ("a", "b", "c"):
        kvs.set_record(key, key)

    page = kvs.list_keys(exclusive_start_key="aa")

    assert [item.key for item in page.items] == ["b", "c"]


def test_list_keys_with_prefix(kvs: KeyValueStoreClient) -> None:
    for key in ("p-1", "p-2", "p-3", "q-1", "p", "pa"):
        kvs.set_record(key, key)

    page = kvs.list_keys(prefix="p-")
    assert [item.key for item in page.items] == ["p-1", "p-2", "p-3"]

    paged = kvs.list_keys(prefix="p-", limit=2, exclusive_start_key="p-1")
    assert [item.key for item in paged.items] == ["p-2", "p-3"]
    assert paged.is_truncated is False


def test_list_keys_items_carry_size_and_absolute_public_url(
    kvs: KeyValueStoreClient, named_store: KeyValueStoreResource, base_url: str, anon: httpx.Client
) -> None:
    kvs.set_record("five", b"12345")
    kvs.set_record("three", b"abc")

    items = kvs.list_keys().items

    assert [(item.key, item.size) for item in items] == [("five", 5), ("three", 3)]
    for item, body in zip(items, (b"12345", b"abc"), strict=True):
        url = str(item.record_public_url)
        expected_prefix = f"{base_url}/v2/key-value-stores/{named_store.id}/records/{item.key}"
        assert url.startswith(expected_prefix), url
        response = anon.get(url)  # signed, so no token is needed even on a restricted store
        assert response.status_code == 200, response.text
        assert response.content == body


def test_list_keys_sorts_in_byte_order(kvs: KeyValueStoreClient) -> None:
    keys = [
        "a",
        "B",
        "_x",
        "0",
        "(p)",
        "'q'",
        "!bang",
        "-dash",
        ".dot",
        "Z9",
        "z",
        "10",
        "9",
        "A_",
        "a-b",
    ]
    for key in keys:
        kvs.set_record(key, key)

    listed = [item.key for item in kvs.list_keys().items]

    assert listed == byte_order(keys)
    assert kvs.get_record("(p)") == {
        "key": "(p)",
        "value": "(p)",
        "content_type": "text/plain; charset=utf-8",
    }


def test_iterate_keys_returns_2500_keys_once_in_byte_order(
    kvs: KeyValueStoreClient, named_store: KeyValueStoreResource, base_url: str, token: str
) -> None:
    # Unpadded numbers and mixed leading characters make byte order differ from insertion order.
    keys = [f"{KEY_ALPHABET[i % len(KEY_ALPHABET)]}{i}" for i in range(2500)]
    local = threading.local()

    def put(key: str) -> None:
        if not hasattr(local, "kvs"):
            local.kvs = make_client(base_url, token).key_value_store(named_store.id)
        local.kvs.set_record(key, b"v", content_type="application/octet-stream")

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(put, keys))

    iterated = [item.key for item in kvs.iterate_keys()]

    assert len(iterated) == 2500
    assert iterated == byte_order(keys)
    small_pages = [item.key for item in kvs.iterate_keys(chunk_size=700, limit=1600)]
    assert small_pages == byte_order(keys)[:1600]


def test_list_keys_filters_by_schema_collection(client: ApifyClient) -> None:
    schema = {
        "actorKeyValueStoreSchemaVersion": 1,
        "title": "Shots",
        "collections": {
            "shots": {"title": "Shots", "keyPrefix": "shot-", "contentTypes": ["image/*"]},
        },
    }
    store = client.key_value_stores().get_or_create(name=unique_name("c"), schema=schema)
    kvs = client.key_value_store(store.id)
    kvs.set_record("shot-1", b"\x89PNG", content_type="image/png")
    kvs.set_record("shot-2", b"GIF8", content_type="image/gif")
    kvs.set_record("other", "x")

    page = kvs.list_keys(collection="shots")

    assert [item.key for item in page.items] == ["shot-1", "shot-2"]
    with pytest.raises(ApifyApiError) as excinfo:
        kvs.set_record("shot-3", "not an image", content_type="text/plain")
    assert_api_error(excinfo, 400, "schema-validation-failed")
    with pytest.raises(ApifyApiError) as excinfo:
        kvs.list_keys(collection="nope")
    assert_api_error(excinfo, 400, "invalid-collection")
    kvs.delete()


# --------------------------------------------------------------------------------------------------
# Signed public URLs
# --------------------------------------------------------------------------------------------------


def test_record_public_url_works_without_a_token_on_a_restricted_store(
    restricted_kvs: KeyValueStoreClient,
    named_store: KeyValueStoreResource,
    base_url: str,
    anon: httpx.Client,
) -> None:
    body = bytes(range(256))
    restricted_kvs.set_record("pub(1)", body, content_type="application/octet-stream")

    url = restricted_kvs.get_record_public_url("pub(1)")

    assert url.startswith(f"{base_url}/v2/key-value-stores/{named_store.id}/records/")
    assert query_param(url, "signature")
    response = anon.get(url)
    assert response.status_code == 200, response.text
    assert response.content == body
    assert response.headers["content-type"] == "application/octet-stream"


def test_record_public_url_without_its_signature_is_forbidden(
    restricted_kvs: KeyValueStoreClient, anon: httpx.Client
) -> None:
    restricted_kvs.set_record("secret", "s")
    url = restricted_kvs.get_record_public_url("secret")

    assert_forbidden(anon.get(without_query_param(url, "signature")))
    # A signature of another key does not open this one.
    other_signature = query_param(restricted_kvs.get_record_public_url("other"), "signature")
    assert_forbidden(anon.get(with_query_param(url, "signature", other_signature)))


def listed_keys(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["key"] for item in response.json()["data"]["items"]]


def test_keys_public_url_without_expiry(
    restricted_kvs: KeyValueStoreClient,
    named_store: KeyValueStoreResource,
    base_url: str,
    anon: httpx.Client,
) -> None:
    for key in ("k1", "k2", "k3"):
        restricted_kvs.set_record(key, key)

    url = restricted_kvs.create_keys_public_url()

    assert url.startswith(f"{base_url}/v2/key-value-stores/{named_store.id}/keys?")
    signature = base64.urlsafe_b64decode(query_param(url, "signature")).decode()
    assert signature.startswith("0.0.")
    assert listed_keys(anon.get(url)) == ["k1", "k2", "k3"]
    # Padding is optional on the wire (behaviour.md#access).
    unpadded = with_query_param(url, "signature", query_param(url, "signature").rstrip("="))
    assert listed_keys(anon.get(unpadded)) == ["k1", "k2", "k3"]


def test_keys_public_url_with_expiry_prefix_and_limit(
    restricted_kvs: KeyValueStoreClient, anon: httpx.Client
) -> None:
    for key in ("a-1", "a-2", "a-3", "b-1"):
        restricted_kvs.set_record(key, key)

    url = restricted_kvs.create_keys_public_url(
        prefix="a-", limit=2, expires_in=timedelta(minutes=10)
    )

    response = anon.get(url)
    assert listed_keys(response) == ["a-1", "a-2"]
    data = response.json()["data"]
    assert (data["isTruncated"], data["nextExclusiveStartKey"]) == (True, "a-2")
    next_page = restricted_kvs.create_keys_public_url(
        prefix="a-", exclusive_start_key="a-2", expires_in=timedelta(minutes=10)
    )
    assert listed_keys(anon.get(next_page)) == ["a-3"]


def test_keys_public_url_with_a_bad_or_expired_signature_is_forbidden(
    client: ApifyClient,
    restricted_kvs: KeyValueStoreClient,
    named_store: KeyValueStoreResource,
    anon: httpx.Client,
) -> None:
    restricted_kvs.set_record("k", "v")
    url = restricted_kvs.create_keys_public_url()
    version, expires_at, mac = (
        base64.urlsafe_b64decode(query_param(url, "signature")).decode().split(".", 2)
    )

    tampered_mac = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    tampered = base64.urlsafe_b64encode(f"{version}.{expires_at}.{tampered_mac}".encode()).decode()
    assert_forbidden(anon.get(with_query_param(url, "signature", tampered)))
    assert_forbidden(anon.get(without_query_param(url, "signature")))

    store = restricted_kvs.get()
    assert store is not None and store.url_signing_secret_key
    expired = create_storage_content_signature(
        named_store.id, store.url_signing_secret_key, expires_in=timedelta(seconds=-60)
    )
    assert_forbidden(anon.get(with_query_param(url, "signature", expired)))

    # A valid signature of another store does not open this one.
    other = client.key_value_stores().get_or_create(name=unique_name("c"))
    other_kvs = client.key_value_store(other.id)
    other_kvs.update(general_access="RESTRICTED")
    foreign = query_param(other_kvs.create_keys_public_url(), "signature")
    assert_forbidden(anon.get(with_query_param(url, "signature", foreign)))
    other_kvs.delete()


def test_keys_public_url_field_of_the_store_is_signed(
    restricted_kvs: KeyValueStoreClient, base_url: str, anon: httpx.Client
) -> None:
    restricted_kvs.set_record("listed", "x")
    store = restricted_kvs.get()
    assert store is not None

    assert store.keys_public_url is not None
    url = str(store.keys_public_url)
    assert url.startswith(f"{base_url}/v2/key-value-stores/{store.id}/keys")
    assert listed_keys(anon.get(url)) == ["listed"]


# --------------------------------------------------------------------------------------------------
# A second user, and lookups by name
# --------------------------------------------------------------------------------------------------


def test_other_user_is_forbidden_to_read_a_restricted_store(
    restricted_kvs: KeyValueStoreClient,
    named_store: KeyValueStoreResource,
    other_client: ApifyClient,
    server: ServerProcess,
) -> None:
    restricted_kvs.set_record("private", "p")
    theirs = other_client.key_value_store(named_store.id)
    by_name = other_client.key_value_store(f"{server.username}/{named_store.name}")

    for call in (
        theirs.get,
        theirs.list_keys,
        lambda: theirs.get_record("private"),
        lambda: theirs.get_record_as_bytes("private"),
    ):
        with pytest.raises(ApifyApiError) as excinfo:
            call()
        assert_api_error(excinfo, 403, "insufficient-permissions")
    # By name, the store reads as missing (names can be guessed; ids cannot).
    assert by_name.get() is None
    assert by_name.get_record("private") is None
    # HEAD has no body, so only the status tells (and it must not read as "absent").
    with pytest.raises(ApifyApiError) as excinfo:
        theirs.record_exists("private")
    assert excinfo.value.status_code == 403


def test_other_user_cannot_write_even_to_a_readable_store(
    kvs: KeyValueStoreClient, named_store: KeyValueStoreResource, other_client: ApifyClient
) -> None:
    kvs.update(general_access="ANYONE_WITH_ID_CAN_READ")
    kvs.set_record("mine", "m")
    theirs = other_client.key_value_store(named_store.id)

    for call in (
        lambda: theirs.set_record("mine", "overwritten"),
        lambda: theirs.delete_record("mine"),
        lambda: theirs.update(name=unique_name("c")),
        theirs.delete,
    ):
        with pytest.raises(ApifyApiError) as excinfo:
            call()
        assert_api_error(excinfo, 403, "insufficient-permissions")
    assert kvs.get_record("mine") == {
        "key": "mine",
        "value": "m",
        "content_type": "text/plain; charset=utf-8",
    }


def test_other_user_reads_with_the_owners_record_signature(
    restricted_kvs: KeyValueStoreClient,
    named_store: KeyValueStoreResource,
    other_client: ApifyClient,
) -> None:
    restricted_kvs.set_record("shared", {"ok": True})
    signature = query_param(restricted_kvs.get_record_public_url("shared"), "signature")

    record = other_client.key_value_store(named_store.id).get_record("shared", signature=signature)

    assert record is not None and record["value"] == {"ok": True}


def test_secret_key_is_only_shown_to_the_owner(
    kvs: KeyValueStoreClient,
    named_store: KeyValueStoreResource,
    other_client: ApifyClient,
    base_url: str,
    other_user: str,
) -> None:
    kvs.update(general_access="ANYONE_WITH_ID_CAN_READ")

    theirs = other_client.key_value_store(named_store.id).get()
    raw = httpx.get(
        f"{base_url}/v2/key-value-stores/{named_store.id}",
        headers={"Authorization": f"Bearer {other_user}"},
    )

    assert theirs is not None and theirs.id == named_store.id
    assert theirs.url_signing_secret_key is None
    assert raw.status_code == 200, raw.text
    # omitted, never null (behaviour.md#access)
    assert "urlSigningSecretKey" not in raw.json()["data"]
    mine = kvs.get()
    assert mine is not None and mine.url_signing_secret_key


def test_owner_looks_up_stores_by_username_and_name(
    client: ApifyClient, named_store: KeyValueStoreResource, server: ServerProcess
) -> None:
    assert named_store.name is not None
    by_username = client.key_value_store(f"{server.username}/{named_store.name}")
    by_own_name = client.key_value_store(f"~{named_store.name}")

    for kvs in (by_username, by_own_name):
        fetched = kvs.get()
        assert fetched is not None and fetched.id == named_store.id

    by_username.set_record("via-name", {"v": 1})
    record = client.key_value_store(named_store.id).get_record("via-name")
    assert record is not None and record["value"] == {"v": 1}
    assert [item.key for item in by_own_name.list_keys().items] == ["via-name"]
    # A bare name is looked up as an id only (behaviour.md#ids-names-and-keys).
    assert client.key_value_store(named_store.name).get() is None


def test_signed_keys_url_works_through_username_and_name(
    restricted_kvs: KeyValueStoreClient,
    named_store: KeyValueStoreResource,
    server: ServerProcess,
    anon: httpx.Client,
) -> None:
    restricted_kvs.set_record("k", "v")
    # The signature covers the real store id even when the path names the store (clients §1.11).
    signature = query_param(restricted_kvs.create_keys_public_url(), "signature")
    path = f"/v2/key-value-stores/{server.username}~{named_store.name}/keys"

    assert listed_keys(anon.get(path, params={"signature": signature})) == ["k"]


# --------------------------------------------------------------------------------------------------
# Stats and the async client
# --------------------------------------------------------------------------------------------------


def test_stats_count_record_operations(kvs: KeyValueStoreClient) -> None:
    kvs.set_record("a", b"0123456789")
    kvs.set_record("b", b"0123456789" * 2)
    kvs.set_record("c", b"0123456789" * 3)
    kvs.get_record("a")
    kvs.get_record("b")
    kvs.delete_record("c")
    kvs.list_keys()
    expected = {
        "write_count": 3,
        "read_count": 2,
        "delete_count": 1,
        "list_count": 1,
        "storage_bytes": 30,
        "s3_storage_bytes": 30,
    }

    # Counters may be applied in the background, visible within 1 s (behaviour.md#stats).
    deadline = time.monotonic() + 1.0
    while True:
        store = kvs.get()
        assert store is not None and store.stats is not None
        actual = {name: getattr(store.stats, name) for name in expected}
        if actual == expected or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert actual == expected


def test_async_client_round_trip(base_url: str, token: str) -> None:
    async def scenario() -> None:
        client = ApifyClientAsync(token, api_url=base_url, api_public_url=base_url)
        store = await client.key_value_stores().get_or_create(name=unique_name("async"))
        kvs = client.key_value_store(store.id)

        await asyncio.gather(*(kvs.set_record(f"k{i:02d}", {"i": i}) for i in range(30)))
        record = await kvs.get_record("k07")
        assert record is not None and record["value"] == {"i": 7}
        assert await kvs.record_exists("k29") is True
        keys = [item.key async for item in kvs.iterate_keys(chunk_size=7)]
        assert keys == [f"k{i:02d}" for i in range(30)]
        async with kvs.stream_record("k03") as streamed:
            assert streamed is not None
            assert json.loads(await streamed["value"].aread()) == {"i": 3}
        listed = [s.id async for s in client.key_value_stores().iterate(chunk_size=5)]
        assert store.id in listed

        await kvs.delete()
        assert await kvs.get() is None
        assert await kvs.get_record("k07") is None

    asyncio.run(scenario())
