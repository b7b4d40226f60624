"""The W2 ladder's servers (bench/ladder_variants.py) do what its report says each step does.

Each variant is a real `openkvs serve` with its small-record write replaced; these tests start
each one and check, over HTTP, what happens to a small PUT and that bigger bodies are still
stored as shipped (the ladder measures small ones only).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.ladder_variants import LOG_NAME, VARIANTS

from tests.http_helpers import create_store, owner_client, put_record, record_url
from tests.server_process import ServerProcess

SMALL = b"s" * 1024
BIG = b"B" * (100 * 1024)  # above the default inline threshold (64 KiB)


class VariantServer(ServerProcess):
    def __init__(self, data_dir: Path, variant: str) -> None:
        super().__init__(data_dir)
        self.variant = variant

    def command(self) -> list[str]:
        command = super().command()
        at = command.index("openkvs")
        return [*command[: at - 1], "-m", "bench.ladder_variants", self.variant, *command[at + 1 :]]


@pytest.fixture
def variant_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VariantServer]:
    server = VariantServer(tmp_path / "data", request.param)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("variant_server", VARIANTS, indirect=True)
def test_a_variant_answers_small_puts_and_stores_big_ones(variant_server: VariantServer) -> None:
    variant = variant_server.variant
    log = variant_server.data_dir / LOG_NAME
    with owner_client(variant_server) as client:
        store_id = create_store(client)["id"]
        for n in range(3):
            put_record(client, store_id, f"small-{n}", SMALL)  # asserts 201
        put_record(client, store_id, "big", BIG)
        assert client.get(record_url(store_id, "big")).content == BIG
        small = client.get(record_url(store_id, "small-0"))
    if variant == "shipped":
        assert small.content == SMALL
    else:  # measuring only: the small record was answered, not kept
        assert small.status_code == 404
    if variant.startswith("append-"):
        assert log.read_bytes() == SMALL * 3  # appended before the PUTs were answered
    else:
        assert not log.exists()
