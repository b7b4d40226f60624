"""The access log: one escaped line per request, written in batches by a thread of its own, and
nothing lost on a clean shutdown."""

from __future__ import annotations

import os
import re
import time
import uuid
import weakref
from pathlib import Path

import httpx

from openkvs.http.access_log import AccessLog, Queued, format_line, plain_text_lines, text_line
from tests.server_process import MakeServer

LINE_RE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO openkvs\.access: "
    r'127\.0\.0\.1 "GET /v2/users/me\?x=(?P<n>\d+)&token=%2A%2A%2A" 401 \d+\.\dms id=\S+$'
)


def _scope(path: str, query: bytes = b"") -> dict[str, object]:
    return {
        "method": "GET",
        "path": path,
        "query_string": query,
        "client": ("127.0.0.1", 5000),
    }


def test_a_line_has_the_fields_escaped_and_the_secrets_masked() -> None:
    scope = {**_scope('/a\nb"c', b"token=s3cret&x=1"), "client": ("127.0.0.1", 1)}
    line = format_line(scope, 200, 1.25, "id-1", 0.0)
    assert line.endswith('"GET /a\\x0ab\\x22c?token=%2A%2A%2A&x=1" 200 1.2ms id=id-1\n')
    assert line.count("\n") == 1 and "s3cret" not in line


def test_closing_writes_every_queued_line(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "access.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    log = AccessLog(fd)
    for n in range(5000):
        log.request(_scope(f"/r/{n}"), 200, 1.0, f"id-{n}")
    log.close()
    os.close(fd)
    lines = (tmp_path / "access.log").read_text().splitlines()
    assert [line.split('"')[1] for line in lines] == [f"GET /r/{n}" for n in range(5000)]


def _line(path: str, wall: float, query: bytes = b"", host: str | None = "127.0.0.1") -> Queued:
    return (host, "GET", path, query, 200, 0.4321, f"id-{wall}", wall, None)


SECOND = 1_765_000_000.0


def test_a_plain_batch_is_formatted_as_its_lines_one_by_one() -> None:
    lines = [_line(f"/r/{n}", SECOND + n / 1000) for n in range(64)]
    lines.append(_line("/r/no-client", SECOND + 0.5, host=None))
    plain = plain_text_lines(lines)
    assert plain is not None
    assert plain == "".join(text_line(line) for line in lines)
    assert plain.count("\n") == 65 and '"GET /r/no-client" 200 0.4ms' in plain


def test_a_batch_with_any_line_out_of_the_plain_is_left_to_the_lines() -> None:
    """A line with a query (its secrets masked), with anything to escape or not ASCII, or of
    another second than the first: the batch is formatted one line at a time."""
    others = [
        _line("/r/q", SECOND, query=b"token=s3cret"),
        _line('/r/a"b', SECOND),
        _line("/r/a\\b", SECOND),
        _line("/r/\x1b[2J", SECOND),
        _line("/r/caf\u00e9", SECOND),
        _line("/r/late", SECOND + 1.2),
    ]
    for other in others:
        lines = [_line("/r/plain", SECOND + 0.1), other]
        assert plain_text_lines(lines) is None
        text = "".join(text_line(line) for line in lines)
        assert text.count("\n") == 2 and "s3cret" not in text


def test_a_batch_of_every_kind_is_written_in_order(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "access.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    log = AccessLog(fd)
    paths = [f"/r/{n}" if n % 7 else f"/r/{n}\x7f\u00e9" for n in range(500)]
    for n, path in enumerate(paths):
        log.request(_scope(path, b"token=t" if n % 11 == 0 else b""), 200, 1.0, f"id-{n}")
    log.close()
    os.close(fd)
    lines = (tmp_path / "access.log").read_text().splitlines()
    assert [line.rsplit("id=", 1)[1] for line in lines] == [f"id-{n}" for n in range(500)]
    assert '"GET /r/7\\x7f\u00e9" 200' in lines[7]
    assert '"GET /r/11?token=%2A%2A%2A" 200' in lines[11]


class _Scope(dict[str, object]):
    """A scope that can be watched for being freed."""


def test_a_queued_line_holds_nothing_of_its_request(tmp_path: Path) -> None:
    """The line is formatted later, by the log's thread, from plain values: the request's scope
    (and with it its headers, its token) is freed as soon as the request ends."""
    fd = os.open(tmp_path / "access.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    log = AccessLog(fd)
    try:
        scope = _Scope(_scope("/r/watched"))
        scope["headers"] = [(b"authorization", b"Bearer secret-token")]
        freed = weakref.ref(scope)
        log.request(scope, 200, 1.0, "id-w")
        del scope
        assert freed() is None
    finally:
        log.close()
        os.close(fd)
    assert '"GET /r/watched" 200 1.0ms id=id-w' in (tmp_path / "access.log").read_text()


def test_a_line_that_cannot_be_formatted_does_not_stop_the_log(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "access.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    log = AccessLog(fd)
    log.request({**_scope("/r/bad"), "method": 7}, 200, 1.0, "id-bad")
    log.request(_scope("/r/good"), 200, 1.0, "id-good")
    log.close()
    os.close(fd)
    lines = (tmp_path / "access.log").read_text().splitlines()
    assert lines[0].endswith("ERROR openkvs.access: request id-bad: line not formatted")
    assert lines[1].endswith('"GET /r/good" 200 1.0ms id=id-good')
    assert len(lines) == 2


def test_lines_are_written_while_the_server_runs(make_server: MakeServer) -> None:
    proc = make_server(embedded_args=(), scaleout_args=())
    marker = uuid.uuid4().hex
    httpx.get(f"{proc.url}/v2/users/me", params={"x": marker}, timeout=10)
    deadline = time.monotonic() + 10
    while marker not in proc.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker in proc.log()


def test_a_clean_shutdown_loses_no_line(make_server: MakeServer) -> None:
    proc = make_server()
    count = 300
    with httpx.Client(base_url=proc.url, timeout=10) as client:
        for n in range(count):
            response = client.get("/v2/users/me", params={"x": n, "token": "wrong"})
            assert response.status_code == 401
    proc.stop()  # SIGTERM right after the last answer, well within the writer's interval
    assert proc.proc is not None and proc.proc.returncode == 0
    numbers = [int(m["n"]) for m in map(LINE_RE.match, proc.log().splitlines()) if m]
    assert numbers == list(range(count))
