"""A full disk (behaviour.md#durability, #http): writes fail cleanly with 507, nothing stored is
lost, reads go on, and
writes work again once there is space.

The embedded server's data directory is on a 64 MiB tmpfs mounted for the test (its log is kept
elsewhere). The test stores some records (inline and file bodies), fills the disk through the
server with 2 MiB records until a write is refused, then fills the last bytes with a file of its
own so that not one page is free. While the disk is full:

- every refused write (large and small PUTs, overwrites, store creation, deletes) is 507 with the
  error envelope of type `insufficient-storage`, and carries a request id that the server's log also
  has (behaviour.md#http: every 5xx does); no other 5xx, no hang (every request has a deadline);
- a large PUT cannot fit and must be refused; a small one may still fit in the database;
- a refused write stores nothing (a new key stays missing, an overwritten record keeps its bytes)
  and leaves no partial upload in `tmp/`;
- reads (GET, HEAD, keys list, store) keep working, byte for byte.

Then: with a little room made for the database, deleting records through the API frees their files
(the free space grows by their size) and a write needing that space succeeds; with the filler file
gone, writes of every kind succeed again. At the end everything acknowledged reads back byte for
byte, every refused key is missing, and the server log has no 5xx other than 507.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http_helpers import record_url
from tests.reliability_process import WrappedServer
from tests.small_disk import mounted_tmpfs

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.embedded_only("fills the file system under the embedded store's data directory"),
]

KiB = 1024
MiB = 1024 * KiB
DISK_MIB = 64
FILL_SIZE = 2 * MiB
INLINE_PLUS = 64 * KiB + 1  # just over the default inline threshold: a file body
MAX_FILL = 2 * DISK_MIB // (FILL_SIZE // MiB)  # far more than fits: the disk must fill first
STORES = "/v2/key-value-stores"
TIMEOUT = 30.0  # a request that takes longer is a hang


# --- the disk and the server ----------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with mounted_tmpfs(tmp_path / "disk", DISK_MIB) as mount_point:
        yield mount_point


@pytest.fixture
def disk_server(small_disk: Path, tmp_path: Path) -> Iterator[WrappedServer]:
    server = WrappedServer(
        small_disk / "data",
        log_path=tmp_path / "server.log",
        extra_args=["--durability", "strict"],
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def fill_up(path: Path) -> int:
    """Write zeros to `path` until the file system refuses one more byte; returns the size."""
    size = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in (1 * MiB, 64 * KiB, 4 * KiB, 1):
            block = b"\0" * chunk
            while True:
                try:
                    size += os.write(fd, block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return size


# --- requests -------------------------------------------------------------------------------------


class Api:
    """The owner's client: every answer within TIMEOUT, 507s checked as they come."""

    def __init__(self, server: WrappedServer) -> None:
        self.server = server
        self.client = httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {server.token}"},
            timeout=TIMEOUT,
        )
        self.refusals = 0
        self.request_id_problems: list[str] = []

    def close(self) -> None:
        self.client.close()

    def call(self, method: str, url: str, allowed: tuple[int, ...], **kwargs: Any) -> int:
        try:
            response = self.client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            pytest.fail(f"{method} {url}: no answer in {TIMEOUT}s (hang)\n{self.log_tail()}")
        status = response.status_code
        assert status in allowed, (
            f"{method} {url}: expected one of {allowed}, got {status}: {response.text[:500]}\n"
            f"{self.log_tail()}"
        )
        if status == 507:
            self.check_refusal(method, url, response)
        return status

    def check_refusal(self, method: str, url: str, response: httpx.Response) -> None:
        self.refusals += 1
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            pytest.fail(f"{method} {url}: 507 without the error envelope: {response.text[:500]}")
        assert error.get("type") == "insufficient-storage", f"{method} {url}: {error}"
        assert isinstance(error.get("message"), str) and error["message"], error
        assert "Traceback" not in response.text, response.text
        # behaviour.md#http: a 5xx carries a request id that the log line also has.
        request_id = response.headers.get("x-request-id")
        if request_id is None:
            found = re.search(r"request id ([\w-]+)", error["message"])
            request_id = found.group(1) if found else None
        if request_id is None:
            self.request_id_problems.append(
                f"{method} {url}: 507 without a request id (no X-Request-Id header, none in the "
                f"message {error['message']!r})"
            )
        elif request_id not in self.server.log():
            self.request_id_problems.append(
                f"{method} {url}: request id {request_id} is not in the server log"
            )

    def put(self, url: str, body: bytes, allowed: tuple[int, ...]) -> int:
        return self.call(
            "PUT", url, allowed, content=body, headers={"Content-Type": "application/octet-stream"}
        )

    def log_tail(self) -> str:
        return "server log (end):\n" + self.server.log()[-4000:]


