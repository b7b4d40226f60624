"""Schema validation in worker processes (behaviour.md#store-names-and-schemas): bounded in time,
off the event loop.

jsonschema and `re` hold the GIL, so a thread would not keep the server answering while a hostile
schema runs (a quadratic `uniqueItems`, a backtracking `pattern`). Record validation (JSON parse
and JSON schema) and the store-schema check at create run in a few child processes instead,
started on first use. A job that passes the time limit gets a 400 and its worker is killed (the
next job starts a new one). A worker reads jobs from its stdin and ends at its end, so it does not
outlive the server; on Linux the kernel also kills it when the server dies.

The server starts workers as `python -P -m openkvs.core.schema_worker SERVER_PID`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import struct
import sys
from collections.abc import Callable
from typing import IO, Any

import orjson

from openkvs.core import schema as store_schema
from openkvs.core.errors import ApiError

WORKER_MODULE = "openkvs.core.schema_worker"
FRAME = struct.Struct(">I")
READY = b"ready"
# Starting a worker (an interpreter importing jsonschema) does not count against a job's limit.
START_SECONDS = 60.0
OUTCOMES = ("valid", "invalid", "timed-out", "failed")
# A worker ends itself this long after its job's limit, should the server not be there to kill it.
SELF_LIMIT_MARGIN = 1.0
PR_SET_PDEATHSIG = 1

Schemas = list[tuple[str, dict[str, Any]]]


def _record_too_slow(message: str) -> ApiError:
    return ApiError(
        400,
        "schema-validation-failed",
        message,
        data={"errors": [{"path": "/", "message": message}]},
    )


def _schema_too_slow(message: str) -> ApiError:
    return ApiError(400, "store-schema-invalid", message, data={"invalidItems": [message]})


class SchemaWorkers:
    """Worker processes for schema checks: at most `size` jobs run at once, the others wait."""

    def __init__(self, size: int, timeout: float) -> None:
        self.size = size
        self.timeout = timeout
        self._turns = asyncio.Semaphore(size)
        self._idle: list[_Worker] = []
        self._live: set[_Worker] = set()
        self._reaping: set[asyncio.Task[int]] = set()
        self._closed = False
        # For /metrics: checks by outcome, and how many run or wait right now.
        self.outcomes = dict.fromkeys(OUTCOMES, 0)
        self.running = 0
        self.waiting = 0

    async def check_record(self, schemas: Schemas, data: bytes) -> None:
        """The record is JSON and matches each collection's JSON schema, else ApiError (400)."""
        await self._run({"job": "record", "schemas": schemas}, data, _record_too_slow, "record")

    async def check_store_schema(self, doc: Any) -> dict[str, Any]:
        """A store schema as create takes it (size, shape, draft 7, references), else ApiError."""
        encoded = orjson.dumps(doc)
        if len(encoded) > store_schema.MAX_SCHEMA_BYTES:  # before it crosses a pipe
            raise store_schema.schema_too_large(len(encoded))
        await self._run({"job": "store-schema"}, encoded, _schema_too_slow, "schema")
        assert isinstance(doc, dict)
        return doc

    async def _run(
        self,
        header: dict[str, Any],
        body: bytes,
        too_slow: Callable[[str], ApiError],
        what: str,
    ) -> None:
        if self._closed:
            raise RuntimeError("the schema workers are closed")
        header["limit"] = self.timeout
        self.waiting += 1
        try:
            await self._turns.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            reply = await self._job(header, body, too_slow, what)
        except ApiError:
            self.outcomes["timed-out"] += 1
            raise
        except BaseException:
            self.outcomes["failed"] += 1
            raise
        finally:
            self.running -= 1
            self._turns.release()
        if "error" in reply:
            self.outcomes["invalid"] += 1
            error = reply["error"]
            raise ApiError(error["status"], error["type"], error["message"], data=error["data"])
        if "crash" in reply:
            self.outcomes["failed"] += 1
            raise RuntimeError(f"a schema check failed in its worker: {reply['crash']}")
        self.outcomes["valid"] += 1

    async def _job(
        self,
        header: dict[str, Any],
        body: bytes,
        too_slow: Callable[[str], ApiError],
        what: str,
    ) -> dict[str, Any]:
        """One job on an idle (or new) worker; the worker is replaced if it fails or is late."""
        worker = self._idle.pop() if self._idle else await self._start()
        try:
            reply = await asyncio.wait_for(worker.job(header, body), self.timeout)
        except TimeoutError:
            self._discard(worker)
            raise too_slow(
                f"Validating the {what} took longer than the limit of {self.timeout:g} s."
            ) from None
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            self._discard(worker)
            raise RuntimeError(f"a schema worker ended during a job: {exc!r}") from None
        except BaseException:  # cancelled mid-job: the worker's pipe is out of step
            self._discard(worker)
            raise
        self._idle.append(worker)
        return reply

    async def _start(self) -> _Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-P",  # the working directory stays off sys.path
            "-m",
            WORKER_MODULE,
            str(os.getpid()),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        worker = _Worker(proc)
        self._live.add(worker)
        try:
            await asyncio.wait_for(worker.ready(), START_SECONDS)
        except BaseException:
            self._discard(worker)
            raise
        return worker

    def _discard(self, worker: _Worker) -> None:
        self._live.discard(worker)
        worker.kill()
        task = asyncio.ensure_future(worker.proc.wait())  # reap it, not waiting here
        self._reaping.add(task)
        task.add_done_callback(self._reaping.discard)

    async def close(self) -> None:
        """Kill every worker (they hold nothing worth waiting for) and reap them."""
        self._closed = True
        for worker in list(self._live):
            self._discard(worker)
        self._idle.clear()
        if self._reaping:
            await asyncio.wait(list(self._reaping), timeout=5)


