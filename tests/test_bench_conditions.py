"""What `make bench` checks before it measures (bench/conditions.py): the disk's activity read
from /proc/diskstats for the right device, the wait for a quiet disk, and the wait for new files
to be cheap to create."""

from __future__ import annotations

import os
from pathlib import Path

from bench.conditions import (
    CHEAP_CREATE_US,
    CREATE_RETRY_SECONDS,
    PROBE_FILES,
    QUIET_SECONDS,
    busy_ms,
    create_us,
    wait_for_cheap_creates,
    wait_for_quiet_disk,
)


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


def test_the_create_probe_makes_new_files_and_leaves_them(tmp_path: Path) -> None:
    probe_dir = tmp_path / "probe"
    cost = create_us(probe_dir, 0)
    assert cost > 0
    create_us(probe_dir, PROBE_FILES)  # numbered on: no name is made twice
    assert len(list(probe_dir.iterdir())) == 2 * PROBE_FILES


class FakeCreates:
    """Creates that cost `costs[i]` µs at the i-th probe; a clock moved by the sleeps."""

    def __init__(self, costs: list[float]) -> None:
        self.costs = costs
        self.starts: list[int] = []
        self.now = 0.0

    def probe(self, directory: Path, start: int) -> float:
        self.starts.append(start)
        return self.costs[len(self.starts) - 1]

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_wait_for_cheap_creates_ends_at_the_first_cheap_probe(tmp_path: Path) -> None:
    fake = FakeCreates([800.0, 650.0, CHEAP_CREATE_US - 1, 900.0])
    waited = wait_for_cheap_creates(
        tmp_path, probe=fake.probe, clock=lambda: fake.now, sleep=fake.sleep
    )
    assert waited.cheap and waited.cost_us == CHEAP_CREATE_US - 1
    assert waited.seconds == 2 * CREATE_RETRY_SECONDS
    assert fake.starts == [0, PROBE_FILES, 2 * PROBE_FILES]
    assert "after 30 s" in waited.describe() and "still" not in waited.describe()


def test_creates_that_stay_dear_are_reported_at_the_limit(tmp_path: Path) -> None:
    fake = FakeCreates([700.0] * 100)
    waited = wait_for_cheap_creates(
        tmp_path, limit=60, probe=fake.probe, clock=lambda: fake.now, sleep=fake.sleep
    )
    assert not waited.cheap and waited.seconds == 60
    assert waited.describe() == "new files still 700 µs each after 60 s"
