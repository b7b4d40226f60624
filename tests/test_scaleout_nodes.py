"""Several scale-out nodes on one deployment (behaviour.md#durability, #backends): one database and
one bucket prefix.

Whatever one node acknowledges, every other node sees at once (strong read-after-write), and
the accounts, stores and counters are the deployment's, not a node's.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.cli_process import openkvs
from tests.http_helpers import (
    STORES,
    assert_error,
    create_store,
    get_store,
    key_names,
    list_key_sizes,
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


# node_cache.py: a node keeps tokens, users and stores in memory; a change made anywhere must stop
# working on every node within this bound (immediately in practice: PostgreSQL announces it).
CHANGE_BOUND_S = 1.0
# A busy test machine's own delay in asking, on top of the bound.
ASKING_SLACK_S = 0.5


def seconds_until(answer: Callable[[], int], wanted: int) -> float:
    """Ask until the answer's status is `wanted`; the seconds that took (fails after the bound)."""
    started = time.monotonic()
    while True:
        status = answer()
        elapsed = time.monotonic() - started
        if status == wanted:
            return elapsed
        assert elapsed < CHANGE_BOUND_S + ASKING_SLACK_S, f"still {status} after {elapsed:.2f} s"
        time.sleep(0.01)


def test_a_token_revoked_anywhere_is_refused_by_every_node_within_the_bound(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = nodes
    username = "u" + uuid.uuid4().hex[:10]
    first.create_user(username)
    made = openkvs("token", "create", "--user", username, *first.account_args())
    assert made.returncode == 0, made.stderr
    token, token_id = made.stdout.strip(), made.stderr.split("created token ")[1].split()[0]
    me = {"Authorization": f"Bearer {token}"}
    with owner_client(first) as a, owner_client(second) as b:
        for _ in range(3):  # each node has looked the token up, and keeps it
            for client in (a, b):
                assert client.get("/v2/users/me", headers=me).status_code == 200
        revoked = openkvs("token", "revoke", token_id, *first.account_args())
        assert revoked.returncode == 0, revoked.stderr
        for client in (b, a):
            took = seconds_until(
                lambda c=client: c.get("/v2/users/me", headers=me).status_code, 401
            )
            print(f"revoked token refused by {client.base_url} after {took:.3f} s")
        assert_error(b.get("/v2/users/me", headers=me), 401, "invalid-token")


def test_a_store_made_restricted_on_one_node_is_refused_by_the_other_within_the_bound(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = nodes
    with owner_client(first) as a, httpx.Client(base_url=second.url, timeout=60) as anonymous:
        sid = create_store(a)["id"]
        put_record(a, sid, "k", b"public")
        changed = a.put(f"{STORES}/{sid}", json={"generalAccess": "ANYONE_WITH_ID_CAN_READ"})
        assert changed.status_code == 200, changed.text
        for _ in range(3):  # the second node serves it to anyone, and keeps the store
            assert anonymous.get(record_url(sid, "k")).content == b"public"
        changed = a.put(f"{STORES}/{sid}", json={"generalAccess": "RESTRICTED"})
        assert changed.status_code == 200, changed.text
        took = seconds_until(lambda: anonymous.get(record_url(sid, "k")).status_code, 403)
        print(f"restricted store refused by the other node after {took:.3f} s")
        assert_error(anonymous.get(record_url(sid, "k")), 403)


def test_a_rename_on_one_node_is_seen_by_the_other_within_the_bound(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = nodes
    with owner_client(first) as a, owner_client(second) as b:
        old, new = unique_name(), unique_name()
        sid = create_store(a, old)["id"]
        put_record(a, sid, "k", b"v")
        for _ in range(3):  # the second node finds the store by its name, and keeps it
            assert b.get(record_url(f"~{old}", "k")).content == b"v"
        assert a.put(f"{STORES}/{sid}", json={"name": new}).status_code == 200
        took = seconds_until(lambda: b.get(record_url(f"~{old}", "k")).status_code, 404)
        print(f"old name unknown to the other node after {took:.3f} s")
        assert b.get(record_url(f"~{new}", "k")).content == b"v"
        # The name is free again, for a new store, on either node.
        again = create_store(b, old)["id"]
        assert again != sid
        assert_error(a.get(record_url(f"~{old}", "k")), 404, "record-not-found")


def statements_sent(client: httpx.Client) -> float:
    """The PostgreSQL statements a node has sent so far (its /metrics)."""
    text = client.get("/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("openkvs_db_query_seconds_count")
    )


def test_a_small_get_asks_the_database_for_the_record_alone(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    first, _ = nodes
    gets = 50
    with owner_client(first) as a:
        sid = create_store(a)["id"]
        put_record(a, sid, "k", b"v")
        assert a.get(record_url(sid, "k")).content == b"v"  # token and store now kept
        before = statements_sent(a)
        for _ in range(gets):
            assert a.get(record_url(sid, "k")).content == b"v"
        sent = statements_sent(a) - before
    # One statement per GET, plus what the node's background loops sent meanwhile (the stats:
    # a few a second); asking for the token and the store too would be 3 per GET.
    assert gets <= sent <= gets + 20, sent


def test_many_writers_to_one_store_on_two_nodes_keep_its_stats_exact(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    """Writes to one store go to PostgreSQL many at once (batches.py) and add to its stats as
    deltas: with 32 writers over two nodes, overwriting and deleting the same keys, the store's
    stats equal what its records and the acknowledged requests say, at once."""
    first, second = nodes
    with owner_client(first) as a:
        sid = create_store(a)["id"]
    shared = [f"k{i:02d}" for i in range(20)]  # every writer overwrites these
    puts = deletes = 0
    lock = threading.Lock()

    def writer(seed: int) -> None:
        """PUTs to the shared keys and to its own; DELETEs of its own that exist (it alone
        writes them, so it knows), so that deleteCount is known exactly."""
        nonlocal puts, deletes
        rng = random.Random(seed)
        own: set[str] = set()
        with owner_client(nodes[seed % 2]) as client:
            for i in range(40):
                if own and rng.random() < 0.2:
                    key = own.pop()
                    assert client.delete(record_url(sid, key)).status_code == 204
                    with lock:
                        deletes += 1
                    continue
                key = rng.choice(shared) if rng.random() < 0.5 else f"w{seed:02d}-{i:02d}"
                body = bytes([seed]) * rng.choice([0, 1, 100, 5000])
                put_record(client, sid, key, body)
                if key.startswith("w"):
                    own.add(key)
                with lock:
                    puts += 1

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(writer, range(32)))
    with owner_client(second) as b:
        sizes = list_key_sizes(b, sid)
    for node in nodes:
        with owner_client(node) as client:
            stats = get_store(client, sid)["stats"]
        assert stats["recordCount"] == len(sizes), (stats, len(sizes))
        assert stats["storageBytes"] == sum(sizes.values()), stats
        assert stats["writeCount"] == puts, (stats, puts)
        assert stats["deleteCount"] == deletes, (stats, deletes)
