"""Slow and expanding request bodies (issue 15, item 9; item 2 for decoding and JSON parsing).

A body that stops arriving is ended with 408 after `--body-timeout`, and leaves nothing behind.
An encoded record may decode to at most `--max-inflation` (1000) times its encoded size plus
1 MiB, so a small upload cannot buy unbounded decoding from later readers; decoding of anything
but tiny bodies runs in threads, so other users' requests answer meanwhile.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import os
import random
import socket
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection, HTTPResponse
from typing import Any

import brotli
import httpx
import pytest

from openkvs.core.codecs import make_decoder
from openkvs.core.errors import ApiError
from openkvs.core.models import RecordMeta
from openkvs.core.reading import decoded_chunks
from openkvs.core.streams import BytesBodyStream
from openkvs.http.context import Ctx
from tests.http_helpers import (
    STORES,
    assert_error,
    create_store,
    key_names,
    owner_client,
    put_record,
    raw_request,
    record_url,
    unique_name,
)
from tests.loop_gaps import while_ticking
from tests.server_process import ServerProcess

MiB = 1024 * 1024
STALL_TIMEOUT = 2.0  # --body-timeout of the dedicated servers


# --- building bodies -----------------------------------------------------------------------------


def gzip_members(segment: bytes, count: int) -> bytes:
    """`count` gzip members of `segment`, back to back: a gzip stream of segment * count that
    takes one compression to build, however large it decodes."""
    return gzip.compress(segment, 6) * count


def bomb(encoding: str) -> bytes:
    """About 1 MiB (or less) that decodes to 256 MiB .. 1 GiB of zeros: ratio near 1000:1."""
    if encoding == "gzip":
        return gzip.compress(bytes(16 * MiB), 9) * 64  # 1 GiB in 64 members, about 1027:1
    if encoding == "br":
        packed: bytes = brotli.compress(bytes(256 * MiB), quality=1)
        return packed
    return zlib.compress(bytes(256 * MiB), 9)


def words_text(vocabulary: int, count: int, seed: int = 3) -> bytes:
    """Text of `count` random words out of `vocabulary`: the fewer words, the more it
    compresses (4: about 17:1, 300: about 3.5:1 with gzip)."""
    rng = random.Random(seed)
    words = [rng.randbytes(3).hex().encode() for _ in range(vocabulary)]
    return b" ".join(rng.choice(words) for _ in range(count))


def edge_segment(seed: int = 7) -> bytes:
    """1 MiB whose gzip is just under the 1000:1 limit (32 bytes of noise, then zeros): every
    prefix of a stream of such members stays under the limit too."""
    noise = random.Random(seed).randbytes(32)
    return noise + bytes(MiB - len(noise))


# --- raw requests --------------------------------------------------------------------------------


def start_stalled(
    server: ServerProcess, method: str, path: str, declared: int, sent: bytes, **headers: str
) -> socket.socket:
    """A request that declares `declared` body bytes, sends `sent`, and then nothing."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    head = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        f"Authorization: Bearer {server.token}",
        f"Content-Length: {declared}",
        *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items()),
    ]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + sent)
    return sock


def read_answer(sock: socket.socket) -> httpx.Response:
    """The response on `sock`, as an httpx.Response for the envelope checks."""
    answer = HTTPResponse(sock)
    try:
        answer.begin()
        body = answer.read()
    finally:
        answer.close()
        sock.close()
    return httpx.Response(answer.status, headers=answer.getheaders(), content=body)


def leftovers(server: ServerProcess) -> list[str]:
    """Half-received bodies the server still keeps: files in the embedded store's tmp/, or
    pending objects and open multipart uploads of the scale-out store."""
    config = server.backend
    if not config.is_scaleout:
        tmp = server.data_dir / "tmp"
        return sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []
    assert config.database is not None
    rows = config.postgres.fetch(config.database, "SELECT object FROM pending_objects")
    return [f"pending {name}" for (name,) in rows] + [
        f"upload {key}" for key in config.s3.list_uploads(config.objects_prefix)
    ]


def timed_get(client: httpx.Client, path: str) -> float:
    started = time.monotonic()
    response = client.get(path)
    assert response.status_code == 200, response.text
    return time.monotonic() - started


