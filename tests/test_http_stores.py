"""Store endpoints over raw HTTP: create, get-or-create, get, update, delete
(behaviour.md#ids-names-and-keys, #access, #store-names-and-schemas)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.http_helpers import (
    ID_RE,
    STATS_FIELDS,
    STORES,
    TIMESTAMP_RE,
    assert_error,
    create_store,
    decode_storage_sig,
    get_store,
    put_record,
    unique_name,
)


def test_create_unnamed_store_returns_201_with_location_and_full_store_object(
    http: httpx.Client, base_url: str
) -> None:
    response = http.post(STORES)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert ID_RE.match(data["id"])
    assert response.headers["location"] == f"{base_url}{STORES}/{data['id']}"
    assert data["name"] is None
    assert data["username"] == "tester"
    assert ID_RE.match(data["userId"])
    for field in ("createdAt", "modifiedAt", "accessedAt"):
        assert TIMESTAMP_RE.match(data[field]), (field, data[field])
    assert data["generalAccess"] in (
        "FOLLOW_USER_SETTING",
        "RESTRICTED",
        "ANYONE_WITH_ID_CAN_READ",
        "ANYONE_WITH_NAME_CAN_READ",
    )
    assert isinstance(data["urlSigningSecretKey"], str) and data["urlSigningSecretKey"]
    assert {field: data["stats"][field] for field in STATS_FIELDS} == dict.fromkeys(STATS_FIELDS, 0)


def test_create_named_store_returns_201_and_same_name_returns_200_same_store(
    http: httpx.Client, base_url: str
) -> None:
    name = unique_name()
    first = http.post(STORES, params={"name": name})
    assert first.status_code == 201, first.text
    created = first.json()["data"]
    assert created["name"] == name
    assert first.headers["location"] == f"{base_url}{STORES}/{created['id']}"
    schema = {
        "actorKeyValueStoreSchemaVersion": 1,
        "title": "ignored",
        "collections": {"c": {"title": "C", "key": "K"}},
    }
    second = http.post(STORES, params={"name": name}, json={"schema": schema})
    assert second.status_code == 200, second.text
    again = second.json()["data"]
    assert again["id"] == created["id"]
    assert again["name"] == name
    assert again["schema"] is None


def test_create_with_empty_json_object_body_as_python_client_sends(http: httpx.Client) -> None:
    name = unique_name()
    response = http.post(STORES, params={"name": name}, json={})
    assert response.status_code == 201, response.text
    assert response.json()["data"]["name"] == name
    again = http.post(STORES, params={"name": name}, json={})
    assert again.status_code == 200
    assert again.json()["data"]["id"] == response.json()["data"]["id"]


def test_store_name_of_63_characters_is_accepted(http: httpx.Client) -> None:
    name = "a" + "b1-c" * 15 + "z1"
    assert len(name) == 63
    response = http.post(STORES, params={"name": name})
    assert response.status_code == 201, response.text
    assert response.json()["data"]["name"] == name


@pytest.mark.parametrize("name", ["-abc", "abc-", "a" * 64, "a_b", "a.b", "a b", "ab~c"])
def test_create_store_with_bad_name_is_400_invalid_value(http: httpx.Client, name: str) -> None:
    response = http.post(STORES, params={"name": name})
    assert_error(response, 400, "invalid-value")


@pytest.mark.parametrize("name", ["-abc", "a" * 64, "a_b"])
def test_rename_store_to_bad_name_is_400_invalid_value_and_keeps_name(
    http: httpx.Client, store: dict[str, object], name: str
) -> None:
    response = http.put(f"{STORES}/{store['id']}", json={"name": name})
    assert_error(response, 400, "invalid-value")
    assert get_store(http, str(store["id"]))["name"] == store["name"]


def test_get_store_by_id_tilde_name_and_username_tilde_name(
    http: httpx.Client, store: dict[str, object]
) -> None:
    for ref in (store["id"], f"~{store['name']}", f"tester~{store['name']}"):
        response = http.get(f"{STORES}/{ref}")
        assert response.status_code == 200, (ref, response.text)
        assert response.json()["data"]["id"] == store["id"], ref


def test_get_store_by_bare_name_is_404_record_not_found(
    http: httpx.Client, store: dict[str, object]
) -> None:
    assert_error(http.get(f"{STORES}/{store['name']}"), 404, "record-not-found")


def test_get_missing_store_is_404_record_not_found(http: httpx.Client) -> None:
    assert_error(http.get(f"{STORES}/AAAAAAAAAAAAAAAAA"), 404, "record-not-found")
    assert_error(http.get(f"{STORES}/~{unique_name()}"), 404, "record-not-found")


def test_update_name_and_general_access(http: httpx.Client, store: dict[str, object]) -> None:
    new_name = unique_name("renamed")
    response = http.put(
        f"{STORES}/{store['id']}",
        json={"name": new_name, "generalAccess": "ANYONE_WITH_NAME_CAN_READ"},
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["id"] == store["id"]
    assert data["name"] == new_name
    assert data["generalAccess"] == "ANYONE_WITH_NAME_CAN_READ"
    assert http.get(f"{STORES}/~{new_name}").json()["data"]["id"] == store["id"]
    assert_error(http.get(f"{STORES}/~{store['name']}"), 404, "record-not-found")


def test_update_name_null_unnames_store(http: httpx.Client, store: dict[str, object]) -> None:
    response = http.put(f"{STORES}/{store['id']}", json={"name": None})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["name"] is None
    assert get_store(http, str(store["id"]))["name"] is None
    assert_error(http.get(f"{STORES}/~{store['name']}"), 404, "record-not-found")
    named = http.get(STORES).json()["data"]["items"]
    assert store["id"] not in [item["id"] for item in named]
    everything = http.get(STORES, params={"unnamed": "true"}).json()["data"]["items"]
    assert store["id"] in [item["id"] for item in everything]


def test_rename_to_name_in_use_is_400_name_not_unique(
    http: httpx.Client, store: dict[str, object]
) -> None:
    other = create_store(http, unique_name())
    response = http.put(f"{STORES}/{other['id']}", json={"name": store["name"]})
    assert_error(response, 400, "name-not-unique")
    assert get_store(http, other["id"])["name"] == other["name"]
    assert http.get(f"{STORES}/~{store['name']}").json()["data"]["id"] == store["id"]


@pytest.mark.parametrize("value", ["PUBLIC", "restricted", 5, ""])
def test_update_with_bad_general_access_is_400(
    http: httpx.Client, store: dict[str, object], value: object
) -> None:
    response = http.put(f"{STORES}/{store['id']}", json={"generalAccess": value})
    assert_error(response, 400, ("invalid-value", "invalid-input"))
    assert get_store(http, str(store["id"]))["generalAccess"] == store["generalAccess"]


def test_delete_store_is_204_then_404(http: httpx.Client, store: dict[str, object]) -> None:
    put_record(http, str(store["id"]), "k", b"v")
    response = http.delete(f"{STORES}/{store['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert_error(http.get(f"{STORES}/{store['id']}"), 404, "record-not-found")
    assert_error(http.get(f"{STORES}/{store['id']}/keys"), 404, "record-not-found")
    assert_error(http.get(f"{STORES}/{store['id']}/records/k"), 404, "record-not-found")
    assert_error(http.delete(f"{STORES}/{store['id']}"), 404, "record-not-found")
    # The name is free again, and the new store does not inherit the old records.
    again = http.post(STORES, params={"name": str(store["name"])})
    assert again.status_code == 201
    assert again.json()["data"]["id"] != store["id"]
    assert http.get(f"{STORES}/{again.json()['data']['id']}/keys").json()["data"]["items"] == []


def test_update_store_moves_modified_at(http: httpx.Client, store: dict[str, object]) -> None:
    time.sleep(0.01)
    response = http.put(f"{STORES}/{store['id']}", json={"generalAccess": "RESTRICTED"})
    assert response.status_code == 200
    assert response.json()["data"]["modifiedAt"] > store["modifiedAt"]


def test_store_fields_for_owner_include_signing_key_and_absolute_public_urls(
    http: httpx.Client, store: dict[str, object], base_url: str
) -> None:
    data = get_store(http, str(store["id"]))
    assert data["urlSigningSecretKey"] == store["urlSigningSecretKey"]
    keys_url = httpx.URL(data["keysPublicUrl"])
    assert str(keys_url).startswith(f"{base_url}{STORES}/{store['id']}/keys")
    assert keys_url.params.get("signature")
    assert data["recordsPublicUrl"].startswith(f"{base_url}{STORES}/{store['id']}/records")


def test_keys_public_url_signature_expires_in_14_days(
    http: httpx.Client, store: dict[str, object]
) -> None:
    sig = httpx.URL(str(store["keysPublicUrl"])).params["signature"]
    version, expires_at, _ = decode_storage_sig(sig)
    assert version == "0"
    fourteen_days_ms = 14 * 24 * 3600 * 1000
    assert abs(expires_at - (time.time() * 1000 + fourteen_days_ms)) < 5 * 60 * 1000


def test_signing_key_absent_for_other_user_and_anonymous_reader(
    http: httpx.Client, anon: httpx.Client, store: dict[str, object], other_user: str
) -> None:
    sid = store["id"]
    http.put(f"{STORES}/{sid}", json={"generalAccess": "ANYONE_WITH_ID_CAN_READ"})
    as_anon = anon.get(f"{STORES}/{sid}")
    assert as_anon.status_code == 200, as_anon.text
    assert "urlSigningSecretKey" not in as_anon.json()["data"]
    as_other = anon.get(f"{STORES}/{sid}", headers={"Authorization": f"Bearer {other_user}"})
    assert as_other.status_code == 200, as_other.text
    assert as_other.json()["data"]["id"] == sid
    assert "urlSigningSecretKey" not in as_other.json()["data"]
    assert "urlSigningSecretKey" in get_store(http, str(sid))
