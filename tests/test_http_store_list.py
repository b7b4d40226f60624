"""Listing stores (behaviour.md#listing) and store stats and timestamps (behaviour.md#stats) over
raw HTTP, with openkvs's own
`stats.recordCount` (kept by record writes and deletes, across restarts and schema upgrades)."""

from __future__ import annotations

import gzip
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from openkvs.backends.embedded.migrations import MIGRATIONS
from tests.http_helpers import (
    STATS_FIELDS,
    STORES,
    TIMESTAMP_RE,
    assert_error,
    create_store,
    get_store,
    owner_client,
    poll,
    put_record,
    unique_name,
)
from tests.server_process import MakeServer
from tests.store_inspection import sql


def list_ids(http: httpx.Client, **params: str) -> list[str]:
    response = http.get(STORES, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]["items"]]


def test_list_stores_shape_and_defaults(http: httpx.Client, store: dict[str, object]) -> None:
    response = http.get(STORES)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["offset"] == 0
    assert data["limit"] == 1000
    assert data["desc"] is False
    assert data["count"] == len(data["items"])
    assert data["total"] >= data["count"] >= 1
    item = next(i for i in data["items"] if i["id"] == store["id"])
    assert item["name"] == store["name"]
    for field in ("createdAt", "modifiedAt", "accessedAt"):
        assert TIMESTAMP_RE.match(item[field])
    for field in STATS_FIELDS:
        assert isinstance(item["stats"][field], int), field


def test_list_stores_shows_named_only_by_default(http: httpx.Client) -> None:
    named = create_store(http, unique_name())
    unnamed = create_store(http)
    for params in ({}, {"unnamed": "false"}, {"unnamed": "0"}):
        ids = list_ids(http, **params)
        assert named["id"] in ids, params
        assert unnamed["id"] not in ids, params
    for params in ({"unnamed": "true"}, {"unnamed": "1"}):
        ids = list_ids(http, **params)
        assert named["id"] in ids, params
        assert unnamed["id"] in ids, params


def test_list_stores_desc_reverses_creation_order(http: httpx.Client) -> None:
    made = []
    for _ in range(3):
        made.append(create_store(http, unique_name())["id"])
        time.sleep(0.005)
    asc = [i for i in list_ids(http) if i in made]
    assert asc == made
    for flag in ("true", "1"):
        response = http.get(STORES, params={"desc": flag})
        assert response.json()["data"]["desc"] is True
        desc = [item["id"] for item in response.json()["data"]["items"] if item["id"] in made]
        assert desc == made[::-1], flag
    response = http.get(STORES, params={"desc": "0"})
    assert response.json()["data"]["desc"] is False


def test_list_stores_offset_and_limit_page_through(http: httpx.Client) -> None:
    for _ in range(3):
        create_store(http, unique_name())
    full = http.get(STORES, params={"unnamed": "true"}).json()["data"]
    assert full["total"] == len(full["items"])
    all_ids = [item["id"] for item in full["items"]]
    response = http.get(STORES, params={"unnamed": "true", "offset": 1, "limit": 2})
    page = response.json()["data"]
    assert page["offset"] == 1
    assert page["limit"] == 2
    assert page["count"] == 2
    assert page["total"] == full["total"]
    assert [item["id"] for item in page["items"]] == all_ids[1:3]
    beyond = http.get(STORES, params={"unnamed": "1", "offset": len(all_ids)}).json()["data"]
    assert beyond["items"] == [] and beyond["count"] == 0


@pytest.mark.parametrize(("sent", "echoed"), [("0", 1000), ("5000", 1000), ("1", 1)])
def test_list_stores_limit_zero_means_default_and_large_is_capped(
    http: httpx.Client, store: dict[str, object], sent: str, echoed: int
) -> None:
    response = http.get(STORES, params={"limit": sent})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["limit"] == echoed
    assert data["count"] == len(data["items"]) <= echoed
    assert data["count"] >= 1


