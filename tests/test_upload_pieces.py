"""Record bodies are hashed and written in pieces, the large ones off the event loop
(core/uploads.py, backends/embedded/blobs.py): a slow disk or a large body's MD5 must not hold
every other request, and what is stored is still exactly what was sent."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from openkvs.backends.embedded import blobs
from openkvs.backends.embedded.blobs import BlobFiles, SpooledBody, on_file_thread
from openkvs.core import uploads
from tests.in_process_app import App, Message, scope
from tests.loop_gaps import while_ticking

TOKEN = "piece-token"
BEARER = (b"authorization", f"Bearer {TOKEN}".encode())
MAX_RECORD_SIZE = 3 * 1024 * 1024
SLOW_SECONDS = 0.3  # how long the slowed-down write or hash takes


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[App, str]]:
    served = App(tmp_path_factory.mktemp("pieces"), max_record_size=MAX_RECORD_SIZE)
    served.run(served.app.startup())
    served.add_user("owner", TOKEN)
    created = served.request("POST", "/v2/key-value-stores", [BEARER], query=b"name=pieces")
    try:
        yield served, orjson.loads(created[1]["body"])["data"]["id"]
    finally:
        served.run(served.app.shutdown())
        served.loop.close()


def body_of(size: int, seed: int) -> bytes:
    return hashlib.shake_256(seed.to_bytes(4, "big")).digest(size)


def chunked(body: bytes, sizes: list[int]) -> list[bytes]:
    """`body` cut into pieces of the given sizes, in turn, the last taking what is left."""
    chunks, at, turn = [], 0, 0
    while at < len(body):
        size = sizes[turn % len(sizes)]
        chunks.append(body[at : at + size])
        at += size
        turn += 1
    return chunks


def put_in_chunks(
    served: App, store_id: str, key: str, chunks: list[bytes], ticks: list[float] | None = None
) -> list[Message]:
    """PUT a body that arrives as `chunks`; with `ticks`, every gap between the ticks of a 5 ms
    timer on the same event loop meanwhile."""
    size = sum(len(chunk) for chunk in chunks)
    headers = [
        BEARER,
        (b"content-type", b"application/octet-stream"),
        (b"content-length", str(size).encode()),
    ]
    request = scope("PUT", f"/v2/key-value-stores/{store_id}/records/{key}", headers)
    waiting = list(chunks)
    sent: list[Message] = []

    async def receive() -> Message:
        await asyncio.sleep(0)
        chunk = waiting.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(waiting)}

    async def send(message: Message) -> None:
        sent.append(message)

    served.run(while_ticking(served.app(request, receive, send), [] if ticks is None else ticks))
    return sent


def read_back(served: App, store_id: str, key: str) -> tuple[int, bytes, bytes]:
    """Status, ETag and body of the record as a GET reads it (a client that stays connected:
    after its request, `receive` waits, as it does until a real client hangs up)."""
    asked: list[bool] = []

    async def receive() -> Message:
        if asked:
            await asyncio.Event().wait()
        asked.append(True)
        return {"type": "http.request", "body": b"", "more_body": False}

    path = f"/v2/key-value-stores/{store_id}/records/{key}"
    answer = served.request("GET", path, [BEARER], receive=receive)
    etag = dict(answer[0]["headers"]).get(b"etag", b"")
    return answer[0]["status"], etag, b"".join(m.get("body", b"") for m in answer[1:])


@pytest.mark.parametrize(
    ("size", "sizes"),
    [
        (1, [1]),
        (70_000, [1000, 31]),  # small chunks that add up past a thread's threshold
        (uploads.PIECE_BYTES, [uploads.PIECE_BYTES]),  # exactly one piece
        (uploads.PIECE_BYTES + 1, [65_536]),  # one byte into a second piece
        (2 * 1024 * 1024 + 7, [65_536, 4_099, 300_000]),  # pieces of uneven chunks
    ],
)
def test_what_is_stored_is_what_was_sent_however_it_arrives(
    app: tuple[App, str], size: int, sizes: list[int]
) -> None:
    served, store_id = app
    body = body_of(size, size)
    key = f"arrived-{size}"
    answer = put_in_chunks(served, store_id, key, chunked(body, sizes))
    assert answer[0]["status"] == 201, answer
    status, etag, stored = read_back(served, store_id, key)
    assert status == 200 and stored == body
    assert etag == f'"{hashlib.md5(body).hexdigest()}"'.encode()


def test_a_body_over_the_limit_in_pieces_is_refused_and_nothing_is_stored(
    app: tuple[App, str],
) -> None:
    served, store_id = app
    body = body_of(MAX_RECORD_SIZE + 1, 3)
    answer = put_in_chunks(served, store_id, "too-large", chunked(body, [65_536]))
    assert answer[0]["status"] == 413
    assert read_back(served, store_id, "too-large")[0] == 404


def test_a_slow_disk_write_does_not_hold_the_event_loop(
    app: tuple[App, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every large write of the upload takes SLOW_SECONDS (as a write into a page cache full of
    other uploads' dirty pages can): the loop keeps ticking meanwhile."""
    served, store_id = app
    write_all = blobs._write_all
    slowed: list[int] = []

    def slow_write(fd: int, data: bytes) -> None:
        if len(data) >= blobs.OFF_LOOP_WRITE:
            slowed.append(len(data))
            time.sleep(SLOW_SECONDS)
        write_all(fd, data)

    monkeypatch.setattr(blobs, "_write_all", slow_write)
    body = body_of(1024 * 1024, 11)
    ticks: list[float] = []
    answer = put_in_chunks(served, store_id, "slow-disk", chunked(body, [65_536]), ticks)
    assert answer[0]["status"] == 201
    assert len(slowed) >= 3
    assert max(ticks) < SLOW_SECONDS * 0.8, f"the event loop waited {max(ticks):.2f} s"
    assert read_back(served, store_id, "slow-disk")[2] == body


