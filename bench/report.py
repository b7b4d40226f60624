"""The Markdown report: machine, commands, every figure of every run, medians, targets."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from bench.tools import Machine
from bench.workloads import (
    CPU,
    DOWN,
    FLOOR,
    LOG_CODE,
    METRICS_CODE,
    MIB_S,
    NGINX,
    OPENKVS,
    OPENKVS_NOLOG,
    OPENKVS_NOMETRICS,
    OPENKVS_SCALEOUT,
    P50,
    P99,
    REQ_S,
    RSS,
    RUN_ORDER,
    SEAWEEDFS,
    UP,
    Metric,
    Run,
    Workload,
)


@dataclass
class ReportInput:
    workloads: list[Workload]
    runs: list[Run]
    rounds: int
    duration: float
    quick: bool
    machine: Machine
    versions: dict[str, str]
    invocation: str
    server_commands: dict[str, str]
    configs: dict[str, str] = field(default_factory=dict)  # title -> file text
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    system_labels: dict[tuple[str, str], str] = field(default_factory=dict)


def fmt(metric: Metric, value: float | None) -> str:
    if value is None:
        return "n/a"
    if metric.key == REQ_S.key:
        return f"{value:,.0f}"
    if "ms" in metric.label:
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return f"{value:,.1f}"


def median(runs: list[Run], wid: str, system: str, metric: Metric) -> float | None:
    values = [
        r.values[metric.key]
        for r in runs
        if r.workload == wid and r.system == system and r.problem is None and metric.key in r.values
    ]
    return statistics.median(values) if values else None


def code_share(runs: list[Run], wid: str, code: Metric) -> float | None:
    """The median over openkvs's runs of `wid` of `code`'s time over the run's CPU per request."""
    shares = [
        r.values[code.key] / r.values[CPU.key]
        for r in runs
        if r.workload == wid
        and r.system == OPENKVS
        and r.problem is None
        and r.values.get(CPU.key)
        and code.key in r.values
    ]
    return statistics.median(shares) if shares else None


@dataclass
class Target:
    name: str
    openkvs: str
    yardstick: str
    ratio: str
    goal: str
    verdict: str
    floor: str = "-"  # the same figure for the floor (bench/floor_app.py)


def _floor_ratio(floor: float | None, yardstick: float | None) -> str:
    return "-" if floor is None or not yardstick else f"{floor / yardstick:.2f}x"


