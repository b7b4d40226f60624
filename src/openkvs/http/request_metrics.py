"""Requests counted for /metrics: by route template and method, never by store id or key.

`observe` runs once per request, on the event loop, so it is a dict lookup and a few integer
additions; the Prometheus families are built from these numbers only when /metrics is scraped.
Methods outside the API's own are counted as "other", so a client cannot grow the label set.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.metrics_core import Metric

# Upper bounds of the latency buckets, in seconds (a last bucket catches everything above).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"})
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


class RouteNumbers:
    """One route and method: answers by status class, latency buckets, bytes each way."""

    __slots__ = ("buckets", "bytes_in", "bytes_out", "seconds", "statuses")

    def __init__(self) -> None:
        self.statuses = [0] * 6  # index: status // 100
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.seconds = 0.0
        self.bytes_in = 0
        self.bytes_out = 0


class RequestMetrics:
    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], RouteNumbers] = {}
        self.in_flight = 0  # requests begun and not yet answered
        self.uploads_in_flight = 0  # record writes whose body is still arriving or being stored

    def numbers(self, route: str, method: str) -> RouteNumbers:
        """The numbers of one route and method, for a caller that counts into them directly."""
        return self._routes.setdefault((route, method), RouteNumbers())

    def observe(
        self, route: str, method: str, status: int, seconds: float, bytes_in: int, bytes_out: int
    ) -> None:
        numbers = self._routes.get((route, method))
        if numbers is None:
            if method not in METHODS:
                method = "other"
            numbers = self._routes.setdefault((route, method), RouteNumbers())
        numbers.statuses[min(status // 100, 5)] += 1
        numbers.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        numbers.seconds += seconds
        numbers.bytes_in += bytes_in
        numbers.bytes_out += bytes_out

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "openkvs_http_requests",
            "Requests answered, by route template, method and status class.",
            labels=["route", "method", "status"],
        )
        latency = HistogramMetricFamily(
            "openkvs_http_request_duration_seconds",
            "Time from a request's arrival to its answer's end, by route template and method.",
            labels=["route", "method"],
        )
        received = CounterMetricFamily(
            "openkvs_http_request_body_bytes",
            "Request body bytes received, by route template and method.",
            labels=["route", "method"],
        )
        sent = CounterMetricFamily(
            "openkvs_http_response_body_bytes",
            "Response body bytes sent, by route template and method.",
            labels=["route", "method"],
        )
        for (route, method), numbers in sorted(self._routes.items()):
            for index, count in enumerate(numbers.statuses):
                if count:
                    requests.add_metric([route, method, STATUS_CLASSES[max(index, 1) - 1]], count)
            cumulative = 0
            buckets: list[tuple[str, float]] = []
            for bound, count in zip(
                [*map(str, LATENCY_BUCKETS), "+Inf"], numbers.buckets, strict=True
            ):
                cumulative += count
                buckets.append((bound, cumulative))
            latency.add_metric([route, method], buckets, numbers.seconds)
            received.add_metric([route, method], numbers.bytes_in)
            sent.add_metric([route, method], numbers.bytes_out)
        yield from (requests, latency, received, sent)
        yield GaugeMetricFamily(
            "openkvs_http_requests_in_flight",
            "Requests begun and not yet answered.",
            self.in_flight,
        )
        yield GaugeMetricFamily(
            "openkvs_uploads_in_flight",
            "Record writes (PUT, POST) begun and not yet answered.",
            self.uploads_in_flight,
        )
