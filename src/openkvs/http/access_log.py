"""One access-log line per request, as text or JSON: secrets masked, control characters escaped.

Cheap on the request path: a request queues the facts of its line (one tuple of values it
already holds) and nothing more. A thread of the log's own formats the queued lines and writes
them, a few times a second: `FORMAT_BATCH` lines at a time, each batch followed by a pause
without the GIL, so the thread never holds the GIL for long (a thread that formatted thousands
of lines at once would hold it for milliseconds, which the latency of every request in flight
would show). A batch of plain lines (nearly all of them) is formatted by one `%`. Closing the
log (at shutdown) writes every line still queued.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

SECRET_PARAMS = ("token", "signature")
# What could end a line, move the cursor or split a field: C0 and C1 controls, DEL, the quote
# around the request, the backslash of the escapes themselves, and Unicode's line separators.
UNSAFE = re.compile(r'[\x00-\x1f\x7f-\x9f\u2028\u2029"\\]')
# How often the writer wakes up, how many lines it formats at once, and how much text it
# gathers before a write().
FLUSH_SECONDS = 0.5
FORMAT_BATCH = 64
WRITE_SIZE = 1 << 16
# The pause between two batches, without the GIL. A thread that released the GIL only for a
# write() would take it back before a waiting thread wakes up, and the event loop would then wait
# for the interpreter's switch interval (5 ms) at every batch.
BATCH_PAUSE_SECONDS = 0.0002
# Lines waiting beyond this (the log's reader has stopped reading) are counted, not kept.
MAX_QUEUED = 1_000_000


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """`text` with every unsafe character as `\\xNN`, so one request is always one line."""
    return UNSAFE.sub(_escape_char, text) if UNSAFE.search(text) else text


def redact_query(query: str) -> str:
    """The query for the log, secrets masked by their decoded name (so %74oken= is caught)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(name.lower() in SECRET_PARAMS for name, _ in pairs):
        return query
    return urlencode([(n, "***" if n.lower() in SECRET_PARAMS else v) for n, v in pairs])


LINE = '%s,%03d INFO openkvs.access: %s "%s %s%s" %d %.1fms id=%s\n'
_second_shown: list[tuple[int, str]] = [(-1, "")]  # the last whole second formatted, its text


# What JSON leaves raw but a line-oriented reader could take for a line end or a control: C1
# controls, DEL and Unicode's line separators (orjson already escapes C0 controls).
UNSAFE_IN_JSON = re.compile(r"[\x7f-\x9f\u2028\u2029]")
_json_second: list[Any] = [-1, ""]


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def escape_json_text(text: str) -> str:
    """Serialised JSON with what UNSAFE_IN_JSON matches as \\u escapes (still the same JSON)."""
    return UNSAFE_IN_JSON.sub(_json_escape, text) if UNSAFE_IN_JSON.search(text) else text


def format_json(
    scope: dict[str, Any],
    status: int,
    duration_ms: float,
    request_id: str,
    wall: float,
    facts: RequestFacts,
) -> str:
    """The line as one JSON object; never a token or signature (the query is masked)."""
    return _json_line(_queued(scope, status, duration_ms, request_id, wall, facts))


def _json_line(line: Queued) -> str:
    host, method, path, raw_query, status, duration_ms, request_id, wall, facts = line
    if facts is None:
        facts = NO_FACTS
    seconds = int(wall)
    if seconds != _json_second[0]:
        _json_second[:] = [
            seconds,
            datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        ]
    fields = {
        "time": f"{_json_second[1]}.{int((wall - seconds) * 1000):03d}Z",
        "level": "INFO",
        "logger": "openkvs.access",
        "request_id": request_id,
        "client": host,
        "method": method,
        "route": facts.route,
        "path": path,
        "query": redact_query(raw_query.decode("latin-1")) if raw_query else None,
        "status": status,
        "duration_ms": round(duration_ms, 3),
        "bytes_in": facts.bytes_in,
        "bytes_out": facts.bytes_out,
        "user_id": facts.user_id,
    }
    try:
        text = orjson.dumps(fields).decode()
    except orjson.JSONEncodeError:  # a lone surrogate: shown by its code, like any unsafe char
        fields["path"] = path.encode("utf-8", "backslashreplace").decode()
        text = orjson.dumps(fields).decode()
    return escape_json_text(text) + "\n"


class RequestFacts:
    """What the JSON line tells beyond the text one: route template, body bytes, the user."""

    __slots__ = ("bytes_in", "bytes_out", "route", "user_id")

    def __init__(self, route: str, bytes_in: int, bytes_out: int, user_id: str | None) -> None:
        self.route = route
        self.bytes_in = bytes_in
        self.bytes_out = bytes_out
        self.user_id = user_id


def _clean(text: str) -> bool:
    """True when `escape` would change nothing (the common case, tested cheaply)."""
    return text.isprintable() and '"' not in text and "\\" not in text


def format_line(
    scope: dict[str, Any], status: int, duration_ms: float, request_id: str, wall: float
) -> str:
    """The line as the server's other log lines look: `2026-12-06 07:59:57,123 INFO ...`."""
    return text_line(_queued(scope, status, duration_ms, request_id, wall, None))


def _second_text(seconds: int) -> str:
    """`2026-12-06 07:59:57` for a whole second of wall time, formatted once a second."""
    shown = _second_shown[0]
    if shown[0] != seconds:
        shown = (seconds, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)))
        _second_shown[0] = shown
    return shown[1]


