"""Strict durability, proven from the system calls (behaviour.md#durability): nothing is
acknowledged before it is on
stable storage.

The embedded server runs under `strace -f` (every thread; `-yy` names the file or connection of
every descriptor). The test sends PUTs, small (inline in SQLite) and large (files), some of them
concurrently, each to its own key and with a body that starts with `BODY:<key>;`. Then, for every
PUT answered 201, it finds in the trace the system call that wrote that answer (a write on a
connection of the server's port whose bytes begin `HTTP/1.1 201` and carry
`location: .../records/<key>`) and checks what happened before that call began:

- every body: the first WAL write that holds the key (the page with the record's row), then an
  fsync/fdatasync of `openkvs.db-wal` that began after that write and returned 0; for a small body
  the same for the body's bytes (its marker) in the WAL;
- a large body, in addition: the file in `tmp/` that holds it (found by its first bytes) was
  fsync'd after its last write, and `tmp/` itself was fsync'd after the file was created, both
  finished before the record's row was first written to the WAL (write-ahead: a durable commit
  never points at a file that is not durable); the row holds the file's name and reached a WAL
  fsync before the answer; and the move of the file into `blobs/` happened only after that commit
  was durable (or a crash could leave a file no record points at).

The converse: the same workload on `--durability relaxed` must fail the audit (no fsync of the
files at all; some commits answered before any WAL fsync), so the audit can actually fail.
"""

from __future__ import annotations

import random
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.reliability_process import WrappedServer

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.embedded_only("traces the embedded store's files and fsyncs"),
]

STORES = "/v2/key-value-stores"
INLINE_THRESHOLD = 64 * 1024
TRACED = (
    "openat,write,writev,pwrite64,pwritev,pwritev2,sendto,sendmsg,"
    "fsync,fdatasync,rename,renameat,renameat2"
)
# strace shows this many bytes of each buffer: a whole database page (the record's row is
# somewhere in it), an HTTP head.
STRING_LIMIT = 4096
WRITE_CALLS = {"write", "writev", "pwrite64", "pwritev", "pwritev2", "sendto", "sendmsg"}
SYNC_CALLS = {"fsync", "fdatasync"}
RENAME_CALLS = {"rename", "renameat", "renameat2"}

# --- the trace ------------------------------------------------------------------------------------

LINE_RE = re.compile(r"^(\d+)\s+\d\d:\d\d:\d\d\.\d+\s+(.*)$")
RESUMED_RE = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
CALL_RE = re.compile(r"^(\w+)\((.*)$")
UNFINISHED = " <unfinished ...>"
RESULT_RE = re.compile(r"\s=\s(-?\d+|\?)(?:<[^>]*>)?(?:\s+(E[A-Z0-9]+)\b.*)?$")
# The descriptor in the first argument, as -yy prints it: 5</path> or 7<TCP:[a:p->b:q]>.
FD_RE = re.compile(r"^(?:AT_FDCWD|\d+)<((?:TCP|TCPv6|UDP|UDPv6|UNIX)[^\]]*\]|[^>]*)>")
OPENED_RE = re.compile(r"\s=\s\d+<([^>]*)>$")


@dataclass
class Call:
    """One system call: where its entry and its exit are in the trace's order of events."""

    pid: int
    name: str
    args: str
    entry: int
    exit: int | None = None
    result: int | None = None
    errno: str | None = None

    @property
    def fd_path(self) -> str | None:
        match = FD_RE.match(self.args)
        return match.group(1) if match else None

    @property
    def first_string(self) -> str | None:
        start = self.args.find('"')
        return None if start < 0 else self.args[start + 1 :]

    def brief(self) -> str:
        text = f"{self.name}({self.args}"
        return (text[:200] + "...") if len(text) > 200 else text


def parse_trace(path: Path) -> list[Call]:
    """The traced calls in the order strace saw their entries; `exit` orders their returns.

    strace handles one thread's stop at a time and a traced thread stays stopped until strace has
    written its line, so a call that returned before another one began (as a commit that wakes the
    request waiting for it) is earlier in the file.
    """
    calls: list[Call] = []
    pending: dict[int, Call] = {}
    with path.open(errors="replace") as trace:
        for index, raw in enumerate(trace):
            line = raw.rstrip("\n")
            match = LINE_RE.match(line)
            if not match:
                continue
            pid, rest = int(match.group(1)), match.group(2)
            if rest.startswith(("+++", "---")):
                continue
            resumed = RESUMED_RE.match(rest)
            if resumed:
                call = pending.pop(pid, None)
                if call is None or call.name != resumed.group(1):
                    continue
                call.args += resumed.group(2)
                _finish(call, resumed.group(2), index)
                continue
            started = CALL_RE.match(rest)
            if not started:
                continue
            call = Call(pid, started.group(1), started.group(2), index)
            calls.append(call)
            if rest.endswith(UNFINISHED):
                call.args = call.args[: -len(UNFINISHED)]
                pending[pid] = call
            else:
                _finish(call, started.group(2), index)
    return calls


