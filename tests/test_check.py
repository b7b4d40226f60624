"""`openkvs check`: a clean store passes; a deleted body, a truncated one and an unused file or
object are each found (exit 1), a same-size corruption only with --deep, and --repair removes
unused files. It runs beside a live server."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.cli_process import openkvs
from tests.http_helpers import create_store, owner_client, record_url
from tests.server_process import MakeServer, ServerProcess


def fill(proc: ServerProcess) -> str:
    with owner_client(proc) as http:
        store_id = create_store(http)["id"]
        for n in range(4):
            for key, size in ((f"big-{n}", 100_000 + n), (f"small-{n}", 10 + n)):
                response = http.put(record_url(store_id, key), content=bytes([65 + n]) * size)
                assert response.status_code in (200, 201), response.text
    return store_id


def body_files(proc: ServerProcess) -> list[Path]:
    return sorted(p for p in (proc.data_dir / "blobs").rglob("*") if p.is_file())


@pytest.mark.embedded_only("looks at the embedded store's files")
def test_check_finds_missing_truncated_corrupt_and_unused_files(make_server: MakeServer) -> None:
    proc = make_server()
    fill(proc)
    clean = openkvs("check", "--deep", "--data-dir", proc.data_dir)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "checked 8 records (4 with a body file): clean" in clean.stdout

    missing, truncated, corrupt, _ = body_files(proc)
    missing.unlink()
    with open(truncated, "r+b") as file:
        file.truncate(1000)
    data = bytearray(corrupt.read_bytes())
    data[500] ^= 0xFF  # same size, other bytes
    corrupt.write_bytes(bytes(data))
    orphan = proc.data_dir / "blobs" / "ab" / ("ab" + "0" * 30)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"nobody's")

    found = openkvs("check", "--data-dir", proc.data_dir)
    assert found.returncode == 1
    damaged = [line for line in found.stdout.splitlines() if line.startswith("DAMAGED")]
    assert any(missing.name in line and "missing" in line for line in damaged), found.stdout
    assert any(truncated.name in line and "is 1000 bytes" in line for line in damaged)
    assert not any(corrupt.name in line for line in damaged)  # only --deep reads the bytes
    assert any(orphan.name in line for line in found.stdout.splitlines() if "UNUSED" in line)

    deep = openkvs("check", "--deep", "--data-dir", proc.data_dir)
    assert any(corrupt.name in line and "ETag" in line for line in deep.stdout.splitlines())

    repaired = openkvs("check", "--repair", "--data-dir", proc.data_dir)
    assert f"removed  blobs/ab/{orphan.name}" in repaired.stdout
    assert not orphan.exists()
    assert repaired.returncode == 1  # the damage is still there: repair removes only waste
    with owner_client(proc) as http:  # the server went on serving throughout
        assert http.get("/v2/users/me").status_code == 200


@pytest.mark.embedded_only("looks at the embedded store's files")
def test_check_names_leftover_uploads_only_without_a_server(make_server: MakeServer) -> None:
    proc = make_server()
    fill(proc)
    leftover = proc.data_dir / "tmp" / ("cd" + "1" * 30)
    leftover.write_bytes(b"half an upload")
    live = openkvs("check", "--data-dir", proc.data_dir)
    assert live.returncode == 0 and "tmp/ was not looked at" in live.stdout
    proc.stop()
    stopped = openkvs("check", "--data-dir", proc.data_dir)
    assert stopped.returncode == 1 and f"tmp/{leftover.name}" in stopped.stdout
    assert openkvs("check", "--repair", "--data-dir", proc.data_dir).returncode == 0
    assert not leftover.exists()


def test_check_of_a_directory_without_a_store(tmp_path: Path) -> None:
    result = openkvs("check", "--data-dir", tmp_path)
    assert result.returncode == 1 and "holds no openkvs store" in result.stderr


@pytest.mark.scaleout_only("looks at the bucket and the database")
def test_check_finds_a_missing_object_and_an_unused_one(make_server: MakeServer) -> None:
    proc = make_server()
    fill(proc)
    config = proc.backend
    args, env = config.extra_args, config.env
    clean = openkvs("check", *args, "--object-grace", "1s", env=env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "(4 with a body file): clean" in clean.stdout

    s3 = config.s3
    prefix = config.objects_prefix
    objects = sorted(s3.list_keys(prefix))
    doomed = objects[0]

    async def delete(client: object) -> None:
        await client.delete_object(Bucket=config.bucket, Key=doomed)  # type: ignore[attr-defined]

    async def plant(client: object) -> None:
        await client.put_object(  # type: ignore[attr-defined]
            Bucket=config.bucket, Key=prefix + "unused-object", Body=b"nobody's"
        )

    s3.call(delete)
    s3.call(plant)
    young = openkvs("check", *args, env=env)  # default grace (1 h): the new object may be an upload
    assert "unused-object" not in young.stdout and "younger than the grace" in young.stdout
    time.sleep(1.5)
    found = openkvs("check", *args, "--object-grace", "1s", env=env)
    assert found.returncode == 1, found.stdout
    lines = found.stdout.splitlines()
    name = doomed[len(prefix) :]
    assert any(line.startswith("DAMAGED") and name in line and "missing" in line for line in lines)
    assert any(line.startswith("UNUSED") and "unused-object" in line for line in lines)
    with httpx.Client(base_url=proc.url, timeout=10) as http:  # the node went on serving
        assert http.get("/health/live").status_code == 200
