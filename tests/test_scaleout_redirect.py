"""--redirect-large-records: large records in the object store answer 302 to a presigned URL."""

from __future__ import annotations

import gzip
import os

import httpx
import pytest
from apify_client import ApifyClient

from tests.metrics_scrape import scrape, value
from tests.server_process import MakeServer, ServerProcess

pytestmark = pytest.mark.scaleout_only("presigned URLs come from the object store")
MiB = 1024 * 1024


@pytest.fixture
def node(make_server: MakeServer) -> ServerProcess:
    return make_server(scaleout_args=("--redirect-large-records", "1MiB"))


def _store(client: httpx.Client) -> str:
    return str(client.post("/v2/key-value-stores", params={"name": "redir"}).json()["data"]["id"])


def test_large_record_get_is_a_302_to_a_presigned_url_serving_it(node: ServerProcess) -> None:
    auth = {"Authorization": f"Bearer {node.token}"}
    body = os.urandom(2 * MiB)
    with httpx.Client(base_url=node.url, headers=auth, timeout=60) as client:
        store = _store(client)
        put = client.put(
            f"/v2/key-value-stores/{store}/records/big",
            content=body,
            headers={"Content-Type": "image/png"},
        )
        assert put.status_code == 201
        response = client.get(f"/v2/key-value-stores/{store}/records/big")
    assert response.status_code == 302
    location = response.headers["location"]
    assert not location.startswith(node.url)
    followed = httpx.get(location, timeout=60)  # no token: the URL itself is the credential
    assert followed.status_code == 200
    assert followed.content == body
    assert followed.headers["content-type"] == "image/png"


def test_attachment_reaches_the_presigned_response(node: ServerProcess) -> None:
    auth = {"Authorization": f"Bearer {node.token}"}
    with httpx.Client(base_url=node.url, headers=auth, timeout=60) as client:
        store = _store(client)
        client.put(f"/v2/key-value-stores/{store}/records/big", content=os.urandom(2 * MiB))
        response = client.get(
            f"/v2/key-value-stores/{store}/records/big", params={"attachment": "true"}
        )
    assert response.status_code == 302
    followed = httpx.get(response.headers["location"], timeout=60)
    assert followed.headers["content-disposition"] == 'attachment; filename="big"'


def test_small_records_and_heads_are_served_directly(node: ServerProcess) -> None:
    auth = {"Authorization": f"Bearer {node.token}"}
    with httpx.Client(base_url=node.url, headers=auth, timeout=60) as client:
        store = _store(client)
        client.put(f"/v2/key-value-stores/{store}/records/small", content=b"x" * 500_000)
        client.put(f"/v2/key-value-stores/{store}/records/big", content=os.urandom(2 * MiB))
        small = client.get(f"/v2/key-value-stores/{store}/records/small")
        head = client.head(f"/v2/key-value-stores/{store}/records/big")
    assert small.status_code == 200 and len(small.content) == 500_000
    assert head.status_code == 200
    assert head.headers["content-length"] == str(2 * MiB)


def test_encoded_record_is_decoded_here_for_a_client_that_cannot_decode_it(
    node: ServerProcess,
) -> None:
    auth = {"Authorization": f"Bearer {node.token}"}
    plain = os.urandom(2 * MiB)  # incompressible: the gzip body stays above the 1 MiB threshold
    packed = gzip.compress(plain, compresslevel=1)
    assert len(packed) > MiB
    with httpx.Client(base_url=node.url, headers=auth, timeout=60) as client:
        store = _store(client)
        client.put(
            f"/v2/key-value-stores/{store}/records/gz",
            content=packed,
            headers={"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"},
        )
        direct = client.get(
            f"/v2/key-value-stores/{store}/records/gz", headers={"Accept-Encoding": "identity"}
        )
        redirected = client.get(
            f"/v2/key-value-stores/{store}/records/gz", headers={"Accept-Encoding": "gzip"}
        )
    assert direct.status_code == 200 and direct.content == plain
    assert redirected.status_code == 302


def test_apify_client_follows_the_redirect(node: ServerProcess) -> None:
    body = os.urandom(3 * MiB)
    client = ApifyClient(node.token, api_url=node.url, api_public_url=node.url)
    store = client.key_value_stores().get_or_create(name="redir-client")
    kvs = client.key_value_store(store.id)
    kvs.set_record("big", body, content_type="application/octet-stream")
    record = kvs.get_record("big")
    assert record is not None
    assert record["value"] == body


def test_a_body_kept_in_memory_does_not_turn_a_redirect_into_an_answer(
    make_server: MakeServer,
) -> None:
    """A large record read whole here (decoded for a client that cannot decode it) is kept in
    memory (core/kept_bodies.py); a client that can decode it is still redirected, plain GET or
    not."""
    node = make_server(scaleout_args=("--redirect-large-records", "100KiB"))
    auth = {"Authorization": f"Bearer {node.token}"}
    plain = os.urandom(300 * 1024)
    packed = gzip.compress(plain, compresslevel=1)
    with httpx.Client(base_url=node.url, headers=auth, timeout=60) as client:
        store = _store(client)
        url = f"/v2/key-value-stores/{store}/records/gz"
        put = client.put(
            url,
            content=packed,
            headers={"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"},
        )
        assert put.status_code == 201
        for _ in range(2):
            direct = client.get(url, headers={"Accept-Encoding": "identity"})
            assert direct.status_code == 200 and direct.content == plain
        hits = value(scrape(node), "openkvs_cache_lookups_total", cache="body", result="hit")
        assert hits == 1
        redirected = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert redirected.status_code == 302
