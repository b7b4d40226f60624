"""ScaleOutBackend: stateless nodes over PostgreSQL (metadata, small bodies) and S3 (large ones)."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from openkvs.backends.background import BackgroundWork
from openkvs.backends.base import ChangeWatcher, StorageTotals
from openkvs.backends.scaleout.accounts import AccountRows
from openkvs.backends.scaleout.batches import RecordReads, RecordWrites
from openkvs.backends.scaleout.lanes import Lanes
from openkvs.backends.scaleout.migrations import migrate
from openkvs.backends.scaleout.node_cache import Kept, NodeCache
from openkvs.backends.scaleout.objects import BlobLocation, ObjectStore
from openkvs.backends.scaleout.record_rows import RecordRows
from openkvs.backends.scaleout.store_rows import StoreRows
from openkvs.backends.scaleout.sweeper import sweep
from openkvs.backends.stats_buffer import StatsBuffer
from openkvs.telemetry import Telemetry

log = logging.getLogger("openkvs.scaleout")
FOLD_INTERVAL = 1.0  # seconds between folds of the writes' stats deltas (store_rows.py)
COMMAND_TIMEOUT = 60.0
# Connections for every request's one statement (lanes.py), besides the pool's: enough to keep
# PostgreSQL's cores busy, few enough for many nodes on one server's max_connections.
LANES = 8
MOST_READS = 256  # record GETs in one statement
# Unconditional PUTs: batches in flight at once, and writes in one (a commit for all of them).
WRITE_BATCHES = 4
MOST_WRITES = 64
READY_TIMEOUT = 2.0  # seconds the database and the bucket get to answer a readiness check


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset: nothing to undo (see `start`)."""


class ScaleOutBackend(BackgroundWork, AccountRows, StoreRows, RecordRows):
    def __init__(
        self,
        database_url: str,
        blob_url: str | None,
        s3_endpoint: str | None,
        *,
        inline_threshold: int,
        object_grace_s: int,
        pool_size: int = 20,
    ) -> None:
        self.database_url = database_url
        self.inline_threshold = inline_threshold
        # None: users and tokens only (`openkvs user`, `openkvs token`); no bucket is assumed.
        self.blob_url = blob_url
        if blob_url is not None:
            self.objects = ObjectStore(BlobLocation.parse(blob_url), s3_endpoint)
        self.object_grace_ms = object_grace_s * 1000
        self.pool_size = pool_size
        self.stats = StatsBuffer()
        self.telemetry = Telemetry("scaleout")
        self._tasks: list[asyncio.Task[None]] = []
        self.cache = NodeCache(database_url)
        self.users_by_token = Kept(self.cache)
        self.users_by_name = Kept(self.cache)
        self.stores_by_id = Kept(self.cache)
        self.stores_by_name = Kept(self.cache)

    async def start(self, serve: bool = True) -> None:
        if serve and self.blob_url is None:
            raise ValueError("a scale-out backend serves records only with a blob URL")
        self.pool = await asyncpg.create_pool(
            self.database_url,
            min_size=1,
            max_size=self.pool_size,
            command_timeout=COMMAND_TIMEOUT,
            init=self._init_connection,
            # No reset when a connection goes back to the pool (asyncpg's default sends one more
            # statement per use): openkvs sets nothing, listens nowhere and holds no session
            # lock on pooled connections, and a failed transaction is rolled back by asyncpg.
            reset=_keep_session,
        )
        self.lanes = Lanes(self.database_url, LANES, self._init_connection, COMMAND_TIMEOUT)
        self.record_reads = RecordReads(self.lanes, LANES, MOST_READS)
        self.record_writes = RecordWrites(self.lanes, WRITE_BATCHES, MOST_WRITES)
        self.telemetry.pool = self.pool_use
        async with self.pool.acquire() as conn:
            await migrate(conn)
        if serve:
            await self.objects.start()
            await self.cache.start()
            self._start_stats_flush()
            self._every(FOLD_INTERVAL, self.fold_deltas, "stats fold")
            self._every(self._sweep_interval, self._sweep, "sweep")

    async def _init_connection(self, conn: asyncpg.Connection) -> None:
        """Every statement's latency goes to the metrics (asyncpg reports it after the fact)."""
        observe = self.telemetry.db_query.observe
        conn.add_query_logger(lambda query: observe(query.elapsed))

    async def ready(self) -> str | None:
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await self.pool.fetchval("SELECT 1")
        except Exception as exc:
            return f"PostgreSQL did not answer: {type(exc).__name__}"
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await self.objects.reachable()
        except Exception as exc:
            return f"the object store did not answer: {type(exc).__name__}"
        return None

    async def totals(self) -> StorageTotals:
        row = await self.pool.fetchrow(
            "SELECT (SELECT count(*) FROM stores), "
            "(SELECT coalesce(sum(record_count), 0) FROM stores) "
            "+ (SELECT coalesce(sum(records), 0) FROM store_deltas), "
            "(SELECT coalesce(sum(storage_bytes), 0) FROM stores) "
            "+ (SELECT coalesce(sum(bytes), 0) FROM store_deltas)"
        )
        return StorageTotals(int(row[0]), int(row[1]), int(row[2]))

    def pool_use(self) -> tuple[int, int, int]:
        """Connections open, of them idle, and the most the node opens (the pool's and the
        lanes')."""
        opened, idle = self.lanes.use()
        return (
            self.pool.get_size() + opened,
            self.pool.get_idle_size() + idle,
            self.pool.get_max_size() + self.lanes.size,
        )

    def watch_changes(self, watcher: ChangeWatcher) -> None:
        """Other nodes write behind this one's back: nothing it keeps could be trusted."""
        return None

    async def close(self) -> None:
        if await self._stop_background():
            await self.fold_deltas()
            await self.cache.close()
            await self.objects.close()
        await self.lanes.close()
        await self.pool.close()

    async def _flush_stats(self) -> None:
        if not self.stats.pending:
            return
        batch = self.stats.take()
        try:
            # Deltas, not totals: every node adds its own counts (behaviour.md#stats).
            await self.pool.execute(
                "UPDATE stores SET read_count = read_count + d.reads, "
                "list_count = list_count + d.lists, accessed_at = greatest(accessed_at, d.at) "
                "FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) "
                "AS d(id, reads, lists, at) WHERE stores.id = d.id",
                list(batch),
                [e.reads for e in batch.values()],
                [e.lists for e in batch.values()],
                [e.accessed_at for e in batch.values()],
            )
        finally:
            self.stats.flushed()

    @property
    def _sweep_interval(self) -> float:
        return min(30.0, max(0.5, self.object_grace_ms / 2000))

    async def _sweep(self) -> None:
        removed = await sweep(self.pool, self.objects, self.object_grace_ms)
        self.telemetry.swept_objects.inc(removed)
        if removed:
            log.info("sweeper removed %d unreferenced objects", removed)
