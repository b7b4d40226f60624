"""What a long import, export or copy shows while it works: rich's progress bar on a terminal,
a plain line every few seconds elsewhere (CI logs), nothing but problems with --quiet. Problems
(a record that failed, with its key and the reason) are always printed, on standard error."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

PLAIN_EVERY_S = 5.0


@dataclass
class Summary:
    stores: int = 0
    records: int = 0
    bytes: int = 0
    skipped: int = 0
    failed: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self, verb: str) -> str:
        return (
            f"{verb}: {self.stores} store(s), {self.records} record(s), {self.bytes:,} bytes; "
            f"{self.skipped} skipped (already identical), {self.failed} failed"
        )


class Reporter:
    """Counts into a Summary and shows it; `quiet`: problems and the last line only."""

    def __init__(self, quiet: bool, verb: str) -> None:
        self.summary = Summary()
        self._verb = verb
        self._errors = Console(stderr=True, highlight=False, soft_wrap=True)
        self._bars = sys.stderr.isatty() and not quiet
        self._plain = not quiet and not self._bars
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._shown = time.monotonic()
        self._lock = threading.Lock()  # records finish on several threads

    def __enter__(self) -> Reporter:
        if self._bars:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeElapsedColumn(),
                console=self._errors,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def store(self, label: str, records: int | None) -> None:
        """A store begins (`records`: how many it has, when known)."""
        self.summary.stores += 1
        if self._progress is not None:
            if self._task is not None:
                self._progress.update(self._task, visible=False)
            self._task = self._progress.add_task(label, total=records)
        elif self._plain:
            self._errors.print(
                f"{self._verb} {label}" + (f": {records} records" if records else "")
            )

    def done(self, nbytes: int, skipped: bool = False) -> None:
        with self._lock:
            self._count(nbytes, skipped)

    def _count(self, nbytes: int, skipped: bool) -> None:
        summary = self.summary
        if skipped:
            summary.skipped += 1
        else:
            summary.records += 1
            summary.bytes += nbytes
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=1)
        elif self._plain and time.monotonic() - self._shown >= PLAIN_EVERY_S:
            self._shown = time.monotonic()
            self._errors.print(self.summary.line("so far"))

    def failed(self, where: str, reason: str) -> None:
        problem = f"FAILED {where}: {reason}"
        with self._lock:
            self.summary.failed += 1
            self.summary.problems.append(problem)
            self._errors.print(problem, markup=False)
