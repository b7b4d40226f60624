"""The workloads W1..W8: what each sends, to which systems, and the figures it yields."""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench import random_records
from bench.procs import BenchError, cpu_seconds, http_request
from bench.systems import OpenKvs, System
from bench.wrk import WrkResult, run_wrk

if TYPE_CHECKING:
    from bench.scaleout import Meter

KiB = 1024
MiB = 1024 * 1024

OPENKVS = "openkvs"
# The same server with --no-access-log: measured on W1 and W8 only, for the target "access log on
# vs off"; its figures count toward no other target.
OPENKVS_NOLOG = "openkvs-nolog"
# The same with --no-metrics, likewise for the target "metrics on vs off".
OPENKVS_NOMETRICS = "openkvs-nometrics"
SEAWEEDFS = "SeaweedFS"
# One scale-out node (PostgreSQL and SeaweedFS beneath it): S1..S6, against SeaweedFS alone.
OPENKVS_SCALEOUT = "openkvs-scaleout"
NGINX = "nginx"
FLOOR = "floor"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    higher_is_better: bool


REQ_S = Metric("rps", "req/s", True)
MIB_S = Metric("mib_s", "MiB/s", True)
P50 = Metric("p50_ms", "p50 ms", False)
P99 = Metric("p99_ms", "p99 ms", False)
UP = Metric("up_mib_s", "upload MiB/s", True)
DOWN = Metric("down_mib_s", "download MiB/s", True)
RSS = Metric("rss_growth_mib", "RSS growth MiB", False)
CPU = Metric("cpu_us", "CPU µs per request", False)  # the server process's, user + system
# The code the access log and the metrics add to a request, timed alone right after the run
# (bench/code_cost.py), so that it can be set against that run's CPU per request.
LOG_CODE = Metric("log_code_us", "access log's own code µs per request", False)
METRICS_CODE = Metric("metrics_code_us", "metrics' own code µs per request", False)


@dataclass
class Run:
    """One measured run of one workload on one system."""

    workload: str
    system: str
    round: int
    values: dict[str, float]
    problem: str | None  # set: the run does not count (errors)
    commands: list[str]
    notes: list[str] = field(default_factory=list)
    requests: int | None = None  # wrk runs: completed requests,
    non_2xx: int | None = None  # answers wrk counted as "Non-2xx or 3xx",
    socket_errors: int | None = None  # and connect/read/write/timeout errors


@dataclass
class Context:
    duration: float
    systems: dict[str, System]
    work_dir: Path
    w6_server: OpenKvs | None = None
    w6_count: int = 0
    w6_key_format: str = "k%07d"
    w7_bytes: int = 0
    w7_file: Path | None = None
    w7_sha256: str = ""
    w8_filled: set[str] = field(default_factory=set)  # systems holding W8's (and S2's) records
    meter: Meter | None = None  # the scale-out node's costs (bench/scaleout.py)
    s4_stores: list[str] = field(default_factory=list)  # S4's stores on the node


RunFn = Callable[[Context, str, int], Run]
# Done once per system before a workload's first round, outside the measurements: a note.
PrepareFn = Callable[[Context, str], str]


@dataclass(frozen=True)
class Workload:
    wid: str
    title: str
    systems: tuple[str, ...]
    metrics: tuple[Metric, ...]
    run: RunFn
    prepare: PrepareFn | None = None


def payload(size: int) -> bytes:
    """The same pseudo-random body for a given size on every system and run."""
    return random.Random(size).randbytes(size)


def from_wrk(wid: str, system: str, rnd: int, res: WrkResult, values: dict[str, float]) -> Run:
    return Run(
        wid,
        system,
        rnd,
        values,
        res.problem,
        [res.command],
        requests=res.requests,
        non_2xx=res.non_2xx,
        socket_errors=sum(res.socket_errors.values()),
    )


def get_workload(wid: str, size: int, connections: int, mode: str) -> RunFn:
    """GET one record of `size` bytes; mode: 'rps', 'mib_s' or 'latency'."""
    key = f"{wid.lower()}-{size}"

    def run(ctx: Context, system_name: str, rnd: int) -> Run:
        system = ctx.systems[system_name]
        system.ensure_record(key, payload(size))
        res = run_wrk(
            system.base_url + system.record_path(key),
            connections=connections,
            duration=ctx.duration,
            headers=system.auth_headers(),
            latency=mode == "latency",
        )
        if mode == "rps":
            values = {REQ_S.key: res.rps}
        elif mode == "mib_s":
            values = {MIB_S.key: res.rps * size / MiB}
        else:
            values = {P50.key: res.p50_ms, P99.key: res.p99_ms}
        return from_wrk(wid, system_name, rnd, res, values)

    return run