class Pinger:
    """Another user's `GET /v2/users/me`, over and over in a thread, each answer timed."""

    def __init__(self, url: str, token: str) -> None:
        self._client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self._stop = threading.Event()
        self.latencies: list[float] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.latencies.append(timed_get(self._client, "/v2/users/me"))
            self._stop.wait(0.05)

    def __enter__(self) -> Pinger:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)
        self._client.close()


# --- body read timeout: the request context alone ------------------------------------------------


def run_read(
    messages: Callable[[], Any], declared: int, timeout: float, pause: float = 0.0
) -> tuple[Ctx, list[bytes] | BaseException, float]:
    """Read a body whose receive() is `messages` (an async callable), pausing `pause` seconds
    after each chunk; returns the context, the chunks (or the exception) and the time taken."""
    scope = {
        "method": "PUT",
        "headers": [(b"content-length", b"%d" % declared)],
        "query_string": b"",
    }
    ctx = Ctx(scope, messages, None, "id", None, body_timeout=timeout)

    async def collect() -> list[bytes] | BaseException:
        chunks = []
        try:
            async for chunk in ctx.stream_body():
                chunks.append(chunk)
                await asyncio.sleep(pause)
        except (ApiError, asyncio.CancelledError) as exc:
            return exc
        return chunks

    started = time.monotonic()
    outcome = asyncio.run(collect())
    return ctx, outcome, time.monotonic() - started


def body(data: bytes) -> dict[str, Any]:
    return {"type": "http.request", "body": data, "more_body": True}


def test_a_body_that_stops_arriving_is_ended_with_408() -> None:
    sent = [body(b"abc")]

    async def receive() -> dict[str, Any]:
        if sent:
            return sent.pop()
        await asyncio.Event().wait()  # nothing more, ever
        raise AssertionError("unreachable")

    ctx, outcome, took = run_read(receive, 100, timeout=0.3)
    assert isinstance(outcome, ApiError), outcome
    assert (outcome.status, outcome.type) == (408, "request-timeout")
    assert "0.3 seconds" in outcome.message
    assert 0.25 < took < 10
    # Nothing more is read after the answer: the error path does not wait for the rest.
    assert ctx.body_done and not ctx.has_unread_body()


def test_only_waiting_for_bytes_counts_not_the_total_time_nor_the_readers_own_work() -> None:
    """A slow but steady sender, and a reader slower than the timeout, both finish."""

    async def steady() -> dict[str, Any]:
        await asyncio.sleep(0.1)
        return body(b"x" * 10)

    _, outcome, took = run_read(steady, 80, timeout=0.4)
    assert outcome == [b"x" * 10] * 8 and took > 0.4

    async def prompt() -> dict[str, Any]:
        return body(b"y" * 10)

    _, outcome, took = run_read(prompt, 30, timeout=0.2, pause=0.3)
    assert outcome == [b"y" * 10] * 3 and took > 0.6


def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    scope = {"method": "PUT", "headers": [(b"content-length", b"10")], "query_string": b""}

    async def never() -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def run() -> str:
        ctx = Ctx(scope, never, None, "id", None, body_timeout=0.2)

        async def read() -> None:
            async for _ in ctx.stream_body():
                pass

        task = asyncio.ensure_future(read())
        await asyncio.sleep(0.05)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled"
        except ApiError as exc:
            return f"api error {exc.status}"
        return "finished"

    assert asyncio.run(run()) == "cancelled"


# --- body read timeout: a real server ------------------------------------------------------------


