"""Stores in PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from openkvs.backends.scaleout.lanes import Lanes
from openkvs.backends.scaleout.node_cache import Kept, NodeCache
from openkvs.backends.stats_buffer import StatsBuffer
from openkvs.backends.store_shape import STORE_SELECT, store_changes, store_from_row
from openkvs.core.errors import store_name_taken
from openkvs.core.ids import new_secret, now_ms, random_id
from openkvs.core.models import Store
from openkvs.core.storage import UNSET

BURY_RECORDS = (
    "INSERT INTO dead_objects (object, dead_at) SELECT object, $2 FROM records "
    "WHERE store_id = $1 AND object IS NOT NULL ON CONFLICT DO NOTHING"
)


# The stats as of now: the store's row plus its writes' deltas not folded into it yet
# (record_sql.py; folded by `fold_deltas`). The columns of STORE_COLUMNS, in its order.
CURRENT_STORE_SELECT = (
    "SELECT s.id, s.name, s.title, s.user_id, u.username, s.created_at, "
    "greatest(s.modified_at, d.at) AS modified_at, greatest(s.accessed_at, d.at) AS accessed_at, "
    "s.general_access, s.schema, s.secret, s.read_count, "
    "s.write_count + coalesce(d.writes, 0) AS write_count, "
    "s.delete_count + coalesce(d.deletes, 0) AS delete_count, s.list_count, "
    "s.storage_bytes + coalesce(d.bytes, 0) AS storage_bytes, "
    "s.record_count + coalesce(d.records, 0) AS record_count "
    "FROM stores s JOIN users u ON u.id = s.user_id LEFT JOIN LATERAL ("
    "SELECT sum(writes)::bigint AS writes, sum(deletes)::bigint AS deletes, "
    "sum(bytes)::bigint AS bytes, sum(records)::bigint AS records, max(modified_at) AS at "
    "FROM store_deltas WHERE store_id = s.id) d ON true"
)
FOLD_LOCK = 0x6F6B7666  # "okvf": held by the node folding the deltas
# Up to this many deltas folded per statement (the loop runs every second on every node).
FOLD_BATCH = 20_000
FOLD_DELTAS = (
    "WITH folded AS (DELETE FROM store_deltas WHERE id IN (SELECT id FROM store_deltas "
    "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING *), "
    "sums AS (SELECT store_id, sum(writes) AS writes, sum(deletes) AS deletes, "
    "sum(bytes) AS bytes, sum(records) AS records, max(modified_at) AS at "
    "FROM folded GROUP BY store_id) "
    "UPDATE stores s SET write_count = s.write_count + sums.writes, "
    "delete_count = s.delete_count + sums.deletes, storage_bytes = s.storage_bytes + sums.bytes, "
    "record_count = s.record_count + sums.records, "
    "modified_at = greatest(s.modified_at, sums.at), "
    "accessed_at = greatest(s.accessed_at, sums.at) FROM sums WHERE s.id = sums.store_id"
)


def not_written_since(param: str) -> str:
    """For retention: no write since `param` (its delta may not be folded into accessed_at)."""
    return (
        " AND NOT EXISTS (SELECT 1 FROM store_deltas d WHERE d.store_id = stores.id "
        f"AND d.modified_at >= {param})"
    )


async def fold_deltas(pool: Any) -> None:
    """Add the writes' deltas to their stores' rows, FOLD_BATCH at a time. One node at a time:
    two folds would update the same stores' rows in no set order, and could wait for each other
    in a circle."""
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", FOLD_LOCK):
            return  # another node is folding now
        while (await conn.execute(FOLD_DELTAS, FOLD_BATCH)) != "UPDATE 0":
            pass


class ScaleOutStores:
    def __init__(self, pool: Any, lanes: Lanes, cache: NodeCache, stats: StatsBuffer) -> None:
        self._pool = pool  # asyncpg.Pool
        self._lanes = lanes  # for the lookup of every request's store
        self._stats = stats  # read/list counters not written yet (behaviour.md#stats)
        # Other nodes hear of a change by notification; this one forgets at once, so that its
        # own next request sees the change (a store's access, a name, a deletion).
        self._cache = cache
        # Kept without current stats (counters=False).
        self._by_id: Kept[str, Store] = Kept(cache)
        self._by_name: Kept[tuple[str, str], Store] = Kept(cache)  # (user id, name) -> store

    async def by_id(self, store_id: str, *, counters: bool = True) -> Store | None:
        if counters:
            return await self._store(" WHERE s.id = $1", store_id)
        return await self._by_id.get(
            store_id, lambda: self._store(" WHERE s.id = $1", store_id, current=False)
        )

    async def by_name(self, user_id: str, name: str, *, counters: bool = True) -> Store | None:
        where = " WHERE s.user_id = $1 AND s.name = $2"
        if counters:
            return await self._store(where, user_id, name)
        return await self._by_name.get(
            (user_id, name), lambda: self._store(where, user_id, name, current=False)
        )

    async def _store(self, where: str, *args: Any, current: bool = True) -> Store | None:
        """One store; with `current`, its stats as of now (else as last folded)."""
        if not current:
            row = await self._lanes.fetchrow(STORE_SELECT + where, *args)
            return store_from_row(row) if row else None
        async with self._stats.settled():
            row = await self._lanes.fetchrow(CURRENT_STORE_SELECT + where, *args)
            return self._stats.apply(store_from_row(row)) if row else None

    async def page(
        self, user_id: str, offset: int, limit: int, desc: bool, unnamed: bool
    ) -> tuple[int, list[Store]]:
        where = " WHERE s.user_id = $1" + ("" if unnamed else " AND s.name IS NOT NULL")
        total = await self._pool.fetchval("SELECT count(*) FROM stores s" + where, user_id)
        order = "DESC" if desc else "ASC"
        async with self._stats.settled():
            rows = await self._pool.fetch(
                CURRENT_STORE_SELECT
                + where
                + f" ORDER BY s.created_at {order}, s.id {order} LIMIT $2 OFFSET $3",
                user_id,
                limit,
                offset,
            )
            return int(total), [self._stats.apply(store_from_row(r)) for r in rows]

    async def get_or_create(
        self, user_id: str, name: str | None, schema: dict[str, Any] | None
    ) -> tuple[Store, bool]:
        now = now_ms()
        # The unique index decides between nodes creating the same name at once.
        created_id = await self._pool.fetchval(
            "INSERT INTO stores (id, user_id, name, created_at, modified_at, accessed_at, "
            "general_access, schema, secret) VALUES ($1, $2, $3, $4, $4, $4, $5, $6, $7) "
            "ON CONFLICT (user_id, name) WHERE name IS NOT NULL DO NOTHING RETURNING id",
            random_id(),
            user_id,
            name,
            now,
            "FOLLOW_USER_SETTING",
            json.dumps(schema) if schema is not None else None,
            new_secret(),
        )
        if created_id is not None:
            store = await self.by_id(created_id)
        else:
            assert name is not None
            store = await self.by_name(user_id, name)
        assert store is not None
        return store, created_id is not None

    async def update(
        self, store_id: str, *, name: Any = UNSET, general_access: Any = UNSET, title: Any = UNSET
    ) -> Store | None:
        changes = store_changes(name, general_access, title)
        sets = "".join(f"{column} = ${i}, " for i, column in enumerate(changes, start=3))
        try:
            status = await self._pool.execute(
                f"UPDATE stores SET {sets}modified_at = $2 WHERE id = $1",
                store_id,
                now_ms(),
                *changes.values(),
            )
        except asyncpg.UniqueViolationError:
            raise store_name_taken(changes.get("name")) from None
        if status.endswith(" 0"):
            return None
        self._cache.forget()
        return await self.by_id(store_id)

    async def delete(self, store_id: str) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT 1 FROM stores WHERE id = $1 FOR UPDATE", store_id):
                return False
            await self._drop_store(conn, store_id)
        self._cache.forget()
        return True

    async def _drop_store(self, conn: Any, store_id: str) -> None:
        """Inside a transaction holding the store row: its objects become dead, rows go."""
        await conn.execute(BURY_RECORDS, store_id, now_ms())
        await conn.execute("DELETE FROM records WHERE store_id = $1", store_id)
        # Deltas a fold holds are left to it (it waits for this store's row, then finds the row
        # gone): waiting for them here, while holding the row it waits for, would be a circle.
        await conn.execute(
            "DELETE FROM store_deltas WHERE id IN (SELECT id FROM store_deltas "
            "WHERE store_id = $1 FOR UPDATE SKIP LOCKED)",
            store_id,
        )
        await conn.execute("DELETE FROM stores WHERE id = $1", store_id)
        self._stats.forget(store_id)

    async def delete_unnamed(self, accessed_before_ms: int) -> int:
        rows = await self._pool.fetch(
            "SELECT id FROM stores WHERE name IS NULL AND accessed_at < $1"
            + not_written_since("$1"),
            accessed_before_ms,
        )
        removed = 0
        for row in rows:
            store_id = row["id"]
            async with self._pool.acquire() as conn, conn.transaction():
                still = await conn.fetchval(
                    "SELECT 1 FROM stores WHERE id = $1 AND name IS NULL AND accessed_at < $2"
                    + not_written_since("$2")
                    + " FOR UPDATE",
                    store_id,
                    accessed_before_ms,
                )
                if still:
                    await self._drop_store(conn, store_id)
                    removed += 1
        if removed:
            self._cache.forget()
        return removed

    def note_read(self, store_id: str) -> None:
        self._stats.note_read(store_id)

    def note_list(self, store_id: str) -> None:
        self._stats.note_list(store_id)

    def note_access(self, store_id: str) -> None:
        self._stats.note_access(store_id)
