"""Records moved a few at a time: a small record is a few round trips, and several in flight
keep both ends busy. A record's work runs on a thread of the pool; whatever fails is reported
by `attempt` (moving/copying.py), unless --fail-fast, when it ends the run.

Ctrl-C reaches the main thread, which sets STOPPING: every body in flight stops at its next chunk
(the server then stores nothing of it), records not begun are dropped, and the interrupt goes on
up once the threads are done."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

STOPPING = threading.Event()
QUEUED_PER_THREAD = 2  # records waiting per thread: enough to keep it busy, no more


class Stopped(BaseException):
    """A body cut off because the run is stopping (not a failure of the record)."""


def check_stopping() -> None:
    if STOPPING.is_set():
        raise Stopped


def stop() -> None:
    """The run ends (Ctrl-C, or a failure under --fail-fast): no record goes further."""
    STOPPING.set()


class Workers:
    def __init__(self, parallel: int, run: Callable[[str, Callable[[], None]], None]) -> None:
        self._parallel = max(1, parallel)
        self._run = run  # (where, work): work, with its failure reported
        self._pool = ThreadPoolExecutor(self._parallel, thread_name_prefix="openkvs-move")
        self._pending: set[Future[None]] = set()
        STOPPING.clear()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None:  # interrupted, or a failure under --fail-fast
            stop()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, where: str, work: Callable[[], None]) -> None:
        while len(self._pending) >= self._parallel * QUEUED_PER_THREAD:
            self._settle(FIRST_COMPLETED)
        self._pending.add(self._pool.submit(self._begin, where, work))

    def _begin(self, where: str, work: Callable[[], None]) -> None:
        check_stopping()  # queued before the run began to stop: not begun at all
        self._run(where, work)

    def drain(self) -> None:
        """Wait for every record submitted (a failure under --fail-fast is raised here)."""
        self._settle(ALL_COMPLETED)

    def _settle(self, how: str) -> None:
        done, self._pending = wait(self._pending, return_when=how)
        for future in done:
            failure = future.exception()
            # A body cut off by the stop is not news: what caused the stop is raised elsewhere.
            if failure is not None and not isinstance(failure, Stopped):
                raise failure
