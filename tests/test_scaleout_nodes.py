"""Several scale-out nodes on one deployment (behaviour.md#durability, #backends): one database and
one bucket prefix.

Whatever one node acknowledges, every other node sees at once (strong read-after-write), and
the accounts, stores and counters are the deployment's, not a node's.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.http_helpers import (
    STORES,
    assert_error,
    create_store,
    get_store,
    key_names,
    owner_client,
    put_record,
    record_url,
    unique_name,
)
from tests.server_process import MakeServer, ServerProcess

pytestmark = pytest.mark.scaleout_only("several nodes share one database and bucket prefix")


@pytest.fixture
def nodes(make_server: MakeServer) -> tuple[ServerProcess, ServerProcess]:
    first = make_server()
    return first, make_server(share_with=first)


def test_a_second_node_shares_the_first_ones_store(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = nodes
    assert first.backend.database == second.backend.database
    assert first.backend.prefix == second.backend.prefix
    assert first.port != second.port and first.data_dir != second.data_dir
    # The bootstrap user exists once: the second start found it and printed no token.
    assert "APIFY_TOKEN=" in first.log()
    assert "APIFY_TOKEN=" not in second.log()


def test_every_write_is_seen_at_once_through_the_other_node(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = nodes
    with owner_client(first) as a, owner_client(second) as b:
        name = unique_name()
        sid = create_store(a, name)["id"]
        assert b.get(f"{STORES}/~{name}").json()["data"]["id"] == sid
        for i, size in enumerate([0, 10, 70_000, 300_000, 3 * 1024 * 1024]):
            body = os.urandom(size)
            writer, reader = (a, b) if i % 2 == 0 else (b, a)
            put_record(writer, sid, "k", body)
            assert reader.get(record_url(sid, "k")).content == body, size
        assert key_names(b, sid) == ["k"]
        assert a.delete(record_url(sid, "k")).status_code == 204
        assert_error(b.get(record_url(sid, "k")), 404, "record-not-found")
        renamed = unique_name()
        assert b.put(f"{STORES}/{sid}", json={"name": renamed}).status_code == 200
        assert a.get(f"{STORES}/~{renamed}").json()["data"]["id"] == sid
        assert b.delete(f"{STORES}/{sid}").status_code == 204
        assert_error(a.get(f"{STORES}/{sid}"), 404, "record-not-found")


def test_a_user_made_with_the_cli_works_on_every_node(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    new_token = nodes[0].create_user()
    for node in nodes:
        with owner_client(node) as client:
            response = client.get("/v2/users/me", headers={"Authorization": f"Bearer {new_token}"})
            assert response.status_code == 200, (node.url, response.text)


def test_counters_add_up_over_the_nodes(nodes: tuple[ServerProcess, ServerProcess]) -> None:
    first, second = nodes
    with owner_client(first) as a, owner_client(second) as b:
        sid = create_store(a)["id"]
        put_record(a, sid, "k", b"v")
        put_record(b, sid, "k", b"w")
        for client in (a, b, a):
            assert client.get(record_url(sid, "k")).status_code == 200
        # behaviour.md#stats: counters may be applied in the background, visible within 1 s (each
        # node adds
        # what it has not written yet, so both views must converge on the total).
        deadline = time.monotonic() + 3
        while True:
            views = [get_store(client, sid)["stats"] for client in (a, b)]
            counts = [(v["writeCount"], v["readCount"]) for v in views]
            if counts == [(2, 3), (2, 3)] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert counts == [(2, 3), (2, 3)]
