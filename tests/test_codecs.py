"""Unit tests of the Content-Encoding codecs (behaviour.md#records, #sizes-and-limits): streaming
decoders, limits, headers."""

from __future__ import annotations

import gzip
import random
import tracemalloc
import zlib
from collections.abc import Callable, Iterator

import brotli
import pytest

from openkvs.core.codecs import (
    DecodeError,
    accepts_encoding,
    decode_bytes,
    make_decoder,
    normalize_encoding,
)
from openkvs.core.errors import ApiError

MiB = 1024 * 1024
# behaviour.md#sizes-and-limits: JSON request bodies, at most 9 MiB after decompression
JSON_LIMIT = 9 * MiB


def raw_deflate(data: bytes, level: int = 6) -> bytes:
    obj = zlib.compressobj(level, zlib.DEFLATED, -15)
    return obj.compress(data) + obj.flush()


def zlib_deflate(data: bytes, level: int = 6, wbits: int = 15) -> bytes:
    obj = zlib.compressobj(level, zlib.DEFLATED, wbits)
    return obj.compress(data) + obj.flush()


ENCODERS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "gzip": ("gzip", lambda data: gzip.compress(data, 6)),
    "gzip-level0": ("gzip", lambda data: gzip.compress(data, 0)),
    "br": ("br", lambda data: brotli.compress(data, quality=5)),
    "br-q11": ("br", lambda data: brotli.compress(data, quality=11)),
    "deflate-zlib": ("deflate", zlib_deflate),
    "deflate-zlib-level0": ("deflate", lambda data: zlib_deflate(data, 0)),
    "deflate-zlib-wbits9": ("deflate", lambda data: zlib_deflate(data, 6, 9)),
    "deflate-zlib-wbits12": ("deflate", lambda data: zlib_deflate(data, 9, 12)),
    "deflate-raw": ("deflate", raw_deflate),
    "deflate-raw-level0": ("deflate", lambda data: raw_deflate(data, 0)),
    "deflate-raw-level9": ("deflate", lambda data: raw_deflate(data, 9)),
}


def mixed_payload(size: int, seed: int) -> bytes:
    """Random (incompressible) stretches interleaved with repetitive text."""
    rng = random.Random(seed)
    parts: list[bytes] = []
    total = 0
    while total < size:
        if rng.random() < 0.5:
            part = rng.randbytes(rng.randint(1, 4096))
        else:
            part = (b"key-value store record %d; " % rng.randint(0, 99)) * rng.randint(1, 400)
        parts.append(part)
        total += len(part)
    return b"".join(parts)[:size]


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def decode_stream(encoding: str, pieces: Iterator[bytes] | list[bytes]) -> bytes:
    decoder = make_decoder(encoding)
    out = bytearray()
    for piece in pieces:
        for part in decoder.feed(piece):
            out += part
    for part in decoder.end():
        out += part
    return bytes(out)


def decode_whole(encoding: str, data: bytes) -> bytes:
    return decode_stream(encoding, [data])


# --- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ENCODERS))
@pytest.mark.parametrize("chunk_size", [1, 3, 7, 64])
def test_round_trip_fed_in_tiny_chunks(name: str, chunk_size: int) -> None:
    encoding, encode = ENCODERS[name]
    payload = mixed_payload(12_000, seed=chunk_size)
    assert decode_stream(encoding, chunks(encode(payload), chunk_size)) == payload


@pytest.mark.parametrize("name", list(ENCODERS))
@pytest.mark.parametrize("chunk_size", [65_536, 1_000_003, 1 << 30])
def test_round_trip_fed_in_big_chunks(name: str, chunk_size: int) -> None:
    encoding, encode = ENCODERS[name]
    payload = mixed_payload(3 * MiB + 17, seed=chunk_size % 1000)
    assert decode_stream(encoding, chunks(encode(payload), chunk_size)) == payload


@pytest.mark.parametrize("name", list(ENCODERS))
def test_round_trip_of_a_highly_compressible_body_larger_than_one_output_step(name: str) -> None:
    # A few KiB of input that inflates to megabytes: several output pieces per feed() call.
    encoding, encode = ENCODERS[name]
    payload = b"\x00" * (5 * MiB) + b"end" + b"a" * (3 * MiB)
    assert decode_stream(encoding, chunks(encode(payload), 1024)) == payload


