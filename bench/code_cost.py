"""What the access log and the metrics add to one request, timed alone in this process.

Throughput A/B runs (openkvs against openkvs-nolog and openkvs-nometrics) move by 10-20% between
rounds on this machine, more than the few percent they are meant to show. The code either flag
removes is small and known: the metrics' `RequestMetrics.observe` call, and the access log's
`AccessLog.request` (its line's values queued) plus the log thread's formatting and writing of
the lines. Here each runs alone, many times, and its CPU time per request is compared with the CPU
time a whole request cost the server in the W1 or W8 run just before (`bench/run.py` times it
right after each openkvs run, so that both see the machine at the same speed, which moves by half
between minutes here): a ratio the machine's noise moves far less.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from openkvs.http.access_log import AccessLog
from openkvs.http.request_metrics import RequestMetrics

CALLS = 200_000
REPEATS = 5
ROUTE = "/v2/key-value-stores/{storeId}/records/{recordKey}"
# A W8 request as the server's ASGI scope holds it (what the log line is made from).
SCOPE = {
    "type": "http",
    "method": "GET",
    "path": "/v2/key-value-stores/QScyY3mBWM6p1GsSr/records/w8-04711",
    "query_string": b"",
    "client": ("127.0.0.1", 52044),
    "headers": [(b"host", b"127.0.0.1:34887"), (b"authorization", b"Bearer bench-token")],
}


@dataclass(frozen=True)
class CodeCost:
    """CPU µs per request of each flag's own code (best of REPEATS runs of CALLS requests)."""

    metrics_us: float
    access_log_us: float


def _best(run: Callable[[], float]) -> float:
    return min(run() for _ in range(REPEATS))


def _metrics_run() -> float:
    metrics = RequestMetrics()
    observe = metrics.observe
    began = time.process_time()
    for i in range(CALLS):
        observe(ROUTE, "GET", 200, 0.0004 + (i & 1023) * 1e-6, 0, 1024)
    return (time.process_time() - began) / CALLS * 1e6


def _access_log_run() -> float:
    """Lines queued on this thread and written by the log's (to a real file, as the server's
    standard error is in the benchmark): process CPU time counts both threads."""
    with tempfile.TemporaryFile() as sink:
        fd = os.dup(sink.fileno())
        log = AccessLog(fd)
        try:
            began = time.process_time()
            for i in range(CALLS):
                log.request(SCOPE, 200, 0.41, f"a1b2c3-{i:x}")
            log.close()  # every queued line written
            return (time.process_time() - began) / CALLS * 1e6
        finally:
            os.close(fd)


def measure() -> CodeCost:
    return CodeCost(metrics_us=_best(_metrics_run), access_log_us=_best(_access_log_run))


if __name__ == "__main__":
    cost = measure()
    print(f"metrics {cost.metrics_us:.2f} µs/request, access log {cost.access_log_us:.2f}")
