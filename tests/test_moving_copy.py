"""`openkvs copy` between real servers (docs/moving-data.md): every kind of record arrives
exactly (content type, stored encoding, bytes), a second run skips what is identical, a stopped
copy resumes, what the destination refuses is reported with its key, and memory stays flat."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.cli_process import REPO, cli_env
from tests.http_helpers import STORES, create_store, list_key_sizes, owner_client
from tests.moving_helpers import (
    KINDS,
    body_of,
    copy,
    fill,
    server_args,
    snapshot,
    store_id_by_name,
)
from tests.server_process import MakeServer, ServerProcess, backend_config

MiB = 1024 * 1024
BOTH_BACKENDS = {"embedded", "scaleout"} <= set(
    os.environ.get("OPENKVS_TEST_BACKENDS", "embedded,scaleout").split(",")
)


def unnamed_store_ids(server: ServerProcess) -> list[str]:
    with owner_client(server) as client:
        items = client.get(STORES, params={"unnamed": "true"}).json()["data"]["items"]
    return [item["id"] for item in items if item["name"] is None]


def test_copy_moves_every_kind_of_record_exactly(make_server: MakeServer) -> None:
    source, dest = make_server(), make_server()
    named = fill(source, "crawl")
    unnamed = fill(source, None)

    code, out, err = copy(source, dest)

    assert code == 0, err
    assert f"2 store(s), {2 * len(KINDS)} record(s)" in out
    assert "0 skipped (already identical), 0 failed" in out
    assert snapshot(dest, store_id_by_name(dest, "crawl")) == snapshot(source, named)
    [copied] = unnamed_store_ids(dest)
    assert snapshot(dest, copied) == snapshot(source, unnamed)
    # Stored encoded stays encoded, and decodes to the same bytes.
    assert snapshot(dest, copied)["zipped"][1] == "gzip"
    assert body_of(dest, copied, "zipped") == body_of(source, unnamed, "zipped")


def test_a_second_copy_skips_what_is_identical_and_rewrites_what_differs(
    make_server: MakeServer,
) -> None:
    source, dest = make_server(), make_server()
    named = fill(source, "crawl")
    assert copy(source, dest, "crawl")[0] == 0
    target = store_id_by_name(dest, "crawl")
    with owner_client(dest) as client:  # the destination drifts: one changed, one gone
        client.put(f"{STORES}/{target}/records/notes", content=b"changed")
        client.delete(f"{STORES}/{target}/records/screenshot")

    code, out, err = copy(source, dest, "crawl")

    assert code == 0, err
    rewritten = len(KINDS["notes"][0]) + len(KINDS["screenshot"][0])
    assert f"1 store(s), 2 record(s), {rewritten:,} bytes" in out
    assert f"{len(KINDS) - 2} skipped (already identical), 0 failed" in out
    assert snapshot(dest, target) == snapshot(source, named)


def test_a_record_the_destination_refuses_is_reported_and_the_rest_copied(
    make_server: MakeServer,
) -> None:
    source = make_server()
    dest = make_server(["--max-record-size", "100KB"])
    named = fill(source, "crawl")

    code, out, err = copy(source, dest)

    assert code == 1
    assert "FAILED crawl / screenshot: PUT: record-too-large" in err
    assert "1 failed" in out
    copied = snapshot(dest, store_id_by_name(dest, "crawl"))
    expected = snapshot(source, named)
    del expected["screenshot"]
    assert copied == expected

    # --fail-fast: the first failure ends the copy (one record at a time, in key order: zipped
    # comes after it).
    other = make_server(["--max-record-size", "100KB"])
    code, out, err = copy(source, other, "--fail-fast", "--parallel", "1")
    assert code == 1
    assert "record-too-large" in err
    with owner_client(other) as client:
        left = list_key_sizes(client, store_id_by_name(other, "crawl"))
    assert "zipped" not in left and "screenshot" not in left and "page.html" in left

    # With several records in flight, the others stop too; the failure is still the one shown.
    third = make_server(["--max-record-size", "100KB"])
    code, out, err = copy(source, third, "--fail-fast")
    assert code == 1
    assert "record-too-large" in err and "Traceback" not in err


@pytest.mark.skipif(not BOTH_BACKENDS, reason="needs both backends")
def test_copy_between_the_two_backends_both_ways(make_server: MakeServer, backend: str) -> None:
    other = "scaleout" if backend == "embedded" else "embedded"
    here = make_server()
    there = make_server(backend_override=backend_config(other))
    original = fill(here, "crawl")
    assert copy(here, there)[0] == 0
    back = make_server()
    assert copy(there, back)[0] == 0
    expected = snapshot(here, original)
    assert snapshot(there, store_id_by_name(there, "crawl")) == expected
    assert snapshot(back, store_id_by_name(back, "crawl")) == expected


def _at_a_terminal() -> None:
    """Ctrl-C as at a terminal: a test run started in the background (CI) has SIGINT ignored,
    and a child would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _copy_process(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "openkvs", "copy", *args],
        cwd=REPO,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_at_a_terminal,
    )


