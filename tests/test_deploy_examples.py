"""The deployment examples in docs/deploy work as shipped: the nginx reverse-proxy config, run
by the real nginx in front of a real server started with --public-url, passes a 20 MiB upload
and download through (streamed), returns URLs that point at nginx, and serves the Apify client;
the systemd unit passes `systemd-analyze verify`."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from apify_client import ApifyClient

from tests.server_process import ServerProcess, free_port

DEPLOY = Path(__file__).resolve().parent.parent / "docs" / "deploy"
BIG = 20 * 1024 * 1024

MAIN_CONF = """\
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
{user}
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    include {root}/openkvs.conf;
}}
"""


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[str, ServerProcess]]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        pytest.fail("nginx is missing: `make test` installs it (tests/install_services.sh)")
    nginx_port = free_port()
    public = f"http://127.0.0.1:{nginx_port}"
    server = ServerProcess(tmp_path / "data", extra_args=["--public-url", public]).start()
    root = tmp_path / "nginx"
    root.mkdir()
    example = (DEPLOY / "nginx-openkvs.conf").read_text()
    # The shipped example, pointed at this test's ports: only the two addresses change.
    site = example.replace("listen 80;", f"listen 127.0.0.1:{nginx_port};").replace(
        "server 127.0.0.1:8010;", f"server 127.0.0.1:{server.port};"
    )
    assert site != example and f"{server.port}" in site
    (root / "openkvs.conf").write_text(site)
    user = "user root;" if os.geteuid() == 0 else ""
    (root / "nginx.conf").write_text(MAIN_CONF.format(root=root, user=user))
    proc = subprocess.Popen(
        [nginx, "-p", str(root), "-c", str(root / "nginx.conf"), "-e", str(root / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(public + "/health/live", timeout=2)
                break
            except httpx.TransportError:
                error_log = root / "error.log"
                assert proc.poll() is None, error_log.read_text() if error_log.exists() else ""
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)
        yield public, server
    finally:
        proc.terminate()
        proc.wait(10)
        server.stop()


def _chunks() -> Iterator[bytes]:
    block = hashlib.sha256(b"through nginx").digest() * 32768  # 1 MiB
    for _ in range(BIG // len(block)):
        yield block


def test_the_nginx_example_proxies_large_records_and_public_urls(
    proxied: tuple[str, ServerProcess],
) -> None:
    public, server = proxied
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=public, headers=headers, timeout=120) as http:
        store = http.post("/v2/key-value-stores", params={"name": "via-nginx"}).json()["data"]
        assert store["keysPublicUrl"].startswith(public + "/v2/")
        put = http.put(
            f"/v2/key-value-stores/{store['id']}/records/big",
            content=_chunks(),
            headers={"content-type": "application/octet-stream"},
        )
        assert put.status_code == 201, put.text
        assert put.headers["location"].startswith(public + "/")
        digest = hashlib.sha256()
        size = 0
        with http.stream("GET", f"/v2/key-value-stores/{store['id']}/records/big") as got:
            assert got.status_code == 200
            for chunk in got.iter_bytes():
                digest.update(chunk)
                size += len(chunk)
        expected = hashlib.sha256(b"".join(_chunks())).hexdigest()
        assert size == BIG and digest.hexdigest() == expected
        keys = http.get(f"/v2/key-value-stores/{store['id']}/keys").json()["data"]["items"]
        assert keys[0]["recordPublicUrl"].startswith(public + "/v2/")
    # The real client, through the proxy.
    client = ApifyClient(token=server.token, api_url=public, max_retries=0)
    kvs = client.key_value_store(store["id"])
    kvs.set_record("hello", {"through": "nginx"})
    assert kvs.get_record("hello")["value"] == {"through": "nginx"}  # type: ignore[index]


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    openkvs = Path(sys.executable).parent / "openkvs"
    unit = (DEPLOY / "openkvs.service").read_text()
    assert "ExecStart=/opt/openkvs/bin/openkvs serve" in unit
    local = tmp_path / "openkvs.service"
    local.write_text(unit.replace("/opt/openkvs/bin/openkvs", str(openkvs)))
    result = subprocess.run(
        [analyze, "verify", str(local)], capture_output=True, text=True, timeout=60, check=False
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "openkvs.service" in line  # what systemd says of other units is not ours
    ]
    assert result.returncode == 0 and problems == [], result.stdout + result.stderr
