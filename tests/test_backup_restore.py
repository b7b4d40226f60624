"""`openkvs backup` while a server serves under write load, `openkvs restore` into a fresh
directory, and a server on the restored store reading back every record acknowledged before the
backup began, byte for byte. Restore refuses a live store, a non-empty directory (unless
--force, which keeps the old store aside) and a damaged backup. While a backup holds the store,
the server keeps the body files of overwritten records."""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.cli_process import openkvs
from tests.http_helpers import create_store, owner_client, poll, record_url
from tests.server_process import MakeServer, ServerProcess

pytestmark = pytest.mark.embedded_only("the embedded store's own backup")


def body(name: str, size: int) -> bytes:
    seed = hashlib.sha256(name.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def put(http: httpx.Client, store_id: str, key: str, data: bytes) -> None:
    response = http.put(record_url(store_id, key), content=data)
    assert response.status_code in (200, 201), response.text


def test_backup_under_write_load_restores_every_earlier_record(
    make_server: MakeServer, tmp_path: Path
) -> None:
    proc = make_server()
    stable: dict[str, bytes] = {}
    with owner_client(proc) as http:
        store_id = create_store(http)["id"]
        for n in range(60):  # inline and file bodies, never touched again
            stable[f"stable-{n}"] = body(f"s{n}", 100 if n % 2 else 150_000)
            put(http, store_id, f"stable-{n}", stable[f"stable-{n}"])
        for n in range(10):  # overwritten and deleted during the backup
            put(http, store_id, f"churn-{n}", body(f"c{n}-0", 150_000))
    versions: dict[str, set[bytes]] = {f"churn-{n}": {body(f"c{n}-0", 150_000)} for n in range(10)}
    stop = threading.Event()
    problems: list[str] = []

    def load(worker: int) -> None:
        with owner_client(proc) as http:
            round_ = 0
            while not stop.is_set():
                round_ += 1
                key = f"churn-{(worker * 5 + round_) % 10}"
                data = body(f"{key}-{worker}-{round_}", 120_000 + round_ % 7)
                versions[key].add(data)
                try:
                    if round_ % 5 == 0:
                        http.delete(record_url(store_id, key))
                    else:
                        put(http, store_id, key, data)
                    put(http, store_id, f"new-{worker}-{round_}", b"n" * 300)
                except Exception as exc:  # reported below, not swallowed
                    problems.append(repr(exc))

    workers = [threading.Thread(target=load, args=(w,)) for w in range(2)]
    for worker in workers:
        worker.start()
    time.sleep(0.5)
    made = openkvs("backup", tmp_path / "backup", "--data-dir", proc.data_dir)
    time.sleep(0.3)
    stop.set()
    for worker in workers:
        worker.join(30)
    assert made.returncode == 0, made.stderr
    assert "backed up to" in made.stdout
    assert problems == []
    checked = openkvs("check", "--deep", "--data-dir", tmp_path / "backup")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    restored = tmp_path / "restored"
    done = openkvs("restore", tmp_path / "backup", "--data-dir", restored)
    assert done.returncode == 0, done.stderr
    other = make_server(start=False)
    other.data_dir = restored
    other.start()
    with owner_client(other) as http:
        for key, data in stable.items():
            got = http.get(record_url(store_id, key))
            assert got.status_code == 200 and got.content == data, key
        for key, seen in versions.items():
            got = http.get(record_url(store_id, key))
            assert got.status_code == 404 or got.content in seen, key
    # The live store went on serving, and its own check is clean too.
    live = openkvs("check", "--data-dir", proc.data_dir)
    assert live.returncode == 0, live.stdout


def test_the_server_keeps_body_files_while_a_backup_holds_the_store(
    server: ServerProcess, tmp_path: Path
) -> None:
    def body_files() -> set[Path]:
        return {p for p in (server.data_dir / "blobs").rglob("*") if p.is_file()}

    with owner_client(server) as http:
        store_id = create_store(http)["id"]
        others = body_files()  # other tests' records on this shared server
        put(http, store_id, "k", body("one", 100_000))
        files_before = body_files() - others
        assert len(files_before) == 1  # the record's body is a file
        hold = os.open(server.data_dir / "backup.hold", os.O_RDWR)
        try:
            fcntl.flock(hold, fcntl.LOCK_SH)  # as `openkvs backup` does
            put(http, store_id, "k", body("two", 100_000))
            http.delete(record_url(store_id, "k"))
            time.sleep(1.0)  # several of the server's background rounds
            assert files_before <= body_files()
        finally:
            os.close(hold)
        gone = poll(body_files, lambda files: not (files & files_before), timeout=10)
        assert not (gone & files_before)


def test_restore_refuses_a_live_store_and_a_non_empty_directory(
    make_server: MakeServer, tmp_path: Path
) -> None:
    proc = make_server()
    with owner_client(proc) as http:
        store_id = create_store(http)["id"]
        put(http, store_id, "k", b"kept")
    assert openkvs("backup", tmp_path / "b", "--data-dir", proc.data_dir).returncode == 0
    live = openkvs("restore", tmp_path / "b", "--data-dir", proc.data_dir, "--force")
    assert live.returncode == 1 and "a server is running" in live.stderr
    assert openkvs("backup", tmp_path / "b", "--data-dir", proc.data_dir).returncode == 1
    proc.stop()
    refused = openkvs("restore", tmp_path / "b", "--data-dir", proc.data_dir)
    assert refused.returncode == 1 and "not empty" in refused.stderr
    forced = openkvs("restore", tmp_path / "b", "--data-dir", proc.data_dir, "--force")
    assert forced.returncode == 0, forced.stderr
    aside = [p for p in tmp_path.iterdir() if ".before-restore-" in p.name]
    assert len(aside) == 1 and (aside[0] / "openkvs.db").exists()
    proc.start()
    with owner_client(proc) as http:
        assert http.get(record_url(store_id, "k")).content == b"kept"


def test_restore_refuses_a_damaged_backup(make_server: MakeServer, tmp_path: Path) -> None:
    proc = make_server()
    with owner_client(proc) as http:
        put(http, create_store(http)["id"], "big", body("b", 100_000))
    assert openkvs("backup", tmp_path / "b", "--data-dir", proc.data_dir).returncode == 0
    for file in (tmp_path / "b" / "blobs").rglob("*"):
        if file.is_file():
            file.unlink()
    refused = openkvs("restore", tmp_path / "b", "--data-dir", tmp_path / "fresh")
    assert refused.returncode == 1 and "damaged" in refused.stderr
    assert not (tmp_path / "fresh").exists()
