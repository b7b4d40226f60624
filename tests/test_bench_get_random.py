"""bench/lua/get_random.lua (W8) under a real wrk: every request names one of the N records, and
they spread over many of them. A second of wrk against a tiny server that records the paths."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from bench.tools import find_binary
from bench.wrk import run_wrk

PREFIX = "/bench/"
COUNT = 50


class PathRecorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        PathRecorder.paths.append(self.path)
        # One write: headers and body apart would wait out delayed ACKs (a few requests a second).
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    PathRecorder.paths = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), PathRecorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.skipif(find_binary("wrk") is None, reason="wrk is not installed")
def test_requests_name_random_records_within_the_n_keys(server: ThreadingHTTPServer) -> None:
    port = server.server_address[1]
    result = run_wrk(
        f"http://127.0.0.1:{port}/",
        connections=2,
        duration=1.0,
        script="get_random",
        script_args=[PREFIX, str(COUNT), "w8-%05d", "1"],
    )
    assert result.problem is None
    paths = PathRecorder.paths
    assert len(paths) >= 200
    pattern = re.compile(re.escape(PREFIX) + r"w8-(\d{5})")
    indexes = []
    for path in paths:
        match = pattern.fullmatch(path)
        assert match, path
        indexes.append(int(match.group(1)))
    assert min(indexes) >= 0 and max(indexes) < COUNT
    assert len(set(indexes)) > COUNT // 2  # spread, not one key over and over
    assert indexes[:20] != [indexes[0]] * 20
