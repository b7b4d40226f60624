"""Key-value store schemas and collections (behaviour.md#store-names-and-schemas) over raw HTTP."""

from __future__ import annotations

import copy
import gzip
import io
import json
import zipfile
from typing import Any

import httpx
import pytest

from tests.http_helpers import (
    STORES,
    assert_error,
    get_store,
    key_names,
    put_record,
    record_url,
    unique_name,
)

SCHEMA: dict[str, Any] = {
    "actorKeyValueStoreSchemaVersion": 1,
    "title": "Test schema",
    "description": "collections for tests",
    "collections": {
        "screenshots": {
            "title": "Screenshots",
            "keyPrefix": "shot-",
            "contentTypes": ["image/*"],
        },
        "config": {
            "title": "Config",
            "key": "CONFIG",
            "contentTypes": ["application/json"],
            "jsonSchema": {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "properties": {"port": {"type": "integer", "minimum": 1}},
                "required": ["port"],
            },
        },
        "texts": {"title": "Texts", "keyPrefix": "txt-", "contentTypes": ["text/plain"]},
    },
}


@pytest.fixture
def schema_store(http: httpx.Client) -> dict[str, Any]:
    response = http.post(STORES, params={"name": unique_name()}, json={"schema": SCHEMA})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def test_create_with_valid_schema_echoes_it(
    http: httpx.Client, schema_store: dict[str, Any]
) -> None:
    assert schema_store["schema"] == SCHEMA
    assert get_store(http, schema_store["id"])["schema"] == SCHEMA


def test_unnamed_store_can_have_a_schema(http: httpx.Client) -> None:
    response = http.post(STORES, json={"schema": SCHEMA})
    assert response.status_code == 201, response.text
    assert response.json()["data"]["schema"] == SCHEMA


def test_get_or_create_existing_store_keeps_its_schema(
    http: httpx.Client, schema_store: dict[str, Any]
) -> None:
    other = {"actorKeyValueStoreSchemaVersion": 1, "title": "other", "collections": {}}
    response = http.post(STORES, params={"name": schema_store["name"]}, json={"schema": other})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["id"] == schema_store["id"]
    assert response.json()["data"]["schema"] == SCHEMA
    assert get_store(http, schema_store["id"])["schema"] == SCHEMA


def broken_schemas() -> dict[str, Any]:
    def with_collection(coll: dict[str, Any]) -> dict[str, Any]:
        doc = copy.deepcopy(SCHEMA)
        doc["collections"]["x"] = coll
        return doc

    no_collections = copy.deepcopy(SCHEMA)
    del no_collections["collections"]
    no_title = copy.deepcopy(SCHEMA)
    del no_title["title"]
    return {
        "not-an-object": [1, 2],
        "no-collections": no_collections,
        "no-title": no_title,
        "key-and-prefix": with_collection({"title": "X", "key": "a", "keyPrefix": "b"}),
        "neither-key-nor-prefix": with_collection({"title": "X"}),
        "empty-key": with_collection({"title": "X", "key": ""}),
        "empty-content-types": with_collection({"title": "X", "key": "a", "contentTypes": []}),
        "json-schema-without-json-type": with_collection(
            {"title": "X", "key": "a", "contentTypes": ["text/plain"], "jsonSchema": {}}
        ),
        "json-schema-invalid": with_collection(
            {
                "title": "X",
                "key": "a",
                "contentTypes": ["application/json"],
                "jsonSchema": {"type": 12},
            }
        ),
    }


@pytest.mark.parametrize("schema", broken_schemas().values(), ids=broken_schemas().keys())
def test_invalid_schema_is_400_store_schema_invalid_and_nothing_created(
    http: httpx.Client, schema: Any
) -> None:
    name = unique_name()
    response = http.post(STORES, params={"name": name}, json={"schema": schema})
    assert_error(response, 400, "store-schema-invalid")
    assert_error(http.get(f"{STORES}/~{name}"), 404, "record-not-found")


@pytest.fixture
def filled(http: httpx.Client, schema_store: dict[str, Any]) -> str:
    sid: str = schema_store["id"]
    put_record(http, sid, "CONFIG", b'{"port": 8080}', "application/json")
    put_record(http, sid, "shot-1", b"\x89PNG1", "image/png")
    put_record(http, sid, "shot-2", b"<svg/>", "image/svg+xml")
    put_record(http, sid, "other", b"anything", "application/x-anything")
    return sid


