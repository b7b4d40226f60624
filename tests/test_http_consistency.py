"""Read-after-write, concurrent writers, crash survival and cleanup (behaviour.md#durability) over
raw HTTP."""

from __future__ import annotations

import os
import threading
import time

import httpx

from tests.http_helpers import (
    STORES,
    create_store,
    etag_of,
    key_names,
    owner_client,
    put_record,
    record_url,
    set_access,
    unique_name,
)
from tests.server_process import MakeServer, ServerProcess
from tests.store_inspection import places_holding


def test_every_read_sees_the_last_acknowledged_write(
    http: httpx.Client, store: dict[str, object]
) -> None:
    url = record_url(str(store["id"]), "counter")
    for i in range(30):
        body = str(i).encode() * (1 + i * 5000)  # crosses the inline/file threshold
        put_record(http, str(store["id"]), "counter", body, "text/plain")
        assert http.get(url).content == body, i


def test_reads_repeated_between_writes_see_each_write_at_once(
    http: httpx.Client, anon: httpx.Client, store: dict[str, object]
) -> None:
    """The embedded store keeps rows it read in memory between writes (read_cache.py): a
    record, a store and its access read many times must still show each write at once."""
    sid = str(store["id"])
    url = record_url(sid, "hot")
    for version in range(5):
        body = f"version {version}".encode()
        put_record(http, sid, "hot", body, "text/plain")
        for _ in range(20):
            response = http.get(url)
            assert response.content == body
            assert response.headers["etag"] == etag_of(body)
    assert http.delete(url).status_code == 204
    assert http.get(url).status_code == 404
    put_record(http, sid, "hot", b"back")
    assert http.get(url).content == b"back"

    for _ in range(10):
        assert anon.get(url).status_code == 403
    set_access(http, sid, "ANYONE_WITH_ID_CAN_READ")
    assert anon.get(url).content == b"back"
    set_access(http, sid, "RESTRICTED")
    assert anon.get(url).status_code == 403

    name = unique_name()
    for _ in range(10):
        assert http.get(f"{STORES}/~{name}").status_code == 404
    assert http.put(f"{STORES}/{sid}", json={"name": name}).status_code == 200
    assert http.get(f"{STORES}/~{name}").json()["data"]["id"] == sid
    assert http.delete(f"{STORES}/{sid}").status_code == 204
    assert http.get(url).status_code == 404
    assert http.get(f"{STORES}/~{name}").status_code == 404


def test_store_counters_read_between_record_writes_are_current(
    http: httpx.Client, store: dict[str, object]
) -> None:
    """Record writes keep a store's identity in the read cache but mark its counters stale:
    the store object, by id and by name, read many times between writes, shows each write's
    counters at once, while the record paths go on finding the store."""
    sid, name = str(store["id"]), str(store["name"])
    size = 0
    for n in range(1, 6):
        for _ in range(5):
            assert http.get(record_url(sid, "missing")).status_code == 404
            http.get(f"{STORES}/{sid}")
            http.get(f"{STORES}/~{name}")
        body = b"x" * (n * 100)
        put_record(http, sid, f"k{n}", body)
        size += len(body)
        for ref in (sid, f"~{name}"):
            stats = http.get(f"{STORES}/{ref}").json()["data"]["stats"]
            assert (stats["writeCount"], stats["recordCount"], stats["storageBytes"]) == (
                n,
                n,
                size,
            )
    assert http.delete(record_url(sid, "k5")).status_code == 204
    for ref in (sid, f"~{name}"):
        stats = http.get(f"{STORES}/{ref}").json()["data"]["stats"]
        assert (stats["deleteCount"], stats["recordCount"], stats["storageBytes"]) == (
            1,
            4,
            size - 500,
        )
    assert http.get(record_url(sid, "k4")).content == b"x" * 400


