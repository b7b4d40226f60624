"""`openkvs serve` with its small-record write replaced, for the W2 ladder (bench/ladder.py).

python -m bench.ladder_variants VARIANT serve [openkvs serve options]

Each variant keeps everything a PUT does before and after the store (HTTP, auth, routing, body
upload, response) and replaces only what the embedded backend does with a body of up to its
inline threshold, so that the steps between "stores nothing" and openkvs as shipped can be
measured one at a time on the same machine in the same run. Only `shipped` keeps records: the
others answer as if they had, and are for measuring alone.
"""

from __future__ import annotations

import asyncio
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

from openkvs.backends.embedded.blobs import SpooledBody
from openkvs.backends.embedded.read_cache import record_changed
from openkvs.backends.embedded.record_rows import EmbeddedRecords
from openkvs.cli import main as cli_main
from openkvs.core.ids import now_ms
from openkvs.core.models import RecordMeta, WriteCondition
from openkvs.core.storage import BodySink

SHIPPED_PUT = EmbeddedRecords.put
# The file the append variants write (in the data directory, which the ladder deletes).
LOG_NAME = "ladder-append.log"


def _replace(small: Callable[[EmbeddedRecords, str, RecordMeta], Awaitable[None]]) -> None:
    """Bodies of up to the inline threshold go to `small`; bigger ones are stored as shipped."""

    async def put(
        self: EmbeddedRecords,
        store_id: str,
        key: str,
        content_type: str,
        content_encoding: str | None,
        etag: str,
        body: BodySink,
        condition: WriteCondition,
    ) -> RecordMeta:
        assert isinstance(body, SpooledBody)
        if body.inline is None:
            return await SHIPPED_PUT(
                self, store_id, key, content_type, content_encoding, etag, body, condition
            )
        size, inline = body.size, body.inline
        record = RecordMeta(key, size, content_type, content_encoding, etag, now_ms(), inline)
        await small(self, store_id, record)
        return record

    EmbeddedRecords.put = put


async def _no_store(rows: EmbeddedRecords, store_id: str, record: RecordMeta) -> None:
    """Answer at once: the cost of everything but the store."""


async def _writer_hop(rows: EmbeddedRecords, store_id: str, record: RecordMeta) -> None:
    """A job on openkvs's writer thread that writes nothing: the thread hand-over there and back
    (the batch's BEGIN and a COMMIT with nothing to flush)."""
    await rows._writer.run(
        lambda conn, after: record,
        changes=[record_changed(store_id, record.key)],
        checks_first=True,
    )


class AppendThread:
    """One thread takes the queued bodies, appends them to a file, runs fdatasync and answers
    them: a store with no index and nothing but the flush that behaviour.md#durability asks for,
    in a Python thread."""

    def __init__(self, path: Path) -> None:
        self._fd = _open_log(path)
        self._queue: queue.SimpleQueue[tuple[bytes, asyncio.Future[None]]] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="ladder-append", daemon=True).start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            os.write(self._fd, b"".join(body for body, _ in batch))
            os.fdatasync(self._fd)
            loop = batch[0][1].get_loop()
            loop.call_soon_threadsafe(_answer, [future for _, future in batch])

    async def put(self, rows: EmbeddedRecords, store_id: str, record: RecordMeta) -> None:
        future = asyncio.get_running_loop().create_future()
        self._queue.put((record.inline or b"", future))
        await future


class AppendProcess:
    """The event loop appends a batch's bodies itself; a helper process runs fdatasync and
    says so down a pipe: the same flush with no Python thread to wake on the way."""

    HELPER = (
        "import os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
        "while os.read(0, 4096):\n"
        "    os.fdatasync(fd)\n"
        "    os.write(1, b'.')\n"
    )

    def __init__(self, path: Path) -> None:
        self._fd = _open_log(path)
        self._helper = subprocess.Popen(
            [sys.executable, "-c", self.HELPER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        self._waiting: list[tuple[bytes, asyncio.Future[None]]] = []
        self._flushing: list[asyncio.Future[None]] | None = None
        self._listening = False

    def _send(self) -> None:
        if self._flushing is not None or not self._waiting:
            return
        batch, self._waiting = self._waiting, []
        os.write(self._fd, b"".join(body for body, _ in batch))
        self._flushing = [future for _, future in batch]
        assert self._helper.stdin is not None
        os.write(self._helper.stdin.fileno(), b"f")

    def _flushed(self) -> None:
        assert self._helper.stdout is not None
        os.read(self._helper.stdout.fileno(), 4096)
        done, self._flushing = self._flushing or [], None
        _answer(done)
        self._send()

    async def put(self, rows: EmbeddedRecords, store_id: str, record: RecordMeta) -> None:
        loop = asyncio.get_running_loop()
        if not self._listening:
            assert self._helper.stdout is not None
            loop.add_reader(self._helper.stdout.fileno(), self._flushed)
            self._listening = True
        future = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._send)  # after this turn of the loop: the batch is what came
        self._waiting.append((record.inline or b"", future))
        await future


def _open_log(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def _answer(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


def _log_path(argv: list[str]) -> Path:
    """The append variants' file, in the data directory (made now if openkvs has not yet)."""
    data_dir = Path(argv[argv.index("--data-dir") + 1])
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir / LOG_NAME


VARIANTS = ("no-store", "writer-hop", "append-thread", "append-process", "shipped")


def install(variant: str, argv: list[str]) -> None:
    if variant == "no-store":
        _replace(_no_store)
    elif variant == "writer-hop":
        _replace(_writer_hop)
    elif variant == "append-thread":
        _replace(AppendThread(_log_path(argv)).put)
    elif variant == "append-process":
        _replace(AppendProcess(_log_path(argv)).put)
    elif variant != "shipped":
        raise SystemExit(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")


if __name__ == "__main__":
    variant, rest = sys.argv[1], sys.argv[2:]
    install(variant, rest)
    sys.argv = ["openkvs", *rest]
    cli_main()
