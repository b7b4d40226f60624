"""Who gets signed URLs, record and storage signatures kept apart, and what a name reveals
(behaviour.md#access).

Issue 15: item 4 (signed record URLs only for the owner or a verified storage signature), item 6
(a record key that spells a storage signature's message is refused, never signed nor let in by a
signature) and item 11's first point (a store named by `username~name` that the caller may not
read is answered as a missing store).
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from openkvs.core.models import Store
from openkvs.http.serialize import record_url as api_record_url
from tests.http_helpers import (
    STORES,
    assert_error,
    bearer,
    create_store,
    decode_storage_sig,
    get_store,
    put_record,
    record_sig,
    record_url,
    set_access,
    storage_sig,
    unique_name,
)

FORBIDDEN = "insufficient-permissions"
READABLE = ("ANYONE_WITH_ID_CAN_READ", "ANYONE_WITH_NAME_CAN_READ")


def signature_of(url: str) -> str | None:
    values = parse_qs(urlsplit(url).query).get("signature")
    return values[0] if values else None


def record_urls(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["recordPublicUrl"] for item in response.json()["data"]["items"]]


# --- item 4: signed record URLs -------------------------------------------------------------------


@pytest.mark.parametrize("access", READABLE)
@pytest.mark.parametrize("signature", ["x", "", "forged-storage-signature"])
def test_a_signature_parameter_on_a_public_store_mints_no_signed_urls(
    http: httpx.Client, anon: httpx.Client, shared: dict[str, str], access: str, signature: str
) -> None:
    sid = shared["id"]
    set_access(http, sid, access)
    if signature == "forged-storage-signature":
        signature = storage_sig(sid, "not-the-secret")
    urls = record_urls(anon.get(f"{STORES}/{sid}/keys", params={"signature": signature}))
    assert urls and all(signature_of(url) is None for url in urls), urls


@pytest.mark.parametrize("access", READABLE)
def test_another_users_token_on_a_public_store_mints_no_signed_urls(
    http: httpx.Client, anon: httpx.Client, shared: dict[str, str], other_user: str, access: str
) -> None:
    sid = shared["id"]
    set_access(http, sid, access)
    response = anon.get(
        f"{STORES}/{sid}/keys", params={"signature": "x"}, headers=bearer(other_user)
    )
    assert all(signature_of(url) is None for url in record_urls(response))
    data = anon.get(f"{STORES}/{sid}", headers=bearer(other_user)).json()["data"]
    assert "urlSigningSecretKey" not in data
    assert signature_of(data["keysPublicUrl"]) is None
    assert signature_of(data["recordsPublicUrl"]) is None


@pytest.mark.parametrize("access", ["RESTRICTED", *READABLE])
def test_a_verified_storage_signature_gets_signed_urls_that_open_the_records(
    http: httpx.Client, anon: httpx.Client, shared: dict[str, str], access: str
) -> None:
    sid = shared["id"]
    set_access(http, sid, access)
    signature = storage_sig(sid, shared["secret"], expires_in_ms=60_000)
    urls = record_urls(anon.get(f"{STORES}/{sid}/keys", params={"signature": signature}))
    assert [signature_of(url) for url in urls] == [record_sig(shared["secret"], "k")]
    set_access(http, sid, "RESTRICTED")
    got = anon.get(urls[0])
    assert got.status_code == 200 and got.content == b"secret bytes"


def test_the_owner_gets_signed_urls(http: httpx.Client, shared: dict[str, str]) -> None:
    urls = record_urls(http.get(f"{STORES}/{shared['id']}/keys"))
    assert [signature_of(url) for url in urls] == [record_sig(shared["secret"], "k")]


def test_after_the_owner_restricts_the_store_no_new_signed_url_can_be_obtained(
    http: httpx.Client, anon: httpx.Client, shared: dict[str, str]
) -> None:
    sid = shared["id"]
    set_access(http, sid, "ANYONE_WITH_NAME_CAN_READ")
    minted: list[str | None] = []
    for ref in (sid, f"tester~{shared['name']}"):
        for signature in ("x", "0", storage_sig(sid, "guess")):
            response = anon.get(f"{STORES}/{ref}/keys", params={"signature": signature})
            minted += [signature_of(url) for url in record_urls(response)]
        store = anon.get(f"{STORES}/{ref}").json()["data"]
        minted += [signature_of(store["keysPublicUrl"]), store.get("urlSigningSecretKey")]
    assert minted and set(minted) == {None}
    set_access(http, sid, "RESTRICTED")
    put_record(http, sid, "later", b"written after", "text/plain")
    for signature in ("x", storage_sig(sid, "guess")):
        response = anon.get(f"{STORES}/{sid}/keys", params={"signature": signature})
        assert_error(response, 403, FORBIDDEN)
    assert_error(anon.get(record_url(sid, "later")), 403, FORBIDDEN)


# --- item 6: record signatures and storage signatures never stand for each other ---------------


def reserved_keys(store_id: str, expires_at: int) -> list[str]:
    return [f"0.0.{store_id}", f"0.{expires_at}.{store_id}", f"0.007.{store_id}"]


def test_a_key_spelling_a_storage_signature_message_is_refused(
    http: httpx.Client, shared: dict[str, str]
) -> None:
    sid = shared["id"]
    for ref in (sid, f"~{shared['name']}"):
        for key in reserved_keys(sid, 1767225600000):
            for method in ("PUT", "POST"):
                response = http.request(method, record_url(ref, key), content=b"x")
                error = assert_error(response, 400, "invalid-record-key")
                assert "reserved" in error["message"] and "storage signature" in error["message"]
    keys = [item["key"] for item in http.get(f"{STORES}/{sid}/keys").json()["data"]["items"]]
    assert keys == ["k"]
    # The same spelling with another store's id is an ordinary key.
    other = create_store(http)["id"]
    put_record(http, sid, f"0.0.{other}", b"fine")


def test_a_storage_signatures_mac_does_not_open_a_record(
    http: httpx.Client, anon: httpx.Client, shared: dict[str, str]
) -> None:
    sid = shared["id"]
    set_access(http, sid, "RESTRICTED")
    keys_url = get_store(http, sid)["keysPublicUrl"]
    signature = signature_of(keys_url)
    assert signature is not None
    signatures = [signature, storage_sig(sid, shared["secret"])]  # 14 days; never expiring
    for storage in signatures:
        _version, expires_at, mac = decode_storage_sig(storage)
        url = record_url(sid, f"0.{expires_at}.{sid}")
        assert_error(anon.get(url, params={"signature": mac}), 403, FORBIDDEN)
        assert anon.head(url, params={"signature": mac}).status_code == 403


def test_no_record_signature_from_a_keys_list_opens_the_keys_list_or_zip(
    http: httpx.Client, anon: httpx.Client, shared: dict[str, str]
) -> None:
    sid = shared["id"]
    # The attack: store the key whose record signature is the never-expiring storage signature.
    attempt = http.put(record_url(sid, f"0.0.{sid}"), content=b"bait")
    assert_error(attempt, 400, "invalid-record-key")
    set_access(http, sid, "RESTRICTED")
    for url in record_urls(http.get(f"{STORES}/{sid}/keys")):
        mac = signature_of(url)
        assert mac is not None
        for expires_at in (0, 1767225600000):
            forged = base64.urlsafe_b64encode(f"0.{expires_at}.{mac}".encode()).decode()
            for tail in ("keys", "records"):
                response = anon.get(f"{STORES}/{sid}/{tail}", params={"signature": forged})
                assert_error(response, 403, FORBIDDEN)


def test_a_reserved_key_is_never_signed_in_a_record_url() -> None:
    store = Store(
        id="WkzbQMuFYuamGv3YF",
        name=None,
        title=None,
        user_id="u",
        username="tester",
        created_at=0,
        modified_at=0,
        accessed_at=0,
        general_access="RESTRICTED",
        schema=None,
        secret="s3cr3t",
    )
    for key in reserved_keys(store.id, 1767225600000):
        assert signature_of(api_record_url("http://h", store, key, signed=True)) is None
    signed = api_record_url("http://h", store, "0.0.other", signed=True)
    assert signature_of(signed) == record_sig("s3cr3t", "0.0.other")


# --- item 11: `username~name` does not tell a private store from a missing one -----------------


def name_urls(ref: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    base = f"{STORES}/{ref}"
    return {
        "get store": ("GET", base, {}),
        "keys": ("GET", f"{base}/keys", {}),
        "zip": ("GET", f"{base}/records", {}),
        "get record": ("GET", f"{base}/records/k", {}),
        "update store": ("PUT", base, {"json": {"title": "x"}}),
        "delete store": ("DELETE", base, {}),
        "put record": ("PUT", f"{base}/records/k", {"content": b"x"}),
        "delete record": ("DELETE", f"{base}/records/k", {}),
    }


def missing_answers(anon: httpx.Client, headers: dict[str, str]) -> dict[str, httpx.Response]:
    return {
        what: anon.request(method, url, headers=headers, **kwargs)
        for what, (method, url, kwargs) in name_urls(f"tester~{unique_name()}").items()
    }


@pytest.mark.parametrize("access", ["RESTRICTED", "FOLLOW_USER_SETTING", "ANYONE_WITH_ID_CAN_READ"])
def test_a_store_the_caller_may_not_read_by_name_is_answered_as_missing(
    http: httpx.Client, anon: httpx.Client, shared: dict[str, str], other_user: str, access: str
) -> None:
    sid = shared["id"]
    set_access(http, sid, access)
    headers = bearer(other_user)
    missing = missing_answers(anon, headers)
    for what, (method, url, kwargs) in name_urls(f"tester~{shared['name']}").items():
        response = anon.request(method, url, headers=headers, **kwargs)
        error = assert_error(response, 404, "record-not-found")
        assert response.json() == missing[what].json(), what
        assert error["message"] == "Key-value store was not found.", what
        if method == "GET":
            anonymous = anon.get(url)
            assert_error(anonymous, 404, "record-not-found")
            assert anonymous.json() == response.json(), what
        else:
            assert_error(anon.request(method, url, **kwargs), 401, "token-not-provided")
    # A wrong signature changes nothing; a valid one reads by name as before.
    keys_by_name = f"{STORES}/tester~{shared['name']}/keys"
    wrong = anon.get(keys_by_name, params={"signature": storage_sig(sid, "guess")})
    assert_error(wrong, 404, "record-not-found")
    right = anon.get(keys_by_name, params={"signature": storage_sig(sid, shared["secret"])})
    assert right.status_code == 200, right.text
    # Nothing was changed, and by id the store still answers 403 (ids cannot be guessed).
    assert get_store(http, sid)["name"] == shared["name"]
    assert http.get(record_url(sid, "k")).content == b"secret bytes"
    if access != "ANYONE_WITH_ID_CAN_READ":
        assert_error(anon.get(f"{STORES}/{sid}", headers=headers), 403, FORBIDDEN)
        assert_error(anon.get(f"{STORES}/{sid}/keys"), 403, FORBIDDEN)
    assert_error(anon.put(f"{STORES}/{sid}", json={}, headers=headers), 403, FORBIDDEN)


def test_a_store_readable_by_name_answers_by_name(
    http: httpx.Client, anon: httpx.Client, shared: dict[str, str], other_user: str
) -> None:
    sid = shared["id"]
    set_access(http, sid, "ANYONE_WITH_NAME_CAN_READ")
    ref = f"tester~{shared['name']}"
    for headers in ({}, bearer(other_user)):
        assert anon.get(f"{STORES}/{ref}", headers=headers).json()["data"]["id"] == sid
        assert anon.get(f"{STORES}/{ref}/keys", headers=headers).status_code == 200
        assert anon.get(record_url(ref, "k"), headers=headers).content == b"secret bytes"
    # Its existence is no secret then: a write by another user is refused as before.
    response = anon.put(record_url(ref, "k"), content=b"x", headers=bearer(other_user))
    assert_error(response, 403, FORBIDDEN)
    assert http.get(f"{STORES}/{ref}").json()["data"]["id"] == sid
