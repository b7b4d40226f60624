"""SIGTERM: the server stops taking connections, lets the requests in flight finish (for up to
--shutdown-timeout), then exits 0. No acknowledged write is lost, no temporary body is left, and a
request still running at the timeout is answered 503 and not stored."""

from __future__ import annotations

import hashlib
import signal
import threading
import time
from collections.abc import Iterator

import httpx

from tests.http_helpers import bearer, create_store, owner_client, record_url
from tests.server_process import MakeServer, ServerProcess
from tests.store_inspection import body_storage

UPLOADS = 32


def _trickle(data: bytes, pieces: int, pause: float) -> Iterator[bytes]:
    step = -(-len(data) // pieces)
    for at in range(0, len(data), step):
        yield data[at : at + step]
        time.sleep(pause)


def _bodies() -> dict[str, bytes]:
    """Half small (stored inline), half 1-4 MiB (files or objects), each one distinct."""
    bodies = {}
    for n in range(UPLOADS):
        size = 1024 if n % 2 == 0 else (1 + n % 4) * 1024 * 1024
        seed = hashlib.sha256(str(n).encode()).digest()
        bodies[f"upload-{n:02d}"] = (seed * (size // len(seed) + 1))[:size]
    return bodies


def _stop(proc: ServerProcess) -> int:
    assert proc.proc is not None
    proc.proc.send_signal(signal.SIGTERM)
    return proc.proc.wait(60)


def test_sigterm_during_32_uploads_loses_no_acknowledged_write(make_server: MakeServer) -> None:
    proc = make_server()
    with owner_client(proc) as http:
        store_id = create_store(http)["id"]
    bodies = _bodies()
    answers: dict[str, int | str] = {}
    started = threading.Barrier(UPLOADS + 1)

    def upload(key: str, data: bytes) -> None:
        with httpx.Client(base_url=proc.url, headers=bearer(proc.token), timeout=60) as client:
            started.wait()
            try:
                # Large bodies take about 2 s to arrive: they are in flight at the signal.
                content = _trickle(data, 20, 0.1) if len(data) > 1024 else data
                answers[key] = client.put(record_url(store_id, key), content=content).status_code
            except httpx.HTTPError as exc:
                answers[key] = repr(exc)

    threads = [threading.Thread(target=upload, args=item) for item in bodies.items()]
    for thread in threads:
        thread.start()
    started.wait()
    time.sleep(0.5)
    exit_code = _stop(proc)
    for thread in threads:
        thread.join(60)
    assert exit_code == 0, proc.log()[-2000:]
    acknowledged = [key for key, status in answers.items() if status in (200, 201)]
    # The default timeout (30 s) is far longer than the uploads: every one of them finished.
    assert sorted(acknowledged) == sorted(bodies), answers
    storage = body_storage(proc)
    assert storage.clean, storage.describe()
    proc.start()
    with owner_client(proc) as http:
        for key in acknowledged:
            got = http.get(record_url(store_id, key))
            assert got.status_code == 200 and got.content == bodies[key], key


def test_a_request_past_the_shutdown_timeout_is_cancelled_and_not_stored(
    make_server: MakeServer,
) -> None:
    proc = make_server(["--shutdown-timeout", "1s"])
    with owner_client(proc) as http:
        store_id = create_store(http)["id"]
    data = b"s" * (4 * 1024 * 1024)
    answer: list[httpx.Response | str] = []

    def upload() -> None:
        with httpx.Client(base_url=proc.url, headers=bearer(proc.token), timeout=60) as client:
            try:  # about 20 s to send: far past the timeout
                answer.append(
                    client.put(record_url(store_id, "slow"), content=_trickle(data, 100, 0.2))
                )
            except httpx.HTTPError as exc:
                answer.append(repr(exc))

    thread = threading.Thread(target=upload)
    thread.start()
    time.sleep(1.0)
    signalled = time.monotonic()
    assert proc.proc is not None
    proc.proc.send_signal(signal.SIGTERM)
    # While it drains, no new connection is taken.
    time.sleep(0.2)
    try:
        refused = httpx.get(proc.url + "/health/live", timeout=5).status_code
    except httpx.ConnectError:
        refused = 0
    assert refused in (0, 503)
    exit_code = proc.proc.wait(60)
    assert exit_code == 0, proc.log()[-2000:]
    assert time.monotonic() - signalled < 15  # the timeout (1 s) and a generous margin
    thread.join(60)
    assert answer, "the upload never ended"
    response = answer[0]
    if isinstance(response, httpx.Response):
        assert response.status_code == 503, response.text
        assert response.json()["error"]["type"] == "server-shutting-down"
    assert "requests cancelled after 1 s" in proc.log()
    storage = body_storage(proc)
    assert storage.clean, storage.describe()
    proc.start()
    with owner_client(proc) as http:
        assert http.get(record_url(store_id, "slow")).status_code == 404
