"""The scale-out section: one `openkvs serve --database-url ... --blob-url s3://...` node with its
default flags, on a PostgreSQL cluster of its own (default settings: fsync and synchronous_commit
on) and on the run's SeaweedFS, measured against SeaweedFS's own S3 gateway (S1..S6).

Besides throughput, every run of the node reports what a request costs: the PostgreSQL statements
the node sent (its /metrics), and the CPU time of the node, of PostgreSQL (every backend) and of
SeaweedFS per request, from /proc, so that the cost of N nodes can be worked out on paper."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from bench import random_records
from bench.procs import BenchError, ProcGroup, cpu_seconds, http_request
from bench.systems import BUCKET, OpenKvs, SeaweedFS
from bench.workloads import OPENKVS_SCALEOUT, REQ_S, SEAWEEDFS, Context, Run, from_wrk
from bench.wrk import run_wrk

S3_FOLDER = "openkvs-scaleout"  # the node's bodies go to s3://bench/openkvs-scaleout/
STORES = 64  # S4 spreads its PUTs over this many stores
KEY_FORMAT = "s-%05d"  # S3 and S4: keys drawn at random among s-00000 .. s-09999

# The per-request costs a node's run carries in Run.values, shown apart from the throughput.
STATEMENTS = "db_statements"
NODE_CPU = "node_cpu_us"
PG_CPU = "pg_cpu_us"
S3_CPU = "s3_cpu_us"
COSTS = (
    (STATEMENTS, "PostgreSQL statements"),
    (NODE_CPU, "node CPU µs"),
    (PG_CPU, "PostgreSQL CPU µs"),
    (S3_CPU, "SeaweedFS CPU µs"),
)


class ScaleOutNode(OpenKvs):
    """`openkvs serve` on PostgreSQL and S3, default flags otherwise."""

    def __init__(self, group: ProcGroup, root: Path, database_url: str, weed: SeaweedFS) -> None:
        super().__init__(group, root, name=OPENKVS_SCALEOUT)
        self.database_url = database_url
        self.weed = weed

    def storage_flags(self) -> list[str]:
        return [
            "--database-url",
            self.database_url,
            "--blob-url",
            f"s3://{BUCKET}/{S3_FOLDER}",
            "--s3-endpoint",
            self.weed.base_url,
        ]

    def extra_env(self) -> dict[str, str]:
        # The bench's SeaweedFS has no identity and serves its bucket to anyone: the node signs
        # its requests with credentials that are never checked.
        return {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }


_STATEMENTS = re.compile(rb"^openkvs_db_query_seconds_count(?:\{[^}]*\})? ([0-9.e+]+)$", re.M)


@dataclass
class Meter:
    """The processes whose costs a run of the node is charged with."""

    node: ScaleOutNode
    postgres_pid: int
    weed_pid: int

    def statements(self) -> float:
        status, body = http_request(self.node.port, "GET", "/metrics")
        found = _STATEMENTS.search(body) if status == 200 else None
        if found is None:
            raise BenchError(f"{OPENKVS_SCALEOUT}: no statement count on /metrics ({status})")
        return float(found.group(1))

    def sample(self) -> dict[str, float]:
        assert self.node.proc is not None
        return {
            STATEMENTS: self.statements(),
            NODE_CPU: cpu_seconds(self.node.proc.pid),
            PG_CPU: cpu_seconds(self.postgres_pid),
            S3_CPU: cpu_seconds(self.weed_pid),
        }

    def charge(self, before: dict[str, float], run: Run) -> Run:
        """Add the costs per request since `before` (a `sample()`) to `run`."""
        if not run.requests:
            return run
        after = self.sample()
        for name, _ in COSTS:
            spent = after[name] - before[name]
            run.values[name] = spent / run.requests * (1 if name == STATEMENTS else 1e6)
        return run


def store_prefixes(ctx: Context, system_name: str, stores: int) -> list[str]:
    """The URL paths records go under: one store (the bucket for SeaweedFS) or `stores` stores
    of the node, created once."""
    system = ctx.systems[system_name]
    if stores == 1:
        return [system.record_path("")]
    if not isinstance(system, ScaleOutNode):
        raise BenchError(f"{system_name} has no stores")
    if len(ctx.s4_stores) < stores:
        ctx.s4_stores = [system.create_store(f"bench-s4-{i:02d}") for i in range(stores)]
    return [f"/v2/key-value-stores/{sid}/records/" for sid in ctx.s4_stores]


def random_puts(wid: str, stores: int, ctx: Context, system_name: str, rnd: int) -> Run:
    """PUT 1 KiB to a key drawn at random among 10,000 (lua/put_random.lua), 64 connections,
    into one store or spread over `stores`."""
    system = ctx.systems[system_name]
    res = run_wrk(
        system.base_url + "/",
        connections=64,
        duration=ctx.duration,
        headers={**system.auth_headers(), "Content-Type": "application/octet-stream"},
        script="put_random",
        script_args=[
            ",".join(store_prefixes(ctx, system_name, stores)),
            str(random_records.COUNT),
            KEY_FORMAT,
            str(random_records.SIZE),
            str(rnd),
        ],
    )
    return from_wrk(wid, system_name, rnd, res, {REQ_S.key: res.rps})


# What the report shows of the cluster's configuration (all PostgreSQL's defaults but
# max_connections): what durability the figures were bought with.
PG_SETTINGS = (
    "server_version",
    "fsync",
    "synchronous_commit",
    "wal_sync_method",
    "commit_delay",
    "shared_buffers",
    "max_connections",
)


def start_scaleout(group: ProcGroup, ctx: Context, work_dir: Path, configs: dict[str, str]) -> None:
    """A PostgreSQL cluster of its own and one node on it and on the run's SeaweedFS."""
    from tests.services import own_postgres

    weed = ctx.systems[SEAWEEDFS]
    assert isinstance(weed, SeaweedFS) and weed.proc is not None
    pg = own_postgres()
    assert pg.proc is not None
    database = pg.create_database("bench")
    node = ScaleOutNode(group, work_dir / "scaleout", pg.url(database), weed)
    node.start()
    ctx.systems[OPENKVS_SCALEOUT] = node
    ctx.meter = Meter(node, pg.proc.pid, weed.proc.pid)
    rows = pg.fetch(
        "postgres",
        "SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1) ORDER BY name",
        list(PG_SETTINGS),
    )
    configs["PostgreSQL settings (scale-out)"] = "\n".join(
        f"{name} = {setting}{' ' + unit if unit else ''}" for name, setting, unit in rows
    )