@pytest.mark.parametrize("sent", [3, 200 * 1024], ids=["3-bytes", "200KiB-spooled"])
def test_a_stalled_record_upload_is_answered_408_and_leaves_nothing(
    make_server: Callable[..., ServerProcess], sent: int
) -> None:
    proc = make_server(env={"OPENKVS_BODY_TIMEOUT": f"{STALL_TIMEOUT:g}s"})
    with owner_client(proc) as client:
        sid = create_store(client, unique_name())["id"]
        path = record_url(sid, "stalled")
        started = time.monotonic()
        sock = start_stalled(proc, "PUT", path, MiB, b"s" * sent, Content_Type="text/plain")
        # Meanwhile the server goes on: another connection is answered at once, and repeatedly.
        during = [timed_get(client, "/v2/users/me") for _ in range(3)]
        assert max(during) < 1.0, during
        response = read_answer(sock)
        took = time.monotonic() - started
        error = assert_error(response, 408, "request-timeout")
        assert f"{STALL_TIMEOUT:g} seconds" in error["message"]
        assert STALL_TIMEOUT * 0.9 < took < STALL_TIMEOUT + 20, took
        assert_error(client.get(path), 404, "record-not-found")
        assert leftovers(proc) == []
        assert timed_get(client, "/v2/users/me") < 1.0


@pytest.mark.parametrize("method", ["POST", "PUT"], ids=["store-create", "store-update"])
def test_a_stalled_store_json_body_is_answered_408(
    make_server: Callable[..., ServerProcess], method: str
) -> None:
    proc = make_server(("--body-timeout", f"{STALL_TIMEOUT:g}s"))
    with owner_client(proc) as client:
        store = create_store(client, unique_name())
        before = client.get(STORES).json()["data"]["total"]
        path = STORES if method == "POST" else f"{STORES}/{store['id']}"
        name = unique_name("never")
        sent = b'{"name": "' + name.encode()
        sock = start_stalled(proc, method, path, 1000, sent, Content_Type="application/json")
        assert timed_get(client, "/v2/users/me") < 1.0
        assert_error(read_answer(sock), 408, "request-timeout")
        assert client.get(STORES).json()["data"]["total"] == before
        assert client.get(f"{STORES}/{store['id']}").json()["data"]["name"] == store["name"]
        assert_error(client.get(f"{STORES}/tester~{name}"), 404)


# --- the inflation bound -------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate"])
def test_a_compression_bomb_is_refused_413_and_nothing_is_stored(
    http: httpx.Client, server: ServerProcess, encoding: str
) -> None:
    sid = create_store(http, unique_name())["id"]
    packed = bomb(encoding)
    assert len(packed) <= 1.1 * MiB
    response = http.put(
        record_url(sid, "bomb"),
        content=packed,
        headers={"Content-Type": "text/plain", "Content-Encoding": encoding},
    )
    error = assert_error(response, 413, "record-too-large")
    assert "1000:1" in error["message"], error
    assert_error(http.get(record_url(sid, "bomb")), 404, "record-not-found")
    assert key_names(http, sid) == []
    assert leftovers(server) == []


def test_a_chunked_bomb_is_refused_as_it_arrives(http: httpx.Client) -> None:
    """Without a Content-Length the bound holds all the same (checked as the bytes come)."""
    sid = create_store(http, unique_name())["id"]
    packed = bomb("gzip")

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(packed), 64 * 1024):
            yield packed[start : start + 64 * 1024]

    response = http.put(
        record_url(sid, "bomb"),
        content=pieces(),
        headers={"Content-Type": "text/plain", "Content-Encoding": "gzip"},
    )
    assert_error(response, 413, "record-too-large")
    assert key_names(http, sid) == []


def put_gzip_refused(proc: ServerProcess, packed: bytes) -> httpx.Response:
    """PUT `packed` as a gzip-encoded record into a new store of `proc`; the answer, once it is
    checked that nothing was stored."""
    with owner_client(proc) as client:
        sid = create_store(client, unique_name())["id"]
        response = client.put(
            record_url(sid, "k"),
            content=packed,
            headers={"Content-Type": "text/plain", "Content-Encoding": "gzip"},
        )
        assert key_names(client, sid) == []
    return response


def test_max_inflation_is_a_setting(make_server: Callable[..., ServerProcess]) -> None:
    proc = make_server(("--max-inflation", "10"))
    text = words_text(4, 800_000)
    packed = gzip.compress(text)
    assert 10 < len(text) / len(packed) < 100 and len(text) > len(packed) * 10 + MiB
    error = assert_error(put_gzip_refused(proc, packed), 413, "record-too-large")
    assert "10:1" in error["message"], error


