"""`openkvs check --data-dir D`: is every record of an embedded store readable as stored?

Read-only unless `repair`, and safe beside a running server: the body files are listed before
the database is read in one snapshot, and a body file is only published (moved into blobs/)
after its record commits, so a listed file that the snapshot does not name is really unused,
unless it is a dead body the server is about to remove (those, in `dead_blobs`, are skipped).
Files in tmp/ are uploads in progress while a server runs; without one they are leftovers.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

from openkvs.backends.embedded.backend import server_running
from openkvs.maintenance.data_dir import (
    body_file,
    listed_body_files,
    require_store,
)
from openkvs.maintenance.findings import Findings

READ_CHUNK = 1024 * 1024


def check_data_dir(data_dir: Path, deep: bool = False, repair: bool = False) -> Findings:
    db_path = require_store(data_dir)
    live = server_running(data_dir)
    findings = Findings()
    listed = listed_body_files(data_dir)
    leftovers = [] if live else sorted(p for p in (data_dir / "tmp").glob("*") if p.is_file())
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None)
    try:
        for (verdict,) in conn.execute("PRAGMA integrity_check"):
            if verdict != "ok":
                findings.damage.append(f"database: {verdict}")
        conn.execute("BEGIN")  # one snapshot for everything below
        dead = {blob for (blob,) in conn.execute("SELECT blob FROM dead_blobs")}
        referenced = _check_records(conn, data_dir, deep, findings)
        conn.execute("COMMIT")
    finally:
        conn.close()
    unused = [listed[name] for name in sorted(listed.keys() - referenced - dead)]
    unused += [path for path in leftovers if path.name not in referenced]
    for path in unused:
        shown = str(path.relative_to(data_dir))
        if repair:
            path.unlink(missing_ok=True)
            findings.notes.append(f"removed  {shown} ({path.name} is used by no record)")
        else:
            findings.unreferenced.append(f"{shown}: used by no record")
    if live:
        findings.notes.append("a server is running on this directory: tmp/ was not looked at")
    return findings


def _check_records(
    conn: sqlite3.Connection, data_dir: Path, deep: bool, findings: Findings
) -> set[str]:
    referenced: set[str] = set()
    rows = conn.execute(
        "SELECT r.store_id, r.key, r.size, r.etag, r.blob, length(b.data), r.body_id "
        "FROM records r LEFT JOIN bodies b ON b.id = r.body_id"
    )
    for store_id, key, size, etag, blob, inline_size, body_id in rows:
        findings.records += 1
        where = f"store {store_id} record {key!r}"
        if blob is None:
            if inline_size != size:
                findings.damage.append(
                    f"{where}: its body in the database is {inline_size} bytes, not {size}"
                )
            elif deep and not _same_md5(_inline(conn, body_id), etag):
                findings.damage.append(f"{where}: its body in the database does not match its ETag")
            continue
        findings.bodies += 1
        referenced.add(blob)
        path = body_file(data_dir, blob)
        if path is None:
            findings.damage.append(f"{where}: body file blobs/{blob[:2]}/{blob} is missing")
            continue
        actual = path.stat().st_size
        if actual != size:
            findings.damage.append(
                f"{where}: body file {path.relative_to(data_dir)} is {actual} bytes, not {size}"
            )
        elif deep and not _same_md5(_file_md5(path), etag):
            findings.damage.append(
                f"{where}: body file {path.relative_to(data_dir)} does not match its ETag"
            )
    return referenced


def _inline(conn: sqlite3.Connection, body_id: int) -> str:
    (data,) = conn.execute("SELECT data FROM bodies WHERE id = ?", (body_id,)).fetchone()
    return hashlib.md5(bytes(data), usedforsecurity=False).hexdigest()


def _file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    fd = os.open(path, os.O_RDONLY)
    try:
        while chunk := os.read(fd, READ_CHUNK):
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest()


def _same_md5(md5: str, etag: str) -> bool:
    return etag.strip('"') == md5
