"""What the reliability tests share: reproducible bodies, clients per thread, embedded checks.

Bodies are made from a seed, so that a test keeps only (seed, size, md5) per write and can rebuild
any body when it needs the bytes again.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import sqlite3
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

from tests.http_helpers import owner_client  # re-exported: the reliability tests use it
from tests.server_process import ServerProcess
from tests.store_inspection import BodyStorage, body_storage

T = TypeVar("T")
R = TypeVar("R")

KiB = 1024
MiB = 1024 * KiB
STORES = "/v2/key-value-stores"


@dataclass(frozen=True)
class Body:
    """A record body identified by the seed it is made from."""

    seed: int
    size: int

    def data(self) -> bytes:
        return random.Random(self.seed).randbytes(self.size)

    @property
    def md5(self) -> str:
        return hashlib.md5(self.data()).hexdigest()


def etag_of(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


class EventOrder:
    """A global order of events seen by the test's threads: a number taken before a request is
    sent and one taken after its answer arrived order them as real time does."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            return next(self._counter)


def guarded(problems: list[str], work: Callable[..., None]) -> Callable[..., None]:
    """`work` made fit for a thread: what it raises becomes a problem the test reports (an
    exception in a thread would otherwise only be a warning)."""

    def run(*args: object) -> None:
        try:
            work(*args)
        except Exception as exc:
            problems.append(f"{work.__name__} raised {exc!r}:\n{traceback.format_exc()}")

    return run


def map_with_clients(
    server: ServerProcess, work: Callable[[httpx.Client, T], R], items: list[T], threads: int
) -> list[R]:
    """`work(client, item)` for every item, on `threads` threads with one client each; the
    results in the order of `items`."""
    results: dict[int, R] = {}

    def run(share: list[tuple[int, T]]) -> None:
        with owner_client(server) as client:
            for index, item in share:
                results[index] = work(client, item)

    numbered = list(enumerate(items))
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, [numbered[n::threads] for n in range(threads)]))
    return [results[index] for index in range(len(items))]


def create_store(server: ServerProcess, name: str) -> str:
    with owner_client(server) as client:
        response = client.post(STORES, params={"name": name})
        assert response.status_code == 201, response.text
        store_id: str = response.json()["data"]["id"]
        return store_id


def record_path(store_id: str, key: str) -> str:
    return f"{STORES}/{store_id}/records/{key}"


# --- the embedded store's own files ---------------------------------------------------------------


def sqlite_integrity(data_dir: Path) -> list[str]:
    """`PRAGMA integrity_check` of the embedded database, opened read-only: ["ok"] when sound."""
    db = sqlite3.connect(f"file:{data_dir / 'openkvs.db'}?mode=ro", uri=True)
    try:
        return [str(row[0]) for row in db.execute("PRAGMA integrity_check").fetchall()]
    finally:
        db.close()


def embedded_body_problems(data_dir: Path) -> list[str]:
    """Records whose stored body is not their full size (a row or file cut short, or missing), and
    inline bodies that no record points at (old bytes kept for good, behaviour.md#durability)."""
    problems: list[str] = []
    db = sqlite3.connect(f"file:{data_dir / 'openkvs.db'}?mode=ro", uri=True)
    try:
        db.execute("BEGIN")  # one snapshot for all the queries below
        rows = db.execute(
            "SELECT r.key, r.size, r.body_id, r.blob, length(b.data) "
            "FROM records r LEFT JOIN bodies b ON b.id = r.body_id"
        ).fetchall()
        orphans = db.execute(
            "SELECT count(*) FROM bodies WHERE id NOT IN "
            "(SELECT body_id FROM records WHERE body_id IS NOT NULL)"
        ).fetchone()[0]
    finally:
        db.close()
    for key, size, body_id, blob, inline_length in rows:
        if body_id is not None:
            if inline_length != size:
                problems.append(f"{key}: inline body {body_id} has {inline_length} of {size} B")
        elif blob is not None:
            path = data_dir / "blobs" / blob[:2] / blob
            on_disk = path.stat().st_size if path.exists() else None
            if on_disk != size:
                problems.append(f"{key}: file blobs/{blob[:2]}/{blob} has {on_disk} of {size} B")
        elif size != 0:
            problems.append(f"{key}: {size} B recorded but no body")
    if orphans:
        problems.append(f"{orphans} rows of `bodies` that no record points at")
    return problems


def wait_for_clean_body_storage(server: ServerProcess, timeout: float = 10.0) -> BodyStorage:
    """Polls until nothing is in progress (tmp/), unreferenced or missing; returns the last state
    seen (its `.clean` says whether that happened in time). No duration is asserted."""
    deadline = time.monotonic() + timeout
    while True:
        storage = body_storage(server)
        if storage.clean or time.monotonic() > deadline:
            return storage
        time.sleep(0.2)