def test_the_decoded_size_is_bounded_by_max_record_size(
    make_server: Callable[..., ServerProcess],
) -> None:
    proc = make_server(("--max-record-size", "2MiB"))
    text = words_text(300, 400_000)
    packed = gzip.compress(text)
    assert len(packed) < 2 * MiB < len(text) < len(packed) * 100
    error = assert_error(put_gzip_refused(proc, packed), 413, "record-too-large")
    assert str(2 * MiB) in error["message"], error


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate"])
def test_compressible_bodies_under_the_bound_store_and_read_back_byte_for_byte(
    http: httpx.Client, encoding: str
) -> None:
    sid = create_store(http, unique_name())["id"]
    text = words_text(16, 800_000)  # 5.6 MB, about 8.5:1
    spaces = b" " * MiB  # ~1000:1, but within the 1 MiB allowance
    for key, data in (("text", text), ("spaces", spaces)):
        packed = {
            "gzip": gzip.compress,
            "br": lambda d: brotli.compress(d, quality=5),
            "deflate": zlib.compress,
        }[encoding](data)
        put_record(http, sid, key, packed, "text/plain", **{"Content-Encoding": encoding})
        response, raw = raw_request(
            http, "GET", record_url(sid, key), headers={"Accept-Encoding": "identity"}
        )
        assert response.status_code == 200 and "content-encoding" not in response.headers
        assert hashlib.md5(raw).digest() == hashlib.md5(data).digest(), key
        response, raw = raw_request(
            http, "GET", record_url(sid, key), headers={"Accept-Encoding": encoding}
        )
        assert response.headers["content-encoding"] == encoding and raw == packed


def test_gzip_members_that_end_as_the_output_fills_up_decode_exactly() -> None:
    """A sibling found on the way: a member whose output is a multiple of the decoder's piece
    size left its follower twice in the input (CPython keeps it in unconsumed_tail as well as
    unused_data), so such bodies were refused as corrupt, or could decode to extra bytes."""
    segment = edge_segment()
    packed = gzip_members(segment, 5)
    for size in (1000, 4096, 64 * 1024, len(packed)):
        decoder = make_decoder("gzip")
        out = bytearray()
        for start in range(0, len(packed), size):
            for piece in decoder.feed(packed[start : start + size]):
                out += piece
        for piece in decoder.end():
            out += piece
        assert out == segment * 5, size


# --- decoding off the event loop -----------------------------------------------------------------


def test_reading_an_encoded_record_never_holds_the_event_loop() -> None:
    """However its reader consumes it (the ZIP download's bridge takes piece after piece), the
    decoding of a record does not keep the loop from other work for long."""
    packed = gzip_members(bytes(MiB), 1024)  # 1 GiB decoded
    record = RecordMeta("k", len(packed), "text/plain", "gzip", '"x"', 0)

    async def read() -> int:
        total = 0
        async for piece in decoded_chunks(record, BytesBodyStream(packed)):
            total += len(piece)
        return total

    gaps: list[float] = []
    total = asyncio.run(while_ticking(read(), gaps))
    worst_gap = max(gaps)
    assert total == 1024 * MiB
    assert worst_gap < 0.5, f"the event loop waited {worst_gap:.2f} s"


def test_other_users_are_answered_while_the_worst_allowed_body_is_decoded(
    http: httpx.Client, server: ServerProcess, other_user: str
) -> None:
    """The liveness check: the most compressed body the bound allows, ~900 MiB decoded from
    ~10 MiB, uploaded and then read back decoded; another user's requests answer meanwhile."""
    segment = edge_segment()
    member = gzip.compress(segment, 6)
    assert 900 < len(segment) / len(member) < 1000  # just under the 1000:1 bound
    count = 900
    packed = member * count
    sid = create_store(http, unique_name())["id"]
    with Pinger(server.url, other_user) as pinger:
        time.sleep(0.2)
        put_record(http, sid, "edge", packed, "text/plain", **{"Content-Encoding": "gzip"})
        during_upload = len(pinger.latencies)
        connection = HTTPConnection("127.0.0.1", server.port, timeout=120)
        try:
            connection.request(
                "GET",
                record_url(sid, "edge"),
                headers={"Authorization": f"Bearer {server.token}"},  # no Accept-Encoding
            )
            answer = connection.getresponse()
            assert answer.status == 200 and answer.getheader("content-encoding") is None
            received = 0
            first = b""
            while chunk := answer.read(4 * MiB):
                first = first or chunk[: len(segment)]
                received += len(chunk)
        finally:
            connection.close()
    assert received == count * MiB and first == segment
    latencies = pinger.latencies
    assert during_upload >= 2 and len(latencies) >= during_upload + 5, latencies
    assert max(latencies) < 1.0, f"slowest /v2/users/me: {max(latencies):.2f} s"


