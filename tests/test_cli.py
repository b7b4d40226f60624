"""The `openkvs` command line (behaviour.md#access bootstrap, users and tokens; docs/behaviour.md
server flags)."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.cli_process import REPO, cli_env, openkvs
from tests.http_helpers import unique_name
from tests.server_process import (
    BackendConfig,
    MakeServer,
    ServerProcess,
    backend_config,
    free_port,
)

SERVE_FLAGS = [
    "host",
    "port",
    "data-dir",
    "public-url",
    "username",
    "token",
    "durability",
    "max-record-size",
    "default-general-access",
    "unnamed-retention",
    "rate-limit-records",
    "rate-limit-store",
]
SCALEOUT_FLAGS = [
    "database-url",
    "blob-url",
    "s3-endpoint",
    "object-grace",
    "redirect-large-records",
]


def me(server_url: str, token: str) -> httpx.Response:
    return httpx.get(
        f"{server_url}/v2/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def only_line(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected the token alone on stdout, got {stdout!r}"
    value = lines[0].strip()
    assert " " not in value and value, stdout
    return value


@pytest.fixture
def running(make_server: MakeServer) -> ServerProcess:
    return make_server(token="cli-owner-" + uuid.uuid4().hex)


@pytest.fixture(scope="module")
def seeded_store(backend: str, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The CLI arguments of a store (data directory or database) that already holds a user, so
    a failure can only come from the name."""
    args = backend_config(backend).account_args(tmp_path_factory.mktemp("cli") / "data")
    result = openkvs("user", "create", "seed-user", *args)
    assert result.returncode == 0, result.stderr
    return args


# --- help ---------------------------------------------------------------------------------------


