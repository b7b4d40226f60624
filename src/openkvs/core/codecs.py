"""Content-Encoding (behaviour.md#records): streaming, bounded decoders for gzip, br and deflate.

Decoding is the CPU a small body can buy from the server, so it is bounded and kept off the
event loop: a record may decode to at most `--max-inflation` times its encoded size (plus
INFLATION_ALLOWANCE), which also bounds what any later reader makes the server decode; and all
but the smallest decoding runs in a few threads of its own (zlib and brotli release the GIL).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

import brotli

from openkvs.core.errors import ApiError

ENCODINGS = ("gzip", "br", "deflate")
OUTPUT_CHUNK = 256 * 1024
# What any encoded record may decode to beyond `ratio` times its encoded size: tiny bodies
# (1 KiB of gzip holding a 1 MiB run of spaces) are never refused.
INFLATION_ALLOWANCE = 1024 * 1024
# Decoding done on the event loop: an input up to INLINE_INPUT bytes, and only until it has
# produced INLINE_OUTPUT bytes (well under a millisecond); the rest goes to a thread, whose
# trips bring back THREAD_BATCH bytes at a time so memory stays bounded.
INLINE_INPUT = 4 * 1024
INLINE_OUTPUT = 256 * 1024
THREAD_BATCH = 1024 * 1024
# Few threads: decoding is CPU work, more threads than cores only queue it elsewhere. Their own,
# not the default executor's, which file reads and fsyncs wait on.
DECODE_THREADS = max(2, os.cpu_count() or 2)
T = TypeVar("T")


class DecodeError(Exception):
    pass


def normalize_encoding(header: str | None) -> str | None:
    """The stored encoding for a request's Content-Encoding; None means not encoded."""
    if header is None:
        return None
    value = header.strip().lower()
    if value in ("", "identity"):
        return None
    if value == "x-gzip":
        return "gzip"
    if value in ENCODINGS:
        return value
    raise ApiError(
        415,
        "unsupported-content-encoding",
        f'Content-Encoding "{header.strip()}" is not supported.',
    )