@pytest.mark.parametrize("name", list(ENCODERS))
def test_round_trip_with_empty_feeds_in_between(name: str) -> None:
    encoding, encode = ENCODERS[name]
    payload = mixed_payload(5000, seed=3)
    pieces: list[bytes] = [b""]
    for piece in chunks(encode(payload), 5):
        pieces += [piece, b""]
    assert decode_stream(encoding, pieces) == payload


@pytest.mark.parametrize("name", list(ENCODERS))
def test_round_trip_of_an_empty_body(name: str) -> None:
    encoding, encode = ENCODERS[name]
    assert decode_whole(encoding, encode(b"")) == b""
    assert decode_stream(encoding, chunks(encode(b""), 1)) == b""


@pytest.mark.parametrize("chunk_size", [1, 10, 1 << 20])
def test_gzip_concatenated_members_decode_to_the_concatenation(chunk_size: int) -> None:
    parts = [mixed_payload(3000, seed=1), b"", b"second member", mixed_payload(70_000, seed=2)]
    stream = b"".join(gzip.compress(part) for part in parts)
    assert decode_stream("gzip", chunks(stream, chunk_size)) == b"".join(parts)


def test_gzip_member_boundary_inside_one_chunk_and_across_chunks() -> None:
    one, two = gzip.compress(b"first"), gzip.compress(b"second")
    stream = one + two
    for split in range(1, len(stream)):
        assert decode_stream("gzip", [stream[:split], stream[split:]]) == b"firstsecond"


def test_gzip_written_by_gzip_file_with_a_file_name_header_decodes() -> None:
    import io

    buffer = io.BytesIO()
    with gzip.GzipFile(filename="record.json", mode="wb", fileobj=buffer, mtime=0) as handle:
        handle.write(b'{"hello": "world"}')
    assert decode_stream("gzip", chunks(buffer.getvalue(), 2)) == b'{"hello": "world"}'


# --- truncated, corrupt, trailing garbage -------------------------------------------------------


@pytest.mark.parametrize("name", list(ENCODERS))
def test_every_truncation_of_a_stream_is_a_decode_error(name: str) -> None:
    encoding, encode = ENCODERS[name]
    stream = encode(mixed_payload(1500, seed=7))
    for cut in range(len(stream)):
        with pytest.raises(DecodeError):
            decode_whole(encoding, stream[:cut])