def check_reads(api: Api, store_id: str, expected: dict[str, bytes], missing: set[str]) -> None:
    """Every record reads back exactly; refused keys are missing; the keys list is exact."""
    for key, body in expected.items():
        try:
            response = api.client.get(record_url(store_id, key))
        except httpx.TimeoutException:
            pytest.fail(f"GET {key}: no answer in {TIMEOUT}s (hang)\n{api.log_tail()}")
        assert response.status_code == 200, f"GET {key}: {response.status_code} {response.text}"
        assert response.content == body, (
            f"GET {key}: {len(response.content)} bytes differ from the {len(body)} stored"
        )
    for key in sorted(missing - set(expected)):
        status = api.call("GET", record_url(store_id, key), (200, 404))
        assert status == 404, f"{key} was refused with 507 but is stored"
    head_key = next(iter(expected))
    assert api.call("HEAD", record_url(store_id, head_key), (200,)) == 200
    listed: list[str] = []
    start: str | None = None
    for _ in range(100):
        params: dict[str, Any] = {"limit": 50}
        if start:
            params["exclusiveStartKey"] = start
        response = api.client.get(f"{STORES}/{store_id}/keys", params=params)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        listed += [item["key"] for item in data["items"]]
        if not data["isTruncated"]:
            break
        start = data["nextExclusiveStartKey"]
    assert sorted(listed) == sorted(expected), "keys list differs from the records stored"
    assert api.call("GET", f"{STORES}/{store_id}", (200,)) == 200


def bad_statuses_in_log(log: str) -> list[str]:
    """Access log lines with a 5xx other than 507."""
    return [
        line for line in log.splitlines() if re.search(r'openkvs\.access: .*" 5(?!07)\d\d ', line)
    ]


# --- the test -------------------------------------------------------------------------------------


