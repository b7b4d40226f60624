"""Versioned PostgreSQL schema, applied on start under an advisory lock (many nodes may start)."""

from __future__ import annotations

from typing import Any

from openkvs.backends.scaleout.record_sql import (
    ANNOUNCE_CHANGES,
    DELETE_RECORD_FUNCTION,
    PUT_RECORD_FUNCTION,
    PUT_RECORDS_FUNCTION,
)
from openkvs.core.ids import now_ms

MIGRATION_LOCK = 0x6F6B7673  # "okvs"

MIGRATIONS: list[str] = [
    # 1: initial schema; keys and names compare in byte order (COLLATE "C",
    # behaviour.md#ids-names-and-keys)
    """
    CREATE TABLE users (
        id text PRIMARY KEY,
        username text COLLATE "C" NOT NULL UNIQUE,
        created_at bigint NOT NULL
    );
    CREATE TABLE tokens (
        id text PRIMARY KEY,
        user_id text NOT NULL REFERENCES users(id),
        hash text NOT NULL UNIQUE,
        name text NOT NULL,
        created_at bigint NOT NULL,
        revoked boolean NOT NULL DEFAULT false
    );
    CREATE TABLE stores (
        id text PRIMARY KEY,
        user_id text NOT NULL REFERENCES users(id),
        name text COLLATE "C",
        title text,
        created_at bigint NOT NULL,
        modified_at bigint NOT NULL,
        accessed_at bigint NOT NULL,
        general_access text NOT NULL,
        schema text,
        secret text NOT NULL,
        read_count bigint NOT NULL DEFAULT 0,
        write_count bigint NOT NULL DEFAULT 0,
        delete_count bigint NOT NULL DEFAULT 0,
        list_count bigint NOT NULL DEFAULT 0,
        storage_bytes bigint NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX stores_by_name ON stores (user_id, name) WHERE name IS NOT NULL;
    CREATE INDEX stores_by_created ON stores (user_id, created_at, id);
    CREATE TABLE records (
        store_id text NOT NULL,
        key text COLLATE "C" NOT NULL,
        size bigint NOT NULL,
        content_type text NOT NULL,
        content_encoding text,
        etag text NOT NULL,
        modified_at bigint NOT NULL,
        body bytea,
        object text,
        PRIMARY KEY (store_id, key)
    );
    CREATE INDEX records_by_object ON records (object) WHERE object IS NOT NULL;
    CREATE TABLE pending_objects (
        object text PRIMARY KEY,
        upload_id text,
        touched_at bigint NOT NULL
    );
    CREATE TABLE dead_objects (
        object text PRIMARY KEY,
        dead_at bigint NOT NULL
    );
    """,
    # 2: stats.recordCount (an openkvs addition), kept by every record write and delete;
    # existing stores are counted once here, in the same transaction as the new column
    """
    ALTER TABLE stores ADD COLUMN record_count bigint NOT NULL DEFAULT 0;
    UPDATE stores s SET record_count = c.n
        FROM (SELECT store_id, count(*) AS n FROM records GROUP BY store_id) c
        WHERE c.store_id = s.id;
    """,
    # 3: no hot row per store, one statement per record write, changes announced to every node
    # (record_sql.py, batches.py, node_cache.py)
    """
    CREATE TABLE store_deltas (
        id bigserial PRIMARY KEY,
        store_id text NOT NULL,
        writes bigint NOT NULL,
        deletes bigint NOT NULL,
        bytes bigint NOT NULL,
        records bigint NOT NULL,
        modified_at bigint NOT NULL
    );
    CREATE INDEX store_deltas_by_store ON store_deltas (store_id);
    """
    + PUT_RECORD_FUNCTION
    + PUT_RECORDS_FUNCTION
    + DELETE_RECORD_FUNCTION
    + ANNOUNCE_CHANGES,
    # 4: a batch of writes locks each store once and adds one delta row per store
    PUT_RECORDS_FUNCTION,
]


async def migrate(conn: Any) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS openkvs_migrations "
            "(version integer PRIMARY KEY, applied_at bigint NOT NULL)"
        )
        done = await conn.fetchval("SELECT coalesce(max(version), 0) FROM openkvs_migrations")
        for number, script in enumerate(MIGRATIONS[done:], start=done + 1):
            await conn.execute(script)
            await conn.execute(
                "INSERT INTO openkvs_migrations (version, applied_at) VALUES ($1, $2)",
                number,
                now_ms(),
            )