def test_collection_filters_keys(http: httpx.Client, filled: str) -> None:
    assert key_names(http, filled, collection="screenshots") == ["shot-1", "shot-2"]
    assert key_names(http, filled, collection="config") == ["CONFIG"]
    assert key_names(http, filled, collection="texts") == []
    assert key_names(http, filled) == ["CONFIG", "other", "shot-1", "shot-2"]


def test_collection_filters_zip(http: httpx.Client, filled: str) -> None:
    response = http.get(f"{STORES}/{filled}/records", params={"collection": "screenshots"})
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == ["shot-1", "shot-2"]
        assert archive.read("shot-2") == b"<svg/>"


def test_unknown_collection_is_400_invalid_collection(http: httpx.Client, filled: str) -> None:
    for path in ("keys", "records"):
        response = http.get(f"{STORES}/{filled}/{path}", params={"collection": "nope"})
        assert_error(response, 400, "invalid-collection")


def test_collection_on_store_without_schema_is_400_invalid_collection(
    http: httpx.Client, store: dict[str, object]
) -> None:
    for path in ("keys", "records"):
        response = http.get(f"{STORES}/{store['id']}/{path}", params={"collection": "config"})
        assert_error(response, 400, "invalid-collection")


@pytest.mark.parametrize(
    ("key", "content_type"),
    [
        ("shot-3", "image/jpeg"),
        ("shot-4", "image/webp; q=1"),
        ("CONFIG", "application/json; charset=utf-8"),
        ("CONFIG", "Application/JSON"),
        ("txt-1", "text/plain; charset=utf-8"),
        ("free", "text/html"),
    ],
)
def test_allowed_content_types_are_accepted(
    http: httpx.Client, schema_store: dict[str, Any], key: str, content_type: str
) -> None:
    body = b'{"port": 1}' if key == "CONFIG" else b"data"
    response = http.put(
        record_url(schema_store["id"], key), content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 201, response.text
    assert http.get(record_url(schema_store["id"], key)).headers["content-type"] == content_type


@pytest.mark.parametrize(
    ("key", "content_type"),
    [
        ("shot-3", "text/plain"),
        ("shot-3", "application/octet-stream"),
        ("CONFIG", "text/plain"),
        ("txt-1", "text/html"),
        ("txt-1", None),
    ],
)
def test_disallowed_content_type_is_400_schema_validation_failed(
    http: httpx.Client, schema_store: dict[str, Any], key: str, content_type: str | None
) -> None:
    sid = schema_store["id"]
    headers = {"Content-Type": content_type} if content_type else {}
    response = http.put(record_url(sid, key), content=b'{"port": 2}', headers=headers)
    assert_error(response, 400, "schema-validation-failed")
    assert key_names(http, sid) == []


@pytest.mark.parametrize(
    "document",
    [{"port": "eighty"}, {}, {"port": 0}, [1, 2]],
    ids=["wrong-type", "missing", "below-minimum", "array"],
)
def test_json_failing_json_schema_is_400_with_reasons_and_old_value_kept(
    http: httpx.Client, schema_store: dict[str, Any], document: Any
) -> None:
    sid = schema_store["id"]
    put_record(http, sid, "CONFIG", b'{"port": 8080}', "application/json")
    response = http.put(
        record_url(sid, "CONFIG"),
        content=json.dumps(document).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    error = assert_error(response, 400, "schema-validation-failed")
    assert error.get("data"), error
    assert http.get(record_url(sid, "CONFIG")).content == b'{"port": 8080}'


def test_gzip_encoded_json_is_validated_against_json_schema(
    http: httpx.Client, schema_store: dict[str, Any]
) -> None:
    sid = schema_store["id"]
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    bad = gzip.compress(b'{"port": "eighty"}')
    response = http.put(record_url(sid, "CONFIG"), content=bad, headers=headers)
    assert_error(response, 400, "schema-validation-failed")
    assert key_names(http, sid) == []
    good = gzip.compress(b'{"port": 80}')
    response = http.put(record_url(sid, "CONFIG"), content=good, headers=headers)
    assert response.status_code == 201, response.text
    got = http.get(record_url(sid, "CONFIG"), headers={"Accept-Encoding": "identity"})
    assert got.content == b'{"port": 80}'


def test_post_record_is_validated_like_put(
    http: httpx.Client, schema_store: dict[str, Any]
) -> None:
    sid = schema_store["id"]
    response = http.post(
        record_url(sid, "shot-9"), content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert_error(response, 400, "schema-validation-failed")
    assert key_names(http, sid) == []
