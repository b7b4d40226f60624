"""Crash safety (behaviour.md#durability): acknowledged writes and deletes survive SIGKILL, nothing
is torn, nothing leaks. The harness and what each check means: tests/crash_harness.py.

Each test runs a server of its own on a fresh store (a temporary data directory, or on scale-out a
fresh database and bucket prefix), on both backends:

- a planned history (overwrites, deletes, writes after a delete, sizes on either side of the
  inline threshold, several content types, gzipped bodies) from 16 threads, every operation
  acknowledged, then SIGKILL: each key holds exactly what its last operation left;
- round after round on one store, 32 clients upload (own keys, keys overwritten and deleted, keys
  every client writes) while a timer kills the server at a moment drawn from a seeded generator;
  after each restart every key holds an acceptable state, and after the last round every key
  still holds what its round's check found.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.crash_harness import (
    INLINE_THRESHOLD,
    Round,
    State,
    Write,
    check_every_key,
    check_round,
    crash_server,
    log_tail,
    random_write,
    run_round,
    storage_problems,
)
from tests.reliability_helpers import MiB, create_store, owner_client
from tests.server_process import MakeServer

pytestmark = pytest.mark.reliability

THREADS = 16
# Both sides of the embedded backend's inline/file boundary and of the usual 64 KiB.
EDGE_SIZES = [0, 1, 65_535, 65_536, 65_537, 3 * MiB - 1, 3 * MiB]


def plan_operations(rng: random.Random) -> dict[str, list[Write | None]]:
    """~300 operations over 120 keys (None: a delete): overwrites, deletes, and re-writes after a
    delete."""
    keys = [f"rec-{n:03d}" for n in range(120)]
    plan: dict[str, list[Write | None]] = {key: [] for key in keys}
    for index, key in enumerate(keys):
        write = random_write(rng)
        if index < len(EDGE_SIZES) * 2:
            size = EDGE_SIZES[index % len(EDGE_SIZES)]
            write = Write(write.seed, size, write.content_type, gzipped=index >= len(EDGE_SIZES))
        plan[key].append(write)
    for _ in range(150):  # keys 0..59 are overwritten, several times each on average
        plan[rng.choice(keys[:60])].append(random_write(rng))
    for key in keys[100:]:  # deleted for good
        plan[key].append(None)
    for key in keys[60:70]:  # deleted, then written again
        plan[key].append(None)
        plan[key].append(random_write(rng))
    return plan


def test_acknowledged_records_survive_sigkill(make_server: MakeServer) -> None:
    server = crash_server(make_server)
    store_id = create_store(server, "crash-test")
    plan = plan_operations(random.Random(1234))
    keys = sorted(plan)
    round_ = Round()

    def worker(my_keys: list[str]) -> Callable[[], None]:
        def send_planned() -> None:
            # Interleave the keys of this thread; per key the order of the plan is kept.
            queues = {key: list(plan[key]) for key in my_keys}
            with owner_client(server) as client:
                while any(queues.values()):
                    for key in my_keys:
                        if queues[key]:
                            round_.send(client, store_id, key, queues[key].pop(0))

        return send_planned

    workers = [worker(keys[n::THREADS]) for n in range(THREADS)]
    # Killed once every operation was answered.
    run_round(server, round_, workers, kill_after=None)
    assert not round_.problems, round_.problems[:10]
    operations = sum(len(ops) for ops in plan.values())
    assert len(round_.ops) == operations
    assert all(op.end is not None for op in round_.ops)
    last = {op.key: op for op in sorted(round_.ops, key=lambda op: op.start)}
    acknowledged = sum(op.write is not None for op in last.values())
    deleted = sum(op.write is None for op in last.values())
    assert deleted == 20

    server.start()
    known: dict[str, State] = {}
    result = check_round(server, store_id, round_, known, defaultdict(set))
    assert not result.losses, f"{result.losses[:10]}\nserver log:\n{log_tail(server)}"
    assert not result.problems, result.problems[:10]
    # Exactly what the last operation left: one acceptable state per key.
    assert known == {key: op.state for key, op in last.items()}
    final = check_every_key(server, store_id, known)
    assert not final, final[:10]
    problems, blob_count = storage_problems(server)
    assert not problems, f"{problems}\nserver log:\n{log_tail(server)}"
    print(
        f"operations={operations} acknowledged={acknowledged} verified={result.holding} "
        f"deleted={deleted} blob_files={blob_count}"
    )
    assert result.holding == acknowledged == 100
    assert blob_count > 0  # records above the inline threshold went through files / objects


SEED = 20_260_101
CLIENTS = 32
MAX_PUTS_PER_CLIENT = 2_000  # per round; the kill ends a round long before
SHARED_KEYS = [f"shared-{n:02d}" for n in range(24)]  # written by every client, every round
SHARED_SHARE = 0.15
OWN_KEYS = 5  # each client's own keys, overwritten (and now and then deleted) round after round
OWN_SHARE = 0.2
DELETE_SHARE = 0.03  # of the operations on a client's own keys


@dataclass(frozen=True)
class Budget:
    min_rounds: int
    # More than min_rounds only while fewer than min_acknowledged were checked, or no write of a
    # MiB or more was acknowledged yet.
    max_rounds: int
    min_acknowledged: int
    pace: float = 1.0  # the kill delays are drawn times this


# Scale-out writes more slowly (PostgreSQL and S3 behind every write): fewer, longer rounds.
BUDGETS = {
    "embedded": Budget(min_rounds=20, max_rounds=40, min_acknowledged=5_000),
    "scaleout": Budget(min_rounds=6, max_rounds=16, min_acknowledged=800, pace=2.0),
}


def test_sigkill_under_concurrent_uploads_loses_no_acknowledged_write(
    make_server: MakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server = crash_server(make_server)
    budget = BUDGETS[server.backend_name]
    store_id = create_store(server, "crash-rounds")
    plan = random.Random(SEED)
    known: dict[str, State] = {}
    sent: dict[str, set[State]] = defaultdict(set)
    checked = losses = in_flight_at_kill = landed = deletes = 0
    acked_sizes: list[int] = []
    rounds = 0

    def client(round_: Round, client_number: int) -> Callable[[], None]:
        def upload() -> None:
            """One client: operation after operation until the server is gone."""
            rng = random.Random(f"{SEED}-{round_.number}-{client_number}")
            with owner_client(server) as http:
                for n in range(MAX_PUTS_PER_CLIENT):
                    roll = rng.random()
                    write: Write | None = random_write(rng)
                    if roll < SHARED_SHARE:
                        key = rng.choice(SHARED_KEYS)
                    elif roll < SHARED_SHARE + OWN_SHARE:
                        key = f"c{client_number:02d}-own-{rng.randrange(OWN_KEYS)}"
                        if rng.random() < DELETE_SHARE:
                            write = None
                    else:
                        key = f"r{round_.number:02d}-c{client_number:02d}-{n:04d}"
                    if not round_.send(http, store_id, key, write):
                        return

        return upload

    def enough() -> bool:
        large = any(size >= MiB for size in acked_sizes)
        return rounds >= budget.min_rounds and checked >= budget.min_acknowledged and large

    while rounds < budget.max_rounds and not enough():
        # Mostly a second or two of uploads; every fourth round dies while the first arrive.
        early = rounds % 4 == 3
        delay = budget.pace * (plan.uniform(0.02, 0.3) if early else plan.uniform(0.5, 2.5))
        round_ = Round(rounds)
        run_round(server, round_, [client(round_, n) for n in range(CLIENTS)], kill_after=delay)
        assert not round_.problems, (
            f"round {rounds}: {round_.problems[:10]}\nserver log:\n{log_tail(server)}"
        )
        server.start()

        result = check_round(server, store_id, round_, known, sent)
        files, _ = storage_problems(server)
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
        in_flight_at_kill += len(round_.in_flight_at_kill)
        acked = [op for op in round_.ops if op.end is not None]
        deletes += sum(op.state is None for op in acked)
        acked_sizes += [op.state.size for op in acked if op.state is not None]
        rounds += 1

    final = check_every_key(server, store_id, known)
    assert not final, f"after {rounds} rounds: {final[:10]}\nserver log:\n{log_tail(server)}"
    with capsys.disabled():
        print(
            f"\ncrash ({server.backend_name}): rounds={rounds} acknowledged_checked={checked} "
            f"losses={losses}"
        )
        print(
            f"crash ({server.backend_name}): keys={len(known)} "
            f"in_flight_at_kill={in_flight_at_kill} in_flight_landed={landed} "
            f"acknowledged_deletes={deletes} "
            f"acknowledged_empty={acked_sizes.count(0)} "
            f"acknowledged_inline={sum(0 < s <= INLINE_THRESHOLD for s in acked_sizes)} "
            f"acknowledged_files={sum(s > INLINE_THRESHOLD for s in acked_sizes)} "
            f"largest_acknowledged={max(acked_sizes, default=0)}"
        )
    assert losses == 0
    assert checked >= budget.min_acknowledged, (
        f"only {checked} acknowledged writes in {rounds} rounds"
    )
    # Both storage paths were exercised: empty and inline bodies, files, and multi-MiB files.
    assert 0 in acked_sizes
    assert any(0 < size <= INLINE_THRESHOLD for size in acked_sizes)
    assert any(size >= MiB for size in acked_sizes)