def floor_section(data: ReportInput) -> list[str]:
    """openkvs's medians as a share of the floor's: how much of what Python can do it does."""
    rows = []
    for workload in data.workloads:
        if FLOOR not in workload.systems:
            continue
        for metric in workload.metrics:
            mine = median(data.runs, workload.wid, OPENKVS, metric)
            floor = median(data.runs, workload.wid, FLOOR, metric)
            if mine is None or not floor:
                continue
            share = mine / floor if metric.higher_is_better else floor / mine
            rows.append(
                [workload.wid, metric.label, fmt(metric, mine), fmt(metric, floor), f"{share:.0%}"]
            )
    if not rows:
        return []
    return [
        "## openkvs against the floor",
        "",
        "The floor (`bench/floor_app.py`) is a Python ASGI app that stores nothing, checks "
        "nothing and routes nothing, served by the same HTTP stack as `openkvs serve` "
        "(`openkvs.serving`: Granian embedded, uvloop). No Python server on this stack can beat "
        "it, so a target its ratio misses (column *Floor* above) is out of reach for openkvs "
        "as a Python program on this machine. *Share*: openkvs's figure as a share of the "
        "floor's (for latency, the floor's over openkvs's).",
        "",
        *_table(["Workload", "Metric", "openkvs", "Floor", "Share"], rows),
        "",
    ]


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def targets(data: ReportInput) -> list[Target]:
    runs = data.runs
    chosen = {w.wid for w in data.workloads}
    out: list[Target] = []

    def ratio_target(
        wid: str,
        metric: Metric,
        other: str,
        goal: float,
        name: str,
        unit: str,
        at_most: bool = False,
        with_floor: bool = True,
        mine_system: str = OPENKVS,
        other_wid: str | None = None,
    ) -> None:
        """`mine_system`'s median over `other`'s (in `other_wid`, by default the same workload);
        `with_floor`: the floor's over `other`'s beside it (meaningless when `other` is openkvs
        itself with another flag)."""
        if wid not in chosen or (other_wid or wid) not in chosen:
            return
        mine = median(runs, wid, mine_system, metric)
        theirs = median(runs, other_wid or wid, other, metric)
        floor = median(runs, wid, FLOOR, metric) if with_floor else None
        ratio = mine / theirs if mine is not None and theirs else None
        ok = None if ratio is None else (ratio <= goal if at_most else ratio >= goal)
        out.append(
            Target(
                name,
                f"{fmt(metric, mine)} {unit}",
                f"{other} {fmt(metric, theirs)} {unit}",
                "n/a" if ratio is None else f"{ratio:.2f}x",
                f"{'<=' if at_most else '>='} {goal:g}x",
                _verdict(ok),
                _floor_ratio(floor, theirs),
            )
        )

    def limit_target(
        wid: str, metric: Metric, limit: float, name: str, unit: str, at_most: bool
    ) -> None:
        if wid not in chosen:
            return
        mine = median(runs, wid, OPENKVS, metric)
        ok = None if mine is None else (mine <= limit if at_most else mine >= limit)
        ratio = None if mine is None else mine / limit
        out.append(
            Target(
                name,
                f"{fmt(metric, mine)} {unit}",
                "-",
                "n/a" if ratio is None else f"{ratio:.2f}x of limit",
                f"{'<=' if at_most else '>='} {limit:g} {unit}",
                _verdict(ok),
            )
        )

    ratio_target("W1", REQ_S, SEAWEEDFS, 3, "W1 GET 1 KiB vs SeaweedFS", "req/s")
    ratio_target("W1", REQ_S, NGINX, 0.4, "W1 GET 1 KiB vs nginx", "req/s")
    ratio_target("W8", REQ_S, SEAWEEDFS, 3, "W8 GET 1 KiB, random keys vs SeaweedFS", "req/s")
    ratio_target("W8", REQ_S, NGINX, 0.4, "W8 GET 1 KiB, random keys vs nginx", "req/s")
    # openkvs as shipped (access log on) over the same server with --no-access-log, same run.
    for wid in ("W1", "W8"):
        name = f"{wid} access log on vs off"
        ratio_target(wid, REQ_S, OPENKVS_NOLOG, 0.9, name, "req/s", with_floor=False)
    # Likewise for the metrics (--no-metrics): "no more than a few percent".
    for wid in ("W1", "W8"):
        name = f"{wid} metrics on vs off"
        ratio_target(wid, REQ_S, OPENKVS_NOMETRICS, 0.95, name, "req/s", with_floor=False)
    # The same costs as CPU time per request, which this machine's noise moves far less than
    # throughput: at most 10% more with the log, 5% more with the metrics.
    for wid in ("W1", "W8"):
        for other, goal, what in (
            (OPENKVS_NOLOG, 1.1, "access log"),
            (OPENKVS_NOMETRICS, 1.05, "metrics"),
        ):
            name = f"{wid} {what} on vs off, CPU per request"
            ratio_target(wid, CPU, other, goal, name, "µs", at_most=True, with_floor=False)
    # The code each flag adds, timed alone right after each openkvs run (bench/code_cost.py),
    # over that run's CPU time per request: what decides these two targets, since the A/B runs
    # above move more than they measure. The median of the runs' shares.
    for wid in ("W1", "W8"):
        whole = median(runs, wid, OPENKVS, CPU) if wid in chosen else None
        if not whole:
            continue
        for what, code, goal in (("access log", LOG_CODE, 0.1), ("metrics", METRICS_CODE, 0.05)):
            spent = median(runs, wid, OPENKVS, code)
            share = code_share(runs, wid, code)
            if spent is None or share is None:
                continue
            out.append(
                Target(
                    f"{wid} {what}'s own code per request, timed alone",
                    f"{spent:.2f} µs",
                    f"openkvs CPU {whole:.1f} µs per request",
                    f"{share:.3f}x",
                    f"<= {goal:g}x",
                    _verdict(share <= goal),
                )
            )
    ratio_target("W2", REQ_S, SEAWEEDFS, 3, "W2 PUT 1 KiB vs SeaweedFS", "req/s")
    ratio_target("W3", MIB_S, SEAWEEDFS, 1, "W3 GET 1 MiB vs SeaweedFS", "MiB/s")
    ratio_target("W4", MIB_S, SEAWEEDFS, 1, "W4 PUT 1 MiB vs SeaweedFS", "MiB/s")
    limit_target("W5", P50, 0.5, "W5 GET 10 KiB p50", "ms", at_most=True)
    ratio_target("W5", P99, NGINX, 2, "W5 GET 10 KiB p99 vs nginx", "ms", at_most=True)
    limit_target("W6", P50, 20, "W6 keys page p50", "ms", at_most=True)
    limit_target("W7", UP, 100, "W7 upload", "MiB/s", at_most=False)
    limit_target("W7", DOWN, 100, "W7 download", "MiB/s", at_most=False)
    limit_target("W7", RSS, 100, "W7 server RSS growth", "MiB", at_most=True)

    # One scale-out node against the object store beneath it, and against itself spread out.
    def node_target(
        wid: str, metric: Metric, goal: float, name: str, unit: str, other: str = SEAWEEDFS
    ) -> None:
        other_wid = "S4" if other == OPENKVS_SCALEOUT else None
        ratio_target(
            wid,
            metric,
            other,
            goal,
            name,
            unit,
            with_floor=False,
            mine_system=OPENKVS_SCALEOUT,
            other_wid=other_wid,
        )

    node_target("S1", REQ_S, 1, "S1 scale-out GET 1 KiB vs SeaweedFS", "req/s")
    node_target("S2", REQ_S, 1, "S2 scale-out GET 1 KiB, random keys vs SeaweedFS", "req/s")
    node_target("S3", REQ_S, 1, "S3 scale-out PUT 1 KiB, one store vs SeaweedFS", "req/s")
    name = "S3 scale-out PUT 1 KiB, one store vs 64 stores (S4)"
    node_target("S3", REQ_S, 0.8, name, "req/s", other=OPENKVS_SCALEOUT)
    node_target("S5", MIB_S, 0.8, "S5 scale-out GET 1 MiB vs SeaweedFS", "MiB/s")
    node_target("S6", MIB_S, 0.8, "S6 scale-out PUT 1 MiB vs SeaweedFS", "MiB/s")
    if "W7" in chosen:
        w7 = [r for r in runs if r.workload == "W7"]
        bad = [r for r in w7 if any("DIFFERS" in n for n in r.notes)]
        out.append(
            Target(
                "W7 sha256 of the bytes read back",
                f"{len(w7) - len(bad)}/{len(w7)} runs equal",
                "-",
                "-",
                "equal in every run",
                _verdict(None if not w7 else not bad),
            )
        )
    return out


