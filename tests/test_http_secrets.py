"""Secrets (D7): tokens never logged, stored hashed; the first-start banner."""

from __future__ import annotations

import re
import stat
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.http_helpers import STORES, run_server
from tests.server_process import ServerProcess


def test_tokens_are_not_written_to_the_log(
    server: ServerProcess, anon: httpx.Client, store: dict[str, object], other_user: str
) -> None:
    marker = "marker-" + uuid.uuid4().hex[:8]
    bogus = "bogus" + uuid.uuid4().hex
    anon.get(f"{STORES}/{store['id']}/records/{marker}", params={"token": server.token})
    anon.get(f"{STORES}/{store['id']}/records/{marker}", params={"token": other_user})
    anon.get(f"{STORES}/{store['id']}/records/{marker}", params={"token": bogus})
    anon.get(
        f"{STORES}/{store['id']}/records/{marker}",
        headers={"Authorization": f"Bearer {other_user}"},
    )
    deadline = time.monotonic() + 3
    while server.log().count(marker) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    log = server.log()
    assert log.count(marker) >= 4, "the access log has no line for these requests"
    assert other_user not in log
    assert bogus not in log
    after_start = log.split(marker, 1)[1]
    assert server.token not in after_start


def test_other_users_token_is_not_stored_in_plain_text(
    server: ServerProcess, http: httpx.Client, other_user: str
) -> None:
    assert http.get("/v2/users/me", headers={"Authorization": f"Bearer {other_user}"}).is_success
    for path in Path(server.data_dir).rglob("*"):
        if path.is_file():
            assert other_user.encode() not in path.read_bytes(), path


def test_first_start_prints_ready_to_paste_lines_once_and_keeps_private_copy(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data_dir = tmp_path_factory.mktemp("banner") / "data"
    public = "http://public.example:9999"
    for proc in run_server(data_dir, ["--public-url", public]):
        log = proc.log()
        assert re.search(r"APIFY_API_BASE_URL=\S*http", log), log
        assert re.search(r"APIFY_API_PUBLIC_BASE_URL=\S*" + re.escape(public), log), log
        assert re.search(r"APIFY_TOKEN=\S*" + re.escape(proc.token), log), log
        holders = [
            p for p in data_dir.rglob("*") if p.is_file() and proc.token.encode() in p.read_bytes()
        ]
        assert len(holders) == 1, holders
        assert stat.S_IMODE(holders[0].stat().st_mode) & 0o077 == 0, oct(holders[0].stat().st_mode)
        proc.restart()
        assert proc.log().count(proc.token) == log.count(proc.token)
