"""Whether the machine is fit to measure, checked before a run starts.

`make bench` writes several GiB and times strict writes, so it needs room on the file system it
works in and a disk that is not still busy writing back earlier work: on this kind of VM a file
system 96% full took W4 from 1.00x to 0.68x, and the writeback of a few GiB of uploads made every
server's W5 tail two to four times longer (docs/performance.md).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

GiB = 1 << 30
MIN_FREE_GIB = 20.0  # W7 writes 3 GiB, the PUT workloads a few more
QUIET_BUSY = 0.05  # a quiet disk is busy for at most this share of a second...
QUIET_SECONDS = 5  # ...this many seconds in a row
WAIT_LIMIT_SECONDS = 300.0


def free_gib(path: Path) -> float:
    return shutil.disk_usage(path).free / GiB


def busy_ms(path: Path, diskstats: str | None = None) -> int | None:
    """Milliseconds the device holding `path` has spent doing I/O since boot (`io_ticks` in
    /proc/diskstats), or None when the device is not listed there (tmpfs, overlay)."""
    device = os.stat(path).st_dev
    number = (str(os.major(device)), str(os.minor(device)))
    text = Path("/proc/diskstats").read_text() if diskstats is None else diskstats
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 13 and (fields[0], fields[1]) == number:
            return int(fields[12])
    return None


@dataclass(frozen=True)
class DiskWait:
    seconds: float  # waited
    quiet: bool | None  # None: the device's activity could not be read
    busy: float  # share of the last second the disk was busy

    def describe(self) -> str:
        if self.quiet is None:
            return "disk activity not readable"
        if self.quiet:
            return f"disk quiet after {self.seconds:.0f} s"
        return f"disk still {self.busy:.0%} busy after {self.seconds:.0f} s"


def wait_for_quiet_disk(
    path: Path,
    limit: float = WAIT_LIMIT_SECONDS,
    read: Callable[[Path], int | None] = busy_ms,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DiskWait:
    """Wait, up to `limit` seconds, until the disk under `path` has been quiet for
    QUIET_SECONDS in a row."""
    began = clock()
    before, at = read(path), began
    if before is None:
        return DiskWait(0.0, None, 0.0)
    quiet_for, busy = 0, 0.0
    while True:
        sleep(1.0)
        now, ticks = clock(), read(path)
        if ticks is None:
            return DiskWait(now - began, None, 0.0)
        busy = (ticks - before) / 1000 / max(now - at, 1e-3)
        before, at = ticks, now
        quiet_for = quiet_for + 1 if busy <= QUIET_BUSY else 0
        if quiet_for >= QUIET_SECONDS:
            return DiskWait(now - began, True, busy)
        if now - began >= limit:
            return DiskWait(now - began, False, busy)
