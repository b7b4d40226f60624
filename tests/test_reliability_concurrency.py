"""Concurrency on one key (behaviour.md#durability, #http), on every backend: no torn reads,
compare-and-set that counts.

Every loop is bounded by a count and by a deadline that only guards against a hang; no duration is
asserted.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from dataclasses import dataclass

import httpx
import pytest

from tests.http_helpers import list_key_sizes
from tests.reliability_helpers import (
    KiB,
    create_store,
    etag_of,
    guarded,
    owner_client,
    record_path,
)
from tests.server_process import MakeServer

pytestmark = pytest.mark.reliability

INLINE_THRESHOLD = 64 * KiB
HANG_GUARD = 300.0  # seconds: several times the usual run; reaching it means a hang


def join_all(threads: list[threading.Thread]) -> None:
    deadline = time.monotonic() + HANG_GUARD
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = sum(thread.is_alive() for thread in threads)
    assert not stuck, f"{stuck} threads still running after {HANG_GUARD}s"


# --- (a) one hot key: 64 writers, 64 readers -----------------------------------------------------

WRITERS = 64
READERS = 64
WRITE_SECONDS = 4.0
MAX_PUTS_PER_WRITER = 400
MIN_READS_PER_READER = 3  # each reader reads at least this often, however slow the server
MAX_READS_PER_READER = 2_000


@dataclass(frozen=True)
class Sent:
    """One body a writer sends, with the headers a read of it must carry."""

    data: bytes
    content_type: str

    @property
    def md5(self) -> str:
        return hashlib.md5(self.data).hexdigest()


def writer_bodies(writer: int) -> list[Sent]:
    """Three bodies per writer: inline, at the threshold, in a file / object (10 to 300 KiB)."""
    rng = random.Random(f"hot-key-{writer}")
    sizes = [
        rng.randint(10 * KiB, INLINE_THRESHOLD - 16),
        rng.randint(INLINE_THRESHOLD - 8, INLINE_THRESHOLD + 8),
        rng.randint(INLINE_THRESHOLD + 16, 300 * KiB),
    ]
    return [
        Sent(rng.randbytes(size), f"application/x-writer-{writer}; body={index}")
        for index, size in enumerate(sizes)
    ]


def test_readers_of_a_key_under_64_writers_see_only_whole_bodies_with_their_headers(
    make_server: MakeServer,
) -> None:
    server = make_server()
    store_id = create_store(server, "hot-key")
    url = record_path(store_id, "hot")
    bodies = {sent.md5: sent for writer in range(WRITERS) for sent in writer_bodies(writer)}
    assert len(bodies) == 3 * WRITERS
    sent_md5s: set[str] = set()  # bodies whose PUT has started: the only ones a read may return
    acknowledged: set[str] = set()
    problems: list[str] = []
    counts = {"puts": 0, "reads": 0}
    lock = threading.Lock()
    stop = threading.Event()

    first = writer_bodies(0)[0]
    sent_md5s.add(first.md5)
    with owner_client(server) as client:
        response = client.put(url, content=first.data, headers={"Content-Type": first.content_type})
        assert response.status_code == 201, response.text

    def writer(number: int) -> None:
        mine = writer_bodies(number)
        with owner_client(server) as client:
            for n in range(MAX_PUTS_PER_WRITER):
                if stop.is_set():
                    return
                sent = mine[n % len(mine)]
                sent_md5s.add(sent.md5)
                try:
                    response = client.put(
                        url, content=sent.data, headers={"Content-Type": sent.content_type}
                    )
                except httpx.HTTPError as exc:
                    problems.append(f"PUT {len(sent.data)} B: {exc!r}")
                    return
                if response.status_code != 201:
                    problems.append(f"PUT: {response.status_code} {response.text[:300]}")
                    return
                with lock:
                    acknowledged.add(sent.md5)
                    counts["puts"] += 1

    def reader() -> None:
        with owner_client(server) as client:
            for n in range(MAX_READS_PER_READER):
                if stop.is_set() and n >= MIN_READS_PER_READER:
                    return
                try:
                    response = client.get(url, headers={"Accept-Encoding": "identity"})
                except httpx.HTTPError as exc:
                    problems.append(f"GET: {exc!r}")
                    continue
                if response.status_code != 200:
                    problems.append(f"GET: {response.status_code} {response.text[:300]}")
                    return
                problem = check_read(response, bodies, sent_md5s)
                if problem:
                    problems.append(problem)
                with lock:
                    counts["reads"] += 1

    threads = [
        threading.Thread(target=guarded(problems, writer), args=(n,), daemon=True)
        for n in range(WRITERS)
    ]
    threads += [
        threading.Thread(target=guarded(problems, reader), daemon=True) for _ in range(READERS)
    ]
    for thread in threads:
        thread.start()
    stop.wait(WRITE_SECONDS)
    stop.set()
    join_all(threads)

    assert not problems, (
        f"{len(problems)} bad answers ({counts['reads']} good reads, {counts['puts']} PUTs), "
        f"e.g. {problems[:5]}\nserver log:\n{server.log()[-3000:]}"
    )
    assert counts["reads"] >= READERS * MIN_READS_PER_READER
    assert counts["puts"] > 0
    # Once the writers are done, the key holds one whole body whose PUT was acknowledged.
    with owner_client(server) as client:
        final = client.get(url, headers={"Accept-Encoding": "identity"})
        assert final.status_code == 200, final.text
        assert check_read(final, bodies, acknowledged) is None
        assert list_key_sizes(client, store_id) == {"hot": len(final.content)}
    print(f"hot key: puts={counts['puts']} reads={counts['reads']}")


def check_read(response: httpx.Response, bodies: dict[str, Sent], allowed: set[str]) -> str | None:
    """What is wrong with a 200 read of the hot key, if anything."""
    data = response.content
    md5 = hashlib.md5(data).hexdigest()
    sent = bodies.get(md5)
    headers = response.headers
    if sent is None or md5 not in allowed:
        shown = "a body no writer sent" if sent is None else f"{sent.content_type} not yet sent"
        return f"torn read: {len(data)} B, {shown} (headers: {dict(headers)})"
    if headers.get("etag") != etag_of(data):
        return f"{len(data)} B ({sent.content_type}) came with ETag {headers.get('etag')}"
    if headers.get("content-length") != str(len(data)):
        return f"{len(data)} B came with Content-Length {headers.get('content-length')}"
    if headers.get("content-type") != sent.content_type:
        return f"body of {sent.content_type} came with Content-Type {headers.get('content-type')}"
    return None


# --- (b) a compare-and-set counter: If-Match ------------------------------------------------------

CAS_CLIENTS = 16
TARGET = 1_000
MAX_ATTEMPTS_PER_CLIENT = 50_000


def test_if_match_counter_of_16_clients_counts_exactly_1000_increments(
    make_server: MakeServer,
) -> None:
    server = make_server()
    store_id = create_store(server, "counter")
    url = record_path(store_id, "counter")
    json_type = {"Content-Type": "application/json"}
    with owner_client(server) as client:
        assert client.put(url, content=b"0", headers=json_type).status_code == 201
    problems: list[str] = []
    counts = {"created": 0, "conflicts": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + HANG_GUARD

    def increment_until_target() -> None:
        with owner_client(server) as client:
            for _ in range(MAX_ATTEMPTS_PER_CLIENT):
                if time.monotonic() > deadline:
                    problems.append(f"no end after {HANG_GUARD}s")
                    return
                try:
                    current = client.get(url)
                except httpx.HTTPError as exc:
                    problems.append(f"GET: {exc!r}")
                    continue
                if current.status_code != 200:
                    problems.append(f"GET: {current.status_code} {current.text[:300]}")
                    return
                etag = current.headers.get("etag", "")
                if etag != etag_of(current.content):
                    problems.append(f"GET {current.content!r} came with ETag {etag}")
                    return
                value = int(current.content)
                if value >= TARGET:
                    return
                try:
                    response = client.put(
                        url,
                        content=str(value + 1).encode(),
                        headers={**json_type, "If-Match": etag},
                    )
                except httpx.HTTPError as exc:  # applied or not: the count can no longer be known
                    problems.append(f"PUT If-Match: {exc!r}")
                    return
                if response.status_code == 201:
                    with lock:
                        counts["created"] += 1
                elif response.status_code == 412:
                    if response.json().get("error", {}).get("type") != "precondition-failed":
                        problems.append(f"412 with {response.text[:300]}")
                        return
                    with lock:
                        counts["conflicts"] += 1
                else:
                    problems.append(f"PUT If-Match: {response.status_code} {response.text[:300]}")
                    return
            problems.append(f"{MAX_ATTEMPTS_PER_CLIENT} attempts without reaching {TARGET}")

    threads = [
        threading.Thread(target=guarded(problems, increment_until_target), daemon=True)
        for _ in range(CAS_CLIENTS)
    ]
    for thread in threads:
        thread.start()
    join_all(threads)

    assert not problems, (
        f"{len(problems)} problems ({counts['created']} increments, {counts['conflicts']} "
        f"conflicts), e.g. {problems[:5]}\nserver log:\n{server.log()[-3000:]}"
    )
    with owner_client(server) as client:
        final = client.get(url)
    assert final.status_code == 200, final.text
    assert final.content == str(TARGET).encode(), final.content
    assert final.headers.get("etag") == etag_of(final.content)
    # Every 201 was one increment: none was applied on a stale value, none lost.
    assert counts["created"] == TARGET, counts
    print(f"counter: increments={counts['created']} conflicts={counts['conflicts']}")
