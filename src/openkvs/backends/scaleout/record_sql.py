"""The records table's SQL: its columns, the reads of records, and what runs inside PostgreSQL
(schema version 3): a record write or delete as one statement, and the notices that tell every
node a token, user or store changed.

A write takes the store's row in KEY SHARE mode only (it must not vanish meanwhile; writers do
not block one another), the record's row for update, and adds its change to the store's stats as
a row of `store_deltas` (folded into `stores` in the background), so that writes to one store
commit side by side. A failure raises, and the whole statement is undone."""

from __future__ import annotations

from typing import Any, NamedTuple

from openkvs.core.models import RecordMeta


class RecordRow(NamedTuple):
    """A row of the records table (migrations.py), in its column order: the arguments of a write
    (openkvs_put_record, openkvs_put_records)."""

    store_id: str
    key: str
    size: int
    content_type: str
    content_encoding: str | None
    etag: str
    modified_at: int
    body: bytes | None  # the body when it is inline
    object: str | None  # else the S3 object holding it

    @classmethod
    def of(cls, store_id: str, record: RecordMeta) -> RecordRow:
        return cls(
            store_id,
            record.key,
            record.size,
            record.content_type,
            record.content_encoding,
            record.etag,
            record.modified_at,
            record.inline,
            record.blob,
        )


# What a read wants of a record's row (all but store_id), and the record they make.
RECORD_COLUMNS = "key, size, content_type, content_encoding, etag, modified_at, body, object"


def record_from_row(row: Any) -> RecordMeta:
    """A row with RECORD_COLUMNS (an asyncpg.Record) as the record it holds."""
    return RecordMeta(
        row["key"],
        row["size"],
        row["content_type"],
        row["content_encoding"],
        row["etag"],
        row["modified_at"],
        row["body"],
        row["object"],
    )


ONE_RECORD = f"SELECT {RECORD_COLUMNS} FROM records WHERE store_id = $1 AND key = $2"
# Keys compare in byte order (COLLATE "C"), as the table's primary key does.
MANY_RECORDS = (
    "SELECT r.store_id, r.key, r.size, r.content_type, r.content_encoding, r.etag, "
    "r.modified_at, r.body, r.object FROM unnest($1::text[], $2::text[]) AS q(store_id, key) "
    'JOIN records r ON r.store_id = q.store_id AND r.key = q.key COLLATE "C"'
)

# The condition of a PUT or DELETE (If-Match, If-None-Match: NULL when not sent), as
# core/conditions.py decides it: "*" matches any existing record.
_CONDITION = """
    IF p_if_match IS NOT NULL AND NOT (old_etag IS NOT NULL
            AND ('*' = ANY(p_if_match) OR old_etag = ANY(p_if_match))) THEN
        RAISE EXCEPTION 'openkvs:if-match';
    END IF;
    IF p_if_none_match IS NOT NULL AND old_etag IS NOT NULL
            AND ('*' = ANY(p_if_none_match) OR old_etag = ANY(p_if_none_match)) THEN
        RAISE EXCEPTION 'openkvs:if-none-match';
    END IF;
"""

PUT_RECORD_FUNCTION = (
    """
    CREATE FUNCTION openkvs_put_record(
        p_store text, p_key text, p_size bigint, p_type text, p_encoding text, p_etag text,
        p_at bigint, p_body bytea, p_object text, p_if_match text[], p_if_none_match text[]
    ) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        old_etag text;
        old_size bigint;
        old_object text;
        created boolean;
    BEGIN
        PERFORM 1 FROM stores WHERE id = p_store FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'openkvs:no-store';
        END IF;
        IF p_object IS NOT NULL THEN
            DELETE FROM pending_objects WHERE object = p_object;
            IF NOT FOUND THEN  -- the sweeper took it: the upload stalled too long
                RAISE EXCEPTION 'openkvs:expired';
            END IF;
        END IF;
        LOOP
            SELECT etag, size, object INTO old_etag, old_size, old_object
                FROM records WHERE store_id = p_store AND key = p_key FOR UPDATE;
            created := NOT FOUND;
    """
    + _CONDITION
    + """
            IF NOT created THEN
                UPDATE records SET size = p_size, content_type = p_type,
                    content_encoding = p_encoding, etag = p_etag, modified_at = p_at,
                    body = p_body, object = p_object
                    WHERE store_id = p_store AND key = p_key;
                EXIT;
            END IF;
            INSERT INTO records (store_id, key, size, content_type, content_encoding, etag,
                    modified_at, body, object)
                VALUES (p_store, p_key, p_size, p_type, p_encoding, p_etag, p_at, p_body,
                    p_object)
                ON CONFLICT DO NOTHING;
            EXIT WHEN FOUND;
            -- Another writer created the key since: read it again, locked, and decide anew.
        END LOOP;
        IF old_object IS NOT NULL THEN
            INSERT INTO dead_objects (object, dead_at) VALUES (old_object, p_at)
                ON CONFLICT DO NOTHING;
        END IF;
        INSERT INTO store_deltas (store_id, writes, deletes, bytes, records, modified_at)
            VALUES (p_store, 1, 0, p_size - coalesce(old_size, 0),
                CASE WHEN created THEN 1 ELSE 0 END, p_at);
    END;
    $$;
    """
)

