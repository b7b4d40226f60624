"""EmbeddedBackend: reads on the event loop's connection, writes through the group-commit writer."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openkvs.backends.base import UNSET, BodySink
from openkvs.backends.embedded.blobs import BlobFiles, BytesBodyStream, FileBodyStream, SpooledBody
from openkvs.backends.embedded.migrations import migrate
from openkvs.backends.embedded.writer import Writer
from openkvs.backends.stats_buffer import StatsBuffer
from openkvs.core.conditions import check_write_condition
from openkvs.core.errors import ApiError, store_not_found
from openkvs.core.ids import new_secret, now_ms, random_id
from openkvs.core.models import KeyItem, RecordMeta, Stats, Store, TokenInfo, User, WriteCondition

log = logging.getLogger("openkvs.embedded")
After = list[Callable[[], None]]
STORE_COLUMNS = (
    "s.id, s.name, s.title, s.user_id, u.username, s.created_at, s.modified_at, s.accessed_at, "
    "s.general_access, s.schema, s.secret, s.read_count, s.write_count, s.delete_count, "
    "s.list_count, s.storage_bytes"
)
STORE_SELECT = f"SELECT {STORE_COLUMNS} FROM stores s JOIN users u ON u.id = s.user_id"
RECORD_COLUMNS = "key, size, content_type, content_encoding, etag, modified_at, body_id, blob"
FLUSH_INTERVAL = 0.25


def _store(row: tuple[Any, ...]) -> Store:
    return Store(
        id=row[0],
        name=row[1],
        title=row[2],
        user_id=row[3],
        username=row[4],
        created_at=row[5],
        modified_at=row[6],
        accessed_at=row[7],
        general_access=row[8],
        schema=json.loads(row[9]) if row[9] is not None else None,
        secret=row[10],
        stats=Stats(row[11], row[12], row[13], row[14], row[15]),
    )


def _token(row: tuple[Any, ...]) -> TokenInfo:
    return TokenInfo(row[0], row[1], row[2], row[3], row[4], bool(row[5]))


def _bound_clauses(
    after: str | None, lower: str | None, upper: str | None
) -> tuple[str, list[Any]]:
    sql, args = "", []
    for op, value in ((">", after), (">=", lower), ("<", upper)):
        if value is not None:
            sql += f" AND key {op} ?"
            args.append(value)
    return sql, args


class EmbeddedBackend:
    def __init__(self, data_dir: Path, durability: str = "strict", inline_threshold: int = 65536):
        self.data_dir = data_dir
        self.strict = durability == "strict"
        self.inline_threshold = inline_threshold
        self.stats = StatsBuffer()
        self._db_path = data_dir / "openkvs.db"
        self._files: BlobFiles
        self._reader: sqlite3.Connection
        self._writer: Writer
        self._lock_fd: int | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._cleared_dead: list[str] = []

    # lifecycle
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._db_path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if self.strict else 'NORMAL'}")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    async def start(self, serve: bool = True) -> None:
        """Open the store; `serve` also takes the data directory lock and runs crash recovery."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._files = BlobFiles(self.data_dir, self.strict)
        if serve:
            self._take_lock()
        self._reader = self._connect()
        migrate(self._reader)
        if serve:
            self._recover()
        self._writer = Writer(self._connect)
        self._writer.start()
        if serve:
            self._tasks.append(asyncio.create_task(self._flush_loop()))

    def _take_lock(self) -> None:
        fd = os.open(self.data_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RuntimeError(f"another openkvs server is using {self.data_dir}") from None
        self._lock_fd = fd

    def _recover(self) -> None:
        """Finish what a crash interrupted: publish committed blobs, remove uncommitted ones."""
        conn = self._reader
        for name in self._files.leftover_tmp():
            if conn.execute("SELECT 1 FROM records WHERE blob = ?", (name,)).fetchone():
                self._files.publish(name)
            else:
                self._files.remove(name)
        dead = [r[0] for r in conn.execute("SELECT blob FROM dead_blobs")]
        for name in dead:
            if not conn.execute("SELECT 1 FROM records WHERE blob = ?", (name,)).fetchone():
                self._files.remove(name)
        if dead:
            conn.execute("DELETE FROM dead_blobs")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._flush_stats()
        self._writer.stop()
        self._reader.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            try:
                await self._flush_stats()
            except Exception:
                log.exception("stats flush failed")

    async def _flush_stats(self) -> None:
        cleared, self._cleared_dead = self._cleared_dead, []
        if not self.stats.pending and not cleared:
            return
        batch = self.stats.take()

        def op(conn: sqlite3.Connection, after: After) -> None:
            conn.executemany(
                "UPDATE stores SET read_count = read_count + ?, list_count = list_count + ?, "
                "accessed_at = max(accessed_at, ?) WHERE id = ?",
                [(e.reads, e.lists, e.accessed_at, sid) for sid, e in batch.items()],
            )
            conn.executemany("DELETE FROM dead_blobs WHERE blob = ?", [(n,) for n in cleared])

        try:
            await self._writer.run(op)
        finally:
            self.stats.flushed()

    # users and tokens
    async def count_users(self) -> int:
        return int(self._reader.execute("SELECT count(*) FROM users").fetchone()[0])

    async def create_user(self, username: str) -> User:
        user = User(random_id(), username, now_ms())

        def op(conn: sqlite3.Connection, after: After) -> User:
            try:
                conn.execute(
                    "INSERT INTO users (id, username, created_at) VALUES (?, ?, ?)",
                    (user.id, user.username, user.created_at),
                )
            except sqlite3.IntegrityError:
                raise ApiError(400, "name-not-unique", f'Username "{username}" is taken.') from None
            return user

        result: User = await self._writer.run(op)
        return result

    def _user(self, where: str, arg: str) -> User | None:
        row = self._reader.execute(
            f"SELECT id, username, created_at FROM users WHERE {where} = ?", (arg,)
        ).fetchone()
        return User(*row) if row else None

    async def user_by_id(self, user_id: str) -> User | None:
        return self._user("id", user_id)

    async def user_by_username(self, username: str) -> User | None:
        return self._user("username", username)

    async def user_by_token_hash(self, token_hash: str) -> User | None:
        row = self._reader.execute(
            "SELECT u.id, u.username, u.created_at FROM tokens t JOIN users u ON u.id = t.user_id "
            "WHERE t.hash = ? AND t.revoked = 0",
            (token_hash,),
        ).fetchone()
        return User(*row) if row else None

    async def add_token(self, user_id: str, token_hash: str, name: str) -> TokenInfo:
        token_id = random_id()

        def op(conn: sqlite3.Connection, after: After) -> None:
            conn.execute(
                "INSERT INTO tokens (id, user_id, hash, name, created_at) VALUES (?, ?, ?, ?, ?)",
                (token_id, user_id, token_hash, name, now_ms()),
            )

        await self._writer.run(op)
        tokens = [t for t in await self.list_tokens(user_id) if t.id == token_id]
        return tokens[0]

    async def list_tokens(self, user_id: str | None) -> list[TokenInfo]:
        sql = (
            "SELECT t.id, t.user_id, u.username, t.name, t.created_at, t.revoked "
            "FROM tokens t JOIN users u ON u.id = t.user_id"
        )
        args: tuple[str, ...] = ()
        if user_id is not None:
            sql += " WHERE t.user_id = ?"
            args = (user_id,)
        return [_token(r) for r in self._reader.execute(sql + " ORDER BY t.created_at", args)]

    async def revoke_token(self, token_id: str) -> bool:
        def op(conn: sqlite3.Connection, after: After) -> bool:
            cur = conn.execute(
                "UPDATE tokens SET revoked = 1 WHERE id = ? AND revoked = 0", (token_id,)
            )
            return cur.rowcount > 0

        return bool(await self._writer.run(op))

    # stores
    async def store_by_id(self, store_id: str) -> Store | None:
        row = self._reader.execute(STORE_SELECT + " WHERE s.id = ?", (store_id,)).fetchone()
        return self.stats.apply(_store(row)) if row else None

    async def store_by_name(self, user_id: str, name: str) -> Store | None:
        row = self._reader.execute(
            STORE_SELECT + " WHERE s.user_id = ? AND s.name = ?", (user_id, name)
        ).fetchone()
        return self.stats.apply(_store(row)) if row else None

    async def list_stores(
        self, user_id: str, offset: int, limit: int, desc: bool, unnamed: bool
    ) -> tuple[int, list[Store]]:
        where = " WHERE s.user_id = ?" + ("" if unnamed else " AND s.name IS NOT NULL")
        total = self._reader.execute(
            "SELECT count(*) FROM stores s" + where, (user_id,)
        ).fetchone()[0]
        order = "DESC" if desc else "ASC"
        rows = self._reader.execute(
            STORE_SELECT + where + f" ORDER BY s.created_at {order}, s.id {order} LIMIT ? OFFSET ?",
            (user_id, limit, offset),
        ).fetchall()
        return int(total), [self.stats.apply(_store(r)) for r in rows]

    async def get_or_create_store(
        self, user_id: str, name: str | None, schema: dict[str, Any] | None
    ) -> tuple[Store, bool]:
        def op(conn: sqlite3.Connection, after: After) -> tuple[str, bool]:
            if name is not None:
                row = conn.execute(
                    "SELECT id FROM stores WHERE user_id = ? AND name = ?", (user_id, name)
                ).fetchone()
                if row:
                    return row[0], False
            store_id, now = random_id(), now_ms()
            conn.execute(
                "INSERT INTO stores (id, user_id, name, created_at, modified_at, accessed_at, "
                "general_access, schema, secret) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    store_id,
                    user_id,
                    name,
                    now,
                    now,
                    now,
                    "FOLLOW_USER_SETTING",
                    json.dumps(schema) if schema is not None else None,
                    new_secret(),
                ),
            )
            return store_id, True

        store_id, created = await self._writer.run(op)
        store = await self.store_by_id(store_id)
        assert store is not None
        return store, created

    async def update_store(
        self, store_id: str, *, name: Any = UNSET, general_access: Any = UNSET, title: Any = UNSET
    ) -> Store | None:
        changes = {
            column: value
            for column, value in (
                ("name", name),
                ("general_access", general_access),
                ("title", title),
            )
            if value is not UNSET
        }

        def op(conn: sqlite3.Connection, after: After) -> bool:
            sets = "".join(f"{column} = ?, " for column in changes)
            try:
                cur = conn.execute(
                    f"UPDATE stores SET {sets}modified_at = ? WHERE id = ?",
                    (*changes.values(), now_ms(), store_id),
                )
            except sqlite3.IntegrityError:
                raise ApiError(
                    400,
                    "name-not-unique",
                    f'You already have a key-value store named "{changes.get("name")}".',
                ) from None
            return cur.rowcount > 0

        if not await self._writer.run(op):
            return None
        return await self.store_by_id(store_id)

    def _drop_store_rows(
        self, conn: sqlite3.Connection, where: str, args: tuple[Any, ...]
    ) -> list[str]:
        """Delete stores matching `where` with their records; return the blobs now dead."""
        ids = [r[0] for r in conn.execute(f"SELECT id FROM stores WHERE {where}", args)]
        dead: list[str] = []
        for sid in ids:
            dead.extend(
                r[0]
                for r in conn.execute(
                    "SELECT blob FROM records WHERE store_id = ? AND blob IS NOT NULL", (sid,)
                )
            )
            conn.execute(
                "DELETE FROM bodies WHERE id IN (SELECT body_id FROM records "
                "WHERE store_id = ? AND body_id IS NOT NULL)",
                (sid,),
            )
            conn.execute("DELETE FROM records WHERE store_id = ?", (sid,))
            conn.execute("DELETE FROM stores WHERE id = ?", (sid,))
            self.stats.forget(sid)
        conn.executemany("INSERT OR IGNORE INTO dead_blobs (blob) VALUES (?)", [(b,) for b in dead])
        return dead if ids else []

    def _bury(self, after: After, dead: list[str]) -> None:
        def remove() -> None:
            for blob in dead:
                self._files.remove(blob)
            self._cleared_dead.extend(dead)

        if dead:
            after.append(remove)

    async def delete_store(self, store_id: str) -> bool:
        def op(conn: sqlite3.Connection, after: After) -> bool:
            if not conn.execute("SELECT 1 FROM stores WHERE id = ?", (store_id,)).fetchone():
                return False
            self._bury(after, self._drop_store_rows(conn, "id = ?", (store_id,)))
            return True

        return bool(await self._writer.run(op))

    async def delete_unnamed_stores(self, accessed_before_ms: int) -> int:
        def op(conn: sqlite3.Connection, after: After) -> int:
            where = "name IS NULL AND accessed_at < ?"
            count = conn.execute(
                f"SELECT count(*) FROM stores WHERE {where}", (accessed_before_ms,)
            ).fetchone()[0]
            self._bury(after, self._drop_store_rows(conn, where, (accessed_before_ms,)))
            return int(count)

        return int(await self._writer.run(op))

    # records
    async def list_keys(
        self, store_id: str, after: str | None, lower: str | None, upper: str | None, limit: int
    ) -> list[KeyItem]:
        bounds, args = _bound_clauses(after, lower, upper)
        rows = self._reader.execute(
            f"SELECT key, size FROM records WHERE store_id = ?{bounds} ORDER BY key LIMIT ?",
            (store_id, *args, limit),
        ).fetchall()
        return [KeyItem(r[0], r[1]) for r in rows]

    def _record(self, row: tuple[Any, ...]) -> RecordMeta:
        inline = None
        if row[6] is not None:
            body = self._reader.execute(
                "SELECT data FROM bodies WHERE id = ?", (row[6],)
            ).fetchone()
            inline = bytes(body[0]) if body else b""
        return RecordMeta(row[0], row[1], row[2], row[3], row[4], row[5], inline, row[7])

    async def get_record(self, store_id: str, key: str) -> RecordMeta | None:
        row = self._reader.execute(
            f"SELECT {RECORD_COLUMNS} FROM records WHERE store_id = ? AND key = ?", (store_id, key)
        ).fetchone()
        return self._record(row) if row else None

    async def records_page(
        self, store_id: str, after: str | None, lower: str | None, upper: str | None, limit: int
    ) -> list[RecordMeta]:
        bounds, args = _bound_clauses(after, lower, upper)
        rows = self._reader.execute(
            f"SELECT {RECORD_COLUMNS} FROM records WHERE store_id = ?{bounds} ORDER BY key LIMIT ?",
            (store_id, *args, limit),
        ).fetchall()
        return [self._record(r) for r in rows]

    async def open_body(
        self, record: RecordMeta, start: int = 0, length: int | None = None
    ) -> FileBodyStream | BytesBodyStream | None:
        end = record.size if length is None else min(record.size, start + length)
        if record.blob is None:
            data = record.inline or b""
            return BytesBodyStream(data[start:end] if (start, end) != (0, len(data)) else data)
        fd = self._files.open_fd(record.blob)
        if fd is None:
            return None
        return FileBodyStream(fd, start, max(0, end - start))

    def new_body(self) -> SpooledBody:
        return SpooledBody(self._files, self.inline_threshold)

    async def put_record(
        self,
        store_id: str,
        key: str,
        content_type: str,
        content_encoding: str | None,
        etag: str,
        body: BodySink,
        condition: WriteCondition,
    ) -> RecordMeta:
        assert isinstance(body, SpooledBody)
        modified = now_ms()
        inline, blob, size = body.inline, body.blob, body.size

        def op(conn: sqlite3.Connection, after: After) -> RecordMeta:
            if not conn.execute("SELECT 1 FROM stores WHERE id = ?", (store_id,)).fetchone():
                raise store_not_found()
            old = conn.execute(
                "SELECT etag, size, body_id, blob FROM records WHERE store_id = ? AND key = ?",
                (store_id, key),
            ).fetchone()
            check_write_condition(condition, old[0] if old else None)
            body_id = None
            if inline is not None:
                body_id = conn.execute("INSERT INTO bodies (data) VALUES (?)", (inline,)).lastrowid
            conn.execute(
                "INSERT OR REPLACE INTO records (store_id, key, size, content_type, "
                "content_encoding, etag, modified_at, body_id, blob) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    store_id,
                    key,
                    size,
                    content_type,
                    content_encoding,
                    etag,
                    modified,
                    body_id,
                    blob,
                ),
            )
            delta = size
            if old:
                delta -= old[1]
                if old[2] is not None:
                    conn.execute("DELETE FROM bodies WHERE id = ?", (old[2],))
                if old[3] is not None:
                    conn.execute("INSERT OR IGNORE INTO dead_blobs (blob) VALUES (?)", (old[3],))
            conn.execute(
                "UPDATE stores SET write_count = write_count + 1, "
                "storage_bytes = storage_bytes + ?, modified_at = ? WHERE id = ?",
                (delta, modified, store_id),
            )
            if blob is not None:
                after.append(lambda: self._files.publish(blob))
            if old and old[3] is not None:
                self._bury(after, [old[3]])
            return RecordMeta(
                key, size, content_type, content_encoding, etag, modified, inline, blob
            )

        def failed() -> None:
            if blob is not None:
                self._files.remove(blob)

        result: RecordMeta = await self._writer.run(op, on_error=failed)
        return result

    async def delete_record(self, store_id: str, key: str, condition: WriteCondition) -> bool:
        def op(conn: sqlite3.Connection, after: After) -> bool:
            if not conn.execute("SELECT 1 FROM stores WHERE id = ?", (store_id,)).fetchone():
                raise store_not_found()
            old = conn.execute(
                "SELECT etag, size, body_id, blob FROM records WHERE store_id = ? AND key = ?",
                (store_id, key),
            ).fetchone()
            check_write_condition(condition, old[0] if old else None)
            if not old:
                return False
            conn.execute("DELETE FROM records WHERE store_id = ? AND key = ?", (store_id, key))
            if old[2] is not None:
                conn.execute("DELETE FROM bodies WHERE id = ?", (old[2],))
            if old[3] is not None:
                conn.execute("INSERT OR IGNORE INTO dead_blobs (blob) VALUES (?)", (old[3],))
                self._bury(after, [old[3]])
            conn.execute(
                "UPDATE stores SET delete_count = delete_count + 1, "
                "storage_bytes = storage_bytes - ?, modified_at = ? WHERE id = ?",
                (old[1], now_ms(), store_id),
            )
            return True

        return bool(await self._writer.run(op))

    def note_read(self, store_id: str) -> None:
        self.stats.note_read(store_id)

    def note_list(self, store_id: str) -> None:
        self.stats.note_list(store_id)

    def note_access(self, store_id: str) -> None:
        self.stats.note_access(store_id)
