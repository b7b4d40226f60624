"""What the embedded backend's parts share: connections, blob files, stats, burial of blobs."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from openkvs.backends.embedded.blobs import BlobFiles
from openkvs.backends.embedded.read_cache import ReadCache
from openkvs.backends.embedded.writer import Writer
from openkvs.backends.stats_buffer import StatsBuffer
from openkvs.telemetry import Telemetry

After = list[Callable[[], None]]


class EmbeddedState:
    """The reader runs on the event loop thread; every write goes through the writer."""

    _reader: sqlite3.Connection
    _writer: Writer
    _files: BlobFiles
    stats: StatsBuffer
    _cleared_dead: list[str]
    _deferred_dead: list[str]
    _cache: ReadCache
    _serving: bool
    telemetry: Telemetry

    def _server_running(self) -> bool:
        """Whether an `openkvs serve` process holds this data directory."""
        raise NotImplementedError

    def _bury(self, after: After, dead: list[str]) -> None:
        def remove() -> None:
            if self._files.held():  # a backup is copying: removed once it is done
                self._deferred_dead.extend(dead)
                return
            for blob in dead:
                self._files.remove(blob)
            self._cleared_dead.extend(dead)

        if dead:
            after.append(remove)
