"""The access log's and the metrics' cost as paired A/B runs, with a twin as the control.

    .venv/bin/python -m bench.ab_pairs [--pairs 8] [--duration 4]

Four `openkvs serve` processes on the embedded store: the default one, its twin (the same
flags), one with --no-metrics, one with --no-access-log. Each pair (default, other) runs W1 (GET
one 1 KiB record, wrk, 64 connections) back to back, the order alternating, PAIRS times; printed
per other server: the median of the pairs' throughput and CPU-per-request ratios, and their
range. What the twin shows is this machine's noise between two identical processes: a flag's
cost is visible only beyond it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench.procs import ProcGroup, cpu_seconds
from bench.systems import OpenKvs
from bench.workloads import payload
from bench.wrk import run_wrk

KEY = "w1"


def _measure(server: OpenKvs, duration: float) -> tuple[float, float]:
    """Requests a second, and the server's CPU µs per request."""
    assert server.proc is not None
    before = cpu_seconds(server.proc.pid)
    result = run_wrk(
        server.base_url + server.record_path(KEY),
        connections=64,
        duration=duration,
        headers=server.auth_headers(),
    )
    spent = cpu_seconds(server.proc.pid) - before
    return result.rps, spent / max(1, result.requests) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--duration", type=float, default=4.0)
    args = parser.parse_args()
    group = ProcGroup()
    root = Path(tempfile.mkdtemp(prefix="okvs-ab-"))
    try:
        default = OpenKvs(group, root / "default", name="default")
        others = {
            "twin (same flags)": OpenKvs(group, root / "twin", name="twin"),
            "--no-metrics": OpenKvs(
                group, root / "nometrics", name="nometrics", flags=("--no-metrics",)
            ),
            "--no-access-log": OpenKvs(
                group, root / "nolog", name="nolog", flags=("--no-access-log",)
            ),
        }
        for server in (default, *others.values()):
            server.start()
            server.ensure_record(KEY, payload(1024))
        ratios: dict[str, list[tuple[float, float]]] = {label: [] for label in others}
        for index in range(args.pairs):
            for label, other in others.items():
                first, second = (default, other) if index % 2 == 0 else (other, default)
                got = {id(first): _measure(first, args.duration)}
                got[id(second)] = _measure(second, args.duration)
                mine, theirs = got[id(default)], got[id(other)]
                ratios[label].append((mine[0] / theirs[0], mine[1] / theirs[1]))
        for label, pairs in ratios.items():
            speed = [p[0] for p in pairs]
            cpu = [p[1] for p in pairs]
            print(
                f"default vs {label}: throughput {statistics.median(speed):.3f}x "
                f"[{min(speed):.2f}-{max(speed):.2f}], CPU per request "
                f"{statistics.median(cpu):.3f}x [{min(cpu):.2f}-{max(cpu):.2f}] "
                f"({args.pairs} pairs of {args.duration:g} s)"
            )
    finally:
        group.stop_all()


if __name__ == "__main__":
    main()
