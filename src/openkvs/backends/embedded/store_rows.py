"""Stores in the embedded database."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from openkvs.backends.base import UNSET
from openkvs.backends.embedded.state import After, EmbeddedState
from openkvs.backends.store_shape import STORE_SELECT, store_changes, store_from_row
from openkvs.core.errors import store_name_taken
from openkvs.core.ids import new_secret, now_ms, random_id
from openkvs.core.models import Store


class StoreRows(EmbeddedState):
    async def store_by_id(self, store_id: str, *, counters: bool = True) -> Store | None:
        return self._store(store_id, " WHERE s.id = ?", (store_id,), counters)

    async def store_by_name(
        self, user_id: str, name: str, *, counters: bool = True
    ) -> Store | None:
        return self._store(
            (user_id, name), " WHERE s.user_id = ? AND s.name = ?", (user_id, name), counters
        )

    def _store(
        self, cache_key: Any, where: str, args: tuple[str, ...], counters: bool
    ) -> Store | None:
        cache = self._cache
        cache.refresh()
        entry = cache.store(cache_key, current=counters)
        looked = self.telemetry.cache["store"]
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
        return self.stats.apply(store_from_row(entry.row))

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
        return int(total), [self.stats.apply(store_from_row(r)) for r in rows]

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
