"""One request: parsed headers and query, the caller, the storage, and helpers to answer it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import orjson

from openkvs.core.errors import ApiError
from openkvs.core.models import User
from openkvs.core.storage import Backend
from openkvs.http.cors import CORS_HEADERS

Header = tuple[bytes, bytes]
Headers = list[Header]
JSON_TYPE = (b"content-type", b"application/json; charset=utf-8")
DEFAULT_BODY_TIMEOUT = 60.0
UNROUTED = "unrouted"  # the route of a request answered before one was chosen (a 401, a 404)
# After an error answered before the request body was read: how much of it is read and dropped
# so that the client, still sending, gets to read the answer (Ctx.discard_body).
DISCARD_LIMIT = 64 * 1024 * 1024
DISCARD_SECONDS = 10.0


class ClientDisconnected(Exception):
    pass


class Ctx:
    """What a view needs of the ASGI request, parsed once, and the storage it is served from."""

    __slots__ = (
        "answer_body",
        "backend",
        "body_done",
        "body_timeout",
        "bytes_in",
        "bytes_out",
        "extra_headers",
        "headers",
        "memo_generation",
        "memo_key",
        "method",
        "params",
        "query",
        "receive",
        "request_id",
        "route",
        "scope",
        "send",
        "sent_headers",
        "started",
        "status",
        "user",
    )

    def __init__(
        self,
        scope: dict[str, Any],
        receive: Any,
        send: Any,
        request_id: str,
        backend: Backend,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
    ) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.backend = backend
        self.method: str = scope["method"]
        self.headers: dict[str, str] = {
            k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
        }
        query = scope["query_string"]
        self.query: dict[str, str] = (
            dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True)) if query else {}
        )
        self.params: dict[str, str] = {}
        self.user: User | None = None
        self.started = False
        self.extra_headers: Headers = []
        self.request_id = request_id
        self.status = 0
        self.body_done = False
        # Seconds the request body may send nothing before it is cut off (0: no limit).
        self.body_timeout = body_timeout
        # For the answer memo (http/answer_memo.py): the request's key there, if its answer
        # may be kept, and the changes seen when it came; the headers sent; the whole body of
        # a 200 sent at once.
        self.memo_key: bytes | None = None
        self.memo_generation = 0
        self.sent_headers: Headers = []
        self.answer_body: bytes | None = None
        # For /metrics and the log: the route template that took the request (never its store
        # id or key), and the body bytes that came in and went out.
        self.route = UNROUTED
        self.bytes_in = 0
        self.bytes_out = 0

    async def start(self, status: int, headers: Headers) -> None:
        self.started = True
        self.status = status
        self.sent_headers = headers + CORS_HEADERS + self.extra_headers
        await self.send(
            {"type": "http.response.start", "status": status, "headers": self.sent_headers}
        )

    async def body(self, data: bytes, more: bool = False) -> None:
        self.bytes_out += len(data)
        await self.send({"type": "http.response.body", "body": data, "more_body": more})

    async def stream(self, chunks: AsyncIterable[bytes]) -> None:
        """Send `chunks` as the rest of a started response, then end it; raises
        ClientDisconnected, and reads no further, once the client has gone away.

        Granian takes body messages for a closed connection without a word, and without a turn
        of the event loop, so a long stream (a large record, a ZIP) would otherwise be read and
        sent to the end for nobody. From the first chunk on, a watcher waits for the disconnect
        message, and every chunk gives it a turn."""
        watcher: asyncio.Task[None] | None = None
        try:
            async for chunk in chunks:
                if watcher is None:
                    watcher = asyncio.ensure_future(self._disconnect())
                elif watcher.done() and watcher.exception() is None:
                    raise ClientDisconnected()
                await self.body(chunk, more=True)
                await asyncio.sleep(0)
            await self.body(b"")
        finally:
            if watcher is not None:
                watcher.cancel()

    async def _disconnect(self) -> None:
        """Returns when the client has gone away. If `receive` fails instead, the stream goes on
        unwatched: only a disconnect the server reports stops it."""
        while (await self.receive())["type"] != "http.disconnect":
            pass

    async def json(self, status: int, payload: Any, headers: Headers | None = None) -> None:
        data = orjson.dumps(payload)
        out = [JSON_TYPE, (b"content-length", str(len(data)).encode())]
        if headers:
            out.extend(headers)
        await self.start(status, out)
        await self.body(b"" if self.method == "HEAD" else data)

    async def empty(self, status: int, headers: Headers | None = None) -> None:
        await self.start(status, headers or [])
        await self.body(b"")

    async def error(self, err: ApiError) -> None:
        headers = [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
        if err.status >= 500:  # behaviour.md#http: a 5xx names the request, as its log line does
            headers.append((b"x-request-id", self.request_id.encode()))
        await self.json(err.status, err.body(), headers)

    async def answer_error(self, err: ApiError) -> None:
        """The error envelope, unless an answer has begun; then the rest of the body is read."""
        if self.started:
            return
        await self.error(err)
        if self.has_unread_body():
            await self.discard_body(DISCARD_LIMIT, DISCARD_SECONDS)

    async def stream_body(self) -> AsyncIterator[bytes]:
        """The request body as it arrives; raises ClientDisconnected if the client goes away, and
        a 408 `request-timeout` if it sends nothing for `body_timeout` seconds.

        With a Content-Length, the body ends with its last byte: Granian marks even a body that
        came whole as `more_body`, and the message that says it ended would cost one more trip
        through its runtime and the event loop (docs/performance.md, "Writes")."""
        left = self._declared_length()
        if left == 0:
            self.body_done = True
            return
        timeout = self.body_timeout
        while True:
            try:
                message = await receive_within(self.receive, timeout)
            except ApiError:
                self.body_done = True  # the client is cut off: nothing more is read
                raise
            if message["type"] == "http.disconnect":
                raise ClientDisconnected()
            chunk = message.get("body", b"")
            left -= len(chunk)
            self.bytes_in += len(chunk)
            if not message.get("more_body", False) or left == 0:
                self.body_done = True
            if chunk:
                yield chunk
            if self.body_done:
                return

    def _declared_length(self) -> int:
        """The Content-Length of a body without Transfer-Encoding, else -1 (read to the end)."""
        raw = self.headers.get("content-length")
        if raw is None or "transfer-encoding" in self.headers:
            return -1
        raw = raw.strip()
        return int(raw) if raw.isascii() and raw.isdigit() else -1

    def has_unread_body(self) -> bool:
        if self.body_done:
            return False
        if "transfer-encoding" in self.headers:
            return True
        return "content-length" in self.headers and self._declared_length() != 0

    async def discard_body(self, limit: int, seconds: float) -> None:
        """Read and drop what is left of the request body after an early answer.

        A client such as httpx writes the whole body before it reads the answer; if the server
        closed the connection with the body unread, the kernel would reset it and the client
        would see a dropped connection instead of the answer (a 413, say). Bounded in bytes and
        time: a client that stops sending, or sends more than `limit`, is cut off.
        """
        total = 0
        try:
            async with asyncio.timeout(seconds):
                async for chunk in self.stream_body():
                    total += len(chunk)
                    if total > limit:
                        return
        except (TimeoutError, ClientDisconnected, ApiError):  # ApiError: the body timed out
            return

    async def read_body(self, limit: int) -> bytes:
        parts = []
        total = 0
        async for chunk in self.stream_body():
            total += len(chunk)
            if total > limit:
                raise request_too_large(limit, total)
            parts.append(chunk)
        return b"".join(parts)

    def content_length(self) -> int | None:
        raw = self.headers.get("content-length")
        if raw is None:
            return None
        if not raw.strip().isdigit():
            raise ApiError(400, "invalid-request", "Content-Length is not a number.")
        return int(raw)


class _Stalls:
    """Ends waits for request body bytes that pass their deadline. One timer for the event
    loop, ticking every TICK seconds while any body is awaited: a receive costs two dict
    operations, not a timer of its own (the 1 KiB PUT is one receive)."""

    TICK = 0.25

    def __init__(self) -> None:
        self.deadlines: dict[asyncio.Task[Any], float] = {}  # tasks awaiting body bytes
        self.expired: set[asyncio.Task[Any]] = set()  # cancelled by the timer, not yet told
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ticking = False

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.ticking = True
        loop.call_later(self.TICK, self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self.loop:  # a newer event loop took over (tests run several)
            return
        if not self.deadlines:
            self.ticking = False
            return
        now = loop.time()
        for task, deadline in self.deadlines.items():
            if now >= deadline and task not in self.expired:
                self.expired.add(task)
                task.cancel()
        loop.call_later(self.TICK, self._tick, loop)


_stalls = _Stalls()


async def receive_within(receive: Any, timeout: float) -> dict[str, Any]:
    """The next message from an ASGI `receive`; a 408 `request-timeout` if none comes within
    `timeout` seconds (0: no limit)."""
    if timeout <= 0:
        message: dict[str, Any] = await receive()
        return message
    task = asyncio.current_task()
    assert task is not None
    cancelling = task.cancelling()
    loop = asyncio.get_running_loop()
    _stalls.deadlines[task] = loop.time() + timeout
    if not _stalls.ticking or _stalls.loop is not loop:
        _stalls.start(loop)
    try:
        message = await receive()
    except asyncio.CancelledError:
        if task in _stalls.expired:
            _stalls.expired.discard(task)
            if task.uncancel() <= cancelling:  # no other cancellation is pending
                raise request_timeout(timeout) from None
        raise
    finally:
        del _stalls.deadlines[task]
    return message


def request_timeout(seconds: float) -> ApiError:
    return ApiError(
        408,
        "request-timeout",
        f"The request body sent nothing for {seconds:g} seconds; the request was ended.",
    )


def request_too_large(limit: int, actual: int | None = None) -> ApiError:
    tail = f", actual length: {actual} bytes" if actual is not None else ""
    return ApiError(
        413, "request-too-large", f"The POST payload is too large (limit: {limit} bytes{tail})."
    )