def cost_section(data: ReportInput) -> list[str]:
    """What one request costs the scale-out node, PostgreSQL and SeaweedFS (medians)."""
    from bench.scaleout import COSTS

    rows = []
    for workload in data.workloads:
        if OPENKVS_SCALEOUT not in workload.systems:
            continue
        counted = [
            r.requests / data.duration
            for r in data.runs
            if r.workload == workload.wid and r.system == OPENKVS_SCALEOUT and r.problem is None
            if r.requests
        ]
        rate = statistics.median(counted) if counted else None
        cells = [workload.wid, fmt(REQ_S, rate)]
        for key, _ in COSTS:
            value = median(data.runs, workload.wid, OPENKVS_SCALEOUT, Metric(key, key, False))
            digits = 2 if key == "db_statements" else 0
            cells.append("n/a" if value is None else f"{value:,.{digits}f}")
        rows.append(cells)
    if not rows:
        return []
    return [
        "## Scale-out: cost per request",
        "",
        "For each scale-out workload, medians over its runs on the node: the PostgreSQL "
        "statements the node sent per request (its `/metrics`, `openkvs_db_query_seconds_count`, "
        "background work included; GETs and PUTs that wait at the same moment share one "
        "statement), and the CPU time per request of the node, of PostgreSQL (the "
        "postmaster and every backend) and of SeaweedFS (`weed mini`: master, volume, filer and "
        "S3 gateway in one process), read from /proc before and after each run. For a load of "
        "L requests a second, the nodes together need L times the node's CPU per request, "
        "however many they are, and PostgreSQL and the object store L times theirs.",
        "",
        *_table(["Workload", "req/s", *(label for _, label in COSTS)], rows),
        "",
    ]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _cell(run: Run | None, metric: Metric) -> str:
    if run is None:
        return "-"
    value = run.values.get(metric.key)
    text = fmt(metric, value)
    if run.problem:
        return f"~~{text}~~ excluded: {run.problem}"
    return text


def _counts(run: Run) -> str:
    if run.requests is None:
        return "-"
    text = f"{run.requests:,} / {run.non_2xx or 0}"
    if run.socket_errors:
        text += f" / {run.socket_errors} socket errors"
    return text


def results_section(data: ReportInput, workload: Workload) -> list[str]:
    lines = [f"### {workload.wid}: {workload.title}", ""]
    header = ["System", "Metric", *(f"Run {i}" for i in range(1, data.rounds + 1)), "Median"]
    rows: list[list[str]] = []
    for system in workload.systems:
        label = data.system_labels.get((workload.wid, system), system)
        for metric in workload.metrics:
            if not any(
                metric.key in r.values
                for r in data.runs
                if r.workload == workload.wid and r.system == system
            ):
                continue  # a figure this system's runs do not have (CPU: openkvs's only)
            cells = []
            for rnd in range(1, data.rounds + 1):
                found = [
                    r
                    for r in data.runs
                    if r.workload == workload.wid and r.system == system and r.round == rnd
                ]
                cells.append(_cell(found[0] if found else None, metric))
            best = median(data.runs, workload.wid, system, metric)
            rows.append([label, metric.label, *cells, f"**{fmt(metric, best)}**"])
        counts = []
        for rnd in range(1, data.rounds + 1):
            found = [
                r
                for r in data.runs
                if r.workload == workload.wid and r.system == system and r.round == rnd
            ]
            counts.append(_counts(found[0]) if found else "-")
        if any(c != "-" for c in counts):
            rows.append([label, "requests / non-2xx", *counts, ""])
    lines += _table(header, rows)
    notes = [
        f"- run {r.round} ({r.system}): {note}"
        for r in data.runs
        if r.workload == workload.wid
        for note in r.notes
    ]
    if notes:
        lines += ["", *notes]
    return [*lines, ""]