DELETE_RECORD_FUNCTION = (
    """
    CREATE FUNCTION openkvs_delete_record(
        p_store text, p_key text, p_at bigint, p_if_match text[], p_if_none_match text[]
    ) RETURNS boolean LANGUAGE plpgsql AS $$
    DECLARE
        old_etag text;
        old_size bigint;
        old_object text;
    BEGIN
        PERFORM 1 FROM stores WHERE id = p_store FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'openkvs:no-store';
        END IF;
        SELECT etag, size, object INTO old_etag, old_size, old_object
            FROM records WHERE store_id = p_store AND key = p_key FOR UPDATE;
    """
    + _CONDITION
    + """
        IF old_etag IS NULL THEN
            RETURN false;
        END IF;
        DELETE FROM records WHERE store_id = p_store AND key = p_key;
        IF old_object IS NOT NULL THEN
            INSERT INTO dead_objects (object, dead_at) VALUES (old_object, p_at)
                ON CONFLICT DO NOTHING;
        END IF;
        INSERT INTO store_deltas (store_id, writes, deletes, bytes, records, modified_at)
            VALUES (p_store, 0, 1, -old_size, -1, p_at);
        RETURN true;
    END;
    $$;
    """
)

# Unconditional writes, many in one statement (batches.py): the outcome of each, in order: 'ok',
# or 'no-store' / 'expired' for a write that changed nothing (the others are committed). Each
# store is locked once for the batch, not once per write, and gets one delta row per batch: on a
# row many batches lock at once, every further lock is a new MultiXact and a WAL record, which
# had made writes to one store cost PostgreSQL three times the CPU of writes spread over many.
PUT_RECORDS_FUNCTION = """
    CREATE OR REPLACE FUNCTION openkvs_put_records(
        p_store text[], p_key text[], p_size bigint[], p_type text[], p_encoding text[],
        p_etag text[], p_at bigint[], p_body bytea[], p_object text[]
    ) RETURNS text[] LANGUAGE plpgsql AS $$
    DECLARE
        outcomes text[] := '{}';
        live text[];
        old_size bigint;
        old_object text;
        created boolean;
        d_store text[] := '{}';
        d_writes bigint[] := '{}';
        d_bytes bigint[] := '{}';
        d_records bigint[] := '{}';
        d_at bigint[] := '{}';
        j integer;
    BEGIN
        SELECT coalesce(array_agg(id), '{}') INTO live FROM (
            SELECT id FROM stores WHERE id = ANY(p_store) ORDER BY id FOR KEY SHARE
        ) locked;
        FOR i IN 1 .. coalesce(array_length(p_key, 1), 0) LOOP
            IF NOT p_store[i] = ANY(live) THEN
                outcomes := outcomes || 'no-store'::text;
                CONTINUE;
            END IF;
            IF p_object[i] IS NOT NULL THEN
                DELETE FROM pending_objects WHERE object = p_object[i];
                IF NOT FOUND THEN
                    outcomes := outcomes || 'expired'::text;
                    CONTINUE;
                END IF;
            END IF;
            LOOP
                SELECT size, object INTO old_size, old_object FROM records
                    WHERE store_id = p_store[i] AND key = p_key[i] FOR UPDATE;
                created := NOT FOUND;
                IF NOT created THEN
                    UPDATE records SET size = p_size[i], content_type = p_type[i],
                        content_encoding = p_encoding[i], etag = p_etag[i],
                        modified_at = p_at[i], body = p_body[i], object = p_object[i]
                        WHERE store_id = p_store[i] AND key = p_key[i];
                    EXIT;
                END IF;
                INSERT INTO records (store_id, key, size, content_type, content_encoding, etag,
                        modified_at, body, object)
                    VALUES (p_store[i], p_key[i], p_size[i], p_type[i], p_encoding[i],
                        p_etag[i], p_at[i], p_body[i], p_object[i])
                    ON CONFLICT DO NOTHING;
                EXIT WHEN FOUND;
            END LOOP;
            IF old_object IS NOT NULL THEN
                INSERT INTO dead_objects (object, dead_at) VALUES (old_object, p_at[i])
                    ON CONFLICT DO NOTHING;
            END IF;
            j := array_position(d_store, p_store[i]);
            IF j IS NULL THEN
                d_store := d_store || p_store[i];
                d_writes := d_writes || 1::bigint;
                d_bytes := d_bytes || (p_size[i] - coalesce(old_size, 0));
                d_records := d_records || (CASE WHEN created THEN 1 ELSE 0 END)::bigint;
                d_at := d_at || p_at[i];
            ELSE
                d_writes[j] := d_writes[j] + 1;
                d_bytes[j] := d_bytes[j] + p_size[i] - coalesce(old_size, 0);
                d_records[j] := d_records[j] + CASE WHEN created THEN 1 ELSE 0 END;
                d_at[j] := greatest(d_at[j], p_at[i]);
            END IF;
            outcomes := outcomes || 'ok'::text;
        END LOOP;
        INSERT INTO store_deltas (store_id, writes, deletes, bytes, records, modified_at)
            SELECT * FROM unnest(d_store, d_writes, array_fill(0::bigint,
                ARRAY[coalesce(array_length(d_store, 1), 0)]), d_bytes, d_records, d_at);
        RETURN outcomes;
    END;
    $$;
"""
CALL_PUT_RECORD = "SELECT openkvs_put_record($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
CALL_PUT_RECORDS = (
    "SELECT openkvs_put_records($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], "
    "$6::text[], $7::bigint[], $8::bytea[], $9::text[])"
)
CALL_DELETE_RECORD = "SELECT openkvs_delete_record($1, $2, $3, $4, $5)"

