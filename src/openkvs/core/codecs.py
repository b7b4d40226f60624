"""Content-Encoding (D3): streaming, bounded decoders for gzip, br and deflate."""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterator
from typing import Protocol

import brotli

from openkvs.core.errors import ApiError

ENCODINGS = ("gzip", "br", "deflate")
OUTPUT_CHUNK = 256 * 1024


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
        self._seen_output_or_input = False

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
            data = obj.unconsumed_tail
            if obj.eof and obj.unused_data:
                data = obj.unused_data + data
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