def test_copy_stopped_with_ctrl_c_resumes_to_an_identical_store(make_server: MakeServer) -> None:
    source, dest = make_server(), make_server()
    records = {f"r{i:04d}": os.urandom(32 * 1024) for i in range(400)}
    original = fill(source, "many", records)
    args = [*server_args(source, "from"), *server_args(dest, "to"), "many"]

    first = _copy_process(*args)
    deadline = time.monotonic() + 120
    copied = 0
    while copied < 50 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
        try:
            target = store_id_by_name(dest, "many")
            with owner_client(dest) as client:
                copied = len(list_key_sizes(client, target))
        except AssertionError:
            continue
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 130, (out, err)
    assert "interrupted" in err
    with owner_client(dest) as client:
        half = len(list_key_sizes(client, target))
    assert 50 <= half < len(records)

    second = _copy_process(*args)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    skipped = int(out.split(" skipped")[0].rsplit(" ", 1)[1])
    # Whatever landed is whole, and skipped. A body sent whole just before the stop may still
    # commit after the copy exited (the server finishes what it received): at most one per
    # thread (--parallel 4) beyond what was counted.
    assert half <= skipped <= half + 4
    assert snapshot(dest, target) == snapshot(source, original)


def _vm_peak_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


@pytest.mark.embedded_only("the memory of the copy is the subject, not the backend")
def test_copying_a_1_gib_record_keeps_memory_flat(make_server: MakeServer) -> None:
    source, dest = make_server(), make_server()
    with owner_client(source, timeout=300) as client:
        store = create_store(client, "big")["id"]

        def chunks() -> Iterator[bytes]:
            block = os.urandom(MiB)
            for _ in range(1024):
                yield block

        response = client.put(
            f"{STORES}/{store}/records/one-gib",
            content=chunks(),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(1024 * MiB)},
        )
        assert response.status_code == 201, response.text

    started = time.monotonic()
    proc = _copy_process(*server_args(source, "from"), *server_args(dest, "to"), "--quiet")
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _vm_peak_kib(proc.pid) or 0)
        time.sleep(0.1)
    out, err = proc.communicate()
    took = time.monotonic() - started
    assert proc.returncode == 0, err
    assert "1 record(s), 1,073,741,824 bytes" in out
    assert snapshot(dest, store_id_by_name(dest, "big")) == snapshot(source, store)
    print(f"\ncopy of 1 GiB: peak RSS {peak / 1024:.0f} MiB, {took:.1f} s")
    assert 0 < peak < 200 * 1024, f"peak RSS {peak} KiB"


def test_progress_is_plain_lines_off_a_terminal_nothing_with_quiet_and_bars_on_one(
    make_server: MakeServer,
) -> None:
    source, dest = make_server(), make_server()
    fill(source, "crawl")
    code, out, err = copy(source, dest)
    assert code == 0 and err == "copied crawl -> crawl\n"
    code, out, err = copy(source, dest, "--quiet")
    assert code == 0 and err == "" and "0 failed" in out

    # On a terminal: rich's bar, with the records counted.
    leader, follower = pty.openpty()
    args = [*server_args(source, "from"), *server_args(dest, "to")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "openkvs", "copy", *args],
        cwd=REPO,
        env={**cli_env(), "TERM": "xterm", "COLUMNS": "120"},
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal's last writer is gone
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    screen = shown.decode("utf-8", "replace")
    assert "crawl -> crawl" in screen and "━" in screen, screen
