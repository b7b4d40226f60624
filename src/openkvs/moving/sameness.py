"""Whether a record is already where it should be, and whether what was written arrived whole."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

from openkvs.moving.api import RecordHead
from openkvs.moving.workers import check_stopping


def identical(source: RecordHead, dest: RecordHead | None) -> bool:
    """Same stored bytes as far as both servers can tell: size, type and encoding equal, and the
    MD5 ETags equal where both send one (a server without ETags is trusted on size and type)."""
    if dest is None:
        return False
    if (source.size, source.content_type, source.encoding) != (
        dest.size,
        dest.content_type,
        dest.encoding,
    ):
        return False
    return source.etag is None or dest.etag is None or source.etag == dest.etag


class Counted:
    """Passes bytes through, counting them and taking their MD5 on the way (and stops them when
    the run is stopping)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            check_stopping()
            self.size += len(chunk)
            self._md5.update(chunk)
            yield chunk

    @property
    def md5(self) -> str:
        return self._md5.hexdigest()

    def check(self, written: RecordHead | None, content_type: str) -> str | None:
        """What is wrong with the record as the destination now has it (None: nothing)."""
        if written is None:
            return "not found after writing it"
        if written.size is not None and written.size != self.size:
            return f"{written.size} bytes stored, {self.size} sent"
        if written.etag is not None and len(written.etag) == 32 and written.etag != self.md5:
            return f"stored MD5 {written.etag}, sent {self.md5}"
        if written.content_type != content_type:
            return f"stored as {written.content_type!r}, sent {content_type!r}"
        return None