@pytest.mark.parametrize("name", list(ENCODERS))
def test_truncated_stream_fed_in_chunks_is_a_decode_error(name: str) -> None:
    encoding, encode = ENCODERS[name]
    stream = encode(mixed_payload(200_000, seed=8))
    with pytest.raises(DecodeError):
        decode_stream(encoding, chunks(stream[: len(stream) // 2], 4096))
    with pytest.raises(DecodeError):
        decode_stream(encoding, chunks(stream[:-1], 4096))


def test_gzip_truncated_in_the_second_member_is_a_decode_error() -> None:
    stream = gzip.compress(b"first") + gzip.compress(b"second")
    with pytest.raises(DecodeError):
        decode_whole("gzip", stream[:-3])


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0xFF]) + data[index + 1 :]


@pytest.mark.parametrize(
    "where",
    [0, 1, 2, 3, -8, -7, -6, -5, -4, -3, -2, -1],
    ids=lambda w: f"byte{w}",
)
def test_gzip_corrupt_header_or_trailer_is_a_decode_error(where: int) -> None:
    stream = gzip.compress(mixed_payload(4000, seed=9))
    with pytest.raises(DecodeError):
        decode_whole("gzip", flip(stream, where % len(stream)))


def test_gzip_corrupt_body_is_a_decode_error() -> None:
    # The CRC-32 in the trailer catches any change of the compressed data.
    stream = gzip.compress(mixed_payload(4000, seed=10))
    for index in range(10, len(stream) - 8, max(1, (len(stream) - 18) // 40)):
        with pytest.raises(DecodeError):
            decode_whole("gzip", flip(stream, index))


@pytest.mark.parametrize("where", [-4, -3, -2, -1])
def test_zlib_wrapped_deflate_with_a_wrong_checksum_is_a_decode_error(where: int) -> None:
    stream = zlib_deflate(mixed_payload(4000, seed=11))
    with pytest.raises(DecodeError):
        decode_whole("deflate", flip(stream, len(stream) + where))


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate"])
@pytest.mark.parametrize(
    "garbage",
    [
        b"\xff" * 20,
        b"hello world, this body is not compressed at all",
        b'{"name": "not-compressed"}',
        b"\x00" * 16,
    ],
    ids=["ff", "text", "json", "zeros"],
)
def test_input_that_is_not_in_the_encoding_is_a_decode_error(encoding: str, garbage: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_whole(encoding, garbage)
    with pytest.raises(DecodeError):
        decode_stream(encoding, chunks(garbage, 1))


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate"])
def test_a_stream_in_another_encoding_is_a_decode_error(encoding: str) -> None:
    payload = mixed_payload(3000, seed=12)
    others = {
        "gzip": [brotli.compress(payload), zlib_deflate(payload)],
        "br": [gzip.compress(payload), zlib_deflate(payload)],
        "deflate": [gzip.compress(payload), brotli.compress(payload)],
    }[encoding]
    for stream in others:
        with pytest.raises(DecodeError):
            decode_whole(encoding, stream)


@pytest.mark.parametrize("name", list(ENCODERS))
@pytest.mark.parametrize(
    "trailer",
    [b"x", b"\x00", b"garbage after the end", b"\x1f\x8b"],
    ids=["x", "nul", "text", "magic"],
)
def test_trailing_garbage_is_a_decode_error(name: str, trailer: bytes) -> None:
    encoding, encode = ENCODERS[name]
    stream = encode(mixed_payload(2000, seed=13))
    # In the same chunk as the end of the stream.
    with pytest.raises(DecodeError):
        decode_whole(encoding, stream + trailer)
    # In a later chunk.
    with pytest.raises(DecodeError):
        decode_stream(encoding, [stream, trailer])
    # Byte by byte.
    with pytest.raises(DecodeError):
        decode_stream(encoding, chunks(stream + trailer, 1))


def test_trailing_garbage_after_a_whole_gzip_member_stream_is_a_decode_error() -> None:
    stream = gzip.compress(b"one") + gzip.compress(b"two") + b"not a gzip member"
    with pytest.raises(DecodeError):
        decode_whole("gzip", stream)


# --- decode_bytes and limits (behaviour.md#sizes-and-limits: no zip bombs)
# -------------------------------------------------


@pytest.mark.parametrize("name", list(ENCODERS))
def test_decode_bytes_round_trips_under_the_limit(name: str) -> None:
    encoding, encode = ENCODERS[name]
    payload = mixed_payload(100_000, seed=14)
    assert decode_bytes(encoding, encode(payload), JSON_LIMIT) == payload


@pytest.mark.parametrize("name", ["gzip", "br", "deflate-zlib", "deflate-raw"])
def test_decode_bytes_accepts_exactly_the_limit_and_rejects_one_byte_more(name: str) -> None:
    encoding, encode = ENCODERS[name]
    limit = 1000
    exact = mixed_payload(limit, seed=15)
    assert decode_bytes(encoding, encode(exact), limit) == exact
    with pytest.raises(OverflowError):
        decode_bytes(encoding, encode(exact + b"!"), limit)


def test_decode_bytes_without_encoding_returns_the_body_and_enforces_the_limit() -> None:
    assert decode_bytes(None, b"plain", 5) == b"plain"
    assert decode_bytes(None, b"", 0) == b""
    with pytest.raises(OverflowError):
        decode_bytes(None, b"plain!", 5)


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate"])
def test_decode_bytes_of_bad_input_is_a_decode_error(encoding: str) -> None:
    with pytest.raises(DecodeError):
        decode_bytes(encoding, b"definitely not compressed", JSON_LIMIT)
    encode = ENCODERS["deflate-zlib" if encoding == "deflate" else encoding][1]
    with pytest.raises(DecodeError):
        decode_bytes(encoding, encode(b"{}" * 100)[:-3], JSON_LIMIT)


BOMB_SIZE = 100 * 1000 * 1000  # 100 MB of zeros


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    zeros = bytes(BOMB_SIZE)
    made = {
        "gzip": gzip.compress(zeros, 9),
        "br": brotli.compress(zeros, quality=5),
        "deflate": zlib.compress(zeros, 9),
        "deflate-raw": raw_deflate(zeros, 9),
    }
    del zeros
    return made


def peak_traced_bytes(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base


@pytest.mark.parametrize("name", ["gzip", "br", "deflate", "deflate-raw"])
def test_decode_bytes_stops_a_bomb_without_allocating_its_output(
    name: str, bombs: dict[str, bytes]
) -> None:
    encoding = "deflate" if name.startswith("deflate") else name
    bomb = bombs[name]
    assert len(bomb) < 1 * MiB  # it really is a bomb

    def run() -> None:
        with pytest.raises(OverflowError):
            decode_bytes(encoding, bomb, JSON_LIMIT)

    peak = peak_traced_bytes(run)
    # The limit plus a bounded working set; 100 MB of output must never be materialised.
    assert peak < JSON_LIMIT + 16 * MiB, f"decode_bytes peaked at {peak / MiB:.1f} MiB"


@pytest.mark.parametrize("name", ["gzip", "br", "deflate", "deflate-raw"])
def test_streaming_decoder_lets_the_caller_stop_a_bomb_early(
    name: str, bombs: dict[str, bytes]
) -> None:
    # behaviour.md#sizes-and-limits: the server cuts a body off at the limit while streaming; for
    # that the decoder must
    # hand out bounded pieces instead of inflating the whole chunk it was fed at once.
    encoding = "deflate" if name.startswith("deflate") else name
    bomb = bombs[name]
    seen = 0

    def run() -> None:
        nonlocal seen
        decoder = make_decoder(encoding)
        for piece in decoder.feed(bomb):
            seen += len(piece)
            if seen > JSON_LIMIT:
                return

    peak = peak_traced_bytes(run)
    assert seen > JSON_LIMIT
    assert seen < BOMB_SIZE
    assert peak < 16 * MiB, f"the decoder peaked at {peak / MiB:.1f} MiB"


# --- Content-Encoding request header ------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("identity", None),
        ("Identity", None),
        ("gzip", "gzip"),
        ("GZIP", "gzip"),
        (" gzip ", "gzip"),
        ("x-gzip", "gzip"),
        ("br", "br"),
        ("BR", "br"),
        ("deflate", "deflate"),
        ("Deflate", "deflate"),
    ],
)
def test_normalize_encoding_maps_supported_values(header: str | None, expected: str | None) -> None:
    assert normalize_encoding(header) == expected


@pytest.mark.parametrize(
    "header", ["compress", "zstd", "x-compress", "gzip2", "base64", "gzip, br", "*", "utf-8"]
)
def test_normalize_encoding_rejects_anything_else_with_415(header: str) -> None:
    with pytest.raises(ApiError) as info:
        normalize_encoding(header)
    assert info.value.status == 415
    assert info.value.type == "unsupported-content-encoding"


# --- Accept-Encoding ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "encoding", "expected"),
    [
        (None, "gzip", False),
        ("", "gzip", False),
        ("gzip", "gzip", True),
        ("gzip", "br", False),
        ("gzip, deflate, br", "gzip", True),
        ("gzip, deflate, br", "br", True),
        ("gzip, deflate, br", "deflate", True),
        ("gzip, deflate", "br", False),
        ("identity", "gzip", False),
        ("GZip", "gzip", True),
        ("BR", "br", True),
        ("x-gzip", "gzip", True),
        ("gzip;q=1.0, br;q=0.5", "br", True),
        ("br;q=0.001", "br", True),
        ("gzip;q=0", "gzip", False),
        ("gzip;q=0.0", "gzip", False),
        ("gzip;q=0.000", "gzip", False),
        ("gzip ; q=0", "gzip", False),
        ("gzip;q=0, br", "gzip", False),
        ("gzip;q=0, br", "br", True),
        ("*", "gzip", True),
        ("*", "br", True),
        ("*;q=0", "gzip", False),
        ("*;q=0.5", "deflate", True),
        ("*, gzip;q=0", "gzip", False),
        ("*, gzip;q=0", "br", True),
        ("gzip;q=0, *", "gzip", False),
        ("gzip;q=0, *", "deflate", True),
        ("*;q=0, br", "br", True),
        ("*;q=0, br", "gzip", False),
        ("identity;q=1, *;q=0", "gzip", False),
        ("deflate, gzip;q=1.0, *;q=0.5", "br", True),
    ],
)
def test_accepts_encoding(header: str | None, encoding: str, expected: bool) -> None:
    assert accepts_encoding(header, encoding) is expected


def test_accepts_encoding_q_parameter_name_is_case_insensitive() -> None:
    # RFC 9110 12.4.2: weight = OWS ";" OWS "q=" qvalue, and ABNF literals are case-insensitive.
    assert accepts_encoding("gzip;Q=0", "gzip") is False
    assert accepts_encoding("br;Q=0.5", "br") is True


def test_accepts_encoding_does_not_match_by_substring() -> None:
    assert accepts_encoding("gzip", "zip") is False
    assert accepts_encoding("x-gzip-custom", "gzip") is False
    assert accepts_encoding("brotli", "br") is False