def test_concurrent_writers_never_produce_torn_reads(
    server: ServerProcess, store: dict[str, object]
) -> None:
    # Different sizes, so that a body sent under another version's headers shows up too.
    bodies = [bytes([65 + n]) * (200_000 + n * 50_000) for n in range(3)]
    url = record_url(str(store["id"]), "hot")
    problems: list[str] = []
    headers = {"Authorization": f"Bearer {server.token}"}
    stop = threading.Event()

    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as first:
        put_record(first, str(store["id"]), "hot", bodies[0])

    def writer(body: bytes) -> None:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            while not stop.is_set():
                try:
                    status = client.put(url, content=body).status_code
                except httpx.HTTPError as exc:
                    problems.append(f"PUT failed: {type(exc).__name__}: {exc}")
                    continue
                if status != 201:
                    problems.append(f"PUT answered {status}")

    def reader() -> None:
        tags = {etag_of(b): chr(b[0]) for b in bodies}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            while not stop.is_set():
                try:
                    response = client.get(url)
                except httpx.HTTPError as exc:
                    problems.append(f"GET failed: {type(exc).__name__}: {exc}")
                    continue
                body = response.content
                if body not in bodies:
                    kinds = "".join(sorted({chr(c) for c in body}))
                    problems.append(f"torn read: {len(body)} bytes of {kinds}")
                elif response.headers.get("etag") != etag_of(body):
                    got = tags.get(response.headers.get("etag", ""), "none")
                    problems.append(f"body {chr(body[0])} came with the ETag of {got}")
                elif response.headers.get("content-length") != str(len(body)):
                    problems.append(f"Content-Length {response.headers.get('content-length')}")

    threads = [threading.Thread(target=writer, args=(b,)) for b in bodies]
    threads += [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(2.0)
    stop.set()
    for thread in threads:
        thread.join(60)
    assert not problems, f"{len(problems)} bad reads, e.g. {problems[:5]}"
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        final = client.get(url)
        assert final.content in bodies
        items = client.get(f"{STORES}/{store['id']}/keys").json()["data"]["items"]
        assert [(i["key"], i["size"]) for i in items] == [("hot", len(final.content))]


def test_acknowledged_writes_survive_kill_9(make_server: MakeServer) -> None:
    proc = make_server(["--durability", "relaxed"])
    bodies = {f"k{i}": os.urandom(10 + i * 40_000) for i in range(6)}
    with owner_client(proc) as http:
        sid = create_store(http, "crashy")["id"]
        for key, body in bodies.items():
            put_record(http, sid, key, body)
        put_record(http, sid, "k0", b"overwritten")
        assert http.delete(record_url(sid, "k1")).status_code == 204
    proc.kill()
    proc.start()
    with owner_client(proc) as http:
        assert http.get(f"{STORES}/~crashy").json()["data"]["id"] == sid
        assert key_names(http, sid) == ["k0", "k2", "k3", "k4", "k5"]
        assert http.get(record_url(sid, "k0")).content == b"overwritten"
        for key in ("k2", "k3", "k4", "k5"):
            assert http.get(record_url(sid, key)).content == bodies[key], key


def test_overwritten_and_deleted_bodies_leave_no_bytes_behind(make_server: MakeServer) -> None:
    # Embedded: no file in the data directory holds them. Scale-out: no object under the prefix,
    # nor the database; the sweeper removes dead objects after --object-grace.
    proc = make_server(scaleout_args=["--object-grace", "2s"])
    old = [os.urandom(300_000) for _ in range(3)]
    with owner_client(proc) as http:
        sid = create_store(http)["id"]
        put_record(http, sid, "a", old[0])
        put_record(http, sid, "a", old[1])
        put_record(http, sid, "b", old[2])
        assert http.delete(record_url(sid, "b")).status_code == 204
        other = create_store(http)["id"]
        keep = os.urandom(300_000)
        put_record(http, other, "c", keep)
        doomed = os.urandom(300_000)
        put_record(http, other, "d", doomed)
        assert http.delete(f"{STORES}/{other}").status_code == 204
        assert places_holding(proc, old[1][1000:1064]), "live body not found in storage"
        deadline = time.monotonic() + 20
        leftovers = [b[1000:1064] for b in (old[0], old[2], keep, doomed)]
        while time.monotonic() < deadline:
            if not any(places_holding(proc, n) for n in leftovers):
                break
            time.sleep(0.2)
        for n, needle in enumerate(leftovers):
            assert places_holding(proc, needle) == [], n
        assert http.get(record_url(sid, "a")).content == old[1]
