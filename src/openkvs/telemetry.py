"""What the storage side counts for /metrics: writer batches, caches, queries, sweeps.

Events that happen once per commit, query or sweep go to prometheus_client's own metric objects
(their lock costs well under a microsecond, far below the work they count). Cache lookups happen
on every request, so they are plain integers, read only when /metrics is scraped. Nothing here is
registered globally: each server (and each test's server) owns its numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# The `_created` timestamp of each counter doubles what a scrape holds for little use.
disable_created_metrics()  # type: ignore[no-untyped-call]

CACHES = ("answer", "token", "store", "record", "body")
SCALEOUT_CACHES = ("body",)  # the caches a scale-out node has


class Telemetry:
    """`backend` ("embedded" or "scaleout") picks the metrics that apply to it."""

    def __init__(self, backend: str = "embedded") -> None:
        self.backend = backend
        self.writer_batch = Histogram(
            "openkvs_writer_batch_size",
            "Writes committed together in one transaction (embedded store).",
            buckets=BATCH_BUCKETS,
            registry=None,
        )
        self.writer_commit = Histogram(
            "openkvs_writer_commit_seconds",
            "Time to run and commit one batch, flush included (embedded store).",
            buckets=SECONDS_BUCKETS,
            registry=None,
        )
        self.writer_failures = Counter(
            "openkvs_writer_failed_batches",
            "Batches whose transaction failed as a whole (disk full, I/O error).",
            registry=None,
        )
        self.db_query = Histogram(
            "openkvs_db_query_seconds",
            "PostgreSQL statement latency as the server sees it (scale-out).",
            buckets=SECONDS_BUCKETS,
            registry=None,
        )
        self.swept_objects = Counter(
            "openkvs_sweeper_objects_removed",
            "Objects no record points at, removed from the bucket after the grace (scale-out).",
            registry=None,
        )
        self.swept_stores = Counter(
            "openkvs_retention_stores_removed",
            "Unnamed stores removed by --unnamed-retention.",
            registry=None,
        )
        # Per cache: [hits, misses], counted on the request path.
        self.cache: dict[str, list[int]] = {name: [0, 0] for name in CACHES}
        # Scale-out: the connection pool's (open, idle, most) connections, asked when scraped.
        self.pool: Callable[[], tuple[int, int, int]] | None = None
        # Bytes of record bodies kept in memory (core/kept_bodies.py), asked when scraped.
        self.kept_bytes: Callable[[], int] | None = None

    def hit(self, cache: str) -> None:
        self.cache[cache][0] += 1

    def miss(self, cache: str) -> None:
        self.cache[cache][1] += 1

    def collect(self) -> Iterator[Metric]:
        own: tuple[Counter | Histogram, ...] = (
            (self.writer_batch, self.writer_commit, self.writer_failures)
            if self.backend == "embedded"
            else (self.db_query, self.swept_objects)
        )
        for metric in (*own, self.swept_stores):
            yield from metric.collect()
        yield self._lookups(CACHES if self.backend == "embedded" else SCALEOUT_CACHES)
        if self.kept_bytes is not None:
            yield GaugeMetricFamily(
                "openkvs_body_cache_bytes",
                "Bytes of record bodies from files or the object store kept in memory.",
                self.kept_bytes(),
            )
        if self.pool is not None:
            opened, idle, most = self.pool()
            connections = GaugeMetricFamily(
                "openkvs_db_pool_connections",
                "PostgreSQL connections the node holds, by state (scale-out).",
                labels=["state"],
            )
            connections.add_metric(["busy"], opened - idle)
            connections.add_metric(["idle"], idle)
            yield connections
            yield GaugeMetricFamily(
                "openkvs_db_pool_max_connections",
                "The most PostgreSQL connections the node opens (scale-out).",
                most,
            )

    def _lookups(self, caches: tuple[str, ...]) -> Metric:
        lookups = CounterMetricFamily(
            "openkvs_cache_lookups",
            "Lookups in the server's in-memory caches, by cache and result.",
            labels=["cache", "result"],
        )
        for name in caches:
            hits, misses = self.cache[name]
            lookups.add_metric([name, "hit"], hits)
            lookups.add_metric([name, "miss"], misses)
        return lookups