class _Worker:
    """One worker process and the two ends of its pipes: jobs out, replies in."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.proc = proc
        self._jobs = proc.stdin
        self._replies = proc.stdout

    async def ready(self) -> None:
        if await self._receive() != READY:
            raise RuntimeError("a schema worker did not start")

    async def job(self, header: dict[str, Any], body: bytes) -> dict[str, Any]:
        encoded = orjson.dumps(header)
        self._jobs.write(FRAME.pack(len(encoded)) + encoded + FRAME.pack(len(body)))
        self._jobs.write(body)
        await self._jobs.drain()
        reply: dict[str, Any] = orjson.loads(await self._receive())
        return reply

    async def _receive(self) -> bytes:
        (size,) = FRAME.unpack(await self._replies.readexactly(FRAME.size))
        return await self._replies.readexactly(size)

    def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # it has just ended
                self.proc.kill()


# --- the worker process ---------------------------------------------------------------------------


def main(argv: list[str]) -> None:
    _end_with_server(int(argv[1]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the server's to handle
    jobs = sys.stdin.buffer
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print goes to the log, not into the replies
    _send(replies, READY)
    while True:
        header = _read_frame(jobs)
        body = _read_frame(jobs)
        if header is None or body is None:  # the server closed the pipe or died
            return
        job = orjson.loads(header)
        # SIGALRM's default action ends the process: the bound holds without the server.
        signal.setitimer(signal.ITIMER_REAL, float(job["limit"]) + SELF_LIMIT_MARGIN)
        reply = _work(job, body)
        signal.setitimer(signal.ITIMER_REAL, 0)
        _send(replies, reply)


def _end_with_server(server_pid: int) -> None:
    if sys.platform == "linux":
        # best effort: the end of its pipe stops it too
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != server_pid:  # the server died before the line above
        sys.exit(0)


def _work(job: dict[str, Any], body: bytes) -> bytes:
    try:
        if job["job"] == "record":
            schemas = [(cid, schema) for cid, schema in job["schemas"]]
            store_schema.check_record_body(schemas, body)
        else:
            store_schema.check_store_schema(orjson.loads(body))
    except ApiError as err:
        error = {"status": err.status, "type": err.type, "message": err.message, "data": err.data}
        return orjson.dumps({"error": error})
    except Exception as exc:
        return orjson.dumps({"crash": f"{type(exc).__name__}: {exc}"})
    return b"{}"


def _read_frame(stream: IO[bytes]) -> bytes | None:
    head = stream.read(FRAME.size)
    if len(head) < FRAME.size:
        return None
    (size,) = FRAME.unpack(head)
    data = stream.read(size)
    return data if len(data) == size else None


def _send(stream: IO[bytes], data: bytes) -> None:
    stream.write(FRAME.pack(len(data)) + data)
    stream.flush()


if __name__ == "__main__":
    main(sys.argv)