def _finish(call: Call, text: str, index: int) -> None:
    call.exit = index
    match = RESULT_RE.search(text)
    if match and match.group(1) != "?":
        call.result = int(match.group(1))
        call.errno = match.group(2)


# --- the audit ------------------------------------------------------------------------------------


@dataclass
class Put:
    key: str
    body: bytes

    @property
    def large(self) -> bool:
        return len(self.body) > INLINE_THRESHOLD

    @property
    def marker(self) -> str:
        return f"BODY:{self.key};"


@dataclass
class Audit:
    calls: list[Call]
    data_dir: Path
    port: int
    problems: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    wal_syncs: int = 0

    def __post_init__(self) -> None:
        self.root = root = str(self.data_dir.resolve())
        self.wal = root + "/openkvs.db-wal"
        self.tmp = root + "/tmp"
        writes = [c for c in self.calls if c.name in WRITE_CALLS]
        self.wal_writes = [c for c in writes if c.fd_path == self.wal and c.exit is not None]
        self.tmp_writes = [
            c for c in writes if (c.fd_path or "").startswith(self.tmp + "/") and c.exit is not None
        ]
        self.responses = [
            c for c in writes if (c.fd_path or "").startswith("TCP") and _starts(c, "HTTP/1.1 201 ")
        ]
        self.syncs = [c for c in self.calls if c.name in SYNC_CALLS and c.result == 0]
        self.wal_syncs = sum(1 for c in self.syncs if c.fd_path == self.wal)
        self.renames = [c for c in self.calls if c.name in RENAME_CALLS and c.result == 0]
        self.opens = [c for c in self.calls if c.name == "openat" and c.exit is not None]

    def fail(self, put: Put, message: str) -> None:
        self.problems.setdefault(put.key, []).append(message)

    def check(self, put: Put) -> None:
        answer = self._response(put)
        if answer is None:
            return
        row_write = self._first_wal_write(put.key, before=answer.entry)
        if row_write is None:
            self.fail(put, "its record row was never written to the WAL before the answer")
            return
        last_needed = row_write
        if not put.large:
            body_write = self._first_wal_write(put.marker, before=answer.entry)
            if body_write is None:
                self.fail(put, "its body was never written to the WAL before the answer")
                return
            last_needed = max(row_write, body_write, key=_exit)
        else:
            blob_row_write = self._check_file(put, answer, row_write)
            if blob_row_write is None:
                return
            last_needed = max(row_write, blob_row_write, key=_exit)
        commit = self._sync_between(self.wal, after=_exit(last_needed), before=answer.entry)
        if commit is None:
            self.fail(
                put,
                f"no fsync of {self.wal} between the record's WAL write "
                f"(event {_exit(last_needed)}) and the answer (event {answer.entry})",
            )
            return
        if put.large:
            self._check_publish(put, commit)

    def _response(self, put: Put) -> Call | None:
        location = f"/records/{put.key}\\r\\n"
        found = [c for c in self.responses if location in c.args]
        if len(found) != 1:
            self.fail(put, f"expected one 201 answer carrying its Location, found {len(found)}")
            return None
        answer = found[0]
        if f":{self.port}->" not in (answer.fd_path or ""):
            self.fail(put, f"its answer went to {answer.fd_path}, not a connection to the server")
        return answer

    def _first_wal_write(self, needle: str, before: int) -> Call | None:
        for call in self.wal_writes:
            if call.entry >= before:
                return None
            if needle in call.args:
                return call
        return None

    def _sync_between(
        self, path: str, after: int, before: int, also: str | None = None
    ) -> Call | None:
        for call in self.syncs:
            if call.fd_path in (path, also) and call.entry > after and _exit(call) < before:
                return call
        return None

    def _check_file(self, put: Put, answer: Call, row_write: Call) -> Call | None:
        """The body file's and tmp/'s fsyncs; returns the WAL write of the row naming the file."""
        firsts = [c for c in self.tmp_writes if _starts(c, put.marker)]
        paths = {c.fd_path for c in firsts}
        if len(paths) != 1:
            self.fail(put, f"expected one file in tmp/ holding its body, found {sorted(paths)}")
            return None
        path = str(paths.pop())
        name = path.rsplit("/", 1)[1]
        file_writes = [c for c in self.tmp_writes if c.fd_path == path]
        if any(c.entry > answer.entry for c in file_writes):
            self.fail(put, "its body file was still being written after the answer")
        last_write = max(_exit(c) for c in file_writes)
        created = [c for c in self.opens if _opened_path(c) == path]
        if not created or "O_CREAT" not in created[0].args:
            self.fail(put, f"no openat(O_CREAT) of {path} in the trace")
            return None
        # After the move into blobs/ the same descriptor is named by its new path.
        moved = f"{self.root}/blobs/{name[:2]}/{name}"
        file_sync = self._sync_between(path, after=last_write, before=answer.entry, also=moved)
        dir_sync = self._sync_between(self.tmp, after=_exit(created[0]), before=answer.entry)
        if file_sync is None:
            self.fail(put, f"its body file {path} was not fsync'd after its last write")
        elif _exit(file_sync) > row_write.entry:
            self.fail(put, "its body file was fsync'd only after the record row reached the WAL")
        if dir_sync is None:
            self.fail(put, f"{self.tmp} was not fsync'd after the body file was created")
        elif _exit(dir_sync) > row_write.entry:
            self.fail(put, "tmp/ was fsync'd only after the record row reached the WAL")
        blob_row_write = self._first_wal_write(name, before=answer.entry)
        if blob_row_write is None:
            self.fail(put, f"no WAL write names its file {name} before the answer")
            return None
        self.files[put.key] = path
        return blob_row_write

    def _check_publish(self, put: Put, commit: Call) -> None:
        path = self.files[put.key]
        name = path.rsplit("/", 1)[1]
        moves = [
            c
            for c in self.renames
            if f'/tmp/{name}"' in c.args and f'/blobs/{name[:2]}/{name}"' in c.args
        ]
        if not moves:
            self.fail(put, f"its file {name} was never moved into blobs/")
        elif moves[0].entry < _exit(commit):
            self.fail(put, "its file was moved into blobs/ before the commit was durable")


