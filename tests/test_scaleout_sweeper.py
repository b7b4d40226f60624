"""The scale-out sweeper (behaviour.md#durability) against the real PostgreSQL and SeaweedFS:
whatever point a sweep is cut off at, an abandoned upload stays where a later sweep finds it."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from openkvs.backends.scaleout.migrations import migrate
from openkvs.backends.scaleout.objects import BlobLocation, ObjectStore
from openkvs.backends.scaleout.sweeper import sweep
from tests import services

pytestmark = pytest.mark.scaleout_only("the sweeper is the scale-out backend's")


def test_a_sweep_cut_off_after_taking_an_upload_leaves_it_for_the_next(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    postgres, s3 = services.postgres(), services.seaweedfs()
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    database = postgres.create_database()
    proxy = services.TcpProxy(s3.ports["s3.port"])
    location = BlobLocation(services.S3_BUCKET, f"sweeper-{uuid.uuid4().hex[:12]}")
    abandoned = uuid.uuid4().hex

    async def scenario() -> tuple[list[tuple[str, ...]], dict[str, int]]:
        pool = await asyncpg.create_pool(postgres.url(database), min_size=1, max_size=2)
        objects = ObjectStore(location, proxy.url)
        await objects.start()
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
            # A multipart upload that was completed, then its node died before the commit.
            await objects.put(abandoned, b"x" * 1000, "application/octet-stream", None)
            await pool.execute(
                "INSERT INTO pending_objects (object, touched_at, upload_id) "
                "VALUES ($1, 0, 'completed-upload')",
                abandoned,
            )
            proxy.cut()  # the object store goes away while the sweep aborts the upload
            with pytest.raises(Exception):  # noqa: B017 - whatever the client raises
                await sweep(pool, objects, grace_ms=1)
            left = [tuple(r) for r in await pool.fetch("SELECT object FROM dead_objects")]
            proxy.restore()
            await asyncio.sleep(0.01)  # past the (1 ms) grace of its death
            assert await sweep(pool, objects, grace_ms=1) == 1
            return left, s3.list_keys(objects.objects_prefix)
        finally:
            await objects.close()
            await pool.close()

    try:
        dead, in_bucket = services.run_async(scenario)
    finally:
        proxy.close()
    assert dead == [(abandoned,)], "the taken upload was not handed over to the dead objects"
    assert in_bucket == {}