@pytest.mark.embedded_only("needs record files it can evict from the page cache")
def test_parallel_zip_downloads_do_not_starve_file_reads_and_writes(
    make_server: Callable[..., ServerProcess],
) -> None:
    """A sibling found on the way: stream-zip zipped in the default executor, each step holding
    a thread until the event loop handed it the members' bytes, and reading those (files not in
    the page cache) needed that executor too. Thirty parallel downloads deadlocked the server's
    file reads and fsyncs for everyone."""
    downloads = 30
    proc = make_server()
    record = bytes(100 * 1024)  # a file, not a row (over the inline threshold)
    with owner_client(proc) as client:
        stores = [create_store(client, unique_name())["id"] for _ in range(downloads)]
        for sid in stores:
            for index in range(6):
                put_record(client, sid, f"k{index}", record)
    for path in (proc.data_dir / "blobs").rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)

    def download(sid: str) -> int:
        with owner_client(proc) as client:
            client.timeout = httpx.Timeout(30)
            response = client.get(f"{STORES}/{sid}/records")
            assert response.status_code == 200, response.text
            with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
                assert all(archive.read(f"k{index}") == record for index in range(6))
            return 1

    with ThreadPoolExecutor(downloads) as pool:
        assert sum(pool.map(download, stores)) == downloads
    with owner_client(proc) as client:  # a file write (its fsync) and read still go through
        client.timeout = httpx.Timeout(30)
        put_record(client, stores[0], "after", record)
        assert client.get(record_url(stores[0], "after")).content == record


def test_a_json_body_of_too_many_values_is_refused_before_it_is_parsed(
    http: httpx.Client,
) -> None:
    """Three million empty arrays in 9 MiB: half a second of parsing with the GIL held, for a
    body no store accepts (a schema has at most 64 KiB); refused after a count instead."""
    before = http.get(STORES).json()["data"]["total"]
    body = b'{"x": [' + b"[]," * (3 * MiB - 16) + b"[]]}"
    assert 8.9 * MiB < len(body) <= 9 * MiB
    response = http.post(STORES, content=body, headers={"Content-Type": "application/json"})
    error = assert_error(response, 413, "request-too-large")
    assert "100000 values" in error["message"], error
    packed = gzip.compress(body)  # the same once decoded
    response = http.post(
        STORES,
        content=packed,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert_error(response, 413, "request-too-large")
    assert http.get(STORES).json()["data"]["total"] == before
    # Below the count, such a body is an ordinary one (unknown fields are ignored).
    body = b'{"x": [' + b"[]," * 45_000 + b"[]]}"  # counted 90,001
    response = http.post(STORES, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text


def test_other_users_are_answered_while_the_largest_json_body_is_parsed(
    http: httpx.Client, server: ServerProcess, other_user: str
) -> None:
    """The costliest store body allowed: 9 MiB, just under the value count, in long strings;
    parsed in a thread while another user's requests answer."""
    value = b'"' + b"v" * 90 + b'"'
    body = b'{"x": [' + b",".join([value] * 99_000) + b"]}"
    assert 8.5 * MiB < len(body) <= 9 * MiB
    with Pinger(server.url, other_user) as pinger:
        time.sleep(0.2)
        for _ in range(3):
            response = http.post(STORES, content=body, headers={"Content-Type": "application/json"})
            assert response.status_code == 201, response.text
    latencies = pinger.latencies
    assert len(latencies) >= 5, latencies
    assert max(latencies) < 1.0, f"slowest /v2/users/me: {max(latencies):.2f} s"
