"""What the scale-out backend's parts share: the connection pool, the object store, stats."""

from __future__ import annotations

from typing import Any

from openkvs.backends.scaleout.batches import RecordReads, RecordWrites
from openkvs.backends.scaleout.lanes import Lanes
from openkvs.backends.scaleout.node_cache import Kept, NodeCache
from openkvs.backends.scaleout.objects import ObjectStore
from openkvs.backends.stats_buffer import StatsBuffer
from openkvs.core.models import Store, User


class ScaleOutState:
    pool: Any  # asyncpg.Pool
    lanes: Lanes  # for the one-statement reads and writes of every request
    record_reads: RecordReads  # record GETs, read together when they come together
    record_writes: RecordWrites  # unconditional record PUTs, likewise
    objects: ObjectStore
    stats: StatsBuffer
    inline_threshold: int
    object_grace_ms: int
    cache: NodeCache
    users_by_token: Kept[str, User]  # token hash -> its user (tokens not revoked)
    users_by_name: Kept[str, User]
    stores_by_id: Kept[str, Store]  # without current stats (counters=False)
    stores_by_name: Kept[tuple[str, str], Store]  # (user id, name) -> store, likewise
