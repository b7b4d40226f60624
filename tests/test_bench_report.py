"""The benchmark report's targets for W1 and W8 (bench/report.py), from made-up runs: the access
log target is openkvs (log on) over openkvs-nolog, the metrics target openkvs over
openkvs-nometrics, and neither counts toward any other target."""

from __future__ import annotations

from bench.report import ReportInput, Target, render, targets
from bench.tools import Machine
from bench.workloads import (
    BY_ID,
    FLOOR,
    NGINX,
    OPENKVS,
    OPENKVS_NOLOG,
    OPENKVS_NOMETRICS,
    SEAWEEDFS,
    Run,
)

# req/s per system, the same in W1 and W8; openkvs-nolog would pass the yardstick targets, openkvs
# would not: a target computed from the wrong system shows.
RPS = {
    OPENKVS: 9_000.0,
    OPENKVS_NOLOG: 12_000.0,
    OPENKVS_NOMETRICS: 9_300.0,
    SEAWEEDFS: 4_000.0,
    NGINX: 20_000.0,
    FLOOR: 1.0,
}


def report_input(rps: dict[str, float]) -> ReportInput:
    runs = [
        Run(wid, system, rnd, {"rps": value * (1 + rnd / 100)}, None, [])
        for wid in ("W1", "W8")
        for system, value in rps.items()
        for rnd in (1, 2, 3)
    ]
    machine = Machine(2, "cpu", "1 GiB", "linux", "today", "0.00")
    return ReportInput(
        workloads=[BY_ID["W1"], BY_ID["W8"]],
        runs=runs,
        rounds=3,
        duration=1.0,
        quick=True,
        machine=machine,
        versions={},
        invocation="python -m bench.run",
        server_commands={},
    )


def by_name(found: list[Target]) -> dict[str, Target]:
    return {t.name: t for t in found}


def test_access_log_target_is_openkvs_over_openkvs_nolog() -> None:
    found = by_name(targets(report_input(RPS)))
    for wid in ("W1", "W8"):
        log = found[f"{wid} access log on vs off"]
        assert log.ratio == "0.75x"  # 9,000 / 12,000 (medians: round 2 of each)
        assert log.goal == ">= 0.9x"
        assert log.verdict == "MISS"
        assert log.yardstick.startswith(OPENKVS_NOLOG)
        assert log.floor == "-"
    close = by_name(targets(report_input({**RPS, OPENKVS: 11_000.0})))
    assert close["W8 access log on vs off"].verdict == "PASS"  # 0.92x


def test_w8_yardstick_targets_use_openkvs_with_its_log_on() -> None:
    found = by_name(targets(report_input(RPS)))
    assert found["W8 GET 1 KiB, random keys vs SeaweedFS"].ratio == "2.25x"  # 9,000 / 4,000
    assert found["W8 GET 1 KiB, random keys vs SeaweedFS"].verdict == "MISS"
    assert found["W8 GET 1 KiB, random keys vs nginx"].ratio == "0.45x"
    assert found["W8 GET 1 KiB, random keys vs nginx"].verdict == "PASS"


def test_report_lists_openkvs_nolog_in_its_own_rows() -> None:
    text = render(report_input(RPS))
    assert "### W8: GET a 1 KiB record drawn at random from 10,000 keys" in text
    assert f"| {OPENKVS_NOLOG} | req/s |" in text


def test_metrics_target_is_openkvs_over_openkvs_nometrics() -> None:
    found = by_name(targets(report_input(RPS)))
    for wid in ("W1", "W8"):
        metrics = found[f"{wid} metrics on vs off"]
        assert metrics.ratio == "0.97x"  # 9,000 / 9,300
        assert metrics.goal == ">= 0.95x"
        assert metrics.verdict == "PASS"
        assert metrics.yardstick.startswith(OPENKVS_NOMETRICS)
    costly = by_name(targets(report_input({**RPS, OPENKVS_NOMETRICS: 10_000.0})))
    assert costly["W1 metrics on vs off"].verdict == "MISS"  # 0.90x


def test_own_code_rows_set_each_run_s_code_against_that_run_s_cpu() -> None:
    """The log's code timed right after each openkvs run is set against that run's CPU per
    request, and the row shows the median of those shares: a slow stretch of the machine raises
    both figures of its run, not the share."""
    data = report_input(RPS)
    timed = {1: (20.0, 1.0), 2: (40.0, 2.0), 3: (30.0, 4.5)}  # round: CPU µs, log's code µs
    for run in data.runs:
        if run.system == OPENKVS:
            cpu, log = timed[run.round]
            run.values.update(cpu_us=cpu, log_code_us=log, metrics_code_us=log / 10)
    found = by_name(targets(data))
    row = found["W1 access log's own code per request, timed alone"]
    # shares 0.05, 0.05, 0.15: median 0.05 (the medians alone, 2.0 / 30.0, would say 0.067)
    assert row.ratio == "0.050x"
    assert row.openkvs == "2.00 µs"
    assert row.yardstick == "openkvs CPU 30.0 µs per request"
    assert row.verdict == "PASS"
    metrics = found["W8 metrics's own code per request, timed alone"]
    assert metrics.ratio == "0.005x" and metrics.verdict == "PASS"
    timed[1] = (20.0, 2.5)  # one run over 0.1 does not decide the row; all three over it do
    timed[2] = (40.0, 8.0)
    for run in data.runs:
        if run.system == OPENKVS:
            run.values.update(log_code_us=timed[run.round][1])
    assert by_name(targets(data))["W1 access log's own code per request, timed alone"].verdict == (
        "MISS"
    )
