"""`make bench`: openkvs against SeaweedFS and nginx on this machine; writes docs/benchmarks.md.

python -m bench.run [--duration S] [--rounds N] [--only W1,W3] [--quick] [--output PATH]
"""

from __future__ import annotations

import argparse
import http.client
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path

from tests.services import stop_all as stop_services

from bench.code_cost import measure as measure_code_cost
from bench.conditions import MIN_FREE_GIB, free_gib, wait_for_cheap_creates, wait_for_quiet_disk
from bench.large import make_file
from bench.populate import ensure_key_store
from bench.procs import BenchError, ProcGroup, exit_on_signals, group_pids, listening_ports
from bench.report import ReportInput, render
from bench.scaleout import start_scaleout
from bench.systems import Floor, Nginx, OpenKvs, SeaweedFS
from bench.tools import REPO, ensure_apt_tools, flush_page_cache, machine, versions
from bench.workloads import (
    BY_ID,
    FLOOR,
    LOG_CODE,
    METRICS_CODE,
    NGINX,
    OPENKVS,
    OPENKVS_NOLOG,
    OPENKVS_NOMETRICS,
    OPENKVS_SCALEOUT,
    RUN_ORDER,
    SEAWEEDFS,
    WORKLOADS,
    Context,
    KiB,
    MiB,
    Run,
    Workload,
    rotation,
)
from bench.wrk import run_wrk

FULL_W6_KEYS = 1_000_000
QUICK_W6_KEYS = 20_000
FULL_W7_BYTES = 1024 * MiB
QUICK_W7_BYTES = 64 * MiB


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 10)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3)")
    parser.add_argument("--only", help="comma-separated workloads, e.g. W1,W3 (default: all)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="development: 2 s runs, 1 round, W6 with 20k keys, W7 with 64 MiB",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=REPO / "docs" / "benchmarks.md",
        help="where the Markdown report goes (default docs/benchmarks.md, overwritten)",
    )
    args = parser.parse_args(argv)
    args.duration = args.duration or (2.0 if args.quick else 10.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
    if args.duration <= 0 or args.rounds <= 0:
        parser.error("--duration and --rounds must be positive")
    wanted = [w.strip().upper() for w in (args.only or "").split(",") if w.strip()]
    unknown = [w for w in wanted if w not in BY_ID]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(BY_ID)}")
    args.workloads = [w for w in WORKLOADS if not wanted or w.wid in wanted]
    return args


def _check_weed_listeners(weed: SeaweedFS) -> str:
    """Every port `weed mini` listens on must be one we gave it, on 127.0.0.1."""
    if weed.proc is None:
        return ""
    found = listening_ports(group_pids(weed.proc.pid))
    stray = [f"{a}:{p}" for a, p in found if a != "127.0.0.1" or p not in weed.ports.values()]
    if stray:
        return f"SeaweedFS listens on ports it was not given: {', '.join(stray)}"
    return f"SeaweedFS listens on {len(found)} ports, all given explicitly, all on 127.0.0.1"


def warm_up(ctx: Context, names: list[str]) -> None:
    """A short unmeasured GET load on each system (connections and caches warm)."""
    for name in names:
        system = ctx.systems[name]
        system.ensure_record("warmup", b"w" * KiB)
        run_wrk(
            system.base_url + system.record_path("warmup"),
            connections=64,
            duration=min(2.0, ctx.duration),
            headers=system.auth_headers(),
        )


def prepare(workload: Workload, ctx: Context, notes: list[str], failures: list[str]) -> None:
    """The workload's preparation on each of its systems (W8: its records), before its first
    round: a system whose preparation fails is left out of the workload's runs (they fail)."""
    if workload.prepare is None:
        return
    for name in workload.systems:
        try:
            notes.append(workload.prepare(ctx, name))
        except (BenchError, OSError, http.client.HTTPException) as exc:
            failures.append(f"{workload.wid} preparing {name}: {exc}")
            print(f"{workload.wid} preparing {name}: FAILED {exc}", flush=True)