def _opened_path(call: Call) -> str | None:
    match = OPENED_RE.search(call.args)
    return match.group(1) if match else None


def _exit(call: Call) -> int:
    assert call.exit is not None
    return call.exit


def _starts(call: Call, text: str) -> bool:
    content = call.first_string
    return content is not None and content.startswith(text)


# --- the workload ---------------------------------------------------------------------------------

SEQUENTIAL_SMALL = 16
SEQUENTIAL_LARGE = 6
THREADS = 8
ROUNDS = 5


def make_puts(seed: int) -> tuple[list[Put], list[list[Put]]]:
    """Sequential PUTs (both kinds, and the sizes either side of the inline threshold), then
    ROUNDS rounds of THREADS concurrent ones."""
    rng = random.Random(seed)
    counter = iter(range(1, 10_000))

    def put(size: int) -> Put:
        key = f"fa-{'l' if size > INLINE_THRESHOLD else 's'}-{next(counter):04d}"
        head = f"BODY:{key};".encode()
        return Put(key, head + rng.randbytes(max(0, size - len(head))))

    sequential = [put(rng.randint(40, 8000)) for _ in range(SEQUENTIAL_SMALL)]
    sequential += [put(rng.randint(INLINE_THRESHOLD + 1, 400_000)) for _ in range(SEQUENTIAL_LARGE)]
    sequential += [put(INLINE_THRESHOLD), put(INLINE_THRESHOLD + 1)]
    rounds = [
        [
            put(rng.randint(INLINE_THRESHOLD + 1, 300_000) if i % 3 == 0 else rng.randint(40, 6000))
            for i in range(THREADS)
        ]
        for _ in range(ROUNDS)
    ]
    return sequential, rounds


