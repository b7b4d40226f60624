"""Crawlee for Python's own file-system storage, run in a process of its own (as a crawler
would), for the tests of `openkvs import` and `openkvs export`:

    python -m tests.crawlee_storage write DIR STORE RECORDS.json
        RECORDS.json: [{key, base64, contentType}] (or {key, random: size, seed, contentType}
        for random bytes made here); each set as crawlee's KeyValueStore sets it.
    python -m tests.crawlee_storage read DIR STORE
        prints [{key, base64, contentType}] of every record, as crawlee reads it back.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import sys
from pathlib import Path
from typing import Any


async def main(mode: str, directory: str, name: str, records_file: str | None) -> None:
    from crawlee.configuration import Configuration
    from crawlee.storage_clients import FileSystemStorageClient
    from crawlee.storages import KeyValueStore

    config = Configuration(storage_dir=directory, purge_on_start=False)
    if mode == "write":
        assert records_file is not None
        store = await KeyValueStore.open(
            name=name, storage_client=FileSystemStorageClient(), configuration=config
        )
        for record in json.loads(Path(records_file).read_text()):
            await store.set_value(record["key"], _value(record), record["contentType"])
        return
    client = await FileSystemStorageClient().create_kvs_client(name=name, configuration=config)
    out: list[dict[str, Any]] = []
    async for meta in client.iterate_keys():
        found = await client.get_value(key=meta.key)
        assert found is not None, meta.key
        value = found.value
        if isinstance(value, str):
            raw = value.encode()
        elif isinstance(value, bytes):
            raw = value
        else:  # parsed JSON: compared as a value by the test
            raw = json.dumps(value).encode()
        out.append(
            {
                "key": found.key,
                "base64": base64.b64encode(raw).decode(),
                "contentType": found.content_type,
                "json": not isinstance(value, str | bytes),
            }
        )
    print(json.dumps(out))


def _value(record: dict[str, Any]) -> Any:
    """What a crawler would hand set_value: parsed JSON, text as str, anything else as bytes."""
    if "random" in record:  # large bodies are made here, not carried in the records file
        return random.Random(record["seed"]).randbytes(record["random"])
    raw = base64.b64decode(record["base64"])
    if "application/json" in record["contentType"]:
        return json.loads(raw)
    if record["contentType"].startswith("text/"):
        return raw.decode()
    return raw


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0], args[1], args[2], args[3] if len(args) > 3 else None))