@pytest.mark.parametrize(
    "params",
    [{"limit": "-1"}, {"limit": "abc"}, {"limit": "1.5"}, {"offset": "-3"}, {"offset": "x"}],
)
def test_list_stores_bad_limit_or_offset_is_400_invalid_parameter(
    http: httpx.Client, params: dict[str, str]
) -> None:
    assert_error(http.get(STORES, params=params), 400, "invalid-parameter")


@pytest.mark.parametrize("params", [{"desc": "yes"}, {"unnamed": "maybe"}, {"desc": "2"}])
def test_list_stores_bad_boolean_is_400_invalid_parameter(
    http: httpx.Client, params: dict[str, str]
) -> None:
    assert_error(http.get(STORES, params=params), 400, "invalid-parameter")


def test_list_stores_shows_only_callers_own_stores(
    anon: httpx.Client, store: dict[str, object], other_user: str
) -> None:
    response = anon.get(
        STORES, params={"unnamed": "true"}, headers={"Authorization": f"Bearer {other_user}"}
    )
    assert response.status_code == 200, response.text
    assert store["id"] not in [item["id"] for item in response.json()["data"]["items"]]


def test_stats_count_writes_reads_lists_deletes_and_bytes(
    http: httpx.Client, store: dict[str, object]
) -> None:
    sid = str(store["id"])
    put_record(http, sid, "a", b"12345")
    put_record(http, sid, "b", b"123")
    put_record(http, sid, "b", b"1234")
    assert http.get(f"{STORES}/{sid}/records/a").status_code == 200
    assert http.get(f"{STORES}/{sid}/records/a").status_code == 200
    # not a read (behaviour.md#stats)
    assert http.head(f"{STORES}/{sid}/records/a").status_code == 200
    assert http.get(f"{STORES}/{sid}/keys").status_code == 200
    assert http.get(f"{STORES}/{sid}/records").status_code == 200
    assert http.delete(f"{STORES}/{sid}/records/b").status_code == 204
    want = {
        "writeCount": 3,
        "readCount": 2,
        "listCount": 2,
        "deleteCount": 1,
        "storageBytes": 5,
        "s3StorageBytes": 5,
    }

    def stats() -> dict[str, int]:
        return {k: get_store(http, sid)["stats"][k] for k in want}

    assert poll(stats, lambda s: s == want) == want


def test_storage_bytes_count_stored_compressed_size(
    http: httpx.Client, store: dict[str, object]
) -> None:
    sid = str(store["id"])
    packed = gzip.compress(b"hello world " * 500)
    put_record(http, sid, "z", packed, "text/plain", **{"Content-Encoding": "gzip"})
    put_record(http, sid, "p", b"abc")
    stats = get_store(http, sid)["stats"]
    assert stats["storageBytes"] == len(packed) + 3
    assert stats["s3StorageBytes"] == len(packed) + 3


def test_modified_at_moves_on_record_write_and_delete(
    http: httpx.Client, store: dict[str, object]
) -> None:
    sid = str(store["id"])
    before = get_store(http, sid)["modifiedAt"]
    time.sleep(0.01)
    put_record(http, sid, "k", b"v")
    after_write = get_store(http, sid)["modifiedAt"]
    assert TIMESTAMP_RE.match(after_write)
    assert after_write > before
    time.sleep(0.01)
    assert http.delete(f"{STORES}/{sid}/records/k").status_code == 204
    assert get_store(http, sid)["modifiedAt"] > after_write


def test_accessed_at_moves_on_access(http: httpx.Client, store: dict[str, object]) -> None:
    sid = str(store["id"])
    put_record(http, sid, "k", b"v")
    before = get_store(http, sid)["accessedAt"]
    time.sleep(0.01)
    assert http.get(f"{STORES}/{sid}/records/k").status_code == 200
    after = poll(lambda: get_store(http, sid)["accessedAt"], lambda v: v > before)
    assert TIMESTAMP_RE.match(after)
    assert after > before


def test_list_stores_ownership_filter(http: httpx.Client, store: dict[str, object]) -> None:
    assert store["id"] in list_ids(http, ownership="ownedByMe")
    assert store["id"] not in list_ids(http, ownership="sharedWithMe")


