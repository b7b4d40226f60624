"""A server's /metrics, read with prometheus_client's own parser: samples by name and labels."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.http_helpers import bearer
from tests.server_process import ServerProcess

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(proc: ServerProcess, token: str | None = None) -> Samples:
    headers = bearer(token) if token else {}
    response = httpx.get(proc.url + "/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)
