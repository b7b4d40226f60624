"""Crash safety under load (behaviour.md#durability), round after round on one data directory.

In each round 32 clients upload records of 0 B to 8 MiB (most small, some on either side of the
64 KiB inline threshold, a few large enough for the file path) while a timer thread kills the
server with SIGKILL at a moment drawn from a seeded random generator. The server then starts again
on the same data directory, and every key written in the round is read back.

What a key may hold after the restart (a register is linearizable): the body of an acknowledged
write that no other acknowledged write to the key follows in real time (one started after its 201
arrived), or the body of a write that was still unanswered when the kill happened; with no
acknowledged write in the round, also what the key held before the round (possibly nothing).
Anything else is a loss (an older body, or 404) or a torn record (bytes no client sent).
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections import defaultdict
from dataclasses import dataclass, field

import httpx
import pytest

from tests.http_helpers import list_key_sizes
from tests.reliability_helpers import (
    Body,
    EventOrder,
    KiB,
    MiB,
    create_store,
    embedded_body_problems,
    guarded,
    map_with_clients,
    owner_client,
    record_path,
    sqlite_integrity,
    wait_for_clean_body_storage,
)
from tests.server_process import MakeServer, ServerProcess

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.embedded_only("SQLite integrity check and files"),
]

SEED = 20_260_101
CLIENTS = 32
MIN_ROUNDS = 20
MAX_ROUNDS = 40  # more rounds only while fewer than MIN_ACKNOWLEDGED writes were checked
MIN_ACKNOWLEDGED = 5_000
MAX_PUTS_PER_CLIENT = 2_000  # per round; the kill ends a round long before
SHARED_KEYS = [f"shared-{n:02d}" for n in range(24)]  # written by every client, every round
SHARED_SHARE = 0.15
INLINE_THRESHOLD = 64 * KiB
READERS = 8

# (stored digest, size): what a key holds; None: no record.
State = tuple[str, int] | None


@dataclass
class Put:
    key: str
    body: Body
    md5: str
    start: int  # order number taken just before the request was sent
    end: int | None = None  # order number taken just after its 201 arrived; None: no answer

    @property
    def state(self) -> State:
        return (self.md5, self.body.size)


@dataclass
class Round:
    number: int
    kill_delay: float
    puts: list[Put] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    kill_started: threading.Event = field(default_factory=threading.Event)
    kill_order: int = 0  # order number taken once the process was dead


def random_size(rng: random.Random) -> int:
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


def upload(
    server: ServerProcess, store_id: str, round_: Round, client_number: int, order: EventOrder
) -> None:
    """One client: PUT after PUT until the server is gone."""
    rng = random.Random(f"{SEED}-{round_.number}-{client_number}")
    with owner_client(server) as client:
        for n in range(MAX_PUTS_PER_CLIENT):
            if rng.random() < SHARED_SHARE:
                key = rng.choice(SHARED_KEYS)
            else:
                key = f"r{round_.number:02d}-c{client_number:02d}-{n:04d}"
            body = Body(rng.getrandbits(63), random_size(rng))
            data = body.data()
            put = Put(key, body, hashlib.md5(data).hexdigest(), order.next())
            round_.puts.append(put)
            try:
                response = client.put(
                    record_path(store_id, key),
                    content=data,
                    headers={"Content-Type": "application/octet-stream"},
                )
            except httpx.TransportError as exc:
                if not round_.kill_started.is_set():
                    round_.problems.append(f"PUT {key} ({body.size} B) before the kill: {exc!r}")
                return
            if response.status_code != 201:
                round_.problems.append(
                    f"PUT {key} ({body.size} B): {response.status_code} {response.text[:300]}"
                )
                return
            put.end = order.next()


def run_round(server: ServerProcess, store_id: str, round_: Round) -> None:
    """32 clients upload until a timer thread kills the server."""
    order = EventOrder()

    def kill() -> None:
        round_.kill_started.set()
        server.kill()
        round_.kill_order = order.next()

    clients = [
        threading.Thread(
            target=guarded(round_.problems, upload),
            args=(server, store_id, round_, n, order),
            daemon=True,
        )
        for n in range(CLIENTS)
    ]
    timer = threading.Timer(round_.kill_delay, kill)
    for thread in clients:
        thread.start()
    timer.start()
    timer.join(120)
    for thread in clients:
        thread.join(120)
    assert round_.kill_order, f"round {round_.number}: the kill did not happen"
    stuck = sum(thread.is_alive() for thread in clients)
    assert not stuck, f"round {round_.number}: {stuck} clients still busy after the kill"


def acceptable_states(puts: list[Put], kill_order: int, before: State) -> list[State]:
    """What the key may hold after the restart (see the module docstring)."""
    acked = [(put, put.end) for put in puts if put.end is not None]
    latest = [put for put, end in acked if not any(other.start > end for other, _ in acked)]
    in_flight = [put for put in puts if put.end is None and put.start < kill_order]
    states = [put.state for put in latest + in_flight]
    return states if acked else [before, *states]


def read_state(client: httpx.Client, store_id: str, key: str) -> tuple[State, list[str]]:
    """What the key holds, and what is wrong with how it was served."""
    response = client.get(record_path(store_id, key), headers={"Accept-Encoding": "identity"})
    if response.status_code == 404:
        return None, []
    if response.status_code != 200:
        return None, [f"GET {key}: {response.status_code} {response.text[:300]}"]
    data = response.content
    md5 = hashlib.md5(data).hexdigest()
    problems = []
    if response.headers.get("etag") != f'"{md5}"':
        problems.append(f"GET {key}: ETag {response.headers.get('etag')} for body md5 {md5}")
    if response.headers.get("content-length") != str(len(data)):
        problems.append(
            f"GET {key}: Content-Length {response.headers.get('content-length')} for {len(data)} B"
        )
    return (md5, len(data)), problems


def describe(state: State) -> str:
    return "no record (404)" if state is None else f"{state[1]} B md5 {state[0]}"


@dataclass
class RoundCheck:
    acknowledged: int = 0  # acknowledged writes whose key was read back
    landed_in_flight: int = 0  # keys that hold a write the kill left unanswered
    losses: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check_round(
    server: ServerProcess,
    store_id: str,
    round_: Round,
    known: dict[str, State],
    sent: dict[str, set[State]],
) -> RoundCheck:
    """Reads back every key written in the round and updates `known` to what it holds."""
    by_key: dict[str, list[Put]] = defaultdict(list)
    for put in round_.puts:
        by_key[put.key].append(put)

    def check(client: httpx.Client, key: str) -> RoundCheck:
        puts = by_key[key]
        acked = sum(put.end is not None for put in puts)
        allowed = acceptable_states(puts, round_.kill_order, known.get(key))
        got, problems = read_state(client, store_id, key)
        result = RoundCheck(acked, problems=problems)
        if got not in allowed:
            wanted = ", ".join(describe(state) for state in allowed)
            history = sent[key] | {put.state for put in puts}
            kind = "lost" if got is None or got in history else "torn (bytes no client sent)"
            result.losses.append(
                f"{kind}: {key} holds {describe(got)}; acceptable: {wanted} "
                f"({acked} acknowledged of {len(puts)} sent this round)"
            )
        elif got is not None and any(put.end is None and put.state == got for put in puts):
            result.landed_in_flight = 1
        known[key] = got
        sent[key].update(put.state for put in puts)
        return result

    total = RoundCheck()
    for result in map_with_clients(server, check, sorted(by_key), READERS):
        total.acknowledged += result.acknowledged
        total.landed_in_flight += result.landed_in_flight
        total.losses += result.losses
        total.problems += result.problems
    return total


def check_store_files(server: ServerProcess) -> list[str]:
    problems = []
    integrity = sqlite_integrity(server.data_dir)
    if integrity != ["ok"]:
        problems.append(f"PRAGMA integrity_check: {integrity[:10]}")
    problems += embedded_body_problems(server.data_dir)
    storage = wait_for_clean_body_storage(server, timeout=10)
    if not storage.clean:
        problems.append(f"leftover files: {storage.describe()}")
    return problems


def check_every_key(server: ServerProcess, store_id: str, known: dict[str, State]) -> list[str]:
    """After the last round: every key of every round holds what its check found, and the keys
    listing shows exactly those records with their sizes."""
    expected = {key: state for key, state in known.items() if state is not None}
    with owner_client(server) as client:
        listed = list_key_sizes(client, store_id)
    problems = []
    if listed != {key: state[1] for key, state in expected.items()}:
        extra = sorted(set(listed) - set(expected))[:10]
        missing = sorted(set(expected) - set(listed))[:10]
        problems.append(f"keys listing: extra {extra}, missing {missing} (or sizes differ)")

    def check(client: httpx.Client, key: str) -> list[str]:
        got, served = read_state(client, store_id, key)
        if got != expected[key]:
            served.append(f"{key}: now {describe(got)}, after its round {describe(expected[key])}")
        return served

    found = map_with_clients(server, check, sorted(expected), READERS)
    problems += [problem for served in found for problem in served]
    return problems


def log_tail(server: ServerProcess) -> str:
    return server.log()[-4000:]


def test_sigkill_under_concurrent_uploads_loses_no_acknowledged_write(
    make_server: MakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server = make_server()
    store_id = create_store(server, "crash-rounds")
    plan = random.Random(SEED)
    known: dict[str, State] = {}
    sent: dict[str, set[State]] = defaultdict(set)
    checked = losses = in_flight_at_kill = landed = 0
    acked_sizes: list[int] = []
    rounds = 0

    while rounds < MAX_ROUNDS and (rounds < MIN_ROUNDS or checked < MIN_ACKNOWLEDGED):
        # Mostly a second or two of uploads; every fourth round dies while the first arrive.
        early = rounds % 4 == 3
        delay = plan.uniform(0.02, 0.3) if early else plan.uniform(0.5, 2.5)
        round_ = Round(rounds, delay)
        run_round(server, store_id, round_)
        assert not round_.problems, (
            f"round {rounds}: {round_.problems[:10]}\nserver log:\n{log_tail(server)}"
        )
        server.start()

        result = check_round(server, store_id, round_, known, sent)
        files = check_store_files(server)
        assert not result.losses, (
            f"round {rounds} (kill after {delay:.2f}s): {len(result.losses)} keys lost "
            f"acknowledged writes or hold torn bodies: {result.losses[:10]}\n"
            f"server log:\n{log_tail(server)}"
        )
        assert not result.problems, f"round {rounds}: {result.problems[:10]}"
        assert not files, f"round {rounds}: {files}\nserver log:\n{log_tail(server)}"
        checked += result.acknowledged
        losses += len(result.losses)
        landed += result.landed_in_flight
        in_flight_at_kill += sum(
            put.end is None and put.start < round_.kill_order for put in round_.puts
        )
        acked_sizes += [put.body.size for put in round_.puts if put.end is not None]
        rounds += 1

    final = check_every_key(server, store_id, known)
    assert not final, f"after {rounds} rounds: {final[:10]}\nserver log:\n{log_tail(server)}"
    with capsys.disabled():
        print(f"\ncrash: rounds={rounds} acknowledged_checked={checked} losses={losses}")
        print(
            f"crash: keys={len(known)} in_flight_at_kill={in_flight_at_kill} "
            f"in_flight_landed={landed} "
            f"acknowledged_empty={acked_sizes.count(0)} "
            f"acknowledged_inline={sum(0 < s <= INLINE_THRESHOLD for s in acked_sizes)} "
            f"acknowledged_files={sum(s > INLINE_THRESHOLD for s in acked_sizes)} "
            f"largest_acknowledged={max(acked_sizes, default=0)}"
        )
    assert losses == 0
    assert checked >= MIN_ACKNOWLEDGED, f"only {checked} acknowledged writes in {rounds} rounds"
    # Both storage paths were exercised: empty and inline bodies, files, and multi-MiB files.
    assert 0 in acked_sizes
    assert any(0 < size <= INLINE_THRESHOLD for size in acked_sizes)
    assert any(size >= MiB for size in acked_sizes)