def text_line(line: Queued) -> str:
    host, method, path, raw_query, status, duration_ms, request_id, wall, _ = line
    seconds = int(wall)
    if host is None:
        host = "-"
    if not (_clean(host) and _clean(method) and _clean(path)):
        host, method, path = escape(host), escape(method), escape(path)
    query = "?" + escape(redact_query(raw_query.decode("latin-1"))) if raw_query else ""
    millis = int((wall - seconds) * 1000)
    return LINE % (
        _second_text(seconds),
        millis,
        host,
        method,
        path,
        query,
        status,
        duration_ms,
        request_id,
    )


# The ASCII characters `escape` would change.
UNSAFE_ASCII = bytes([*range(0x20), 0x7F, ord('"'), ord("\\")])


def _ascii_clean(data: bytes) -> bool:
    """True when `data` holds none of UNSAFE_ASCII (one pass in C, faster than isprintable)."""
    return len(data.translate(None, UNSAFE_ASCII)) == len(data)


PLAIN_LINE = '%s,%03d INFO openkvs.access: %s "%s %s" %d %.1fms id=%s\n'


def plain_text_lines(lines: list[Queued]) -> str | None:
    """The lines of a batch formatted by one `%`, when each is plain (the same wall second, no
    query, nothing to escape: what nearly every batch is); None for any other batch."""
    second = int(lines[0][7])
    prefix = _second_text(second)
    values: list[Any] = []
    shown: list[str] = []
    for host, method, path, raw_query, status, duration_ms, request_id, wall, _ in lines:
        if raw_query or int(wall) != second:
            return None
        if host is None:
            host = "-"
        millis = int((wall - second) * 1000)
        values += (prefix, millis, host, method, path, status, duration_ms, request_id)
        shown += (host, method, path)
    text = "".join(shown)
    if not (text.isascii() and _ascii_clean(text.encode())):
        return None
    return (PLAIN_LINE * len(lines)) % tuple(values)


# What a request queues for its line: client host, method, path, raw query, status, duration
# (ms), request id, wall time, and for JSON lines the facts only they show. Plain values only, so
# nothing of the request (its scope, its headers) outlives it in the queue.
Queued = tuple[str | None, str, str, bytes, int, float, str, float, "RequestFacts | None"]


def _queued(
    scope: dict[str, Any],
    status: int,
    duration_ms: float,
    request_id: str,
    wall: float,
    facts: RequestFacts | None,
) -> Queued:
    client = scope.get("client")
    return (
        client[0] if client else None,
        scope["method"],
        scope["path"],
        scope["query_string"],
        status,
        duration_ms,
        request_id,
        wall,
        facts,
    )


NO_FACTS = RequestFacts("-", 0, 0, None)


class AccessLog:
    """The queue of lines and the thread that writes them to `fd` (standard error by default)."""

    def __init__(self, fd: int = 2, json: bool = False) -> None:
        self._fd = fd
        self.json = json  # the caller passes RequestFacts only then: the text line needs none
        self._queue: deque[Queued] = deque()
        self._format = _json_line if json else text_line
        self._dropped = 0
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="openkvs-access-log", daemon=True)
        self._thread.start()

    def request(
        self,
        scope: dict[str, Any],
        status: int,
        duration_ms: float,
        request_id: str,
        facts: RequestFacts | None = None,
    ) -> None:
        """Note one answered request (called on the event loop: one tuple queued)."""
        queue = self._queue
        if len(queue) >= MAX_QUEUED:
            self._dropped += 1
            return
        queue.append(_queued(scope, status, duration_ms, request_id, time.time(), facts))

    def close(self) -> None:
        """Write every queued line, then stop the writer."""
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            self._wake.wait(FLUSH_SECONDS)
            closing = self._closed
            self._write_queued()
            if closing:
                return

    def _write_queued(self) -> None:
        queue = self._queue
        texts: list[str] = []
        size = 0
        while queue:
            lines = [queue.popleft() for _ in range(min(len(queue), FORMAT_BATCH))]
            text = self._formatted(lines)
            texts.append(text)
            size += len(text)
            if size >= WRITE_SIZE or not queue:
                self._write("".join(texts).encode("utf-8", "replace"))
                texts, size = [], 0
            if queue:
                time.sleep(BATCH_PAUSE_SECONDS)
        if self._dropped:
            dropped, self._dropped = self._dropped, 0
            now = time.strftime("%Y-%m-%d %H:%M:%S")
            self._write(
                f"{now},000 WARNING openkvs.access: {dropped} lines were not written: the "
                "log's reader did not keep up\n".encode()
            )

    def _formatted(self, lines: list[Queued]) -> str:
        if not self.json:
            with contextlib.suppress(Exception):  # formatted again one by one, below
                plain = plain_text_lines(lines)
                if plain is not None:
                    return plain
        return "".join([self._formatted_one(line) for line in lines])

    def _formatted_one(self, line: Queued) -> str:
        try:
            return self._format(line)
        except Exception:  # never the end of the log: its thread goes on with the next line
            now = time.strftime("%Y-%m-%d %H:%M:%S")
            request_id = escape(str(line[6]))
            return f"{now},000 ERROR openkvs.access: request {request_id}: line not formatted\n"

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._fd, view)
            except InterruptedError:
                continue
            except OSError:
                return  # nowhere to write (closed standard error): nothing else to do
            view = view[written:]
