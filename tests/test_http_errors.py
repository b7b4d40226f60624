"""Routing, method override, CORS and the error envelope (behaviour.md#scope, #http) over raw
HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.http_helpers import STORES, assert_error, key_names, put_record


@pytest.mark.parametrize(
    "path",
    [
        "/v2/nothing-here",
        "/nope",
        "/v2",
        f"{STORES}/AAAAAAAAAAAAAAAAA/something",
    ],
)
def test_unknown_route_is_404_page_not_found(http: httpx.Client, path: str) -> None:
    assert_error(http.get(path), 404, "page-not-found")


@pytest.mark.parametrize(
    "path",
    [
        "/v2/datasets",
        "/v2/datasets/AAAAAAAAAAAAAAAAA/items",
        "/v2/request-queues",
        "/v2/actor-runs/AAAAAAAAAAAAAAAAA/key-value-store",
        "/v2/actor-runs/AAAAAAAAAAAAAAAAA/key-value-store/records/INPUT",
        "/v2/acts/someone~actor/runs/last/key-value-store/keys",
        "/v2/actors/someone~actor/runs/last/key-value-store",
        "/v2/actor-tasks/someone~task/runs/last/key-value-store",
    ],
)
def test_out_of_scope_routes_are_404_page_not_found(http: httpx.Client, path: str) -> None:
    assert_error(http.get(path), 404, "page-not-found")


def allowed(response: httpx.Response) -> set[str]:
    return {m.strip().upper() for m in response.headers["allow"].split(",")}


def test_patch_on_store_is_405_with_allow(http: httpx.Client, store: dict[str, object]) -> None:
    response = http.patch(f"{STORES}/{store['id']}", json={})
    assert_error(response, 405, "method-not-allowed")
    assert {"GET", "PUT", "DELETE"} <= allowed(response)
    assert "PATCH" not in allowed(response)


def test_delete_on_store_collection_is_405_with_allow(http: httpx.Client) -> None:
    response = http.delete(STORES)
    assert_error(response, 405, "method-not-allowed")
    assert {"GET", "POST"} <= allowed(response)
    assert "DELETE" not in allowed(response)


def test_wrong_methods_on_keys_zip_and_record_are_405(
    http: httpx.Client, store: dict[str, object]
) -> None:
    sid = store["id"]
    cases = [
        (http.post(f"{STORES}/{sid}/keys"), {"GET"}),
        (http.put(f"{STORES}/{sid}/records", content=b"x"), {"GET"}),
        (http.patch(f"{STORES}/{sid}/records/k", content=b"x"), {"GET", "PUT", "POST", "DELETE"}),
    ]
    for response, methods in cases:
        assert_error(response, 405, "method-not-allowed")
        assert methods <= allowed(response), response.headers["allow"]


def test_method_override_delete_on_get_deletes_store(
    http: httpx.Client, store: dict[str, object]
) -> None:
    response = http.get(f"{STORES}/{store['id']}", params={"method": "DELETE"})
    assert response.status_code == 204, response.text
    assert_error(http.get(f"{STORES}/{store['id']}"), 404, "record-not-found")


def test_method_override_delete_on_get_deletes_record(
    http: httpx.Client, store: dict[str, object]
) -> None:
    put_record(http, str(store["id"]), "k", b"v")
    put_record(http, str(store["id"]), "keep", b"v")
    response = http.get(f"{STORES}/{store['id']}/records/k", params={"method": "DELETE"})
    assert response.status_code == 204, response.text
    assert key_names(http, str(store["id"])) == ["keep"]


def test_method_override_put_on_post_writes_record(
    http: httpx.Client, store: dict[str, object]
) -> None:
    url = f"{STORES}/{store['id']}"
    response = http.post(url, params={"method": "PUT"}, json={"generalAccess": "RESTRICTED"})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["generalAccess"] == "RESTRICTED"


def test_cors_allow_origin_on_success_and_error_responses(
    http: httpx.Client, anon: httpx.Client, store: dict[str, object]
) -> None:
    put_record(http, str(store["id"]), "k", b"v")
    origin = {"Origin": "https://example.org"}
    responses = [
        http.get(STORES, headers=origin),
        http.get(f"{STORES}/{store['id']}", headers=origin),
        http.get(f"{STORES}/{store['id']}/records/k", headers=origin),
        http.get(f"{STORES}/{store['id']}/records/missing", headers=origin),
        anon.get(STORES, headers=origin),
    ]
    for response in responses:
        assert response.headers.get("access-control-allow-origin") == "*", response.request.url


def test_cors_preflight_is_answered_without_token(
    anon: httpx.Client, store: dict[str, object]
) -> None:
    response = anon.options(
        f"{STORES}/{store['id']}/records/k",
        headers={
            "Origin": "https://example.org",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert 200 <= response.status_code < 300, response.text
    assert response.headers.get("access-control-allow-origin") == "*"
    methods = {
        m.strip().upper() for m in response.headers["access-control-allow-methods"].split(",")
    }
    assert "PUT" in methods or "*" in methods
    allowed_headers = response.headers.get("access-control-allow-headers", "").lower()
    assert "authorization" in allowed_headers or "*" in allowed_headers


def test_error_bodies_are_the_json_envelope(
    http: httpx.Client, anon: httpx.Client, store: dict[str, object]
) -> None:
    sid = store["id"]
    cases = [
        (anon.get(STORES), 401),
        (http.get("/v2/nope"), 404),
        (http.get(f"{STORES}/{sid}/records/missing"), 404),
        (http.put(f"{STORES}/{sid}/records/bad key", content=b"x"), 400),
        (http.get(f"{STORES}/{sid}/keys", params={"limit": "x"}), 400),
        (http.patch(f"{STORES}/{sid}"), 405),
        (
            http.put(f"{STORES}/{sid}/records/k", content=b"x", headers={"Content-Encoding": "x"}),
            415,
        ),
        (http.post(STORES, params={"name": "_bad_"}), 400),
    ]
    for response, status in cases:
        assert_error(response, status)
        assert not response.text.lstrip().startswith("<")


def test_cors_preflight_allows_the_headers_the_api_uses(
    anon: httpx.Client, store: dict[str, object]
) -> None:
    wanted = ["authorization", "content-type", "content-encoding", "if-match", "if-none-match"]
    response = anon.options(
        f"{STORES}/{store['id']}/records/k",
        headers={
            "Origin": "https://example.org",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": ", ".join(wanted),
        },
    )
    assert 200 <= response.status_code < 300, response.text
    allowed_headers = {
        h.strip().lower()
        for h in response.headers.get("access-control-allow-headers", "").split(",")
    }
    assert "*" in allowed_headers or set(wanted) <= allowed_headers, allowed_headers