def describe(run: Run) -> str:
    figures = ", ".join(f"{k}={v:.3f}" for k, v in run.values.items())
    return f"{run.workload} round {run.round} {run.system:13s} {figures}" + (
        f"  EXCLUDED: {run.problem}" if run.problem else ""
    )


def machine_fit(work_root: Path) -> str | None:
    """Check the file system the run works in (bench/conditions.py): its free space (None, with
    the reason printed, when there is too little) and a quiet disk (waited for); what was found,
    for the report."""
    free = free_gib(work_root)
    if free < MIN_FREE_GIB:
        print(
            f"bench: {free:.1f} GiB free under {work_root}; the run writes several GiB and a "
            f"nearly full file system slows every write: free at least {MIN_FREE_GIB:.0f} GiB",
            file=sys.stderr,
        )
        return None
    flush_page_cache()
    print("waiting for a quiet disk...", flush=True)
    waited = wait_for_quiet_disk(work_root)
    print(waited.describe(), flush=True)
    return f"{free:.0f} GiB free; {waited.describe()}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    exit_on_signals()
    selected = {w.wid for w in args.workloads}
    needed = {s for w in args.workloads for s in w.systems if w.wid not in ("W6", "W7")}
    if selected & {"W7"}:
        needed.add(OPENKVS)
    if OPENKVS_SCALEOUT in needed:
        needed.add(SEAWEEDFS)  # beneath the node
    started_at = machine()  # load average at the start of the run
    print(f"load average at start: {started_at.loadavg}", flush=True)
    fit = machine_fit(Path(tempfile.gettempdir()))
    if fit is None:
        return 2
    started_at = replace(started_at, disk=fit)

    apt = ["wrk"] + (["nginx-light"] if NGINX in needed else []) + (["curl"])
    ensure_apt_tools(apt)

    work_dir = Path(tempfile.mkdtemp(prefix="okvs-bench-"))
    work_dir.chmod(0o755)  # nginx's worker (user nobody) reads its files below it
    print("waiting for new files to be cheap to create...", flush=True)
    creates = wait_for_cheap_creates(work_dir / "create-probe")
    print(creates.describe(), flush=True)
    started_at = replace(started_at, disk=f"{started_at.disk}; {creates.describe()}")
    group = ProcGroup()
    runs: list[Run] = []
    failures: list[str] = []
    notes: list[str] = []
    configs: dict[str, str] = {}
    labels: dict[tuple[str, str], str] = {}
    ctx = Context(duration=args.duration, systems={}, work_dir=work_dir)
    try:
        if "W6" in selected:
            count = QUICK_W6_KEYS if args.quick else FULL_W6_KEYS
            store = ensure_key_store(count, group)
            how = "reused from" if store.reused else "filled through the API into"
            notes.append(
                f"W6 store: {store.count:,} keys `{store.key_format % 0}`..`"
                f"{store.key_format % (store.count - 1)}` (1-byte bodies), {how} "
                f"`bench/.cache/{store.path.name}` (filling took {store.populate_seconds:.0f} s "
                "with 128 concurrent PUTs); each measured request starts after a random key "
                "drawn so that every page is full. The data directory is copied for the run."
            )
            w6 = OpenKvs(group, work_dir / "w6", name="openkvs-w6")
            shutil.copytree(store.data_dir, w6.data_dir)
            w6.start(store_id=store.store_id)
            ctx.w6_server, ctx.w6_count, ctx.w6_key_format = w6, store.count, store.key_format
            labels[("W6", OPENKVS)] = f"openkvs ({store.count:,} keys)"
        if OPENKVS in needed:
            server = OpenKvs(group, work_dir / "openkvs")
            server.start()
            ctx.systems[OPENKVS] = server
        if OPENKVS_NOLOG in needed:
            nolog = OpenKvs(
                group, work_dir / "openkvs-nolog", name=OPENKVS_NOLOG, flags=("--no-access-log",)
            )
            nolog.start()
            ctx.systems[OPENKVS_NOLOG] = nolog
        if OPENKVS_NOMETRICS in needed:
            nometrics = OpenKvs(
                group,
                work_dir / "openkvs-nometrics",
                name=OPENKVS_NOMETRICS,
                flags=("--no-metrics",),
            )
            nometrics.start()
            ctx.systems[OPENKVS_NOMETRICS] = nometrics
        if SEAWEEDFS in needed:
            weed = SeaweedFS(group, work_dir / "weed")
            weed.start()
            ctx.systems[SEAWEEDFS] = weed
            notes.append(_check_weed_listeners(weed))
        if OPENKVS_SCALEOUT in needed:
            start_scaleout(group, ctx, work_dir, configs)
        if NGINX in needed:
            nginx = Nginx(group, work_dir / "nginx")
            nginx.start()
            ctx.systems[NGINX] = nginx
            configs["nginx.conf"] = (nginx.root / "nginx.conf").read_text()
        if FLOOR in needed:
            floor = Floor(group, work_dir / "floor")
            floor.start()
            ctx.systems[FLOOR] = floor
        if "W7" in selected:
            ctx.w7_bytes = QUICK_W7_BYTES if args.quick else FULL_W7_BYTES
            ctx.w7_file = work_dir / "w7.bin"
            ctx.w7_sha256 = make_file(ctx.w7_file, ctx.w7_bytes)
            labels[("W7", OPENKVS)] = f"openkvs ({ctx.w7_bytes // MiB} MiB record)"
        warm_up(
            ctx,
            [
                s
                for s in (
                    OPENKVS,
                    OPENKVS_NOLOG,
                    OPENKVS_NOMETRICS,
                    OPENKVS_SCALEOUT,
                    SEAWEEDFS,
                    NGINX,
                    FLOOR,
                )
                if s in ctx.systems
            ],
        )

        for workload in sorted(args.workloads, key=lambda w: RUN_ORDER.index(w.wid)):
            prepare(workload, ctx, notes, failures)
            for rnd in range(1, args.rounds + 1):
                print(f"--- {workload.wid} round {rnd}/{args.rounds}", flush=True)
                for name in rotation(workload.systems, rnd):
                    dirty, took = flush_page_cache()
                    if took >= 0.5:
                        print(f"sync: {dirty // 1024:,} MiB dirty, {took:.1f} s", flush=True)
                    try:
                        run = workload.run(ctx, name, rnd)
                    except (BenchError, OSError, http.client.HTTPException) as exc:
                        failures.append(f"{workload.wid} round {rnd} {name}: {exc}")
                        print(f"{workload.wid} round {rnd} {name}: FAILED {exc}", flush=True)
                        continue
                    if name == OPENKVS and workload.wid in ("W1", "W8"):
                        # timed now, while the machine runs as it did for this run
                        cost = measure_code_cost()
                        run.values[LOG_CODE.key] = cost.access_log_us
                        run.values[METRICS_CODE.key] = cost.metrics_us
                    runs.append(run)
                    print(describe(run), flush=True)
        server_commands: dict[str, str] = {
            system.name: system.command_line() for system in ctx.systems.values()
        }
        if ctx.w6_server is not None:
            server_commands["openkvs (W6 store)"] = ctx.w6_server.command_line()
    except BaseException as exc:
        if isinstance(exc, BenchError):
            print(f"benchmark failed: {exc}", file=sys.stderr)
        elif isinstance(exc, SystemExit | KeyboardInterrupt):
            print("benchmark interrupted", file=sys.stderr)
        else:
            traceback.print_exc()
        return 1
    finally:
        group.stop_all()
        stop_services()
        shutil.rmtree(work_dir, ignore_errors=True)

    data = ReportInput(
        workloads=args.workloads,
        runs=runs,
        rounds=args.rounds,
        duration=args.duration,
        quick=args.quick,
        machine=started_at,
        versions=versions(),
        invocation="python -m bench.run " + shlex.join(sys.argv[1:] if argv is None else argv),
        server_commands=server_commands,
        configs=configs,
        notes=[n for n in notes if n],
        failures=failures,
        system_labels=labels,
    )
    text = render(data)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    print(f"written to {args.output}")
    return 1 if failures else 0


if __name__ == "__main__":
    start = time.monotonic()
    code = main()
    print(f"bench took {time.monotonic() - start:.0f} s")
    sys.exit(code)
