"""Shared helpers for the raw-HTTP tests: error envelope checks, signatures, raw bodies, polling."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import string
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.server_process import BackendConfig, ServerProcess, backend_config

T = TypeVar("T")

TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ID_RE = re.compile(r"^[a-zA-Z0-9]{17}$")
STATS_FIELDS = (
    "readCount",
    "writeCount",
    "deleteCount",
    "listCount",
    "storageBytes",
    "s3StorageBytes",
    "recordCount",  # an openkvs addition
)
STORES = "/v2/key-value-stores"

# --- signatures: Apify's pre-signed URL scheme -------------------------------------------------

B62 = string.digits + string.ascii_letters


def hmac_b62(secret: str, msg: str) -> str:
    n = int(hmac.new(secret.encode(), msg.encode(), hashlib.sha256).hexdigest()[:30], 16)
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = B62[r] + out
    return out or "0"


def storage_sig(
    store_id: str,
    secret: str,
    expires_in_ms: int | None = None,
    version: int = 0,
    padded: bool = False,
) -> str:
    exp = int(time.time() * 1000) + expires_in_ms if expires_in_ms else 0
    raw = f"{version}.{exp}.{hmac_b62(secret, f'{version}.{exp}.{store_id}')}"
    sig = base64.urlsafe_b64encode(raw.encode()).decode()
    return sig if padded else sig.rstrip("=")


def record_sig(secret: str, key: str) -> str:
    return hmac_b62(secret, key)


def decode_storage_sig(sig: str) -> tuple[str, int, str]:
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)).decode()
    version, exp, mac = raw.split(".", 2)
    return version, int(exp), mac


# --- responses -----------------------------------------------------------------------------------


def assert_error(
    response: httpx.Response, status: int, error_type: str | tuple[str, ...] | None = None
) -> dict[str, Any]:
    """Status plus the exact Apify envelope {"error": {"type", "message"[, "data"]}}."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers.get("content-type", "").startswith("application/json"), (
        response.headers.get("content-type"),
        response.text[:500],
    )
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict), body
    assert {"type", "message"} <= set(error) <= {"type", "message", "data"}, error
    assert isinstance(error["type"], str) and error["type"], error
    assert isinstance(error["message"], str) and error["message"], error
    assert "Traceback" not in response.text
    if isinstance(error_type, str):
        assert error["type"] == error_type, error
    elif error_type is not None:
        assert error["type"] in error_type, error
    return error


def raw_request(
    client: httpx.Client, method: str, url: str, **kwargs: Any
) -> tuple[httpx.Response, bytes]:
    """The response and its body exactly as sent on the wire (no client-side decoding)."""
    with client.stream(method, url, **kwargs) as response:
        body = b"".join(response.iter_raw())
    return response, body


def raw_get_without_accept_encoding(client: httpx.Client, url: str) -> tuple[httpx.Response, bytes]:
    request = client.build_request("GET", url)
    del request.headers["Accept-Encoding"]
    response = client.send(request, stream=True)
    try:
        body = b"".join(response.iter_raw())
    finally:
        response.close()
    return response, body


def poll(fetch: Callable[[], T], done: Callable[[T], bool], timeout: float = 2.0) -> T:
    """Fetch until done() holds or the timeout passes; returns the last value."""
    deadline = time.monotonic() + timeout
    value = fetch()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.05)
        value = fetch()
    return value


def etag_of(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


# --- stores and records --------------------------------------------------------------------------


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def create_store(
    client: httpx.Client, name: str | None = None, general_access: str | None = None
) -> dict[str, Any]:
    params = {"name": name} if name else {}
    response = client.post(STORES, params=params)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    if general_access:
        response = client.put(f"{STORES}/{data['id']}", json={"generalAccess": general_access})
        assert response.status_code == 200, response.text
        data = response.json()["data"]
    return data


def set_access(client: httpx.Client, store_id: str, general_access: str) -> dict[str, Any]:
    response = client.put(f"{STORES}/{store_id}", json={"generalAccess": general_access})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    assert data["generalAccess"] == general_access
    return data


def record_url(store_id: str, key: str) -> str:
    return f"{STORES}/{store_id}/records/{key}"


def put_record(
    client: httpx.Client,
    store_id: str,
    key: str,
    body: bytes,
    content_type: str | None = "application/octet-stream",
    **headers: str,
) -> httpx.Response:
    all_headers = dict(headers)
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    response = client.put(record_url(store_id, key), content=body, headers=all_headers)
    assert response.status_code == 201, response.text
    return response


def list_keys(client: httpx.Client, store_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"{STORES}/{store_id}/keys", params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def key_names(client: httpx.Client, store_id: str, **params: Any) -> list[str]:
    return [item["key"] for item in list_keys(client, store_id, **params)["items"]]


def list_key_sizes(client: httpx.Client, store_id: str) -> dict[str, int]:
    """Every key of the store with its size, following the pages."""
    sizes: dict[str, int] = {}
    cursor: str | None = None
    for _ in range(100_000):
        params = {"exclusiveStartKey": cursor} if cursor else {}
        response = client.get(f"{STORES}/{store_id}/keys", params=params)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        sizes.update({item["key"]: item["size"] for item in data["items"]})
        cursor = data["nextExclusiveStartKey"]
        if cursor is None:
            return sizes
    raise AssertionError("keys listing did not end")


def get_store(client: httpx.Client, store_id: str) -> dict[str, Any]:
    response = client.get(f"{STORES}/{store_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


# --- extra servers -------------------------------------------------------------------------------


def run_server(
    data_dir: Path,
    extra_args: list[str],
    backend: str | BackendConfig = "embedded",
    scaleout_args: Sequence[str] = (),
) -> Iterator[ServerProcess]:
    """Body of a fixture: a dedicated server with special settings on a fresh store of
    `backend` (the `backend` fixture's value), stopped afterwards."""
    config = backend_config(backend)
    args = [*extra_args, *(scaleout_args if config.is_scaleout else ())]
    proc = ServerProcess(data_dir, extra_args=args, backend=config)
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def owner_client(proc: ServerProcess, timeout: float = 60.0) -> httpx.Client:
    return httpx.Client(
        base_url=proc.url, headers={"Authorization": f"Bearer {proc.token}"}, timeout=timeout
    )
