"""`openkvs import` and `openkvs export` with Crawlee's local storage folders, written and read by
the real libraries: crawlee for Python (file-system storage client, run as tests/crawlee_storage.py)
and @crawlee/memory-storage for JavaScript (tests/js/local_storage.mjs)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.cli_process import REPO, openkvs
from tests.http_helpers import STORES, list_key_sizes, owner_client
from tests.moving_helpers import KINDS, ODD_KEY, fill, server_args, store_id_by_name
from tests.server_process import MakeServer, ServerProcess

JS_DIR = REPO / "tests" / "js"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(
    NODE is None or not (JS_DIR / "node_modules" / "@crawlee" / "memory-storage").is_dir(),
    reason="node and tests/js/node_modules (make test installs them)",
)
# What a crawler stores: (key, body, content type), as the libraries are handed them.
LOCAL = [
    ("INPUT", b'{"startUrls": [{"url": "http://example.com"}], "n": 1}', "application/json"),
    ("page", "<p>\u00e9t\u00e9</p>".encode(), "text/html; charset=utf-8"),
    ("notes", b"plain text\n", "text/plain; charset=utf-8"),
    ("shot", os.urandom(50_000), "image/png"),
    ("blob", bytes(range(256)) * 10, "application/octet-stream"),
    (ODD_KEY, b"odd key", "text/plain; charset=utf-8"),
]


def _records_file(tmp_path: Path, records: list[tuple[str, bytes, str]]) -> Path:
    path = tmp_path / f"records-{len(records)}.json"
    rows = [
        {"key": k, "base64": base64.b64encode(b).decode(), "contentType": t} for k, b, t in records
    ]
    path.write_text(json.dumps(rows))
    return path


def _library(mode: str, args: list[str], cwd: Path, records: Path | None) -> Any:
    """Run a library's side (`mode`: write or read); what it read, parsed."""
    done = subprocess.run(
        [*args, *([str(records)] if records else [])],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if mode == "read" else None


def python_storage(mode: str, directory: Path, store: str, records: Path | None = None) -> Any:
    args = [sys.executable, "-m", "tests.crawlee_storage", mode, str(directory), store]
    return _library(mode, args, REPO, records)


def js_storage(
    mode: str, directory: Path, store: str, metadata: bool = True, records: Path | None = None
) -> Any:
    assert NODE is not None
    args = [NODE, "local_storage.mjs", mode, str(directory), store, "1" if metadata else "0"]
    return _library(mode, args, JS_DIR, records)


def server_records(server: ServerProcess, store_id: str) -> dict[str, tuple[str, bytes]]:
    """key -> (content type, body decoded), as a client that asks for no encoding reads it."""
    found: dict[str, tuple[str, bytes]] = {}
    with owner_client(server) as client:
        keys = client.get(f"{STORES}/{store_id}/keys", params={"limit": 1000}).json()["data"]
        for item in keys["items"]:
            response = client.get(
                f"{STORES}/{store_id}/records/{item['key']}",
                headers={"Accept-Encoding": "identity"},
            )
            found[item["key"]] = (response.headers["content-type"], response.content)
    return found


def assert_same(
    library_view: list[dict[str, Any]], on_server: dict[str, tuple[str, bytes]]
) -> None:
    """Every record the library sees is on the server with its content type and bytes (JSON
    the library parsed: the same value), and nothing else is."""
    assert {r["key"] for r in library_view} == set(on_server)
    for record in library_view:
        content_type, body = on_server[record["key"]]
        raw = base64.b64decode(record["base64"])
        assert record["contentType"] == content_type, record["key"]
        if record.get("json"):
            assert json.loads(raw) == json.loads(body), record["key"]
        else:
            assert raw == body, record["key"]


def test_import_reads_what_crawlee_for_python_wrote(
    make_server: MakeServer, tmp_path: Path
) -> None:
    server = make_server()
    storage = tmp_path / "storage"
    python_storage("write", storage, "crawl", _records_file(tmp_path, LOCAL))

    done = openkvs("import", tmp_path, *server_args(server))  # the project folder

    assert done.returncode == 0, done.stderr
    assert f"1 store(s), {len(LOCAL)} record(s)" in done.stdout
    on_server = server_records(server, store_id_by_name(server, "crawl"))
    assert_same(python_storage("read", storage, "crawl"), on_server)
    # Run again: nothing to do.
    again = openkvs("import", storage, *server_args(server))
    assert f"0 record(s), 0 bytes; {len(LOCAL)} skipped" in again.stdout


@needs_node
@pytest.mark.parametrize("metadata", [True, False], ids=["with-metadata", "without-metadata"])
def test_import_reads_what_crawlee_for_javascript_wrote(
    make_server: MakeServer, tmp_path: Path, metadata: bool
) -> None:
    server = make_server()
    storage = tmp_path / "storage"
    js_storage("write", storage, "crawl", metadata, _records_file(tmp_path, LOCAL))

    done = openkvs("import", storage / "key_value_stores", *server_args(server))

    assert done.returncode == 0, done.stderr
    on_server = server_records(server, store_id_by_name(server, "crawl"))
    if metadata:
        # The library cannot read its own metadata files back (it writes each as a JSON string
        # holding the JSON), so the records are checked against what it was given.
        assert on_server == {key: (content_type, body) for key, body, content_type in LOCAL}
    else:  # content types come from the file names, as the library reads them
        assert_same(js_storage("read", storage, "crawl", metadata=False), on_server)


def test_import_reports_what_the_server_refuses_and_imports_the_rest(
    make_server: MakeServer, tmp_path: Path
) -> None:
    server = make_server()
    storage = tmp_path / "storage"
    good = [("fine", b"ok", "text/plain; charset=utf-8")]
    too_long = "a" * 64  # crawlee takes it, the Apify API's names stop at 63 characters
    python_storage("write", storage, too_long, _records_file(tmp_path, good))
    with_bad_key = [*good, ("has space", b"x", "text/plain; charset=utf-8")]
    python_storage("write", storage, "crawl", _records_file(tmp_path, with_bad_key))

    done = openkvs("import", storage, *server_args(server))

    assert done.returncode == 1
    assert f"FAILED store {too_long}: " in done.stderr
    assert "FAILED crawl / has space: PUT: " in done.stderr
    assert set(server_records(server, store_id_by_name(server, "crawl"))) == {"fine"}


def test_export_opens_in_crawlee_for_python(make_server: MakeServer, tmp_path: Path) -> None:
    server = make_server()
    store_id = fill(server, "crawl")
    dest = tmp_path / "storage"

    done = openkvs("export", "crawl", dest, *server_args(server))

    assert done.returncode == 0, done.stderr
    assert f"1 store(s), {len(KINDS)} record(s)" in done.stdout
    assert_same(python_storage("read", dest, "crawl"), server_records(server, store_id))


@needs_node
def test_export_in_the_javascript_layout_opens_in_crawlee_for_javascript(
    make_server: MakeServer, tmp_path: Path
) -> None:
    server = make_server()
    store_id = fill(server, "crawl")
    dest = tmp_path / "storage"

    done = openkvs("export", store_id, dest, "--layout", "js", *server_args(server))

    assert done.returncode == 0, done.stderr
    assert_same(js_storage("read", dest, "crawl"), server_records(server, store_id))


def test_export_all_to_a_zip_holds_the_same_folder(make_server: MakeServer, tmp_path: Path) -> None:
    server = make_server()
    fill(server, "crawl")
    fill(server, None)
    folder, archive = tmp_path / "folder", tmp_path / "all.zip"

    assert openkvs("export", "--all", folder, *server_args(server)).returncode == 0
    done = openkvs("export", "--all", archive, *server_args(server))

    assert done.returncode == 0, done.stderr
    assert not archive.with_name("all.zip.partial").exists()
    with zipfile.ZipFile(archive) as zipped:
        members = {name: zipped.read(name) for name in zipped.namelist()}
    files = {
        str(p.relative_to(folder)): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != "__metadata__.json"
    }
    assert {k: v for k, v in members.items() if not k.endswith("/__metadata__.json")} == files
    assert len([k for k in members if k.endswith("/__metadata__.json")]) == 2


@pytest.mark.embedded_only("volume through the API; the backends are the copy tests' subject")
def test_import_of_10000_records_and_a_200_mib_one(make_server: MakeServer, tmp_path: Path) -> None:
    server = make_server()
    storage = tmp_path / "storage"
    big = {"key": "video", "random": 200 * 1024 * 1024, "seed": 5}
    small = [
        {
            "key": f"item-{i:05d}",
            "base64": base64.b64encode(b"%d" % i).decode(),
            "contentType": "text/plain",
        }
        for i in range(10_000)
    ]
    records = tmp_path / "many.json"
    records.write_text(json.dumps([{**big, "contentType": "video/mp4"}, *small]))
    python_storage("write", storage, "bulk", records)

    started = time.monotonic()
    done = openkvs("import", storage, *server_args(server), timeout=900)
    took = time.monotonic() - started

    assert done.returncode == 0, done.stderr[-2000:]
    assert "1 store(s), 10001 record(s)" in done.stdout
    store_id = store_id_by_name(server, "bulk")
    with owner_client(server) as client:
        sizes = list_key_sizes(client, store_id)
        head = client.head(f"{STORES}/{store_id}/records/video")
        sample = client.get(f"{STORES}/{store_id}/records/item-04711")
    assert len(sizes) == 10_001 and sizes["video"] == big["random"]
    expected = hashlib.md5(random.Random(5).randbytes(big["random"])).hexdigest()
    assert head.headers["etag"].strip('"') == expected
    assert head.headers["content-type"] == "video/mp4"
    assert sample.content == b"4711" and sample.headers["content-type"] == "text/plain"
    print(f"\nimport of 10,000 records and 200 MiB: {took:.1f} s")


def test_import_never_reads_outside_the_store_directory(
    make_server: MakeServer, tmp_path: Path
) -> None:
    """Metadata files are data: one naming a key that would be a path elsewhere is reported."""
    server = make_server()
    store = tmp_path / "storage" / "key_value_stores" / "crawl"
    store.mkdir(parents=True)
    (tmp_path / "storage" / "secret.bin").write_bytes(b"not yours")
    (store / "fine.txt").write_bytes(b"fine")
    for name, key in (("a.__metadata__.json", "../secret"), ("b.__metadata__.json", "..")):
        meta = {"key": key, "contentType": "application/octet-stream", "extension": "bin"}
        (store / name).write_text(json.dumps(meta))

    done = openkvs("import", tmp_path / "storage", *server_args(server))

    assert done.returncode == 1
    assert done.stderr.count("its body is missing") == 2
    assert server_records(server, store_id_by_name(server, "crawl")) == {
        "fine": ("text/plain; charset=utf-8", b"fine")
    }