def put_workload(wid: str, size: int, connections: int, mode: str) -> RunFn:
    """PUT bodies of `size` bytes, each to a new key (lua/put_distinct.lua)."""

    def run(ctx: Context, system_name: str, rnd: int) -> Run:
        system = ctx.systems[system_name]
        prefix = system.record_path(f"{wid.lower()}-r{rnd}-{secrets.token_hex(4)}-")
        res = run_wrk(
            system.base_url + "/",
            connections=connections,
            duration=ctx.duration,
            headers={**system.auth_headers(), "Content-Type": "application/octet-stream"},
            script="put_distinct",
            script_args=[prefix, str(size)],
        )
        value = res.rps if mode == "rps" else res.rps * size / MiB
        metric = REQ_S if mode == "rps" else MIB_S
        return from_wrk(wid, system_name, rnd, res, {metric.key: value})

    return run


def fill_random_records(ctx: Context, system_name: str) -> str:
    """W8's (and S2's) preparation: 10,000 records written to the system, a sample read back;
    once per system."""
    if system_name in ctx.w8_filled:
        return ""
    print(f"writing {random_records.COUNT:,} records to {system_name}...", flush=True)
    done = random_records.fill(ctx.systems[system_name])
    ctx.w8_filled.add(system_name)
    print(done.describe(), flush=True)
    return f"Random-key records (W8, S2), {done.describe()}; not measured"


def random_gets(ctx: Context, system_name: str, rnd: int, wid: str = "W8") -> Run:
    """W8 (S2): GET a record drawn at random among 10,000 (lua/get_random.lua), 64 connections."""
    if system_name not in ctx.w8_filled:
        raise BenchError(f"{wid}: the system's records were not written")
    system = ctx.systems[system_name]
    res = run_wrk(
        system.base_url + "/",
        connections=64,
        duration=ctx.duration,
        headers=system.auth_headers(),
        script="get_random",
        # The seed is the round: in a round every system is sent the same sequence of keys.
        script_args=[
            system.record_path(""),
            str(random_records.COUNT),
            random_records.KEY_FORMAT,
            str(rnd),
        ],
    )
    return from_wrk(wid, system_name, rnd, res, {REQ_S.key: res.rps})


def keys_page(ctx: Context, system_name: str, rnd: int) -> Run:
    """W6: a keys page (limit 1000) after a random key of the big store, one connection."""
    server = ctx.w6_server
    if server is None:
        raise BenchError("W6 needs its store of many keys")
    count, fmt = ctx.w6_count, ctx.w6_key_format
    # The analogue of making sure the record exists: a page from a random start is full.
    start = fmt % random.randrange(count - 1000)
    status, body = http_request(
        server.port,
        "GET",
        server.keys_path() + f"&exclusiveStartKey={start}",
        None,
        server.auth_headers(),
    )
    items = json.loads(body)["data"]["items"] if status == 200 else []
    if len(items) != 1000:
        raise BenchError(f"W6: keys page after {start}: {status}, {len(items)} items")
    res = run_wrk(
        server.base_url + "/",
        connections=1,
        duration=ctx.duration,
        headers=server.auth_headers(),
        script="keys_random",
        script_args=[server.keys_path(), str(count), fmt, "1000"],
        latency=True,
    )
    return from_wrk("W6", system_name, rnd, res, {P50.key: res.p50_ms, P99.key: res.p99_ms})


def large_record(ctx: Context, system_name: str, rnd: int) -> Run:
    from bench.large import run_large

    return run_large(ctx, system_name, rnd)


def costed(inner: RunFn) -> RunFn:
    """`inner`, and what its requests cost: on the scale-out node its statements and the CPU of
    each process beneath it (bench/scaleout.py); on the other openkvs servers their CPU time per
    request, which the machine's noise moves far less than their throughput."""

    def run(ctx: Context, system_name: str, rnd: int) -> Run:
        meter = ctx.meter if system_name == OPENKVS_SCALEOUT else None
        if meter is not None:
            before = meter.sample()
            return meter.charge(before, inner(ctx, system_name, rnd))
        system = ctx.systems.get(system_name)
        if not isinstance(system, OpenKvs) or system.proc is None:
            return inner(ctx, system_name, rnd)
        spent = cpu_seconds(system.proc.pid)
        measured = inner(ctx, system_name, rnd)
        if measured.requests:
            spent = cpu_seconds(system.proc.pid) - spent
            measured.values[CPU.key] = spent / measured.requests * 1e6
        return measured

    return run


