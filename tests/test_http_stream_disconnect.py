"""A long response stops when its client goes away (Ctx.stream): the server does not go on
reading a large record, or building a ZIP, for nobody.

The server's own count of bytes read (`rchar` in /proc/PID/io: files, and the object store's
sockets on the scale-out backend) shows how much it read after the client hung up."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from openkvs.http.context import ClientDisconnected, Ctx
from tests.http_helpers import STORES, put_record, record_url
from tests.server_process import ServerProcess

MiB = 1024 * 1024
# Up to some tens of MiB are read after the hang-up before the server hears of it: what the
# sockets and Granian's queue held, and what was sent while the news travelled (66 MiB at most
# seen, on a busy machine). A record read to its end is more than twice that.
RECORD_SIZE = 256 * MiB
# A ZIP is made more slowly (deflate), so less of it goes out in that time.
STORE_SIZE = 96 * MiB


def _stream(receive: Any, chunks: int) -> tuple[list[dict[str, Any]], int, BaseException | None]:
    """Ctx.stream over `chunks` numbered chunks: the messages sent, the chunks taken from the
    source, and what it raised."""
    sent: list[dict[str, Any]] = []
    taken = 0

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def source() -> AsyncIterator[bytes]:
        nonlocal taken
        for number in range(chunks):
            taken += 1
            yield str(number).encode()

    async def run() -> BaseException | None:
        scope = {"method": "GET", "headers": [], "query_string": b""}
        ctx = Ctx(scope, receive, send, "id", None)
        try:
            await ctx.stream(source())
        except ClientDisconnected as exc:
            return exc
        return None

    raised = asyncio.run(run())
    return sent, taken, raised


def test_a_stream_to_a_client_that_stays_sends_every_chunk_then_ends() -> None:
    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)  # the client neither sends nor leaves
        raise AssertionError("unreachable")

    sent, taken, raised = _stream(receive, 5)
    assert raised is None and taken == 5
    assert [m["body"] for m in sent] == [b"0", b"1", b"2", b"3", b"4", b""]
    assert [m.get("more_body", False) for m in sent] == [True] * 5 + [False]


def test_a_stream_whose_receive_fails_goes_on_to_its_end() -> None:
    """Only a disconnect the server reports stops a stream, not a watcher that broke."""

    async def receive() -> dict[str, Any]:
        raise RuntimeError("receive failed")

    sent, taken, raised = _stream(receive, 5)
    assert raised is None and taken == 5
    assert [m["body"] for m in sent] == [b"0", b"1", b"2", b"3", b"4", b""]


@pytest.mark.parametrize("first", [[], [{"type": "http.request", "body": b"", "more_body": False}]])
def test_a_stream_stops_when_the_client_goes_away(first: list[dict[str, Any]]) -> None:
    """The disconnect comes (after the end of an empty request body, or at once): the next
    chunk is not taken from the source, and the response is not ended."""
    messages = [*first, {"type": "http.disconnect"}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    sent, taken, raised = _stream(receive, 1000)
    assert isinstance(raised, ClientDisconnected)
    assert taken < 5 and len(sent) == taken - 1
    assert all(m["more_body"] for m in sent)


def _bytes_read(pid: int) -> int:
    with open(f"/proc/{pid}/io") as stats:
        for line in stats:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise AssertionError("no rchar in /proc/PID/io")


def _read_after_hanging_up(server: ServerProcess, path: str) -> int:
    """GET `path`, take its first MiB, close the socket; the bytes the server read from the
    request on, once it has stopped reading (unchanged for half a second)."""
    assert server.proc is not None
    pid = server.proc.pid
    before = _bytes_read(pid)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        request = f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.token}\r\n\r\n"
        sock.sendall(request.encode())
        received = 0
        while received < MiB:
            data = sock.recv(65536)
            assert data, "the server closed the connection first"
            received += len(data)
    last, deadline = _bytes_read(pid), time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _bytes_read(pid)
        if now == last:
            break
        last = now
    return last - before


def test_a_record_download_stops_when_the_client_goes_away(
    server: ServerProcess, http: httpx.Client, store: dict[str, Any]
) -> None:
    store_id = str(store["id"])
    put_record(http, store_id, "big", os.urandom(RECORD_SIZE))
    read = _read_after_hanging_up(server, record_url(store_id, "big"))
    assert read < RECORD_SIZE // 2, (
        f"the server read {read / MiB:.0f} MiB of a {RECORD_SIZE // MiB} MiB record"
    )
    answer = http.get(record_url(store_id, "big"))  # a whole download still works
    assert answer.status_code == 200 and len(answer.content) == RECORD_SIZE


def test_a_zip_download_stops_when_the_client_goes_away(
    server: ServerProcess, http: httpx.Client, store: dict[str, Any]
) -> None:
    store_id = str(store["id"])
    for number in range(4):
        put_record(http, store_id, f"part-{number}", os.urandom(STORE_SIZE // 4))
    read = _read_after_hanging_up(server, f"{STORES}/{store_id}/records")
    assert read < STORE_SIZE // 2, (
        f"the server read {read / MiB:.0f} MiB of a {STORE_SIZE // MiB} MiB store"
    )
    answer = http.get(record_url(store_id, "part-0"))  # the server goes on serving
    assert answer.status_code == 200 and len(answer.content) == STORE_SIZE // 4
