"""ScaleOutBackend: stateless nodes over PostgreSQL (metadata, small bodies) and S3 (large ones)."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from openkvs.backends.background import FLUSH_INTERVAL, Loops
from openkvs.backends.scaleout.accounts import ScaleOutAccounts
from openkvs.backends.scaleout.batches import RecordReads, RecordWrites
from openkvs.backends.scaleout.lanes import Lanes
from openkvs.backends.scaleout.migrations import migrate
from openkvs.backends.scaleout.node_cache import NodeCache
from openkvs.backends.scaleout.objects import BlobLocation, ObjectStore
from openkvs.backends.scaleout.record_rows import ScaleOutRecords
from openkvs.backends.scaleout.store_rows import ScaleOutStores, fold_deltas
from openkvs.backends.scaleout.sweeper import sweep
from openkvs.backends.stats_buffer import StatsBuffer
from openkvs.core.storage import Accounts, ChangeWatcher, Records, StorageTotals, Stores
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


class ScaleOutBackend:
    """The connection pool, the lanes, the object store and the node cache, shared by the three
    parts made in `start`; the background work (stats, folds of the deltas, sweeps)."""

    pool: asyncpg.Pool
    lanes: Lanes  # for the one-statement reads and writes of every request
    accounts: Accounts
    stores: Stores
    records: Records

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
        self.objects: ObjectStore | None = None
        if blob_url is not None:
            self.objects = ObjectStore(BlobLocation.parse(blob_url), s3_endpoint)
        self.object_grace_ms = object_grace_s * 1000
        self.pool_size = pool_size
        self.stats = StatsBuffer()
        self.telemetry = Telemetry("scaleout")
        self._loops = Loops()
        self.cache = NodeCache(database_url)

    async def start(self, serve: bool = True) -> None:
        objects = self.objects
        if serve and objects is None:
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
        self.accounts = ScaleOutAccounts(self.pool, self.lanes, self.cache)
        self.stores = ScaleOutStores(self.pool, self.lanes, self.cache, self.stats)
        if objects is not None:  # without a bucket: users, tokens and stores only
            self.records = ScaleOutRecords(
                self.pool,
                self.lanes,
                RecordReads(self.lanes, LANES, MOST_READS),
                RecordWrites(self.lanes, WRITE_BATCHES, MOST_WRITES),
                objects,
                self.inline_threshold,
                self.object_grace_ms,
            )
        self.telemetry.pool = self.pool_use
        async with self.pool.acquire() as conn:
            await migrate(conn)
        if objects is not None and serve:
            await objects.start()
            await self.cache.start()
            self._loops.every(FLUSH_INTERVAL, self._flush_stats, "stats flush")
            self._loops.every(FOLD_INTERVAL, self._fold_deltas, "stats fold")
            self._loops.every(self._sweep_interval, self._sweep, "sweep")

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
                await self._bucket().reachable()
        except Exception as exc:
            return f"the object store did not answer: {type(exc).__name__}"
        return None

    async def totals(self) -> StorageTotals:
        row = await self.pool.fetchrow(
            "SELECT (SELECT count(*) FROM stores) AS stores, "
            "(SELECT coalesce(sum(record_count), 0) FROM stores) "
            "+ (SELECT coalesce(sum(records), 0) FROM store_deltas) AS records, "
            "(SELECT coalesce(sum(storage_bytes), 0) FROM stores) "
            "+ (SELECT coalesce(sum(bytes), 0) FROM store_deltas) AS record_bytes"
        )
        return StorageTotals(int(row["stores"]), int(row["records"]), int(row["record_bytes"]))

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
        running = await self._loops.stop()
        await self._flush_stats()
        if running:
            await self._fold_deltas()
            await self.cache.close()
            await self._bucket().close()
        await self.lanes.close()
        await self.pool.close()

    async def _flush_stats(self) -> None:
        if not self.stats.pending:
            return
        async with self.stats.flushing() as batch:
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

    async def _fold_deltas(self) -> None:
        await fold_deltas(self.pool)

    def _bucket(self) -> ObjectStore:
        """The object store of a serving backend (start refuses to serve without one)."""
        if self.objects is None:
            raise RuntimeError("this scale-out backend was opened without a blob URL")
        return self.objects

    @property
    def _sweep_interval(self) -> float:
        return min(30.0, max(0.5, self.object_grace_ms / 2000))

    async def _sweep(self) -> None:
        removed = await sweep(self.pool, self._bucket(), self.object_grace_ms)
        self.telemetry.swept_objects.inc(removed)
        if removed:
            log.info("sweeper removed %d unreferenced objects", removed)
