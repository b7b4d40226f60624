"""Versioned schema of the embedded database (PRAGMA user_version)."""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[str] = [
    # 1: initial schema
    """
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        hash TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE stores (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(id),
        name TEXT,
        title TEXT,
        created_at INTEGER NOT NULL,
        modified_at INTEGER NOT NULL,
        accessed_at INTEGER NOT NULL,
        general_access TEXT NOT NULL,
        schema TEXT,
        secret TEXT NOT NULL,
        read_count INTEGER NOT NULL DEFAULT 0,
        write_count INTEGER NOT NULL DEFAULT 0,
        delete_count INTEGER NOT NULL DEFAULT 0,
        list_count INTEGER NOT NULL DEFAULT 0,
        storage_bytes INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX stores_by_name ON stores(user_id, name) WHERE name IS NOT NULL;
    CREATE INDEX stores_by_created ON stores(user_id, created_at, id);
    CREATE TABLE records (
        store_id TEXT NOT NULL,
        key TEXT NOT NULL,
        size INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        content_encoding TEXT,
        etag TEXT NOT NULL,
        modified_at INTEGER NOT NULL,
        body_id INTEGER,
        blob TEXT,
        PRIMARY KEY (store_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX records_by_blob ON records(blob) WHERE blob IS NOT NULL;
    CREATE TABLE bodies (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
    CREATE TABLE dead_blobs (blob TEXT PRIMARY KEY);
    """,
    # 2: stats.recordCount (an openkvs addition), kept by every record write and delete;
    # existing stores are counted once here (the records' primary key index answers it)
    """
    ALTER TABLE stores ADD COLUMN record_count INTEGER NOT NULL DEFAULT 0;
    UPDATE stores SET record_count =
        (SELECT count(*) FROM records WHERE records.store_id = stores.id);
    """,
]


def migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations this database has not seen, each in its own transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