# --- stats.recordCount (an openkvs addition) ------------------------------------------------------

INLINE_LIMIT = 64 * 1024  # the default --inline-threshold: larger bodies go to files / objects


def record_count(http: httpx.Client, store_id: str) -> int:
    count: int = get_store(http, store_id)["stats"]["recordCount"]
    return count


def listed_record_count(http: httpx.Client, store_id: str) -> int:
    response = http.get(STORES, params={"unnamed": "true", "desc": "true"})
    assert response.status_code == 200, response.text
    item = next(i for i in response.json()["data"]["items"] if i["id"] == store_id)
    count: int = item["stats"]["recordCount"]
    return count


def test_record_count_follows_writes_and_deletes(http: httpx.Client, store_name: str) -> None:
    created = http.post(STORES, params={"name": store_name})
    assert created.status_code == 201, created.text
    sid = created.json()["data"]["id"]
    assert created.json()["data"]["stats"]["recordCount"] == 0
    url = f"{STORES}/{sid}/records"

    put_record(http, sid, "a", b"1")
    put_record(http, sid, "big", b"x" * (INLINE_LIMIT + 1))  # a body in a file / an object
    posted = http.post(f"{url}/b", content=b"22", headers={"Content-Type": "text/plain"})
    assert posted.status_code == 201, posted.text
    assert record_count(http, sid) == 3
    # Overwrites, small over large and large over small, leave the count alone.
    put_record(http, sid, "a", b"y" * (INLINE_LIMIT + 10))
    put_record(http, sid, "big", b"small now")
    put_record(http, sid, "b", b"")
    assert record_count(http, sid) == 3

    # Conditional writes and deletes that fail with 412 change nothing.
    created_only = {"If-None-Match": "*"}
    assert http.put(f"{url}/a", content=b"no", headers=created_only).status_code == 412
    assert http.put(f"{url}/new", content=b"n", headers={"If-Match": '"nope"'}).status_code == 412
    assert http.delete(f"{url}/a", headers={"If-Match": '"nope"'}).status_code == 412
    assert http.delete(f"{url}/gone", headers={"If-Match": "*"}).status_code == 412
    assert record_count(http, sid) == 3
    # ... and one that holds counts like any other write.
    assert http.put(f"{url}/c", content=b"c", headers=created_only).status_code == 201
    assert record_count(http, sid) == 4

    # Deleting a key that is not there, even twice, changes nothing; an existing one counts once.
    assert http.delete(f"{url}/never-written").status_code == 204
    assert http.delete(f"{url}/never-written").status_code == 204
    assert record_count(http, sid) == 4
    assert http.delete(f"{url}/a").status_code == 204
    assert http.delete(f"{url}/a").status_code == 204
    assert http.delete(f"{url}/big").status_code == 204
    assert record_count(http, sid) == 2
    put_record(http, sid, "a", b"back again")
    assert record_count(http, sid) == 3

    # Every store object the API returns carries it: get (by id and by name), list, the
    # get-or-create of an existing name, and update.
    assert get_store(http, f"~{store_name}")["stats"]["recordCount"] == 3
    assert listed_record_count(http, sid) == 3
    again = http.post(STORES, params={"name": store_name})
    assert again.status_code == 200, again.text
    assert again.json()["data"]["stats"]["recordCount"] == 3
    updated = http.put(f"{STORES}/{sid}", json={"title": "counted"})
    assert updated.status_code == 200, updated.text
    assert updated.json()["data"]["stats"]["recordCount"] == 3
    keys = http.get(f"{STORES}/{sid}/keys").json()["data"]
    assert keys["count"] == 3 and not keys["isTruncated"]