class Decoder(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...

    def end(self) -> Iterator[bytes]: ...


class _ZlibDecoder:
    """gzip (members may be concatenated) or deflate (zlib-wrapped, or raw as a fallback)."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding == "gzip"
        self._pending = b""  # deflate only: bytes held until the wrapper can be sniffed
        self._obj: zlib._Decompress | None = zlib.decompressobj(31) if self._gzip else None

    def _start_deflate(self, head: bytes) -> zlib._Decompress:
        cmf, flg = head[0], head[1]
        wrapped = (cmf & 0x0F) == 8 and ((cmf << 8) | flg) % 31 == 0
        return zlib.decompressobj(15 if wrapped else -15)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._obj is None:
            self._pending += data
            if len(self._pending) < 2:
                return
            self._obj = self._start_deflate(self._pending)
            data, self._pending = self._pending, b""
        yield from self._run(data)

    def _run(self, data: bytes) -> Iterator[bytes]:
        obj = self._obj
        assert obj is not None
        while data:
            if obj.eof:  # gzip members may follow each other; anything else is garbage
                if not self._gzip:
                    raise DecodeError("trailing data after the end of the compressed stream")
                data = obj.unused_data + data
                obj = self._obj = zlib.decompressobj(31)
                continue
            try:
                out = obj.decompress(data, OUTPUT_CHUNK)
            except zlib.error as exc:
                raise DecodeError(str(exc)) from exc
            if out:
                yield out
            if not obj.eof:
                data = obj.unconsumed_tail
                continue
            # What follows the member is unused_data alone (when the member ends just as the
            # output fills up, CPython leaves the same bytes in unconsumed_tail too).
            data = obj.unused_data
            if data:
                if not self._gzip:
                    raise DecodeError("trailing data after the end of the compressed stream")
                obj = self._obj = zlib.decompressobj(31)

    def end(self) -> Iterator[bytes]:
        if self._obj is None:
            raise DecodeError("the compressed stream is truncated")
        try:
            out = self._obj.flush()
        except zlib.error as exc:
            raise DecodeError(str(exc)) from exc
        if out:
            yield out
        if not self._obj.eof:
            raise DecodeError("the compressed stream is truncated")


class _BrotliDecoder:
    def __init__(self) -> None:
        self._obj = brotli.Decompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not data:
            return
        if self._obj.is_finished():
            raise DecodeError("trailing data after the end of the compressed stream")
        try:
            out = self._obj.process(data, output_buffer_limit=OUTPUT_CHUNK)
            if out:
                yield out
            while not self._obj.can_accept_more_data():
                out = self._obj.process(b"", output_buffer_limit=OUTPUT_CHUNK)
                if out:
                    yield out
        except brotli.error as exc:
            raise DecodeError(str(exc)) from exc

    def end(self) -> Iterator[bytes]:
        try:
            while not self._obj.is_finished():
                out = self._obj.process(b"", output_buffer_limit=OUTPUT_CHUNK)
                if not out:
                    raise DecodeError("the compressed stream is truncated")
                yield out
        except brotli.error as exc:
            raise DecodeError(str(exc)) from exc


def make_decoder(encoding: str) -> Decoder:
    if encoding == "br":
        return _BrotliDecoder()
    return _ZlibDecoder(encoding)


class BoundedDecoder:
    """A decoder whose output may at no point exceed `ratio` times the input fed so far plus
    INFLATION_ALLOWANCE, nor `cap` bytes: 413 record-too-large past either."""

    def __init__(self, encoding: str, ratio: int, cap: int) -> None:
        self._decoder = make_decoder(encoding)
        self._ratio = ratio
        self._cap = cap
        self.encoded = 0
        self.decoded = 0

    def feed(self, data: bytes) -> Iterator[bytes]:
        self.encoded += len(data)
        return self._bounded(self._decoder.feed(data))

    def end(self) -> Iterator[bytes]:
        return self._bounded(self._decoder.end())

    def _bounded(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            self.decoded += len(piece)
            if self.decoded > self._cap:
                raise ApiError(
                    413,
                    "record-too-large",
                    f"The record decodes to more than the limit of {self._cap} bytes.",
                )
            if self.decoded > self._ratio * self.encoded + INFLATION_ALLOWANCE:
                raise ApiError(
                    413,
                    "record-too-large",
                    "The record decodes to more than its compression ratio limit allows: "
                    f"{self._ratio}:1 (at most {self._ratio} times its encoded size, "
                    f"plus {INFLATION_ALLOWANCE // (1024 * 1024)} MiB).",
                )
            yield piece


async def off_loop(pieces: Iterator[bytes], size: int) -> AsyncIterator[bytes]:
    """A decoder's `pieces` for an input of `size` bytes, produced without long work on the
    event loop: a small input starts on the loop, anything more is decoded in a thread."""
    if size <= INLINE_INPUT:
        produced = 0
        for piece in pieces:
            yield piece
            produced += len(piece)
            if produced >= INLINE_OUTPUT:
                break
        else:
            return
    while True:
        batch = await in_thread(_take, pieces, THREAD_BATCH)
        if not batch:
            return
        for piece in batch:
            yield piece


def _take(pieces: Iterator[bytes], size: int) -> list[bytes]:
    batch = []
    for piece in pieces:
        batch.append(piece)
        size -= len(piece)
        if size <= 0:
            break
    return batch


_threads: ThreadPoolExecutor | None = None


async def in_thread(work: Callable[..., T], *args: object) -> T:
    """`work(*args)` run in the decoding threads."""
    global _threads
    if _threads is None:
        _threads = ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="openkvs-decode")
    return await asyncio.get_running_loop().run_in_executor(_threads, work, *args)


def decode_bytes(encoding: str | None, data: bytes, limit: int) -> bytes:
    """Decode a whole (small) body, failing with DecodeError or OverflowError past `limit`."""
    if encoding is None:
        if len(data) > limit:
            raise OverflowError(len(data))
        return data
    decoder = make_decoder(encoding)
    parts: list[bytes] = []
    total = 0
    for piece in itertools.chain(decoder.feed(data), decoder.end()):
        total += len(piece)
        if total > limit:
            raise OverflowError(total)
        parts.append(piece)
    return b"".join(parts)


def accepts_encoding(accept_encoding: str | None, encoding: str) -> bool:
    """Whether an Accept-Encoding header admits `encoding` (q=0 excludes it)."""
    if not accept_encoding:
        return False
    star: bool | None = None
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        quality = 1.0
        params = params.strip().lower()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        if name == encoding or (encoding == "gzip" and name == "x-gzip"):
            return quality > 0
        if name == "*":
            star = quality > 0
    return bool(star)