def commands_section(data: ReportInput) -> list[str]:
    lines = ["## Commands", "", f"Benchmark: `{data.invocation}`", "", "Servers:", "", "```"]
    lines += [f"# {name}\n{command}" for name, command in data.server_commands.items()]
    lines += ["```", ""]
    for title, text in data.configs.items():
        lines += [f"{title}:", "", "```", text.rstrip(), "```", ""]
    lines += [
        "Load generators, as run from the repository root (round 1; later rounds differ only "
        "in key prefixes):",
        "",
        "```",
    ]
    for workload in data.workloads:
        for run in data.runs:
            if run.workload == workload.wid and run.round == 1:
                lines += [f"# {workload.wid} {run.system}", *run.commands]
    lines += ["```", ""]
    return lines


def render(data: ReportInput) -> str:
    m = data.machine
    title = "# openkvs benchmarks"
    lines = [title, ""]
    if data.quick:
        lines += [
            "> **Quick development run** (`--quick`): short runs, one round, a small W6 store and "
            "W7 record. These figures are not the benchmark's results.",
            "",
        ]
    lines += [
        "Generated by `make bench` (`bench/run.py`); every figure below comes from one run of "
        "it. openkvs runs on the embedded store with its default flags (strict durability, "
        "access log and metrics on); openkvs-nolog and openkvs-nometrics, the same server with "
        "`--no-access-log` or `--no-metrics` started beside it, run W1 and W8 only, for the "
        "targets *access log on vs off* and *metrics on vs off*, and count toward no "
        "other target; since those runs move by more than the few percent they look for, the "
        "code each flag adds is also timed alone in the benchmark's process right after each "
        "openkvs run of W1 and W8 (`bench/code_cost.py`: CPU time per request, best of 5 runs "
        "of 200,000) and set against the CPU time a whole request cost openkvs in that run "
        "(rows *own code per request*: medians of the runs' figures and of their shares). "
        "openkvs-scaleout (S1..S6) is one scale-out node with its default flags "
        "on a PostgreSQL cluster of its own (default settings but max_connections) and on the "
        "run's SeaweedFS, measured against SeaweedFS's own S3 gateway. SeaweedFS "
        "(`weed mini`, S3 gateway, anonymous access) and nginx (static files, one worker) are "
        "the yardsticks, on the same machine in the same run. Load: wrk with one thread on "
        "loopback. The workloads run in the order "
        f"{', '.join(w for w in RUN_ORDER if w in {x.wid for x in data.workloads})} (latency "
        "first, then reads, then writes), each its rounds back to back with the systems "
        f"interleaved in every round: {data.rounds} round(s) of {data.duration:g} s per wrk "
        "run; a run with any non-2xx "
        "answer or socket error is shown struck through and left out of the median. Before "
        "each run the page cache's dirty data is written out (`sync`), so that no run pays for "
        "the writeback of the PUTs before it.",
        "",
        "## Machine",
        "",
    ]
    rows = [
        ["nproc", str(m.nproc)],
        ["CPU", m.cpu_model],
        ["Memory", m.memory],
        ["Kernel", m.kernel],
        ["Date", m.date],
        ["Load average at start", m.loadavg],
        ["Disk at start", m.disk],
        *[[name, value] for name, value in data.versions.items()],
    ]
    lines += [*_table(["Item", "Value"], rows), ""]
    lines += ["## Targets", ""]
    target_rows = [
        [t.name, t.openkvs, t.yardstick, t.ratio, t.goal, f"**{t.verdict}**", t.floor]
        for t in targets(data)
    ]
    header = ["Target", "openkvs", "Yardstick", "Ratio", "Goal", "Result", "Floor"]
    lines += _table(header, target_rows)
    lines += ["", *floor_section(data), *cost_section(data), "## Results", ""]
    if data.failures:
        lines += ["Failures:", "", *(f"- {f}" for f in data.failures), ""]
    for workload in data.workloads:
        lines += results_section(data, workload)
    if data.notes:
        lines += ["## Notes", "", *(f"- {n}" for n in data.notes), ""]
    lines += commands_section(data)
    return "\n".join(lines).rstrip() + "\n"
