"""Whether the machine is fit to measure, checked before a run starts.

`make bench` writes several GiB and times strict writes, so it needs room on the file system it
works in and a disk that is not still busy writing back earlier work: on this kind of VM a file
system 96% full took W4 from 1.00x to 0.68x, and the writeback of a few GiB of uploads made every
server's W5 tail two to four times longer (docs/performance.md).

It also needs files to be cheap to create where it works, as they are on most file systems: on
ext4 without a journal (this machine's), a new file's inode is chosen past every inode of its
block group freed in the last 5 minutes (longer while the group's inode table is being written),
each checked in turn, so for minutes after thousands of files were removed (a test run's, an
earlier benchmark's) a create costs 0.7-0.9 ms of kernel CPU instead of 25-30 µs. W4 creates a
file per 1 MiB body and SeaweedFS none: right after such removals, 14-18% of openkvs's CPU under
W4 went to choosing inodes (perf), 1% five minutes later.
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
CHEAP_CREATE_US = 200.0  # a new file costs at most this much...
PROBE_FILES = 50  # ...over this many files created in a row (kept until the run's end)
CREATE_WAIT_LIMIT_SECONDS = 400.0
CREATE_RETRY_SECONDS = 15.0


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


def create_us(directory: Path, start: int, count: int = PROBE_FILES) -> float:
    """Microseconds per new empty file, over `count` files created in `directory` (numbered from
    `start`); they are left there: removing them would make the next files dearer."""
    directory.mkdir(exist_ok=True)
    began = time.perf_counter()
    for number in range(start, start + count):
        os.close(os.open(directory / f"probe-{number}", os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    return (time.perf_counter() - began) / count * 1e6


@dataclass(frozen=True)
class CreateWait:
    seconds: float  # waited
    cost_us: float  # the last probe's cost of a new file

    @property
    def cheap(self) -> bool:
        return self.cost_us <= CHEAP_CREATE_US

    def describe(self) -> str:
        state = "" if self.cheap else "still "
        return f"new files {state}{self.cost_us:.0f} µs each after {self.seconds:.0f} s"


def wait_for_cheap_creates(
    directory: Path,
    limit: float = CREATE_WAIT_LIMIT_SECONDS,
    probe: Callable[[Path, int], float] = create_us,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> CreateWait:
    """Wait, up to `limit` seconds, until creating a file in `directory` costs at most
    CHEAP_CREATE_US."""
    began = clock()
    created = 0
    while True:
        cost = probe(directory, created)
        created += PROBE_FILES
        waited = clock() - began
        if cost <= CHEAP_CREATE_US or waited >= limit:
            return CreateWait(waited, cost)
        sleep(CREATE_RETRY_SECONDS)
