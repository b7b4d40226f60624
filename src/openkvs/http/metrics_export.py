"""/metrics in the Prometheus text format: the numbers the server keeps, gathered when scraped.

prometheus_client writes the format; the numbers come from the request counters
(http/request_metrics.py), the backend's telemetry (telemetry.py), the answer memo, the schema
workers and the storage totals. The totals are a query over the stores table (never a scan of
records), made at most once every TOTALS_SECONDS however often /metrics is scraped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from importlib.metadata import version

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric

from openkvs.core.schema_worker import SchemaWorkers
from openkvs.core.storage import Backend, StorageTotals

TOTALS_SECONDS = 5.0


class ServerCollector:
    """One prometheus_client collector over every source of numbers the server has."""

    def __init__(self, sources: list[Callable[[], Iterator[Metric]]]) -> None:
        self.sources = sources
        self.totals: StorageTotals | None = None

    def collect(self) -> Iterator[Metric]:
        yield InfoMetricFamily("openkvs_build", "The running openkvs.", {"version": _version()})
        for source in self.sources:
            yield from source()
        if self.totals is not None:
            for name, text, value in (
                ("openkvs_stores", "Key-value stores, all users.", self.totals.stores),
                ("openkvs_records", "Records, all stores.", self.totals.records),
                (
                    "openkvs_record_bytes",
                    "Bytes of record bodies as stored, all stores.",
                    self.totals.record_bytes,
                ),
            ):
                yield GaugeMetricFamily(name, text, value)


class MetricsExport:
    def __init__(self, backend: Backend, sources: list[Callable[[], Iterator[Metric]]]) -> None:
        self.backend = backend
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = ServerCollector([backend.telemetry.collect, *sources])
        self.registry.register(self.collector)
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, ..._memory_bytes
        self._totals_at = -TOTALS_SECONDS

    async def text(self) -> bytes:
        now = time.monotonic()
        if now - self._totals_at >= TOTALS_SECONDS:
            self._totals_at = now
            self.collector.totals = await self.backend.totals()
        return generate_latest(self.registry)


def schema_worker_metrics(workers: SchemaWorkers) -> Iterator[Metric]:
    checks = CounterMetricFamily(
        "openkvs_schema_checks",
        "JSON schema checks (records and store schemas) in the worker processes, by outcome.",
        labels=["outcome"],
    )
    for outcome, count in workers.outcomes.items():
        checks.add_metric([outcome], count)
    yield checks
    state = GaugeMetricFamily(
        "openkvs_schema_checks_now",
        "Schema checks running or waiting for a worker.",
        labels=["state"],
    )
    state.add_metric(["running"], workers.running)
    state.add_metric(["waiting"], workers.waiting)
    yield state


def _version() -> str:
    try:
        return version("openkvs")
    except Exception:
        return "unknown"
