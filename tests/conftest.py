"""Shared fixtures: one real openkvs server per test session, reached over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server_process import ServerProcess


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("server") / "data").start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def base_url(server: ServerProcess) -> str:
    return server.url


@pytest.fixture(scope="session")
def token(server: ServerProcess) -> str:
    return server.token


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    """A raw HTTP client with the owner's token."""
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=60
    ) as client:
        yield client


@pytest.fixture
def anon(server: ServerProcess) -> Iterator[httpx.Client]:
    """A raw HTTP client without any token."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture
def store_name() -> str:
    return "s-" + uuid.uuid4().hex[:12]


@pytest.fixture
def store(http: httpx.Client, store_name: str) -> dict[str, object]:
    """A fresh named store owned by the test user."""
    response = http.post("/v2/key-value-stores", params={"name": store_name})
    assert response.status_code == 201, response.text
    data: dict[str, object] = response.json()["data"]
    return data


@pytest.fixture
def other_user(server: ServerProcess) -> str:
    """A token of a second user, made with `openkvs user create` on the live data directory."""
    import subprocess
    import sys

    name = "u" + uuid.uuid4().hex[:10]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "openkvs",
            "user",
            "create",
            name,
            "--data-dir",
            str(server.data_dir),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1].strip()


def data_dir_of(server: ServerProcess) -> Path:
    return server.data_dir
