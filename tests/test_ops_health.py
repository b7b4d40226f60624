"""Health checks: /health/live answers while the process runs; /health/ready says whether the
storage takes writes (503 with a reason when it does not, 200 again once it does). No token is
needed (a wrong one is ignored), the checks touch no store's counters, and the access log leaves
them out unless --log-health-checks."""

from __future__ import annotations

import dataclasses
import errno
import os
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.http_helpers import assert_error, create_store, get_store, owner_client, poll
from tests.server_process import MakeServer, ServerProcess, scaleout_config
from tests.small_disk import mounted_tmpfs


def test_live_and_ready_answer_without_a_token(server: ServerProcess) -> None:
    for path, status in (("/health/live", "ok"), ("/health/ready", "ready")):
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            response = httpx.get(server.url + path, headers=headers, timeout=10)
            assert response.status_code == 200, response.text
            assert response.json() == {"status": status}
            assert response.headers["cache-control"] == "no-store"
        assert httpx.head(server.url + path, timeout=10).status_code == 200


def test_only_get_and_head_are_allowed(server: ServerProcess) -> None:
    response = httpx.post(server.url + "/health/ready", timeout=10)
    assert_error(response, 405, "method-not-allowed")


def test_health_checks_touch_no_store_and_stay_out_of_the_log(server: ServerProcess) -> None:
    with owner_client(server) as http:
        store = create_store(http)
        before = get_store(http, store["id"])["stats"]
        marker = uuid.uuid4().hex
        for _ in range(20):
            httpx.get(f"{server.url}/health/ready?m={marker}", timeout=10)
            httpx.get(f"{server.url}/health/live?m={marker}", timeout=10)
        # A request after them that is logged: once its line is there, theirs would be too.
        httpx.get(f"{server.url}/v2/users/me?m={marker}", timeout=10)
        logged = poll(server.log, lambda log: f"/v2/users/me?m={marker}" in log, timeout=10)
        assert f"/v2/users/me?m={marker}" in logged
        assert f"/health/ready?m={marker}" not in server.log()
        assert f"/health/live?m={marker}" not in server.log()
        after = get_store(http, store["id"])["stats"]
        assert after == before


def test_health_checks_are_logged_when_asked(make_server: MakeServer) -> None:
    proc = make_server(["--log-health-checks"])
    marker = uuid.uuid4().hex
    assert httpx.get(f"{proc.url}/health/live?m={marker}", timeout=10).status_code == 200
    logged = poll(proc.log, lambda log: f"/health/live?m={marker}" in log, timeout=10)
    assert f"/health/live?m={marker}" in logged


def fill(path: Path) -> None:
    """Write zeros to `path` until its file system has no room left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)


def _ready(proc: ServerProcess) -> httpx.Response:
    return httpx.get(proc.url + "/health/ready", timeout=10)


def _wait_for_status(proc: ServerProcess, status: int) -> httpx.Response:
    # Readiness is checked at most once a second: the answer may lag the storage by that much.
    response = poll(lambda: _ready(proc), lambda r: r.status_code == status, timeout=10)
    assert response.status_code == status, response.text
    return response


@pytest.mark.embedded_only("fills the data directory's file system")
def test_ready_is_503_while_the_data_directory_is_full(
    make_server: MakeServer, tmp_path: Path
) -> None:
    with mounted_tmpfs(tmp_path / "disk", 16) as disk:
        proc = make_server(start=False)
        proc.data_dir = disk / "data"
        proc.start()
        try:
            assert _ready(proc).status_code == 200
            filler = disk / "filler"
            fill(filler)
            response = _wait_for_status(proc, 503)
            assert response.json()["status"] == "unavailable"
            assert "full" in response.json()["reason"]
            assert httpx.get(proc.url + "/health/live", timeout=10).status_code == 200
            filler.unlink()
            _wait_for_status(proc, 200)
        finally:
            proc.stop()


@pytest.mark.scaleout_only("cuts the connections to the object store and to PostgreSQL")
@pytest.mark.parametrize("service", ["object store", "PostgreSQL"])
def test_ready_is_503_while_a_service_is_unreachable(make_server: MakeServer, service: str) -> None:
    from tests import services

    _, s3 = services.start_all()
    s3_proxy = services.TcpProxy(s3.ports["s3.port"])
    config = scaleout_config(s3_endpoint=s3_proxy.url)
    assert config.database_url is not None
    pg_port = httpx.URL(config.database_url.replace("postgresql://", "http://")).port
    assert pg_port is not None
    pg_proxy = services.TcpProxy(pg_port)
    proxied_url = config.database_url.replace(f":{pg_port}/", f":{pg_proxy.port}/")
    args = tuple(proxied_url if a == config.database_url else a for a in config.extra_args)
    try:
        proc = make_server(backend_override=dataclasses.replace(config, extra_args=args))
        assert _ready(proc).status_code == 200
        proxy = s3_proxy if service == "object store" else pg_proxy
        proxy.cut()
        began = time.monotonic()
        response = _wait_for_status(proc, 503)
        assert time.monotonic() - began < 10  # answered within its own timeout, not hung
        reason = response.json()["reason"]
        assert service in reason, reason
        assert httpx.get(proc.url + "/health/live", timeout=10).status_code == 200
        proxy.restore()
        _wait_for_status(proc, 200)
    finally:
        s3_proxy.close()
        pg_proxy.close()
