"""SIGKILL durability (behaviour.md#durability), the harness of tests/test_reliability_crash.py:
records written and deleted from many threads, the server killed with SIGKILL, started again on
the same store, and every key read back.

What a key may hold after the restart (a register is linearizable): the state left by an
acknowledged operation that no other acknowledged operation on the key follows in real time (one
started after its answer arrived), or the state an operation still unanswered at the kill would
leave; with nothing acknowledged on the key in the round, also what it held before the round.
Anything else is a loss (an older state, or 404) or a torn record (a state no client sent).

A state is what a client that takes gzip is served: the stored bytes (their MD5 and size, which
the ETag and Content-Length must agree with), the Content-Type and the Content-Encoding; a gzipped
record must also decode, for a client that does not take gzip, to exactly the payload sent.

Leftovers (checked after every restart): embedded, files in tmp/ or blobs/ that no record points
at, rows of `bodies` no record points at, bodies shorter than their record, and `PRAGMA
integrity_check`; scale-out, objects under the prefix that no `records.object` names, or open
multipart uploads.
"""

from __future__ import annotations

import gzip
import hashlib
import random
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from tests.http_helpers import list_key_sizes
from tests.reliability_helpers import (
    EventOrder,
    KiB,
    MiB,
    embedded_body_problems,
    guarded,
    map_with_clients,
    owner_client,
    record_path,
    sqlite_integrity,
    wait_for_clean_body_storage,
)
from tests.server_process import MakeServer, ServerProcess

INLINE_THRESHOLD = 64 * KiB
OCTET_STREAM = "application/octet-stream"
CONTENT_TYPES = [
    OCTET_STREAM,
    "text/plain",
    "text/plain; charset=utf-8",
    "application/json",
    "image/png",
    "application/x-openkvs-test; version=3",
]
GZIP_SHARE = 0.25
READERS = 8


def crash_server(make_server: MakeServer) -> ServerProcess:
    """A server of its own on a fresh store; on scale-out with a short grace, so that the sweeper
    removes what a killed upload left behind."""
    return make_server(scaleout_args=["--object-grace", "2s"])


# --- what is written ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """What a key holds, as a client that takes gzip is served it."""

    md5: str  # of the stored bytes
    size: int  # stored bytes (the keys list's `size`)
    content_type: str
    encoding: str | None = None

    def __str__(self) -> str:
        encoded = f", {self.encoding}" if self.encoding else ""
        return f"{self.size} B md5 {self.md5} ({self.content_type}{encoded})"


State = Stored | None  # None: no record


def describe(state: State) -> str:
    return "no record (404)" if state is None else str(state)