def test_serve_help_documents_every_flag_and_its_env_var() -> None:
    result = openkvs("serve", "--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for flag in SERVE_FLAGS:
        assert f"--{flag}" in text, f"--{flag} is not documented"
        env_var = "OPENKVS_" + flag.upper().replace("-", "_")
        assert env_var in text, f"{env_var} is not mentioned"


def test_serve_help_documents_the_scaleout_flags() -> None:
    result = openkvs("serve", "--help")
    assert result.returncode == 0, result.stderr
    for flag in SCALEOUT_FLAGS:
        assert f"--{flag}" in result.stdout, f"--{flag} is not documented"
        env_var = "OPENKVS_" + flag.upper().replace("-", "_")
        assert env_var in result.stdout, f"{env_var} is not mentioned"


@pytest.mark.parametrize("command", [("user", "create"), ("token", "create"), ("token", "list")])
def test_account_commands_take_a_database_url(command: tuple[str, ...]) -> None:
    result = openkvs(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "--data-dir" in result.stdout
    assert "--database-url" in result.stdout
    # Users and tokens live in PostgreSQL alone: the bucket is the server's business.
    assert "(with --blob-url)" not in result.stdout


def test_top_level_help_lists_the_commands() -> None:
    result = openkvs("--help")
    assert result.returncode == 0, result.stderr
    for command in ("serve", "user", "token"):
        assert re.search(rf"^\s+{command}\b", result.stdout, re.MULTILINE), result.stdout


# --- users --------------------------------------------------------------------------------------


def test_user_create_prints_a_token_that_works_at_once_on_the_running_server(
    running: ServerProcess,
) -> None:
    name = unique_name("cli")
    result = openkvs("user", "create", name, *running.account_args())
    assert result.returncode == 0, result.stderr
    new_token = only_line(result.stdout)
    response = me(running.url, new_token)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["username"] == name
    # It is a real user of its own: it can create a store, which the owner does not see.
    created = httpx.post(
        f"{running.url}/v2/key-value-stores",
        params={"name": "mine", "token": new_token},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    assert created.json()["data"]["username"] == name
    owner_list = httpx.get(
        f"{running.url}/v2/key-value-stores",
        headers={"Authorization": f"Bearer {running.token}"},
        timeout=30,
    )
    assert created.json()["data"]["id"] not in {s["id"] for s in owner_list.json()["data"]["items"]}


@pytest.mark.parametrize(
    "name",
    ["ab", "Alice", "has space", "x" * 31, "bad/name", "bad~name", "émile", ""],
)
def test_user_create_with_an_invalid_username_fails(seeded_store: list[str], name: str) -> None:
    result = openkvs("user", "create", name, *seeded_store)
    assert result.returncode != 0
    assert result.stdout.strip() == ""


def test_user_create_with_a_taken_username_fails(running: ServerProcess) -> None:
    name = unique_name("cli")
    first = openkvs("user", "create", name, *running.account_args())
    assert first.returncode == 0, first.stderr
    second = openkvs("user", "create", name, *running.account_args())
    assert second.returncode != 0
    assert second.stdout.strip() == ""
    # The first user's token is untouched.
    assert me(running.url, only_line(first.stdout)).json()["data"]["username"] == name


def test_user_create_of_the_bootstrap_username_fails(running: ServerProcess) -> None:
    result = openkvs("user", "create", running.username, *running.account_args())
    assert result.returncode != 0
    assert result.stdout.strip() == ""


# --- tokens -------------------------------------------------------------------------------------


def token_rows(server: ServerProcess) -> list[str]:
    result = openkvs("token", "list", *server.account_args())
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line.strip()]


def test_token_create_prints_a_new_token_that_works(running: ServerProcess) -> None:
    name = unique_name("cli")
    first = only_line(openkvs("user", "create", name, *running.account_args()).stdout)
    result = openkvs("token", "create", "--user", name, *running.account_args())
    assert result.returncode == 0, result.stderr
    second = only_line(result.stdout)
    assert second != first
    for value in (first, second):
        response = me(running.url, value)
        assert response.status_code == 200, response.text
        assert response.json()["data"]["username"] == name


def test_token_create_for_an_unknown_user_fails(running: ServerProcess) -> None:
    nobody = "nobody-" + uuid.uuid4().hex[:8]
    result = openkvs("token", "create", "--user", nobody, *running.account_args())
    assert result.returncode != 0
    assert result.stdout.strip() == ""


def test_token_list_shows_ids_but_never_token_values(running: ServerProcess) -> None:
    name = unique_name("cli")
    user_token = only_line(openkvs("user", "create", name, *running.account_args()).stdout)
    extra_token = only_line(
        openkvs("token", "create", "--user", name, *running.account_args()).stdout
    )
    result = openkvs("token", "list", *running.account_args())
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    for secret in (running.token, user_token, extra_token):
        assert secret not in output
    rows = [line for line in result.stdout.splitlines() if name in line]
    assert len(rows) == 2, result.stdout  # both of the new user's tokens, one row each
    ids = [row.split()[0] for row in rows]
    assert len(set(ids)) == 2
    bootstrap_rows = [line for line in result.stdout.splitlines() if running.username in line]
    assert bootstrap_rows, result.stdout


def test_token_revoke_makes_the_token_fail_on_the_running_server(running: ServerProcess) -> None:
    name = unique_name("cli")
    kept = only_line(openkvs("user", "create", name, *running.account_args()).stdout)
    before = set(token_rows(running))
    doomed = only_line(openkvs("token", "create", "--user", name, *running.account_args()).stdout)
    new_rows = [row for row in token_rows(running) if row not in before]
    assert len(new_rows) == 1, new_rows
    token_id = new_rows[0].split()[0]
    assert doomed not in new_rows[0]
    assert me(running.url, doomed).status_code == 200
    # A record read again and again with the token (its answer is kept: http/answer_memo.py).
    auth = {"Authorization": f"Bearer {doomed}"}
    created = httpx.post(f"{running.url}/v2/key-value-stores", headers=auth, timeout=30)
    record = f"{running.url}/v2/key-value-stores/{created.json()['data']['id']}/records/k"
    assert httpx.put(record, content=b"mine", headers=auth, timeout=30).status_code == 201
    for _ in range(3):
        assert httpx.get(record, headers=auth, timeout=30).content == b"mine"

    result = openkvs("token", "revoke", token_id, *running.account_args())
    assert result.returncode == 0, result.stderr

    response = me(running.url, doomed)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["type"] == "invalid-token"
    assert httpx.get(record, headers=auth, timeout=30).status_code == 401
    # Also where no token would be needed (behaviour.md#access), and as ?token=.
    listing = httpx.get(f"{running.url}/v2/key-value-stores", params={"token": doomed}, timeout=30)
    assert listing.status_code == 401
    assert listing.json()["error"]["type"] == "invalid-token"
    # The user's other token and the owner's token keep working.
    assert me(running.url, kept).json()["data"]["username"] == name
    assert me(running.url, running.token).status_code == 200


def test_token_revoke_of_an_unknown_id_fails(running: ServerProcess) -> None:
    result = openkvs("token", "revoke", "no-such-token-id", *running.account_args())
    assert result.returncode != 0


# --- first start (bootstrap) --------------------------------------------------------------------


def test_first_start_prints_ready_to_paste_lines_and_keeps_a_private_copy(
    running: ServerProcess,
) -> None:
    lines = running.log().splitlines()
    assert f"APIFY_API_BASE_URL={running.url}" in lines, running.log()
    assert f"APIFY_API_PUBLIC_BASE_URL={running.url}" in lines, running.log()
    assert f"APIFY_TOKEN={running.token}" in lines, running.log()
    copy = running.data_dir / "bootstrap-token"
    assert copy.is_file()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert copy.read_text().strip() == running.token
    response = me(running.url, running.token)
    assert response.json()["data"]["username"] == running.username


def test_second_start_does_not_print_the_token_again(running: ServerProcess) -> None:
    first_log = running.log()
    assert f"APIFY_TOKEN={running.token}" in first_log
    running.stop()
    running.start()
    second_log = running.log()[len(first_log) :]
    assert second_log.strip(), "the second start logged nothing at all"
    assert "APIFY_TOKEN=" not in second_log
    assert running.token not in second_log
    assert me(running.url, running.token).status_code == 200


def test_first_start_with_a_public_url_prints_it(make_server: MakeServer) -> None:
    public = "https://kvs.example.test:8443"
    server = make_server(["--public-url", public])
    lines = server.log().splitlines()
    assert f"APIFY_API_PUBLIC_BASE_URL={public}" in lines, server.log()
    assert f"APIFY_TOKEN={server.token}" in lines


def start_raw_server(
    data_dir: Path, log_path: Path, args: list[str], env: dict[str, str], backend: BackendConfig
) -> tuple[subprocess.Popen[bytes], IO[bytes], str]:
    """`openkvs serve` with no --token/--username unless `args` has them, on `backend`'s store."""
    port = free_port()
    log = open(log_path, "wb")  # noqa: SIM115 - closed by the caller's finally
    command = [sys.executable, "-m", "openkvs", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--data-dir", str(data_dir), *backend.extra_args, *args]
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        env=cli_env({**backend.env, **env}),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return proc, log, f"http://127.0.0.1:{port}"


def wait_for_token_line(proc: subprocess.Popen[bytes], log_path: Path) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        found = re.search(r"^APIFY_TOKEN=(\S+)$", text, re.MULTILINE)
        if found:
            return found.group(1)
        if proc.poll() is not None:
            pytest.fail(f"server exited ({proc.returncode}):\n{text}")
        time.sleep(0.05)
    pytest.fail(f"no APIFY_TOKEN line:\n{log_path.read_text(errors='replace')}")


def wait_until_up(url: str, token: str) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return me(url, token)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_first_start_without_a_token_makes_a_random_one(tmp_path: Path, backend: str) -> None:
    data_dir = tmp_path / "data"
    log_path = tmp_path / "server.log"
    config = backend_config(backend)
    proc, log, url = start_raw_server(data_dir, log_path, ["--username", "randomtok"], {}, config)
    try:
        token = wait_for_token_line(proc, log_path)
        assert len(token) >= 20
        response = wait_until_up(url, token)
        assert response.status_code == 200, response.text
        assert response.json()["data"]["username"] == "randomtok"
        assert (data_dir / "bootstrap-token").read_text().strip() == token
        assert stat.S_IMODE((data_dir / "bootstrap-token").stat().st_mode) == 0o600
        assert log_path.read_text().count(token) == 1  # printed once, never logged again
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


def test_first_start_takes_token_and_username_from_env(tmp_path: Path, backend: str) -> None:
    data_dir = tmp_path / "data"
    log_path = tmp_path / "server.log"
    env = {"OPENKVS_TOKEN": "env-token-" + uuid.uuid4().hex, "OPENKVS_USERNAME": "fromenv"}
    proc, log, url = start_raw_server(data_dir, log_path, [], env, backend_config(backend))
    try:
        assert wait_for_token_line(proc, log_path) == env["OPENKVS_TOKEN"]
        response = wait_until_up(url, env["OPENKVS_TOKEN"])
        assert response.status_code == 200, response.text
        assert response.json()["data"]["username"] == "fromenv"
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


def test_serve_with_an_invalid_username_exits_non_zero(tmp_path: Path, backend: str) -> None:
    log_path = tmp_path / "server.log"
    args = ["--username", "Not Valid!"]
    proc, log, _ = start_raw_server(tmp_path / "data", log_path, args, {}, backend_config(backend))
    try:
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"server kept running:\n{log_path.read_text(errors='replace')}")
        assert code != 0
        assert "APIFY_TOKEN=" not in log_path.read_text(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(15)
        log.close()