def random_puts(wid: str, stores: int) -> RunFn:
    def run(ctx: Context, system_name: str, rnd: int) -> Run:
        from bench.scaleout import random_puts

        return random_puts(wid, stores, ctx, system_name, rnd)

    return run


SCALEOUT = (OPENKVS_SCALEOUT, SEAWEEDFS)

WORKLOADS: list[Workload] = [
    Workload(
        "W1",
        "GET a 1 KiB record (one key), 64 connections",
        (OPENKVS, OPENKVS_NOLOG, OPENKVS_NOMETRICS, SEAWEEDFS, NGINX, FLOOR),
        (REQ_S, CPU),
        costed(get_workload("W1", KiB, 64, "rps")),
    ),
    Workload(
        "W2",
        "PUT 1 KiB records to distinct keys, 64 connections",
        (OPENKVS, SEAWEEDFS, FLOOR),
        (REQ_S,),
        put_workload("W2", KiB, 64, "rps"),
    ),
    Workload(
        "W3",
        "GET a 1 MiB record, 16 connections",
        (OPENKVS, SEAWEEDFS, NGINX, FLOOR),
        (MIB_S,),
        get_workload("W3", MiB, 16, "mib_s"),
    ),
    Workload(
        "W4",
        "PUT 1 MiB records to distinct keys, 16 connections",
        (OPENKVS, SEAWEEDFS, FLOOR),
        (MIB_S,),
        put_workload("W4", MiB, 16, "mib_s"),
    ),
    Workload(
        "W5",
        "GET a 10 KiB record over one connection (latency)",
        (OPENKVS, SEAWEEDFS, NGINX, FLOOR),
        (P50, P99),
        get_workload("W5", 10 * KiB, 1, "latency"),
    ),
    Workload(
        "W6",
        "keys page (limit 1000) after a random key, one connection",
        (OPENKVS,),
        (P50, P99),
        keys_page,
    ),
    Workload(
        "W7",
        "one large record: curl -T upload, curl download",
        (OPENKVS,),
        (UP, DOWN, RSS),
        large_record,
    ),
    Workload(
        "W8",
        "GET a 1 KiB record drawn at random from 10,000 keys, 64 connections",
        (OPENKVS, OPENKVS_NOLOG, OPENKVS_NOMETRICS, SEAWEEDFS, NGINX, FLOOR),
        (REQ_S, CPU),
        costed(random_gets),
        prepare=fill_random_records,
    ),
    Workload(
        "S1",
        "scale-out: GET a 1 KiB record (one key), 64 connections",
        SCALEOUT,
        (REQ_S,),
        costed(get_workload("S1", KiB, 64, "rps")),
    ),
    Workload(
        "S2",
        "scale-out: GET a 1 KiB record drawn at random from 10,000 keys, 64 connections",
        SCALEOUT,
        (REQ_S,),
        costed(lambda ctx, name, rnd: random_gets(ctx, name, rnd, "S2")),
        prepare=fill_random_records,
    ),
    Workload(
        "S3",
        "scale-out: PUT 1 KiB to a key drawn at random from 10,000, one store, 64 connections",
        SCALEOUT,
        (REQ_S,),
        costed(random_puts("S3", 1)),
    ),
    Workload(
        "S4",
        "scale-out: PUT 1 KiB to a key drawn at random from 10,000 in one of 64 stores, "
        "64 connections",
        (OPENKVS_SCALEOUT,),
        (REQ_S,),
        costed(random_puts("S4", 64)),
    ),
    Workload(
        "S5",
        "scale-out: GET a 1 MiB record, 16 connections",
        SCALEOUT,
        (MIB_S,),
        costed(get_workload("S5", MiB, 16, "mib_s")),
    ),
    Workload(
        "S6",
        "scale-out: PUT 1 MiB records to distinct keys, 16 connections",
        SCALEOUT,
        (MIB_S,),
        costed(put_workload("S6", MiB, 16, "mib_s")),
    ),
]

BY_ID = {w.wid: w for w in WORKLOADS}


def rotation(systems: Sequence[str], rnd: int) -> list[str]:
    """The order `systems` run in round `rnd` (from 1): each round starts one further along."""
    shift = (rnd - 1) % len(systems)
    return [*systems[shift:], *systems[:shift]]


# The order the workloads run in, each its rounds back to back with the systems interleaved in
# every round: latency first, then reads (W8, random keys, beside W1, one key), then writes. For
# a minute or more after W4's gigabytes, this machine's tail latency is worse for every server
# (docs/performance.md, "Tail latency"), which W5 measured when it ran after W4 in every round.
RUN_ORDER = ("W5", "W1", "W8", "W3", "W6", "W2", "W4", "W7", "S1", "S2", "S5", "S3", "S4", "S6")
