"""Tokens, general access and signatures (behaviour.md#access) over raw HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.http_helpers import (
    STORES,
    assert_error,
    bearer,
    create_store,
    get_store,
    key_names,
    record_sig,
    set_access,
    storage_sig,
    unique_name,
)

FORBIDDEN = "insufficient-permissions"


def read_urls(ref: str) -> list[str]:
    return [f"{STORES}/{ref}", f"{STORES}/{ref}/keys", f"{STORES}/{ref}/records/k"]


def test_no_token_where_one_is_needed_is_401_token_not_provided(
    anon: httpx.Client, shared: dict[str, str]
) -> None:
    sid = shared["id"]
    responses = [
        anon.get(STORES),
        anon.post(STORES, params={"name": unique_name()}),
        anon.put(f"{STORES}/{sid}", json={"name": unique_name()}),
        anon.delete(f"{STORES}/{sid}"),
        anon.put(f"{STORES}/{sid}/records/k", content=b"x"),
        anon.post(f"{STORES}/{sid}/records/k", content=b"x"),
        anon.delete(f"{STORES}/{sid}/records/k"),
        anon.get("/v2/users/me"),
        anon.get(f"{STORES}/~{shared['name']}"),
    ]
    for response in responses:
        assert_error(response, 401, "token-not-provided")


def test_bogus_token_is_401_invalid_token_even_where_none_is_needed(
    http: httpx.Client, anon: httpx.Client, shared: dict[str, str]
) -> None:
    set_access(http, shared["id"], "ANYONE_WITH_ID_CAN_READ")
    assert anon.get(f"{STORES}/{shared['id']}").status_code == 200
    bad = bearer("not-a-real-token")
    assert_error(anon.get(STORES, headers=bad), 401, "invalid-token")
    assert_error(anon.get(f"{STORES}/{shared['id']}", headers=bad), 401, "invalid-token")
    assert_error(anon.get(f"{STORES}/{shared['id']}/records/k", headers=bad), 401, "invalid-token")
    response = anon.get(f"{STORES}/{shared['id']}", params={"token": "nope"})
    assert_error(response, 401, "invalid-token")


def test_token_query_parameter_works_like_the_header(
    anon: httpx.Client, token: str, shared: dict[str, str]
) -> None:
    response = anon.get(STORES, params={"token": token})
    assert response.status_code == 200, response.text
    sid = shared["id"]
    response = anon.put(f"{STORES}/{sid}/records/q", params={"token": token}, content=b"via query")
    assert response.status_code == 201, response.text
    got = anon.get(f"{STORES}/{sid}/records/q", params={"token": token})
    assert got.content == b"via query"
    assert (
        "urlSigningSecretKey" in anon.get(f"{STORES}/{sid}", params={"token": token}).json()["data"]
    )


def test_non_owner_writes_are_403_and_change_nothing(
    http: httpx.Client, anon: httpx.Client, shared: dict[str, str], other_user: str
) -> None:
    sid = shared["id"]
    set_access(http, sid, "ANYONE_WITH_NAME_CAN_READ")
    h = bearer(other_user)
    responses = [
        anon.put(f"{STORES}/{sid}", json={"name": unique_name()}, headers=h),
        anon.delete(f"{STORES}/{sid}", headers=h),
        anon.put(f"{STORES}/{sid}/records/k", content=b"hacked", headers=h),
        anon.post(f"{STORES}/{sid}/records/new", content=b"hacked", headers=h),
        anon.delete(f"{STORES}/{sid}/records/k", headers=h),
    ]
    for response in responses:
        assert_error(response, 403, FORBIDDEN)
    assert get_store(http, sid)["name"] == shared["name"]
    assert http.get(f"{STORES}/{sid}/records/k").content == b"secret bytes"
    assert key_names(http, sid) == ["k"]


@pytest.mark.parametrize("access", ["RESTRICTED", "FOLLOW_USER_SETTING"])
def test_restricted_store_is_403_for_other_user_and_anonymous(
    http: httpx.Client, anon: httpx.Client, shared: dict[str, str], other_user: str, access: str
) -> None:
    sid = shared["id"]
    set_access(http, sid, access)
    for headers in ({}, bearer(other_user)):
        for url in [*read_urls(sid), f"{STORES}/{sid}/records"]:
            assert_error(anon.get(url, headers=headers), 403, FORBIDDEN)
        assert anon.head(f"{STORES}/{sid}/records/k", headers=headers).status_code == 403
    # By name, a store the caller may not read is answered as missing: names can be guessed.
    for url in read_urls(f"tester~{shared['name']}"):
        assert_error(anon.get(url, headers=bearer(other_user)), 404, "record-not-found")


def test_anyone_with_id_can_read_by_id_but_not_by_name(
    http: httpx.Client, anon: httpx.Client, shared: dict[str, str], other_user: str
) -> None:
    sid = shared["id"]
    set_access(http, sid, "ANYONE_WITH_ID_CAN_READ")
    for headers in ({}, bearer(other_user)):
        for url in [*read_urls(sid), f"{STORES}/{sid}/records"]:
            assert anon.get(url, headers=headers).status_code == 200, url
        assert anon.head(f"{STORES}/{sid}/records/k", headers=headers).status_code == 200
        for url in read_urls(f"tester~{shared['name']}"):  # not readable by name: as if missing
            assert_error(anon.get(url, headers=headers), 404, "record-not-found")
    assert anon.get(f"{STORES}/{sid}/records/k").content == b"secret bytes"
    assert_error(anon.put(f"{STORES}/{sid}/records/k", content=b"x"), 401, "token-not-provided")


def test_anyone_with_name_can_read_by_id_and_by_username_name(
    http: httpx.Client, anon: httpx.Client, shared: dict[str, str]
) -> None:
    sid = shared["id"]
    set_access(http, sid, "ANYONE_WITH_NAME_CAN_READ")
    for ref in (sid, f"tester~{shared['name']}"):
        for url in [*read_urls(ref), f"{STORES}/{ref}/records"]:
            assert anon.get(url).status_code == 200, url
        assert anon.get(f"{STORES}/{ref}").json()["data"]["id"] == sid
        assert anon.get(f"{STORES}/{ref}/records/k").content == b"secret bytes"


def test_tilde_name_means_callers_own_store(
    anon: httpx.Client, shared: dict[str, str], other_user: str
) -> None:
    response = anon.get(f"{STORES}/~{shared['name']}", headers=bearer(other_user))
    assert_error(response, 404, "record-not-found")


def test_record_signature_grants_get_and_head(
    http: httpx.Client, anon: httpx.Client, shared: dict[str, str]
) -> None:
    set_access(http, shared["id"], "RESTRICTED")
    url = f"{STORES}/{shared['id']}/records/k"
    params = {"signature": record_sig(shared["secret"], "k")}
    response = anon.get(url, params=params)
    assert response.status_code == 200, response.text
    assert response.content == b"secret bytes"
    assert anon.head(url, params=params).status_code == 200


@pytest.mark.parametrize("which", ["other-key", "wrong-secret", "garbage"])
def test_wrong_record_signature_is_403(
    http: httpx.Client, anon: httpx.Client, shared: dict[str, str], which: str
) -> None:
    set_access(http, shared["id"], "RESTRICTED")
    signature = {
        "other-key": record_sig(shared["secret"], "other"),
        "wrong-secret": record_sig("not-the-secret", "k"),
        "garbage": "abc",
    }[which]
    response = anon.get(f"{STORES}/{shared['id']}/records/k", params={"signature": signature})
    assert_error(response, 403, FORBIDDEN)


@pytest.mark.parametrize("padded", [True, False])
@pytest.mark.parametrize("expires_in_ms", [None, 60_000])
def test_storage_signature_grants_keys_and_zip(
    http: httpx.Client,
    anon: httpx.Client,
    shared: dict[str, str],
    padded: bool,
    expires_in_ms: int | None,
) -> None:
    sid = shared["id"]
    set_access(http, sid, "RESTRICTED")
    signature = storage_sig(sid, shared["secret"], expires_in_ms, padded=padded)
    keys = anon.get(f"{STORES}/{sid}/keys", params={"signature": signature})
    assert keys.status_code == 200, keys.text
    assert [item["key"] for item in keys.json()["data"]["items"]] == ["k"]
    archive = anon.get(f"{STORES}/{sid}/records", params={"signature": signature})
    assert archive.status_code == 200, archive.text
    assert archive.headers["content-type"].startswith("application/zip")


def test_storage_signature_with_21_char_hmac_padded_and_unpadded(
    http: httpx.Client, anon: httpx.Client
) -> None:
    # Find a store whose signature needs '=' padding, so both spellings really differ.
    for _ in range(20):
        data = create_store(http)
        padded = storage_sig(data["id"], data["urlSigningSecretKey"], padded=True)
        if padded.endswith("="):
            break
    else:
        pytest.fail("no store with a padded signature in 20 tries")
    set_access(http, data["id"], "RESTRICTED")
    for sig in (padded, padded.rstrip("=")):
        response = anon.get(f"{STORES}/{data['id']}/keys", params={"signature": sig})
        assert response.status_code == 200, (sig, response.text)


def test_storage_signature_works_through_username_name_path(
    http: httpx.Client, anon: httpx.Client, shared: dict[str, str]
) -> None:
    set_access(http, shared["id"], "RESTRICTED")
    signature = storage_sig(shared["id"], shared["secret"])
    response = anon.get(f"{STORES}/tester~{shared['name']}/keys", params={"signature": signature})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("which", ["expired", "wrong-secret", "other-store", "version", "garbage"])
def test_wrong_or_expired_storage_signature_is_403(
    http: httpx.Client, anon: httpx.Client, shared: dict[str, str], which: str
) -> None:
    sid = shared["id"]
    set_access(http, sid, "RESTRICTED")
    signature = {
        "expired": storage_sig(sid, shared["secret"], expires_in_ms=-60_000),
        "wrong-secret": storage_sig(sid, "not-the-secret"),
        "other-store": storage_sig("AAAAAAAAAAAAAAAAA", shared["secret"]),
        "version": storage_sig(sid, shared["secret"], version=1),
        "garbage": "%%%not-base64",
    }[which]
    for path in ("keys", "records"):
        response = anon.get(f"{STORES}/{sid}/{path}", params={"signature": signature})
        assert_error(response, 403, FORBIDDEN)


def test_users_me_and_users_by_id(http: httpx.Client) -> None:
    response = http.get("/v2/users/me")
    assert response.status_code == 200, response.text
    me = response.json()["data"]
    assert me["username"] == "tester"
    assert isinstance(me["id"], str) and len(me["id"]) == 17
    response = http.get(f"/v2/users/{me['id']}")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["id"] == me["id"]
    assert response.json()["data"]["username"] == "tester"


def test_users_me_for_other_user(anon: httpx.Client, other_user: str) -> None:
    response = anon.get("/v2/users/me", headers=bearer(other_user))
    assert response.status_code == 200, response.text
    assert response.json()["data"]["username"] != "tester"