@dataclass(frozen=True)
class Write:
    """One PUT's body and headers, made from a seed so that the bytes need not stay in memory."""

    seed: int
    size: int  # of the payload, before any encoding
    content_type: str = OCTET_STREAM
    gzipped: bool = False

    def payload(self) -> bytes:
        if self.gzipped and self.seed % 2:
            unit = b"compressible record %d " % self.seed
            return (unit * (self.size // len(unit) + 1))[: self.size]
        return random.Random(self.seed).randbytes(self.size)

    def sent(self) -> bytes:
        payload = self.payload()
        return gzip.compress(payload, 1, mtime=0) if self.gzipped else payload

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": self.content_type}
        if self.gzipped:
            headers["Content-Encoding"] = "gzip"
        return headers

    def stored(self, sent: bytes) -> Stored:
        encoding = "gzip" if self.gzipped else None
        return Stored(hashlib.md5(sent).hexdigest(), len(sent), self.content_type, encoding)


def random_size(rng: random.Random) -> int:
    """Most small, some on either side of the 64 KiB inline threshold, a few up to 8 MiB."""
    roll = rng.random()
    if roll < 0.03:
        return 0
    if roll < 0.55:
        return rng.randint(1, 2 * KiB)
    if roll < 0.80:
        return rng.randint(2 * KiB, INLINE_THRESHOLD - 2)
    if roll < 0.85:
        return rng.randint(INLINE_THRESHOLD - 1, INLINE_THRESHOLD + 1)
    if roll < 0.985:
        return rng.randint(INLINE_THRESHOLD + 2, MiB)
    if roll < 0.995:
        return rng.randint(MiB, 8 * MiB - 1)
    return 8 * MiB


def random_write(rng: random.Random) -> Write:
    return Write(
        seed=rng.getrandbits(48),
        size=random_size(rng),
        content_type=rng.choice(CONTENT_TYPES),
        gzipped=rng.random() < GZIP_SHARE,
    )


# --- writing until the kill -----------------------------------------------------------------------


@dataclass
class Op:
    """One PUT (`write`) or DELETE (`write` None), placed in real time by order numbers."""

    key: str
    write: Write | None
    state: State  # what the key holds once it is done
    start: int  # taken just before the request was sent
    end: int | None = None  # taken just after it was acknowledged; None: no answer

    def __str__(self) -> str:
        if self.write is None:
            return f"DELETE {self.key}"
        return f"PUT {self.key} ({describe(self.state)})"


@dataclass
class Round:
    """Operations from many threads until one SIGKILL ends them."""

    number: int = 0
    ops: list[Op] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    order: EventOrder = field(default_factory=EventOrder)
    kill_started: threading.Event = field(default_factory=threading.Event)
    kill_order: int = 0  # taken once the process was dead

    def send(self, client: httpx.Client, store_id: str, key: str, write: Write | None) -> bool:
        """PUT `write` (DELETE for None), tracked; whether it was acknowledged (201, 204). A failure
        is one of the round's problems, except a lost connection once the kill has begun."""
        path = record_path(store_id, key)
        data = b"" if write is None else write.sent()
        op = Op(key, write, None if write is None else write.stored(data), self.order.next())
        self.ops.append(op)
        try:
            if write is None:
                response = client.delete(path)
            else:
                response = client.put(path, content=data, headers=write.headers())
        except httpx.TransportError as exc:
            if not self.kill_started.is_set():
                self.problems.append(f"{op} before the kill: {exc!r}")
            return False
        if response.status_code != (204 if write is None else 201):
            self.problems.append(f"{op}: {response.status_code} {response.text[:300]}")
            return False
        op.end = self.order.next()
        return True

    def kill(self, server: ServerProcess) -> None:
        self.kill_started.set()
        server.kill()
        self.kill_order = self.order.next()

    @property
    def in_flight_at_kill(self) -> list[Op]:
        return [op for op in self.ops if op.end is None and op.start < self.kill_order]


def run_round(
    server: ServerProcess,
    round_: Round,
    workers: list[Callable[[], None]],
    kill_after: float | None,
) -> None:
    """Runs each worker on a thread of its own and kills the server `kill_after` seconds in, or
    once every worker is done (None)."""
    threads = [
        threading.Thread(target=guarded(round_.problems, work), daemon=True) for work in workers
    ]
    for thread in threads:
        thread.start()
    if kill_after is None:
        for thread in threads:
            thread.join(600)
        if not any(thread.is_alive() for thread in threads):
            round_.kill(server)
    else:
        timer = threading.Timer(kill_after, round_.kill, args=(server,))
        timer.start()
        timer.join(120)
    for thread in threads:
        thread.join(120)
    assert round_.kill_order, f"round {round_.number}: the kill did not happen"
    stuck = sum(thread.is_alive() for thread in threads)
    assert not stuck, f"round {round_.number}: {stuck} clients still busy after the kill"


# --- reading back after the restart ---------------------------------------------------------------


def acceptable_states(ops: list[Op], kill_order: int, before: State) -> list[State]:
    """What the key may hold after the restart (see the module docstring)."""
    acked = [(op, op.end) for op in ops if op.end is not None]
    latest = [op for op, end in acked if not any(other.start > end for other, _ in acked)]
    in_flight = [op for op in ops if op.end is None and op.start < kill_order]
    states = [op.state for op in latest + in_flight]
    return states if acked else [before, *states]


def read_raw(
    client: httpx.Client, store_id: str, key: str, accept: str
) -> tuple[httpx.Response, bytes]:
    """The answer and its body exactly as it came over the wire (no decoding by the client)."""
    with client.stream(
        "GET", record_path(store_id, key), headers={"Accept-Encoding": accept}
    ) as response:
        return response, b"".join(response.iter_raw())


def read_state(client: httpx.Client, store_id: str, key: str) -> tuple[State, list[str]]:
    """What the key holds, and what is wrong with how it was served."""
    response, data = read_raw(client, store_id, key, "gzip")
    if response.status_code == 404:
        return None, []
    if response.status_code != 200:
        return None, [f"GET {key}: {response.status_code} {data[:300]!r}"]
    md5 = hashlib.md5(data).hexdigest()
    headers = response.headers
    problems = []
    if headers.get("etag") != f'"{md5}"':
        problems.append(f"GET {key}: ETag {headers.get('etag')} for body md5 {md5}")
    if headers.get("content-length") != str(len(data)):
        problems.append(
            f"GET {key}: Content-Length {headers.get('content-length')} for {len(data)} B"
        )
    state = Stored(md5, len(data), headers.get("content-type", ""), headers.get("content-encoding"))
    return state, problems


def decoding_problems(client: httpx.Client, store_id: str, key: str, write: Write) -> list[str]:
    """A gzipped record, read by a client that does not take gzip: the payload, decoded."""
    response, data = read_raw(client, store_id, key, "identity")
    problems = []
    if response.status_code != 200:
        problems.append(f"GET {key} (identity): {response.status_code}")
    if response.headers.get("content-encoding") not in (None, "identity"):
        problems.append(f"GET {key} (identity): {response.headers.get('content-encoding')}")
    if response.headers.get("content-type") != write.content_type:
        problems.append(
            f"GET {key} (identity): Content-Type {response.headers.get('content-type')}"
        )
    if data != write.payload():
        problems.append(f"GET {key} (identity): {len(data)} B, not the {write.size} B payload sent")
    return problems


@dataclass
class RoundCheck:
    acknowledged: int = 0  # acknowledged operations whose key was read back
    holding: int = 0  # keys that hold a record
    landed_in_flight: int = 0  # keys that hold what an unanswered operation left
    losses: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check_round(
    server: ServerProcess,
    store_id: str,
    round_: Round,
    known: dict[str, State],
    sent: dict[str, set[State]],
) -> RoundCheck:
    """Reads back every key the round touched and updates `known` to what it holds (`sent`: every
    state ever sent to a key, to tell a lost write from a torn one)."""
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in round_.ops:
        by_key[op.key].append(op)

    def check(client: httpx.Client, key: str) -> RoundCheck:
        ops = by_key[key]
        acked = sum(op.end is not None for op in ops)
        allowed = acceptable_states(ops, round_.kill_order, known.get(key))
        got, problems = read_state(client, store_id, key)
        result = RoundCheck(acked, holding=int(got is not None), problems=problems)
        if got not in allowed:
            wanted = ", ".join(describe(state) for state in allowed)
            history = sent[key] | {op.state for op in ops}
            kind = "lost" if got is None or got in history else "torn (a state no client sent)"
            result.losses.append(
                f"{kind}: {key} holds {describe(got)}; acceptable: {wanted} "
                f"({acked} acknowledged of {len(ops)} sent this round)"
            )
        elif got is not None:
            landed = [op for op in ops if op.state == got]
            if landed and all(op.end is None for op in landed):
                result.landed_in_flight = 1
            write = landed[-1].write if landed else None
            if write is not None and write.gzipped:
                result.problems += decoding_problems(client, store_id, key, write)
        known[key] = got
        sent[key].update(op.state for op in ops)
        return result

    total = RoundCheck()
    for result in map_with_clients(server, check, sorted(by_key), READERS):
        total.acknowledged += result.acknowledged
        total.holding += result.holding
        total.landed_in_flight += result.landed_in_flight
        total.losses += result.losses
        total.problems += result.problems
    return total


def check_every_key(server: ServerProcess, store_id: str, known: dict[str, State]) -> list[str]:
    """Every key still holds what its last check found, and the keys list shows exactly those
    records with their stored sizes."""
    expected = {key: state for key, state in known.items() if state is not None}
    with owner_client(server) as client:
        listed = list_key_sizes(client, store_id)
    problems = []
    if listed != {key: state.size for key, state in expected.items()}:
        extra = sorted(set(listed) - set(expected))[:10]
        missing = sorted(set(expected) - set(listed))[:10]
        problems.append(f"keys listing: extra {extra}, missing {missing} (or sizes differ)")

    def check(client: httpx.Client, key: str) -> list[str]:
        got, served = read_state(client, store_id, key)
        if got != expected[key]:
            served.append(f"{key}: now {describe(got)}, when checked {describe(expected[key])}")
        return served

    found = map_with_clients(server, check, sorted(expected), READERS)
    problems += [problem for served in found for problem in served]
    return problems


def storage_problems(server: ServerProcess) -> tuple[list[str], int]:
    """What is wrong with the stored bodies (see the module docstring), and how many are stored
    outside the database (embedded: files in blobs/; scale-out: objects).

    Deleting replaced bodies may happen in the background (behaviour.md#durability says "not for
    good"; scale-out servers here run with `--object-grace 2s`), so the state is polled for a
    while before it counts; no duration is asserted.
    """
    problems = []
    if not server.backend.is_scaleout:
        integrity = sqlite_integrity(server.data_dir)
        if integrity != ["ok"]:
            problems.append(f"PRAGMA integrity_check: {integrity[:10]}")
        problems += embedded_body_problems(server.data_dir)
    timeout = 30 if server.backend.is_scaleout else 10
    storage = wait_for_clean_body_storage(server, timeout=timeout)
    if not storage.clean:
        problems.append(f"leftovers on {server.backend_name}: {storage.describe()}")
    return problems, len(storage.stored)


def log_tail(server: ServerProcess) -> str:
    return server.log()[-4000:]
