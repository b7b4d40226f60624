"""Soak: minutes of mixed traffic from several clients, on every backend. No request may fail or
answer anything but what the store's state says, and the server's memory must level off.

Each client thread owns its keys (`t<n>-k<i>`, a few dozen) in one of two stores and keeps a model
of them, so every answer has one right value: a PUT is 201, a GET of a stored key is 200 with the
exact bytes (inline bodies and files, over the inline threshold), of a deleted one 404, a keys
list with the thread's prefix is exactly the model's keys and sizes, a DELETE is 204 (also of a
missing key), a HEAD gives the stored length. Threads reconnect every so often, so connections
come and go too.

The server's resident memory is read after a warm-up (a sixth of the run, at most 20 s) and at
the end; it may grow by at most 20 %, besides what the bodies kept in memory (`--body-cache`,
bounded; their bytes read from /metrics) grew by meanwhile. The run lasts OPENKVS_SOAK_SECONDS
(default 120) and stops early at a bound on the number of requests.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest

from tests.metrics_scrape import scrape, value
from tests.reliability_process import rss_bytes
from tests.server_process import MakeServer, ServerProcess

pytestmark = pytest.mark.reliability

SOAK_SECONDS = float(os.environ.get("OPENKVS_SOAK_SECONDS", "120"))
# The scale-out soak is shorter by default so the reliability suite fits in its 10 minutes; the
# issue's 2 minutes run on the embedded store, the default deployment.
SCALEOUT_SOAK_SECONDS = float(os.environ.get("OPENKVS_SOAK_SECONDS_SCALEOUT", "60"))
THREADS = 6
KEYS_PER_THREAD = 32
MAX_REQUESTS_PER_THREAD = 200_000
RECONNECT_EVERY = 100
MAX_GROWTH = 0.20
STORES = "/v2/key-value-stores"
MiB = 1024 * 1024
BODY_CACHE_LIMIT = 64 * MiB  # --body-cache's default


@dataclass
class Tally:
    requests: int = 0
    errors: int = 0
    samples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, requests: int, errors: list[str], total_errors: int) -> None:
        with self.lock:
            self.requests += requests
            self.errors += total_errors
            self.samples.extend(errors[: max(0, 20 - len(self.samples))])


class Client:
    """One thread's traffic on its own keys, checked against its model of them."""

    def __init__(self, url: str, token: str, store_id: str, index: int, deadline: float) -> None:
        self.url = url
        self.token = token
        self.store = f"{STORES}/{store_id}"
        self.prefix = f"t{index}-"
        self.rng = random.Random(1000 + index)
        self.deadline = deadline
        self.model: dict[str, bytes] = {}
        self.requests = 0
        self.errors: list[str] = []
        self.error_count = 0
        self.http = self._connect()

    def _connect(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60
        )

    def error(self, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < 20:
            self.errors.append(message)

    def run(self) -> None:
        operations: list[tuple[Callable[[], None], int]] = [
            (self.put, 30),
            (self.get, 35),
            (self.head, 5),
            (self.list_keys, 10),
            (self.delete, 15),
            (self.get_store, 5),
        ]
        actions = [op for op, _ in operations]
        weights = [weight for _, weight in operations]
        try:
            while time.monotonic() < self.deadline and self.requests < MAX_REQUESTS_PER_THREAD:
                if self.requests and self.requests % RECONNECT_EVERY == 0:
                    self.http.close()
                    self.http = self._connect()
                self.requests += 1
                action = self.rng.choices(actions, weights)[0]
                try:
                    action()
                except httpx.HTTPError as exc:
                    self.error(f"{action.__name__}: {type(exc).__name__}: {exc}")
        finally:
            self.http.close()

    def key(self) -> str:
        return f"{self.prefix}k{self.rng.randrange(KEYS_PER_THREAD):02d}"

    def expect(self, what: str, response: httpx.Response, status: int) -> bool:
        if response.status_code != status:
            self.error(
                f"{what}: expected {status}, got {response.status_code}: {response.text[:200]}"
            )
            return False
        return True

    def put(self) -> None:
        key = self.key()
        if self.rng.random() < 0.3:
            size = self.rng.randint(64 * 1024 + 1, 512 * 1024)  # a file body
        else:
            size = self.rng.randint(0, 8 * 1024)  # inline
        body = self.rng.randbytes(size)
        response = self.http.put(
            f"{self.store}/records/{key}",
            content=body,
            headers={"Content-Type": "application/octet-stream"},
        )
        if self.expect(f"PUT {key} ({size} bytes)", response, 201):
            self.model[key] = body

    def get(self) -> None:
        key = self.key()
        response = self.http.get(f"{self.store}/records/{key}")
        if key not in self.model:
            self.expect(f"GET {key} (deleted)", response, 404)
        elif self.expect(f"GET {key}", response, 200) and response.content != self.model[key]:
            self.error(
                f"GET {key}: {len(response.content)} bytes differ from the "
                f"{len(self.model[key])} stored"
            )

    def head(self) -> None:
        key = self.key()
        response = self.http.head(f"{self.store}/records/{key}")
        if key not in self.model:
            self.expect(f"HEAD {key} (deleted)", response, 404)
        elif self.expect(f"HEAD {key}", response, 200):
            length = response.headers.get("content-length")
            if length != str(len(self.model[key])):
                self.error(f"HEAD {key}: Content-Length {length}, stored {len(self.model[key])}")

    def list_keys(self) -> None:
        response = self.http.get(f"{self.store}/keys", params={"prefix": self.prefix})
        if not self.expect("list keys", response, 200):
            return
        data = response.json()["data"]
        listed = {item["key"]: item["size"] for item in data["items"]}
        wanted = {key: len(body) for key, body in self.model.items()}
        if listed != wanted or data["isTruncated"]:
            self.error(f"list keys: {sorted(listed.items())} != {sorted(wanted.items())}")

    def delete(self) -> None:
        key = self.key()
        response = self.http.delete(f"{self.store}/records/{key}")
        if self.expect(f"DELETE {key}", response, 204):
            self.model.pop(key, None)

    def get_store(self) -> None:
        self.expect("GET store", self.http.get(self.store), 200)


def test_soak_mixed_traffic_without_errors_or_memory_growth(
    backend: str, make_server: MakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server = make_server()
    assert server.proc is not None
    pid = server.proc.pid
    headers = {"Authorization": f"Bearer {server.token}"}
    store_ids = []
    for name in ("soak-a", "soak-b"):
        response = httpx.post(
            f"{server.url}{STORES}", params={"name": name}, headers=headers, timeout=30
        )
        assert response.status_code == 201, response.text
        store_ids.append(response.json()["data"]["id"])

    seconds = SCALEOUT_SOAK_SECONDS if backend == "scaleout" else SOAK_SECONDS
    started = time.monotonic()
    deadline = started + seconds
    warm_up = min(20.0, seconds / 6)
    clients = [
        Client(server.url, server.token, store_ids[i % 2], i, deadline) for i in range(THREADS)
    ]
    tally = Tally()

    def work(client: Client) -> None:
        try:
            client.run()
        finally:
            tally.add(client.requests, client.errors, client.error_count)

    threads = [threading.Thread(target=work, args=(client,), daemon=True) for client in clients]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, started + warm_up - time.monotonic()))
    rss_warm, kept_warm = rss_bytes(pid), _kept_bytes(server)
    for thread in threads:
        thread.join(seconds + 120)
    hung = [thread.name for thread in threads if thread.is_alive()]
    assert server.proc.poll() is None, f"the server died:\n{server.log()[-3000:]}"
    rss_end, kept_end = rss_bytes(pid), _kept_bytes(server)
    growth = (rss_end - rss_warm - (kept_end - kept_warm)) / rss_warm
    with capsys.disabled():
        print(
            f"\nsoak: requests={tally.requests} errors={tally.errors} "
            f"rss_warm={rss_warm / MiB:.1f} MiB rss_end={rss_end / MiB:.1f} MiB "
            f"kept bodies {kept_warm / MiB:.1f} -> {kept_end / MiB:.1f} MiB "
            f"growth besides them={growth * 100:.1f}% backend={backend} seconds={seconds:g}"
        )
    assert kept_end <= BODY_CACHE_LIMIT
    assert not hung, f"client threads still running long after the deadline: {hung}"
    assert tally.errors == 0, f"{tally.errors} errors, first ones:\n" + "\n".join(tally.samples)
    assert growth <= MAX_GROWTH, (
        f"server RSS grew {growth * 100:.1f}% after the warm-up besides the kept bodies "
        f"({rss_warm / MiB:.1f} -> {rss_end / MiB:.1f} MiB; kept bodies {kept_warm / MiB:.1f} -> "
        f"{kept_end / MiB:.1f} MiB), more than {MAX_GROWTH * 100:.0f}%"
    )


def _kept_bytes(server: ServerProcess) -> float:
    """Bytes of record bodies the server keeps in memory (core/kept_bodies.py), from /metrics."""
    return value(scrape(server), "openkvs_body_cache_bytes")
