"""Security of the server around the records: log lines, file modes, titles, users, tokens and the
console's script policy (issue: safe to share with users you don't fully trust)."""

from __future__ import annotations

import os
import socket
import stat
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from openkvs.core.ids import hash_token
from openkvs.core.validation import MAX_TITLE_LENGTH
from tests.http_helpers import STORES, assert_error, create_store, put_record, unique_name
from tests.server_process import MakeServer, ServerProcess

FORGED = '203.0.113.9 "GET /forged HTTP/1.1" 200 0.1ms id=forged'


def _raw_get(proc: ServerProcess, target: str) -> bytes:
    """One request with the target sent exactly as written (no client-side normalisation)."""
    with socket.create_connection(("127.0.0.1", proc.port), timeout=10) as sock:
        sock.sendall(
            f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def _wait_for_log(proc: ServerProcess, marker: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = proc.log()
        if marker in text:
            return text
        time.sleep(0.05)
    raise AssertionError(f"{marker!r} never reached the log:\n{proc.log()[-2000:]}")


# --- log injection --------------------------------------------------------------------------------


def test_a_newline_in_the_path_cannot_forge_a_log_line(server: ServerProcess) -> None:
    marker = uuid.uuid4().hex
    injected = "%0A" + FORGED.replace(" ", "%20").replace('"', "%22") + "%0D%1B[31m"
    answer = _raw_get(server, f"/v2/key-value-stores/{marker}{injected}/keys")
    assert answer.startswith(b"HTTP/1.1 404"), answer[:200]
    text = _wait_for_log(server, marker)
    lines = [line for line in text.splitlines() if marker in line]
    assert len(lines) == 1, lines
    assert "\\x0a203.0.113.9" in lines[0]
    assert "\\x1b" in lines[0] and "\x1b" not in text
    assert not any(line.startswith("203.0.113.9") for line in text.splitlines())
    assert "/forged HTTP/1.1\\x22" in lines[0]  # the quote that would close the request field


def test_control_characters_in_the_query_are_escaped_and_secrets_still_masked(
    server: ServerProcess,
) -> None:
    marker = uuid.uuid4().hex
    answer = _raw_get(server, f"/v2/users/me?x={marker}%0Aforged=1&token=secret-{marker}")
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    text = _wait_for_log(server, marker)
    lines = [line for line in text.splitlines() if marker in line]
    assert len(lines) == 1, lines
    assert f"secret-{marker}" not in text
    assert "token=%2A%2A%2A" in lines[0]


# --- the data directory is private --------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.embedded_only("the data directory's files; scale-out keeps data in PostgreSQL and S3")
def test_data_directory_and_its_files_are_private(make_server: MakeServer, tmp_path: Path) -> None:
    proc = make_server()
    with httpx.Client(
        base_url=proc.url, headers={"Authorization": f"Bearer {proc.token}"}, timeout=60
    ) as client:
        store = create_store(client, unique_name())
        put_record(client, store["id"], "big", os.urandom(200 * 1024))  # a file in blobs/
        put_record(client, store["id"], "small", b"x")
    data = proc.data_dir
    assert _mode(data) == 0o700
    for name in ("openkvs.db", "openkvs.db-wal", "openkvs.db-shm", "bootstrap-token"):
        assert _mode(data / name) == 0o600, name
    for folder in ("blobs", "tmp"):
        assert _mode(data / folder) == 0o700, folder
    blob_files = [p for p in (data / "blobs").rglob("*") if p.is_file()]
    assert blob_files
    for path in blob_files:
        assert _mode(path) == 0o600, path
    for path in (data / "blobs").rglob("*"):
        if path.is_dir():
            assert _mode(path) == 0o700, path


@pytest.mark.embedded_only("the data directory's files; scale-out keeps data in PostgreSQL and S3")
def test_an_existing_world_readable_data_directory_is_made_private(
    make_server: MakeServer, tmp_path: Path
) -> None:
    proc = make_server()
    proc.stop()
    data = proc.data_dir
    os.chmod(data, 0o755)
    os.chmod(data / "openkvs.db", 0o644)
    proc.start()
    assert _mode(data) == 0o700
    assert _mode(data / "openkvs.db") == 0o600


# --- titles ---------------------------------------------------------------------------------------


def test_a_title_over_the_limit_is_refused_and_changes_nothing(http: httpx.Client) -> None:
    store = create_store(http, unique_name())
    url = f"{STORES}/{store['id']}"
    ok = http.put(url, json={"title": "t" * MAX_TITLE_LENGTH})
    assert ok.status_code == 200, ok.text
    assert ok.json()["data"]["title"] == "t" * MAX_TITLE_LENGTH
    for too_long in ("x" * (MAX_TITLE_LENGTH + 1), "x" * (8 * 1024 * 1024)):
        response = http.put(url, json={"title": too_long, "generalAccess": "RESTRICTED"})
        error = assert_error(response, 400, "invalid-value")
        assert str(MAX_TITLE_LENGTH) in error["message"]
    assert http.get(url).json()["data"]["title"] == "t" * MAX_TITLE_LENGTH


# --- users ----------------------------------------------------------------------------------------


def test_anonymous_callers_see_no_user(http: httpx.Client, anon: httpx.Client) -> None:
    me = http.get("/v2/users/me").json()["data"]
    for ref in (me["id"], me["username"], "nobody-" + uuid.uuid4().hex[:8]):
        assert_error(anon.get(f"/v2/users/{ref}"), 401, "token-not-provided")


def test_another_user_sees_only_public_fields(
    http: httpx.Client, anon: httpx.Client, other_user: str
) -> None:
    me = http.get("/v2/users/me").json()["data"]
    response = anon.get(
        f"/v2/users/{me['username']}", headers={"Authorization": f"Bearer {other_user}"}
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["id"] == me["id"]
    assert "plan" not in data and "email" not in data


# --- tokens ---------------------------------------------------------------------------------------


def test_hashing_a_token_keeps_no_reference_to_it() -> None:
    token = "okvs_" + uuid.uuid4().hex * 2  # a fresh object, referenced only here
    before = sys.getrefcount(token)
    digest = hash_token(token)
    assert len(digest) == 64
    assert sys.getrefcount(token) == before


# --- the console's script policy ------------------------------------------------------------------


def _script_src(policy: str) -> list[str]:
    for directive in policy.split(";"):
        name, _, value = directive.strip().partition(" ")
        if name == "script-src":
            return value.split()
    raise AssertionError(f"no script-src in {policy!r}")


def test_console_scripts_come_only_from_its_assets(
    server: ServerProcess, anon: httpx.Client
) -> None:
    host = f"127.0.0.1:{server.port}"
    for path in ("/console/", "/console/stores/x", "/console/assets/console.js"):
        response = anon.get(path)
        assert response.status_code == 200, (path, response.status_code)
        sources = _script_src(response.headers["content-security-policy"])
        assert sources == [f"{host}/console/assets/"], sources


def test_console_script_policy_ignores_a_hostile_host_header(server: ServerProcess) -> None:
    answer = _raw_get_with_host(server, "/console/", "evil.example; script-src *")
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    policy = next(line for line in head.split("\r\n") if line.startswith("content-security"))
    assert "evil" not in policy and "*" not in policy


def _raw_get_with_host(proc: ServerProcess, target: str, host: str) -> bytes:
    with socket.create_connection(("127.0.0.1", proc.port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer
