"""behaviour.md#retention-and-rate-limits retention of unnamed stores, and behaviour.md#http's
promise about server errors (request id, no trace)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.http_helpers import poll
from tests.server_process import MakeServer, ServerProcess
from tests.store_inspection import sql


@pytest.fixture
def short_retention(make_server: MakeServer) -> ServerProcess:
    return make_server(["--unnamed-retention", "2s"])


def test_unnamed_store_not_accessed_for_the_retention_is_deleted(
    short_retention: ServerProcess,
) -> None:
    auth = {"Authorization": f"Bearer {short_retention.token}"}
    with httpx.Client(base_url=short_retention.url, headers=auth, timeout=30) as client:
        unnamed = client.post("/v2/key-value-stores").json()["data"]["id"]
        named = client.post("/v2/key-value-stores", params={"name": "kept"}).json()["data"]["id"]
        assert (
            client.put(f"/v2/key-value-stores/{unnamed}/records/a", content=b"x").status_code == 201
        )
        # Poll the listing (reading the unnamed store itself would keep it alive).
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            time.sleep(0.5)
            listing = client.get("/v2/key-value-stores", params={"unnamed": "true"}).json()
            if unnamed not in [item["id"] for item in listing["data"]["items"]]:
                break
        gone = client.get(f"/v2/key-value-stores/{unnamed}")
        assert gone.status_code == 404
        assert gone.json()["error"]["type"] == "record-not-found"
        assert client.get(f"/v2/key-value-stores/{named}").status_code == 200


def test_a_server_error_carries_a_request_id_the_log_has_and_no_trace(
    make_server: MakeServer,
) -> None:
    proc = make_server()
    auth = {"Authorization": f"Bearer {proc.token}"}
    with httpx.Client(base_url=proc.url, headers=auth, timeout=30) as client:
        store_id = client.post("/v2/key-value-stores", params={"name": "x"}).json()["data"]["id"]
        # Damage the stored schema behind the server's back (in SQLite or PostgreSQL), so
        # reading the store must fail. The embedded store keeps rows it read in memory and
        # notices another process's commit within its poll interval (read_cache.py): poll.
        sql(proc, "UPDATE stores SET schema = '{not json' WHERE id = ?", store_id)
        response = poll(
            lambda: client.get(f"/v2/key-value-stores/{store_id}"),
            lambda r: r.status_code != 200,
            timeout=5.0,
        )
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["type"] == "internal-server-error"
    assert request_id in body["error"]["message"]
    assert "Traceback" not in response.text and "File " not in response.text
    log = proc.log()
    assert f"request {request_id} failed" in log
