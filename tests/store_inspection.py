"""Looking behind a server's back at what its backend stored (behaviour.md#durability cleanup,
behaviour.md#access hashed tokens).

Embedded: the data directory (SQLite `openkvs.db`, `blobs/`, `tmp/`). Scale-out: the PostgreSQL
database (`records.object` names the S3 object `<prefix>/objects/<object>`) and the bucket prefix.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from tests.server_process import ServerProcess


@dataclass(frozen=True)
class BodyStorage:
    """Where large record bodies are, and what points at them."""

    in_progress: list[str]  # embedded: files in tmp/; scale-out: open multipart uploads
    stored: set[str]  # embedded: files in blobs/; scale-out: objects under <prefix>/objects/
    referenced: set[str]  # what committed records point at, in the same naming

    @property
    def unreferenced(self) -> set[str]:
        return self.stored - self.referenced

    @property
    def missing(self) -> set[str]:
        return self.referenced - self.stored

    @property
    def clean(self) -> bool:
        return not self.in_progress and not self.unreferenced and not self.missing

    def describe(self) -> str:
        return (
            f"in progress={self.in_progress[:10]} ({len(self.in_progress)}), "
            f"unreferenced={sorted(self.unreferenced)[:10]} ({len(self.unreferenced)}), "
            f"referenced but missing={sorted(self.missing)[:10]} ({len(self.missing)})"
        )


def body_storage(server: ServerProcess) -> BodyStorage:
    if server.backend.is_scaleout:
        return _scaleout_body_storage(server)
    return _embedded_body_storage(server.data_dir)


def _embedded_body_storage(data_dir: Path) -> BodyStorage:
    tmp_dir = data_dir / "tmp"
    tmp_files = (
        sorted(str(p.relative_to(tmp_dir)) for p in tmp_dir.rglob("*") if p.is_file())
        if tmp_dir.exists()
        else []
    )
    blobs_dir = data_dir / "blobs"
    on_disk = (
        {str(p.relative_to(blobs_dir)) for p in blobs_dir.rglob("*") if p.is_file()}
        if blobs_dir.exists()
        else set()
    )
    db = sqlite3.connect(f"file:{data_dir / 'openkvs.db'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT blob FROM records WHERE blob IS NOT NULL").fetchall()
    finally:
        db.close()
    referenced = {f"{blob[:2]}/{blob}" for (blob,) in rows}
    return BodyStorage(tmp_files, on_disk, referenced)


def _scaleout_body_storage(server: ServerProcess) -> BodyStorage:
    config = server.backend
    assert config.database is not None
    prefix = config.objects_prefix
    # Referenced first: an object written after this read is then merely "unreferenced" for one
    # poll, never "missing".
    rows = config.postgres.fetch(
        config.database, "SELECT object FROM records WHERE object IS NOT NULL"
    )
    referenced = {str(name) for (name,) in rows}
    stored = {key[len(prefix) :] for key in config.s3.list_keys(prefix)}
    uploads = sorted(key[len(prefix) :] for key in config.s3.list_uploads(prefix))
    return BodyStorage(uploads, stored, referenced)


def places_holding(server: ServerProcess, needle: bytes, objects: bool = True) -> list[str]:
    """Every place in the server's storage whose bytes contain `needle`: files in its data
    directory and, for scale-out, its database (via pg_dump, where bytea shows as hex) and,
    unless `objects` is false, the objects under its prefix (each one is downloaded)."""
    found = [
        str(path)
        for path in sorted(server.data_dir.rglob("*"))
        if path.is_file() and needle in path.read_bytes()
    ]
    config = server.backend
    if config.is_scaleout:
        assert config.prefix is not None and config.database is not None
        for key in sorted(config.s3.list_keys(config.prefix + "/")) if objects else []:
            if needle in (config.s3.get(key) or b""):  # None: deleted since the listing
                found.append(f"s3://{config.bucket}/{key}")
        dump = config.postgres.dump(config.database)
        if needle in dump or needle.hex().encode() in dump:
            found.append(f"postgresql database {config.database}")
    return found


def sql(server: ServerProcess, query: str, *args: object) -> None:
    """Run one statement (`?` placeholders) on the server's metadata store, behind its back."""
    if server.backend.is_scaleout:
        assert server.backend.database is not None
        parts = query.split("?")
        numbered = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))
        server.backend.postgres.execute(server.backend.database, numbered, *args)
        return
    with sqlite3.connect(server.data_dir / "openkvs.db") as db:
        db.execute(query, args)
