"""Reading a request body (http/context.py): it ends with its Content-Length's last byte, and the
connection it came on goes on serving requests."""

from __future__ import annotations

import asyncio
from http.client import HTTPConnection
from typing import Any

import httpx

from openkvs.http.context import ClientDisconnected, Ctx
from tests.http_helpers import record_url


def read(headers: list[tuple[bytes, bytes]], messages: list[dict[str, Any]]) -> tuple[Ctx, Any]:
    """Stream a body from `messages`; a receive past them fails the test. Returns the Ctx and
    what was read (or the exception raised), with the number of receive calls made."""
    calls = 0

    async def receive() -> dict[str, Any]:
        nonlocal calls
        assert calls < len(messages), "receive() called after the body had ended"
        calls += 1
        return messages[calls - 1]

    scope = {"method": "PUT", "headers": headers, "query_string": b""}
    ctx = Ctx(scope, receive, None, "id", None)

    async def collect() -> Any:
        try:
            return [chunk async for chunk in ctx.stream_body()]
        except ClientDisconnected as exc:
            return exc

    return ctx, (asyncio.run(collect()), calls)


def body(data: bytes, more: bool) -> dict[str, Any]:
    return {"type": "http.request", "body": data, "more_body": more}


def test_a_body_ends_with_its_declared_length_without_waiting_for_the_end_message() -> None:
    ctx, (chunks, calls) = read([(b"content-length", b"5")], [body(b"hello", True)])
    assert (chunks, calls, ctx.body_done, ctx.has_unread_body()) == ([b"hello"], 1, True, False)

    ctx, (chunks, calls) = read(
        [(b"content-length", b" 6 ")], [body(b"abc", True), body(b"def", True)]
    )
    assert (chunks, calls, ctx.body_done) == ([b"abc", b"def"], 2, True)


def test_an_empty_declared_body_is_not_read_at_all() -> None:
    ctx, (chunks, calls) = read([(b"content-length", b"0")], [])
    assert (chunks, calls, ctx.body_done) == ([], 0, True)


def test_a_body_without_a_usable_length_is_read_to_its_end_message() -> None:
    for headers in (
        [(b"transfer-encoding", b"chunked")],
        [(b"content-length", b"3"), (b"transfer-encoding", b"chunked")],
        [(b"content-length", b"x")],
    ):
        ctx, (chunks, calls) = read(headers, [body(b"abc", True), body(b"", False)])
        assert (chunks, calls, ctx.body_done) == ([b"abc"], 2, True), headers


def test_a_client_gone_before_its_declared_length_is_a_disconnect() -> None:
    ctx, (outcome, calls) = read(
        [(b"content-length", b"10")], [body(b"abc", True), {"type": "http.disconnect"}]
    )
    assert isinstance(outcome, ClientDisconnected) and calls == 2 and not ctx.body_done


def test_one_connection_serves_writes_and_reads_in_turn(
    http: httpx.Client, store: dict[str, Any], token: str
) -> None:
    """A PUT whose body ends at its Content-Length leaves the connection usable: every answer
    comes on the same socket, and each write is read back."""
    url = http.base_url
    connection = HTTPConnection(url.host, url.port, timeout=30)
    auth = {"Authorization": f"Bearer {token}"}
    first_socket = None
    try:
        for round_ in range(5):
            data = bytes([round_]) * (1000 + round_)
            path = record_url(str(store["id"]), f"conn-{round_}")
            connection.request("PUT", path, body=data, headers=auth)
            answer = connection.getresponse()
            assert (answer.status, answer.read(), answer.will_close) == (201, b"{}", False)
            first_socket = first_socket or connection.sock
            assert connection.sock is first_socket  # http.client reconnects if it was closed
            connection.request("GET", path, headers=auth)
            answer = connection.getresponse()
            assert (answer.status, answer.read(), answer.will_close) == (200, data, False)
            assert connection.sock is first_socket
    finally:
        connection.close()
