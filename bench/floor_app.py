"""The floor: the least a Python ASGI app can do per request on openkvs's own HTTP stack.

`python -m bench.floor_app --port N` serves, through `openkvs.serving.serve` (Granian, uvloop,
the same settings as `openkvs serve`), an app with no storage, no auth and no routing: GET
/r/KEY answers the bytes last PUT there, PUT reads the body (up to its Content-Length, where
openkvs too stops) and answers 201 `{}`. Its figures show how fast any Python server can be on
this machine, so they bound what openkvs can reach. It keeps the bodies it is sent, except under
the keys of the PUT workloads W2 and W4, which write to ever new keys: those bodies are read and
dropped.
"""

from __future__ import annotations

import argparse
import hashlib
from typing import Any

from openkvs.serving import check_port_free, serve

DROPPED_PREFIXES = ("w2-", "w4-")


class FloorApp:
    def __init__(self) -> None:
        self.records: dict[str, tuple[bytes, bytes]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = "startup" if message["type"] == "lifespan.startup" else "shutdown"
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        key = scope["path"].removeprefix("/r/")
        if scope["method"] == "PUT":
            chunks = []
            left = _content_length(scope)
            while left != 0:
                message = await receive()
                chunk = message.get("body", b"")
                chunks.append(chunk)
                left -= len(chunk)
                if not message.get("more_body", False):
                    break
            if not key.startswith(DROPPED_PREFIXES):
                body = b"".join(chunks)
                etag = f'"{hashlib.md5(body).hexdigest()}"'.encode()
                self.records[key] = (body, etag)
            await _answer(
                send, 201, b"application/json", b"{}", [(b"location", b"/r/" + key.encode())]
            )
            return
        found = self.records.get(key)
        if found is None:
            await _answer(send, 404, b"application/json", b'{"error":{}}', [])
            return
        body, etag = found
        await _answer(send, 200, b"application/octet-stream", body, [(b"etag", etag)])


def _content_length(scope: dict[str, Any]) -> int:
    """The body's length, so that it ends with its last byte as in openkvs; -1 if unknown."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return -1


async def _answer(send: Any, status: int, kind: bytes, body: bytes, extra: list[Any]) -> None:
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    check_port_free(args.host, args.port)
    serve(FloorApp(), args.host, args.port)


if __name__ == "__main__":
    main()