class SlowDigest:
    """MD5 that takes SLOW_SECONDS for every large piece it is given."""

    def __init__(self) -> None:
        self._digest = hashlib.md5()
        self.slowed = 0

    def update(self, data: bytes) -> None:
        if len(data) >= uploads.OFF_LOOP_BYTES:
            self.slowed += 1
            time.sleep(SLOW_SECONDS)
        self._digest.update(data)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def test_hashing_a_large_body_does_not_hold_the_event_loop(
    app: tuple[App, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    served, store_id = app
    digests: list[SlowDigest] = []

    def md5(**_: Any) -> SlowDigest:
        digests.append(SlowDigest())
        return digests[-1]

    monkeypatch.setattr(uploads, "hashlib", SimpleNamespace(md5=md5))
    body = body_of(1024 * 1024, 12)
    ticks: list[float] = []
    answer = put_in_chunks(served, store_id, "slow-hash", chunked(body, [65_536]), ticks)
    assert answer[0]["status"] == 201
    assert digests and digests[0].slowed >= 3
    assert max(ticks) < SLOW_SECONDS * 0.8, f"the event loop waited {max(ticks):.2f} s"
    monkeypatch.undo()
    status, etag, stored = read_back(served, store_id, "slow-hash")
    assert status == 200
    assert stored == body and etag == f'"{hashlib.md5(body).hexdigest()}"'.encode()


def test_a_large_piece_is_hashed_in_the_file_thread_that_writes_it(
    app: tuple[App, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One trip to a thread per large piece, not one for its hash and one for its write: each
    large piece is hashed in a file thread, which then writes it."""
    served, store_id = app
    events: list[tuple[str, str, int]] = []  # what, in which thread, how many bytes

    class RecordingDigest:
        def __init__(self) -> None:
            self._digest = hashlib.md5()

        def update(self, data: bytes) -> None:
            events.append(("hash", threading.current_thread().name, len(data)))
            self._digest.update(data)

        def hexdigest(self) -> str:
            return self._digest.hexdigest()

    write_all = blobs._write_all

    def recording_write(fd: int, data: bytes) -> None:
        events.append(("write", threading.current_thread().name, len(data)))
        write_all(fd, data)

    monkeypatch.setattr(uploads, "hashlib", SimpleNamespace(md5=lambda **_: RecordingDigest()))
    monkeypatch.setattr(blobs, "_write_all", recording_write)
    body = body_of(1024 * 1024 + 5, 13)
    answer = put_in_chunks(served, store_id, "one-trip", chunked(body, [65_536, 1_000]))
    assert answer[0]["status"] == 201
    monkeypatch.undo()
    large = [at for at, e in enumerate(events) if e[0] == "hash" and e[2] >= uploads.OFF_LOOP_BYTES]
    assert len(large) >= 4, events
    for at in large:
        _, thread, size = events[at]
        assert thread.startswith("openkvs-files"), events
        # the first piece is written with the bytes kept in memory before it: more, not fewer
        assert events[at + 1][:2] == ("write", thread) and events[at + 1][2] >= size, events
    status, etag, stored = read_back(served, store_id, "one-trip")
    assert status == 200
    assert stored == body and etag == f'"{hashlib.md5(body).hexdigest()}"'.encode()


async def cancelled_while_held(
    work: Coroutine[Any, Any, Any], started: threading.Event, release: threading.Event
) -> None:
    """Run `work`, cancel it once its thread has `started`, let the thread go on 0.2 s later
    (`release`), and wait until the cancellation reaches the caller."""
    task = asyncio.ensure_future(work)
    await asyncio.to_thread(started.wait, 5)
    task.cancel()
    threading.Timer(0.2, release.set).start()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_a_cancelled_caller_waits_for_its_file_work_to_end() -> None:
    """The work holds a file descriptor its caller closes next: the cancelled caller must not
    go on (and close it) while the work still runs."""
    started, release = threading.Event(), threading.Event()
    ended: list[float] = []

    def work() -> None:
        started.set()
        release.wait(5)
        ended.append(time.monotonic())

    async def run() -> float:
        await cancelled_while_held(on_file_thread(work), started, release)
        return time.monotonic()

    caller_went_on = asyncio.run(run())
    assert ended and ended[0] <= caller_went_on


def test_an_upload_cancelled_while_its_file_is_made_leaves_no_file_and_no_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = BlobFiles(tmp_path, strict=True)
    body = SpooledBody(files, inline_threshold=10)
    started, release = threading.Event(), threading.Event()
    write_all = blobs._write_all

    def held(fd: int, data: bytes) -> None:
        started.set()
        release.wait(5)
        write_all(fd, data)

    monkeypatch.setattr(blobs, "_write_all", held)
    open_before = len(os.listdir("/proc/self/fd"))

    async def run() -> None:
        # over the threshold: a file
        await cancelled_while_held(body.write(b"x" * 100), started, release)
        await body.discard()

    asyncio.run(run())
    files.close()
    assert list(files.tmp.iterdir()) == []
    assert len(os.listdir("/proc/self/fd")) == open_before - 1  # less the hold file's
