"""What `make bench` checks before it measures (bench/conditions.py): the disk's activity read
from /proc/diskstats for the right device, and the wait for a quiet disk."""

from __future__ import annotations

import os
from pathlib import Path

from bench.conditions import QUIET_SECONDS, busy_ms, wait_for_quiet_disk


def diskstats_line(major: int, minor: int, name: str, io_ticks: int) -> str:
    """A /proc/diskstats line: major, minor, name, then 17 counters; io_ticks is the tenth."""
    counters = [11, 0, 22, 33, 44, 0, 55, 66, 0, io_ticks, 77, 0, 0, 0, 0, 0, 0]
    return " ".join([str(major), str(minor), name, *map(str, counters)])


def test_the_busy_time_is_read_for_the_device_that_holds_the_path(tmp_path: Path) -> None:
    device = os.stat(tmp_path).st_dev
    major, minor = os.major(device), os.minor(device)
    text = "\n".join(
        [
            diskstats_line(major + 1, minor, "other", 999),
            diskstats_line(major, minor + 1, "partition", 888),
            diskstats_line(major, minor, "ours", 1234),
        ]
    )
    assert busy_ms(tmp_path, text) == 1234
    assert busy_ms(tmp_path, diskstats_line(major + 1, minor, "other", 5)) is None


class FakeDisk:
    """A disk busy for the first `busy_seconds` of the wait, then idle; a clock that moves one
    second per sleep."""

    def __init__(self, busy_seconds: int) -> None:
        self.busy_seconds = busy_seconds
        self.now = 0.0
        self.ticks = 0

    def read(self, _: Path) -> int:
        return self.ticks

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.now <= self.busy_seconds:
            self.ticks += 600  # 60% busy


def test_the_wait_ends_once_the_disk_was_quiet_long_enough(tmp_path: Path) -> None:
    disk = FakeDisk(busy_seconds=3)
    waited = wait_for_quiet_disk(tmp_path, 100, disk.read, disk.clock, disk.sleep)
    assert waited.quiet is True
    assert waited.seconds == 3 + QUIET_SECONDS
    assert waited.describe() == f"disk quiet after {3 + QUIET_SECONDS} s"


def test_a_disk_that_stays_busy_is_reported_at_the_limit(tmp_path: Path) -> None:
    disk = FakeDisk(busy_seconds=1000)
    waited = wait_for_quiet_disk(tmp_path, 30, disk.read, disk.clock, disk.sleep)
    assert waited.quiet is False and waited.seconds == 30
    assert waited.describe() == "disk still 60% busy after 30 s"


def test_an_unreadable_device_is_said_so_without_waiting(tmp_path: Path) -> None:
    disk = FakeDisk(busy_seconds=0)
    waited = wait_for_quiet_disk(tmp_path, 30, lambda _: None, disk.clock, disk.sleep)
    assert waited.quiet is None and disk.now == 0
