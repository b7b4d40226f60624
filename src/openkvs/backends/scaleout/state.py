"""What the scale-out backend's parts share: the connection pool, the object store, stats."""

from __future__ import annotations

from typing import Any

from openkvs.backends.scaleout.objects import ObjectStore
from openkvs.backends.stats_buffer import StatsBuffer


class ScaleOutState:
    pool: Any  # asyncpg.Pool
    objects: ObjectStore
    stats: StatsBuffer
    inline_threshold: int
    object_grace_ms: int
