"""The Crawlee recipes of the README, run as written (docs/recipes/): a real crawler in each
language crawls a small site this test serves on loopback, its pages land in a store on openkvs,
its dataset and request queue stay in the local storage folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.cli_process import REPO
from tests.http_helpers import STORES, list_key_sizes, owner_client
from tests.moving_helpers import store_id_by_name
from tests.server_process import MakeServer, ServerProcess

RECIPES = REPO / "docs" / "recipes"
JS_DIR = REPO / "tests" / "js"
NODE = shutil.which("node")
LINKS = {"/": ["/a", "/b"], "/a": ["/c"], "/b": ["/"], "/c": []}
KEYS = {"/": "index", "/a": "a", "/b": "b", "/c": "c"}


def page(path: str) -> bytes:
    links = "".join(f'<a href="{target}">{target}</a>' for target in LINKS[path])
    return f"<html><head><title>Page {path}</title></head><body>{links}</body></html>".encode()


class Site(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path not in LINKS:
            self.send_error(404)
            return
        body = page(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def crawler_env(server: ServerProcess, storage: Path) -> dict[str, str]:
    """What the recipes ask the user to set, and a local storage folder; nothing of the Apify
    platform (those variables would make the SDK act as on the platform)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APIFY_", "CRAWLEE_"))}
    env.update(
        APIFY_API_BASE_URL=server.url,
        APIFY_API_PUBLIC_BASE_URL=server.url,
        APIFY_TOKEN=server.token,
        CRAWLEE_STORAGE_DIR=str(storage),
    )
    return env


def check_crawl(server: ServerProcess, storage: Path) -> None:
    store_id = store_id_by_name(server, "pages")
    with owner_client(server) as client:
        assert set(list_key_sizes(client, store_id)) == set(KEYS.values())
        for path, key in KEYS.items():
            response = client.get(f"{STORES}/{store_id}/records/{key}")
            assert response.content == page(path), key
            assert response.headers["content-type"] == "text/html; charset=utf-8"
    # The dataset stayed local (one item per page), and no "pages" store was made locally.
    items = [
        json.loads(p.read_text())
        for p in (storage / "datasets" / "default").glob("*.json")
        if p.name != "__metadata__.json"
    ]
    assert sorted(item["title"] for item in items) == sorted(f"Page {p}" for p in KEYS)
    assert not (storage / "key_value_stores" / "pages").exists()


def crawl(command: list[str], server: ServerProcess, storage: Path) -> None:
    done = subprocess.run(
        command,
        cwd=storage.parent,
        env=crawler_env(server, storage),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    check_crawl(server, storage)


def test_the_python_recipe_keeps_its_pages_on_openkvs(
    make_server: MakeServer, site: str, tmp_path: Path
) -> None:
    server = make_server()
    storage = tmp_path / "storage"
    crawl([sys.executable, str(RECIPES / "crawl_to_openkvs.py"), site], server, storage)


@pytest.mark.skipif(
    NODE is None or not (JS_DIR / "node_modules" / "crawlee").is_dir(),
    reason="node and tests/js/node_modules (make test installs them)",
)
def test_the_javascript_recipe_keeps_its_pages_on_openkvs(
    make_server: MakeServer, site: str, tmp_path: Path
) -> None:
    assert NODE is not None
    server = make_server()
    storage = tmp_path / "storage"
    # Beside tests/js/node_modules, where node finds the libraries for the recipe's imports.
    script = JS_DIR / f"_recipe-{uuid.uuid4().hex[:8]}.mjs"
    shutil.copy(RECIPES / "crawl-to-openkvs.mjs", script)
    try:
        crawl([NODE, str(script), site], server, storage)
    finally:
        script.unlink()
