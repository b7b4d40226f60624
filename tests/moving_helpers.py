"""Shared by the tests of `openkvs import`, `export` and `copy` (docs/moving-data.md)."""

from __future__ import annotations

import gzip
import random

from tests.cli_process import openkvs
from tests.http_helpers import STORES, create_store, list_key_sizes, owner_client, put_record
from tests.server_process import ServerProcess

# Every character a key may have (docs/behaviour.md#records).
ODD_KEY = "AZaz09!-_.'()"
# What each record's body is, and how it is stored: one of each kind a user has.
KINDS: dict[str, tuple[bytes, str, str | None]] = {
    "INPUT": (b'{"startUrls": [{"url": "http://example.com"}]}', "application/json", None),
    "page.html": (b"<html><body>\xc3\xa9t\xc3\xa9</body></html>", "text/html; charset=utf-8", None),
    "notes": ("caf\u00e9 \u2615\n".encode(), "text/plain; charset=utf-8", None),
    "screenshot": (random.Random(1).randbytes(300_000), "image/png", None),
    "empty": (b"", "application/octet-stream", None),
    ODD_KEY: (b"odd key", "text/plain", None),
    "zipped": (
        gzip.compress(b'{"items": [' + b'"stored gzip-encoded", ' * 99 + b'"end"]}'),
        "application/json",
        "gzip",
    ),
}


def fill(server: ServerProcess, name: str | None, records: dict[str, bytes] | None = None) -> str:
    """A store on `server` (named `name`, or unnamed) with KINDS, or with `records` as binary."""
    with owner_client(server) as client:
        store_id: str = create_store(client, name)["id"]
        if records is None:
            for key, (body, content_type, encoding) in KINDS.items():
                extra = {"Content-Encoding": encoding} if encoding else {}
                put_record(client, store_id, key, body, content_type, **extra)
        else:
            for key, body in records.items():
                put_record(client, store_id, key, body)
    return store_id


def store_id_by_name(server: ServerProcess, name: str) -> str:
    with owner_client(server) as client:
        response = client.get(f"{STORES}", params={"limit": 1000})
        for item in response.json()["data"]["items"]:
            if item["name"] == name:
                return str(item["id"])
    raise AssertionError(f"no store {name} on {server.url}")


def snapshot(server: ServerProcess, store_id: str) -> dict[str, tuple[str, str | None, str]]:
    """key -> (content type, stored encoding, ETag: the MD5 of the stored bytes)."""
    seen: dict[str, tuple[str, str | None, str]] = {}
    with owner_client(server) as client:
        for key in list_key_sizes(client, store_id):
            response = client.head(
                f"{STORES}/{store_id}/records/{key}", headers={"Accept-Encoding": "gzip, br"}
            )
            assert response.status_code == 200, key
            headers = response.headers
            seen[key] = (
                headers["content-type"],
                headers.get("content-encoding"),
                headers["etag"],
            )
    return seen


def body_of(server: ServerProcess, store_id: str, key: str) -> bytes:
    """The record decoded, as a client that asks for no encoding gets it."""
    with owner_client(server) as client:
        response = client.get(
            f"{STORES}/{store_id}/records/{key}", headers={"Accept-Encoding": "identity"}
        )
        assert response.status_code == 200, key
        return response.content


def server_args(server: ServerProcess, flag: str = "") -> list[str]:
    """--url/--token (or --from/--from-token, --to/--to-token with `flag`)."""
    if flag:
        return [f"--{flag}", server.url, f"--{flag}-token", server.token]
    return ["--url", server.url, "--token", server.token]


def copy(source: ServerProcess, dest: ServerProcess, *args: str) -> tuple[int, str, str]:
    done = openkvs("copy", *server_args(source, "from"), *server_args(dest, "to"), *args)
    return done.returncode, done.stdout, done.stderr