def send_puts(server: WrappedServer, seed: int) -> tuple[list[Put], dict[str, int]]:
    """All the PUTs; returns them and the status each got."""
    sequential, rounds = make_puts(seed)
    headers = {"Authorization": f"Bearer {server.token}"}
    statuses: dict[str, int] = {}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        created = client.post(STORES, params={"name": f"audit{seed}"})
        assert created.status_code == 201, created.text
        store_id = created.json()["data"]["id"]
        for put in sequential:
            statuses[put.key] = _put(client, store_id, put)
    barrier = threading.Barrier(THREADS)

    def worker(column: int) -> dict[str, int]:
        seen: dict[str, int] = {}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
            for row in rounds:
                barrier.wait(timeout=30)
                seen[row[column].key] = _put(client, store_id, row[column])
        return seen

    with ThreadPoolExecutor(THREADS) as pool:
        for seen in pool.map(worker, range(THREADS)):
            statuses.update(seen)
    return sequential + [put for row in rounds for put in row], statuses


def _put(client: httpx.Client, store_id: str, put: Put) -> int:
    response = client.put(
        f"{STORES}/{store_id}/records/{put.key}",
        content=put.body,
        headers={"Content-Type": "application/octet-stream"},
    )
    return response.status_code


def traced_run(tmp_path: Path, durability: str, seed: int) -> tuple[list[Put], Audit, int]:
    """Run the workload on a traced server; returns the PUTs acknowledged, the audit (done) and
    how many PUTs were sent."""
    trace = tmp_path / f"strace-{durability}.txt"
    wrapper = [
        "strace",
        "-f",
        "-tt",
        "-yy",
        "-s",
        str(STRING_LIMIT),
        "--seccomp-bpf",
        "-e",
        f"trace={TRACED}",
        "-o",
        str(trace),
        "--",
    ]
    server = WrappedServer(
        tmp_path / f"data-{durability}",
        wrapper=wrapper,
        log_path=tmp_path / f"server-{durability}.log",
        extra_args=["--durability", durability, "--inline-threshold", str(INLINE_THRESHOLD)],
    )
    server.start(timeout=60)
    try:
        puts, statuses = send_puts(server, seed)
    finally:
        server.stop()
    assert server.proc is not None and server.proc.returncode is not None, "strace did not end"
    page_size = int.from_bytes((server.data_dir / "openkvs.db").read_bytes()[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size  # how the file header writes 64 KiB
    assert page_size <= STRING_LIMIT, f"database pages of {page_size} bytes: raise STRING_LIMIT"
    acknowledged = [put for put in puts if statuses.get(put.key) == 201]
    audit = Audit(parse_trace(trace), server.data_dir, server.port)
    for put in acknowledged:
        audit.check(put)
    others = {k: v for k, v in statuses.items() if v != 201}
    assert not others, f"PUTs not acknowledged: {others}\n{server.log()[-3000:]}"
    return acknowledged, audit, len(puts)


@pytest.fixture(autouse=True)
def _need_strace() -> None:
    if shutil.which("strace") is None:
        pytest.fail("strace is missing: run `bash tests/install_services.sh` (apt-get strace)")


def test_strict_durability_every_acknowledged_put_was_fsynced_first(
    backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    acknowledged, audit, sent = traced_run(tmp_path, "strict", seed=1)
    large = sum(1 for put in acknowledged if put.large)
    with capsys.disabled():
        print(
            f"\nfsync-audit strict: puts={sent} acknowledged={len(acknowledged)} "
            f"large={large} small={len(acknowledged) - large} wal_fsyncs={audit.wal_syncs} "
            f"violations={len(audit.problems)}"
        )
    assert len(acknowledged) == sent
    assert not audit.problems, "\n".join(
        f"{key}: {'; '.join(problems)}" for key, problems in sorted(audit.problems.items())
    )


def test_relaxed_durability_fails_the_audit(
    backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    acknowledged, audit, sent = traced_run(tmp_path, "relaxed", seed=2)
    assert len(acknowledged) == sent
    large = [put for put in acknowledged if put.large]
    small = [put for put in acknowledged if not put.large]
    file_synced = [
        put.key
        for put in large
        if not any("not fsync'd after its last write" in p for p in audit.problems.get(put.key, []))
    ]
    failing_small = [put.key for put in small if put.key in audit.problems]
    with capsys.disabled():
        print(
            f"\nfsync-audit relaxed: acknowledged={len(acknowledged)} "
            f"violations={len(audit.problems)} (large {len(large)}, "
            f"small {len(failing_small)}/{len(small)}) wal_fsyncs={audit.wal_syncs}"
        )
    assert large and not file_synced, (
        f"relaxed: every large PUT should fail the audit for its unsynced file: {file_synced}"
    )
    assert failing_small, "relaxed: no small PUT failed the audit; the WAL check cannot fail"
