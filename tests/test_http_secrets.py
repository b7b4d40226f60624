"""Secrets (behaviour.md#access): tokens never logged, stored hashed; the first-start banner."""

from __future__ import annotations

import re
import stat
import time
import uuid
from pathlib import Path

import httpx

from tests.http_helpers import STORES
from tests.server_process import MakeServer, ServerProcess
from tests.store_inspection import places_holding


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
    # The data directory, and on scale-out the database too (objects only hold record bodies).
    assert places_holding(server, other_user.encode(), objects=False) == []


def test_first_start_prints_ready_to_paste_lines_once_and_keeps_private_copy(
    make_server: MakeServer,
) -> None:
    public = "http://public.example:9999"
    proc = make_server(["--public-url", public])
    log = proc.log()
    assert re.search(r"APIFY_API_BASE_URL=\S*http", log), log
    assert re.search(r"APIFY_API_PUBLIC_BASE_URL=\S*" + re.escape(public), log), log
    assert re.search(r"APIFY_TOKEN=\S*" + re.escape(proc.token), log), log
    # Exactly one copy, in the data directory (not in the database nor an object).
    holders = places_holding(proc, proc.token.encode())
    assert len(holders) == 1, holders
    copy = Path(holders[0])
    assert copy.is_relative_to(proc.data_dir), holders
    assert stat.S_IMODE(copy.stat().st_mode) & 0o077 == 0, oct(copy.stat().st_mode)
    proc.restart()
    assert proc.log().count(proc.token) == log.count(proc.token)
