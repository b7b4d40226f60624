"""Crawlee's local storage folders, as its libraries write and read them.

A storage folder holds `key_value_stores/<store>/`, one directory per store, with the store's
`__metadata__.json` ({id, name, createdAt, ...}) and its records:

- Crawlee for Python (1.x, file-system storage client): the body in a file named after the key
  percent-encoded (`urllib.parse.quote(key, safe="")`), and beside it
  `<that name>.__metadata__.json` = {"key", "content_type", "size"}. A body without its
  metadata file is not a record.
- Crawlee for JavaScript (3.x, @crawlee/memory-storage; also the Apify CLI's `storage/`): the
  body in `<key>.<extension>` (the extension of its content type, `bin` when there is none) or
  in `<key>` when the key's own extension already names the type; metadata files
  (`<key>.__metadata__.json` = {"key", "contentType", "extension"}) only when it was asked to
  write them. Without one, the key is the file name less its extension, and the content type
  the extension's (text/plain for none).
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

METADATA = "__metadata__.json"
RECORD_METADATA = "." + METADATA
STORES_DIR = "key_value_stores"
# Only Python's own table: the answer must not depend on the machine's /etc/mime.types.
MIME = mimetypes.MimeTypes(filenames=())
for _extension in (".text", ".conf", ".log", ".ini", ".list", ".def"):  # mime-db has them
    MIME.add_type("text/plain", _extension, strict=False)
# Types JavaScript's mime-types names with a charset (all text/* too).
UTF8_TYPES = frozenset({"application/json", "application/javascript", "application/xml"})


class LayoutError(Exception):
    """A folder that is not a storage folder of a known layout."""


@dataclass(frozen=True, slots=True)
class LocalRecord:
    key: str
    path: Path
    content_type: str


@dataclass
class LocalStore:
    directory: Path
    name: str
    records: list[LocalRecord]
    problems: list[str]  # files that are not records, as the store's library would see it


def _sibling(path: Path, name: str) -> Path | None:
    """`name` beside `path`, or None when it is not a plain file name (a key from a metadata
    file may say anything, and must not lead out of its store's directory)."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        return None
    return path.with_name(name)


def stores_dir(path: Path) -> Path:
    """`path` if it is a key_value_stores folder, else the one in it or in its `storage/`."""
    if path.name == STORES_DIR and path.is_dir():
        return path
    for candidate in (path / STORES_DIR, path / "storage" / STORES_DIR):
        if candidate.is_dir():
            return candidate
    raise LayoutError(f"{path}: no {STORES_DIR} folder in it (nor in its storage/ folder)")


def _json_file(path: Path) -> dict[str, Any] | None:
    """The object in a metadata file (JavaScript's memory storage writes record metadata as a
    JSON string holding the JSON object)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, str):
            data = json.loads(data)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def js_content_type(file_name: str) -> str | None:
    """The content type JavaScript's mime-types gives a file name, charset included. Like it,
    a name without a dot is taken as an extension alone (`bin`, `text`)."""
    extension = file_name.rsplit(".", 1)[-1].lower()
    guessed, _ = MIME.guess_type(f"file.{extension}", strict=False)
    if guessed is None:
        return None
    if guessed.startswith("text/") or guessed in UTF8_TYPES:
        return f"{guessed}; charset=utf-8"
    return guessed


def js_extension(content_type: str) -> str:
    """The extension JavaScript's memory storage gives a content type (`bin` for none)."""
    bare = content_type.split(";", 1)[0].strip().lower()
    found = MIME.guess_extension(bare, strict=False)
    return found.lstrip(".") if found else "bin"


def read_store(directory: Path) -> LocalStore:
    """The records of one store directory, in key order, whichever library wrote it."""
    meta = _json_file(directory / METADATA) or {}
    name = meta.get("name") if isinstance(meta.get("name"), str) and meta.get("name") else None
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.name != METADATA)
    described = {p: _json_file(p) for p in files if p.name.endswith(RECORD_METADATA)}
    python = any(m is not None and "content_type" in m for m in described.values())
    store = LocalStore(directory, name or directory.name, [], [])
    (_python_records if python else _js_records)(store, files, described)
    store.records.sort(key=lambda r: r.key.encode("utf-8"))
    return store


def _python_records(
    store: LocalStore, files: list[Path], described: dict[Path, dict[str, Any] | None]
) -> None:
    bodies = set()
    for path, meta in described.items():
        if meta is None or not isinstance(meta.get("key"), str):
            store.problems.append(f"{path.name}: not a record's metadata")
            continue
        body = _sibling(path, quote(meta["key"], safe=""))
        if body is None or not body.is_file():
            store.problems.append(f"{path.name}: its body is missing")
            continue
        content_type = meta.get("content_type") or "application/octet-stream"
        store.records.append(LocalRecord(meta["key"], body, str(content_type)))
        bodies.add(body)
    for path in files:
        if path not in described and path not in bodies and not path.name.startswith("."):
            store.problems.append(f"{path.name}: no metadata file, so not a record")


def _js_records(
    store: LocalStore, files: list[Path], described: dict[Path, dict[str, Any] | None]
) -> None:
    claimed: set[Path] = set()
    keys: set[str] = set()
    for path, meta in described.items():
        if meta is None or not isinstance(meta.get("key"), str):
            store.problems.append(f"{path.name}: not a record's metadata")
            continue
        key, extension = meta["key"], meta.get("extension")
        body = _sibling(path, f"{key}.{extension}") if extension else None
        if body is None or not body.is_file():  # the library falls back to the bare key too
            body = _sibling(path, key)
        if body is None or not body.is_file():
            store.problems.append(f"{path.name}: its body is missing")
            continue
        content_type = meta.get("contentType") or js_content_type(body.name) or "text/plain"
        store.records.append(LocalRecord(key, body, str(content_type)))
        claimed.add(body)
        keys.add(key)
    for path in files:
        if path in described or path in claimed:
            continue
        stem, dot, _ = path.name.rpartition(".")
        key = stem if dot and stem else path.name
        if key in keys:
            store.problems.append(f"{path.name}: a second body for key {key!r}, left out")
            continue
        keys.add(key)
        store.records.append(LocalRecord(key, path, js_content_type(path.name) or "text/plain"))


def python_names(key: str, content_type: str) -> tuple[str, str]:
    """File names of a record's body and metadata in Crawlee for Python's layout (the key
    alone decides them)."""
    body = quote(key, safe="")
    if body in (".", ".."):
        raise LayoutError(f"the key {key!r} cannot be a file name in this layout")
    return body, body + RECORD_METADATA


def python_metadata(key: str, content_type: str, size: int) -> bytes:
    return json.dumps({"key": key, "content_type": content_type, "size": size}).encode()


def js_names(key: str, content_type: str) -> tuple[str, str]:
    """File names in Crawlee for JavaScript's layout. The body always carries the extension,
    which is how the library finds it again (and derives the same key from its name)."""
    return f"{key}.{js_extension(content_type)}", key + RECORD_METADATA


def js_metadata(key: str, content_type: str, size: int) -> bytes:
    extension = js_extension(content_type)
    return json.dumps({"key": key, "contentType": content_type, "extension": extension}).encode()


def store_metadata(store_id: str, name: str | None, dates: dict[str, Any]) -> bytes:
    """The store's `__metadata__.json`, in the names both libraries read."""
    now = datetime.now(UTC).isoformat()
    fields = {"id": store_id, "name": name}
    for field in ("createdAt", "modifiedAt", "accessedAt"):
        fields[field] = dates.get(field) or now
    return json.dumps(fields, indent=2).encode()
