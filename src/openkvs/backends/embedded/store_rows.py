"""Stores in the embedded database."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from openkvs.backends.embedded.dead_bodies import DeadBodies
from openkvs.backends.embedded.read_cache import ReadCache
from openkvs.backends.embedded.writer import After, Writer
from openkvs.backends.stats_buffer import StatsBuffer
from openkvs.backends.store_shape import STORE_SELECT, store_changes, store_from_row
from openkvs.core.errors import store_name_taken
from openkvs.core.ids import new_secret, now_ms, random_id
from openkvs.core.models import Store
from openkvs.core.storage import UNSET
from openkvs.telemetry import Telemetry


class EmbeddedStores:
    """Reads on the event loop's connection (through the read cache); writes through the
    writer; read and list counters buffered in `stats` until the backend flushes them."""

    def __init__(
        self,
        reader: sqlite3.Connection,
        writer: Writer,
        cache: ReadCache,
        stats: StatsBuffer,
        telemetry: Telemetry,
        dead_bodies: DeadBodies,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._cache = cache
        self._stats = stats
        self._telemetry = telemetry
        self._dead_bodies = dead_bodies

    async def by_id(self, store_id: str, *, counters: bool = True) -> Store | None:
        if not counters:  # every record request: no wait
            return self._store(store_id, " WHERE s.id = ?", (store_id,), counters)
        async with self._stats.settled():
            return self._store(store_id, " WHERE s.id = ?", (store_id,), counters)

    async def by_name(self, user_id: str, name: str, *, counters: bool = True) -> Store | None:
        where = " WHERE s.user_id = ? AND s.name = ?"
        if not counters:
            return self._store((user_id, name), where, (user_id, name), counters)
        async with self._stats.settled():
            return self._store((user_id, name), where, (user_id, name), counters)

    def _store(
        self, cache_key: Any, where: str, args: tuple[str, ...], counters: bool
    ) -> Store | None:
        cache = self._cache
        cache.refresh()
        entry = cache.store(cache_key, current=counters)
        looked = self._telemetry.cache["store"]
        if entry is not None:
            looked[0] += 1
        else:
            looked[1] += 1
            entry = cache.keep_store(
                cache_key, self._reader.execute(STORE_SELECT + where, args).fetchone()
            )
        if entry.row is None:
            return None
        if not counters:
            return cache.store_identity(entry, store_from_row)
        return self._stats.apply(store_from_row(entry.row))

    async def page(
        self, user_id: str, offset: int, limit: int, desc: bool, unnamed: bool
    ) -> tuple[int, list[Store]]:
        where = " WHERE s.user_id = ?" + ("" if unnamed else " AND s.name IS NOT NULL")
        (total,) = self._reader.execute(
            "SELECT count(*) FROM stores s" + where, (user_id,)
        ).fetchone()
        order = "DESC" if desc else "ASC"
        async with self._stats.settled():
            rows = self._reader.execute(
                STORE_SELECT
                + where
                + f" ORDER BY s.created_at {order}, s.id {order} LIMIT ? OFFSET ?",
                (user_id, limit, offset),
            ).fetchall()
            return int(total), [self._stats.apply(store_from_row(r)) for r in rows]

    async def get_or_create(
        self, user_id: str, name: str | None, schema: dict[str, Any] | None
    ) -> tuple[Store, bool]:
        def op(conn: sqlite3.Connection, after: After) -> tuple[str, bool]:
            if name is not None:
                found = conn.execute(
                    "SELECT id FROM stores WHERE user_id = ? AND name = ?", (user_id, name)
                ).fetchone()
                if found:
                    (found_id,) = found
                    return found_id, False
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
        store = await self.by_id(store_id)
        assert store is not None
        return store, created

    async def update(
        self, store_id: str, *, name: Any = UNSET, general_access: Any = UNSET, title: Any = UNSET
    ) -> Store | None:
        changes = store_changes(name, general_access, title)

        def op(conn: sqlite3.Connection, after: After) -> bool:
            sets = "".join(f"{column} = ?, " for column in changes)
            try:
                cur = conn.execute(
                    f"UPDATE stores SET {sets}modified_at = ? WHERE id = ?",
                    (*changes.values(), now_ms(), store_id),
                )
            except sqlite3.IntegrityError:
                raise store_name_taken(changes.get("name")) from None
            return cur.rowcount > 0

        if not await self._writer.run(op):
            return None
        return await self.by_id(store_id)

    def _drop(self, conn: sqlite3.Connection, where: str, args: tuple[Any, ...]) -> list[str]:
        """Delete stores matching `where` with their records; return the blobs now dead."""
        ids = [sid for (sid,) in conn.execute(f"SELECT id FROM stores WHERE {where}", args)]
        dead: list[str] = []
        for sid in ids:
            dead.extend(
                blob
                for (blob,) in conn.execute(
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
            self._stats.forget(sid)
        conn.executemany("INSERT OR IGNORE INTO dead_blobs (blob) VALUES (?)", [(b,) for b in dead])
        return dead if ids else []

    async def delete(self, store_id: str) -> bool:
        def op(conn: sqlite3.Connection, after: After) -> bool:
            if not conn.execute("SELECT 1 FROM stores WHERE id = ?", (store_id,)).fetchone():
                return False
            self._dead_bodies.bury(after, self._drop(conn, "id = ?", (store_id,)))
            return True

        return bool(await self._writer.run(op))

    async def delete_unnamed(self, accessed_before_ms: int) -> int:
        def op(conn: sqlite3.Connection, after: After) -> int:
            where = "name IS NULL AND accessed_at < ?"
            (count,) = conn.execute(
                f"SELECT count(*) FROM stores WHERE {where}", (accessed_before_ms,)
            ).fetchone()
            self._dead_bodies.bury(after, self._drop(conn, where, (accessed_before_ms,)))
            return int(count)

        return int(await self._writer.run(op))

    # stats applied in the background (behaviour.md#stats)
    def note_read(self, store_id: str) -> None:
        self._stats.note_read(store_id)

    def note_list(self, store_id: str) -> None:
        self._stats.note_list(store_id)

    def note_access(self, store_id: str) -> None:
        self._stats.note_access(store_id)