def test_record_count_is_exact_under_concurrent_writes_and_deletes(
    http: httpx.Client, store: dict[str, object]
) -> None:
    """Several writers creating the same keys at once count each key once; several deleting
    them at once take each away once."""
    sid = str(store["id"])
    keys = [f"k{n}" for n in range(6)]
    jobs = [key for key in keys for _ in range(4)]

    def write(key: str) -> int:
        return http.put(f"{STORES}/{sid}/records/{key}", content=key.encode()).status_code

    def delete(key: str) -> int:
        return http.delete(f"{STORES}/{sid}/records/{key}").status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(write, jobs)) == {201}
        assert record_count(http, sid) == len(keys)
        assert set(pool.map(delete, jobs)) == {204}
        assert record_count(http, sid) == 0


def test_record_count_is_kept_across_a_restart(make_server: MakeServer) -> None:
    server = make_server()
    with owner_client(server) as client:
        full = create_store(client, unique_name("full"))["id"]
        emptied = create_store(client, unique_name("emptied"))["id"]
        for n in range(5):
            put_record(client, full, f"r{n}", b"v" * (n * INLINE_LIMIT // 2))
        put_record(client, full, "r0", b"overwritten")
        put_record(client, emptied, "only", b"1")
        assert client.delete(f"{STORES}/{emptied}/records/only").status_code == 204
        assert client.delete(f"{STORES}/{full}/records/r4").status_code == 204

    server.kill()  # no clean shutdown: the counts were committed with the writes
    server.start()
    with owner_client(server) as client:
        assert record_count(client, full) == 4
        assert record_count(client, emptied) == 0
        assert listed_record_count(client, full) == 4
        put_record(client, emptied, "after-restart", b"1")
        assert record_count(client, emptied) == 1


def test_record_count_is_backfilled_when_an_older_store_is_migrated(
    make_server: MakeServer,
) -> None:
    """A store made before record_count existed (schema version 1) gets every store's count
    from its records on the first start of this version, then keeps it."""
    server = make_server()
    with owner_client(server) as client:
        many = create_store(client, unique_name("many"))["id"]
        none = create_store(client, unique_name("none"))["id"]
        unnamed = create_store(client)["id"]
        for n in range(7):
            put_record(client, many, f"m{n}", b"m" * (INLINE_LIMIT + 1 if n == 3 else n))
        assert client.delete(f"{STORES}/{many}/records/m6").status_code == 204
        put_record(client, unnamed, "u", b"u")
    server.stop()

    # Back to the schema before the column, as an older openkvs left it.
    if server.backend.is_scaleout:
        # Version 3 (the writes' functions and stats deltas, folded when the server stopped)
        # goes first, then version 2's column.
        sql(server, "DROP TABLE store_deltas")
        sql(server, "DROP FUNCTION openkvs_put_record, openkvs_put_records, openkvs_delete_record")
        sql(server, "DROP FUNCTION openkvs_announce_change CASCADE")
        sql(server, "ALTER TABLE stores DROP COLUMN record_count")
        sql(server, "DELETE FROM openkvs_migrations WHERE version > 1")
    else:
        db = sqlite3.connect(server.data_dir / "openkvs.db", isolation_level=None)
        try:
            db.execute("ALTER TABLE stores DROP COLUMN record_count")
            db.execute("PRAGMA user_version = 1")
            old = sqlite3.connect(":memory:", isolation_level=None)
            for statement in MIGRATIONS[0].split(";"):
                if statement.strip():
                    old.execute(statement)
            shape = "SELECT name, type, \"notnull\", dflt_value FROM pragma_table_info('stores')"
            assert db.execute(shape).fetchall() == old.execute(shape).fetchall()
            old.close()
        finally:
            db.close()

    server.start()
    with owner_client(server) as client:
        assert record_count(client, many) == 6
        assert record_count(client, none) == 0
        assert record_count(client, unnamed) == 1
        assert listed_record_count(client, many) == 6
        # Counted from there on like any other store.
        put_record(client, none, "first", b"1")
        assert client.delete(f"{STORES}/{many}/records/m0").status_code == 204
        assert record_count(client, none) == 1
        assert record_count(client, many) == 5
    if not server.backend.is_scaleout:
        db = sqlite3.connect(server.data_dir / "openkvs.db")
        try:
            assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        finally:
            db.close()