def test_full_disk_refuses_writes_with_507_and_recovers(
    backend: str, small_disk: Path, disk_server: WrappedServer
) -> None:
    rng = random.Random(507)
    data_dir = disk_server.data_dir
    api = Api(disk_server)
    expected: dict[str, bytes] = {}
    refused: set[str] = set()
    try:
        created = api.client.post(STORES, params={"name": "full-disk"})
        assert created.status_code == 201, created.text
        store_id = created.json()["data"]["id"]

        # Records stored before the disk fills: inline ones and files.
        for index, size in enumerate((0, 100, 5 * KiB, 60 * KiB, 100 * KiB, MiB, 3 * MiB)):
            key = f"before-{index}"
            expected[key] = rng.randbytes(size)
            api.put(record_url(store_id, key), expected[key], (201,))

        # Fill the disk through the server until it refuses a write.
        for index in range(MAX_FILL):
            key = f"fill-{index:03d}"
            body = rng.randbytes(FILL_SIZE)
            if api.put(record_url(store_id, key), body, (201, 507)) == 507:
                refused.add(key)
                break
            expected[key] = body
        assert refused, f"{MAX_FILL} writes of {FILL_SIZE} bytes fit on a {DISK_MIB} MiB disk"
        filled = sorted(key for key in expected if key.startswith("fill-"))

        # Not one byte left.
        filler = small_disk / "filler"
        fill_up(filler)
        assert free_bytes(small_disk) == 0, f"{free_bytes(small_disk)} bytes still free"

        # Large bodies cannot fit: refused.
        for index, size in enumerate((INLINE_PLUS, MiB, 5 * MiB)):
            key = f"full-large-{index}"
            api.put(record_url(store_id, key), rng.randbytes(size), (507,))
            refused.add(key)
        api.put(record_url(store_id, "before-5"), rng.randbytes(2 * MiB), (507,))
        # Small bodies may still fit in the database's free pages; else refused.
        for index, size in enumerate((10, 1000, 10 * KiB, 40 * KiB)):
            key = f"full-small-{index}"
            body = rng.randbytes(size)
            if api.put(record_url(store_id, key), body, (201, 507)) == 201:
                expected[key] = body
            else:
                refused.add(key)
        body = rng.randbytes(2000)
        if api.put(record_url(store_id, "before-1"), body, (201, 507)) == 201:
            expected["before-1"] = body
        api.call("POST", STORES, (201, 507), params={"name": "while-full"})
        # Reads go on.
        check_reads(api, store_id, expected, refused)
        assert not _leftovers(data_dir), f"partial uploads left in tmp/: {_leftovers(data_dir)}"

        # Deleting while full: either it works or it is refused cleanly.
        victim = filled.pop()
        if api.call("DELETE", record_url(store_id, victim), (204, 507)) == 204:
            del expected[victim]
        else:
            filled.append(victim)

        # Room for the database only (256 KiB), then deletes through the API free the files.
        os.truncate(filler, max(0, filler.stat().st_size - 256 * KiB))
        before_deletes = free_bytes(small_disk)
        victims = filled[-3:]
        for key in victims:
            api.call("DELETE", record_url(store_id, key), (204,))
            del expected[key]
        freed = free_bytes(small_disk) - before_deletes
        assert freed >= len(victims) * FILL_SIZE - 256 * KiB, (
            f"deleting {len(victims)} records of {FILL_SIZE} bytes freed only {freed} bytes "
            f"(files left behind? blobs: {_blob_count(data_dir)})"
        )
        # A write that only fits thanks to the deletes.
        key = "after-delete"
        expected[key] = rng.randbytes(len(victims) * FILL_SIZE - MiB)
        api.put(record_url(store_id, key), expected[key], (201,))

        # The filler gone and more records deleted: writes of every kind work again.
        filler.unlink()
        for key in filled[-13:-3]:
            api.call("DELETE", record_url(store_id, key), (204,))
            del expected[key]
        for index, size in enumerate((0, 50, 30 * KiB, INLINE_PLUS, 2 * MiB)):
            key = f"after-{index}"
            expected[key] = rng.randbytes(size)
            api.put(record_url(store_id, key), expected[key], (201,))
        expected["before-5"] = rng.randbytes(MiB + 7)
        api.put(record_url(store_id, "before-5"), expected["before-5"], (201,))
        api.call("POST", STORES, (201,), params={"name": "after-full"})

        check_reads(api, store_id, expected, refused)
        assert disk_server.proc is not None and disk_server.proc.poll() is None, "server died"
        assert api.refusals >= 4
        bad = bad_statuses_in_log(disk_server.log())
        assert not bad, "5xx other than 507 in the server log:\n" + "\n".join(bad[:20])
        assert not api.request_id_problems, (
            "behaviour.md#http: every 5xx carries a request id that its log line also has:\n"
            + "\n".join(api.request_id_problems)
        )
    finally:
        api.close()


def _leftovers(data_dir: Path) -> list[str]:
    with contextlib.suppress(FileNotFoundError):
        return sorted(entry.name for entry in os.scandir(data_dir / "tmp") if entry.is_file())
    return []


def _blob_count(data_dir: Path) -> int:
    return sum(len(files) for _root, _dirs, files in os.walk(data_dir / "blobs"))
