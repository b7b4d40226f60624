"""An OpenKvs app called in process, as Granian would call it: for tests that compare the fast
paths (plain GET, plain PUT) with the general path, request by request."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from openkvs.app import OpenKvs
from openkvs.backends.factory import open_backend
from openkvs.config import Settings
from openkvs.core.ids import hash_token

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]


class App:
    """One OpenKvs app on a fresh embedded store, with its own event loop."""

    def __init__(self, data_dir: Path, **settings: Any) -> None:
        configured = Settings(data_dir=data_dir, **settings)
        self.app = OpenKvs(configured, open_backend(configured))
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def add_user(self, username: str, token: str) -> None:
        accounts = self.app.backend.accounts
        user = self.run(accounts.create_user(username))
        self.run(accounts.add_token(user.id, hash_token(token), "test"))

    def request(
        self,
        method: str,
        path: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes = b"",
        query: bytes = b"",
        receive: Receive | None = None,
    ) -> list[Message]:
        """The messages the app sends for one request; its body comes whole in one message,
        unless `receive` says otherwise."""
        sent: list[Message] = []

        async def whole_body() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        request = scope(method, path, headers, query)
        self.run(self.app(request, receive or whole_body, send))
        return sent


def scope(
    method: str, path: str, headers: list[tuple[bytes, bytes]], query: bytes = b""
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode("latin-1"),
        "query_string": query,
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8010),
        "root_path": "",
    }


def sent_at_the_stop(
    app: App, request: dict[str, Any], waited: list[str], key: str
) -> list[Message]:
    """What the app sends for `request` when the stop begins while the request waits for storage
    (the test's stand-in for storage appends `key` to `waited`, then waits for ever); the app's
    stop must be short for this to return soon."""
    kvs = app.app
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"body", "more_body": False}

    async def stopped_while_waiting() -> None:
        running = asyncio.ensure_future(kvs(request, receive, send))
        await asyncio.sleep(0.01)
        assert waited == [key] and not sent
        kvs.stop.begin()
        await asyncio.wait_for(running, 5)

    app.run(stopped_while_waiting())
    return sent