# Every change a node may keep in memory (node_cache.py) is announced on one channel, at commit,
# whoever made it (a node, or `openkvs token revoke` on the database directly).
CHANGES_CHANNEL = "openkvs_changes"
ANNOUNCE_CHANGES = f"""
    CREATE FUNCTION openkvs_announce_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('{CHANGES_CHANNEL}', TG_TABLE_NAME);
        RETURN NULL;
    END;
    $$;
    CREATE TRIGGER tokens_changed AFTER UPDATE OR DELETE ON tokens
        FOR EACH STATEMENT EXECUTE FUNCTION openkvs_announce_change();
    CREATE TRIGGER users_changed AFTER UPDATE OR DELETE ON users
        FOR EACH STATEMENT EXECUTE FUNCTION openkvs_announce_change();
    CREATE TRIGGER stores_deleted AFTER DELETE ON stores
        FOR EACH STATEMENT EXECUTE FUNCTION openkvs_announce_change();
    -- Not for the stats: only when what decides access or naming changes.
    CREATE TRIGGER stores_changed AFTER UPDATE ON stores FOR EACH ROW
        WHEN (OLD.name IS DISTINCT FROM NEW.name
            OR OLD.general_access IS DISTINCT FROM NEW.general_access
            OR OLD.user_id IS DISTINCT FROM NEW.user_id
            OR OLD.secret IS DISTINCT FROM NEW.secret
            OR OLD.schema IS DISTINCT FROM NEW.schema
            OR OLD.title IS DISTINCT FROM NEW.title)
        EXECUTE FUNCTION openkvs_announce_change();
"""
