"""`openkvs check --database-url ... --blob-url ...`: does every record's object exist, whole,
and which objects does nothing use? Read-only, safe beside running nodes.

The bucket is listed before the records are read (in one snapshot), and an object is only
created before the commit that names it, so an object the snapshot does not name is unused,
unless an upload is still on its way (a `pending_objects` row) or it is a dead version awaiting
the sweeper (`dead_objects`). Unused objects younger than --object-grace are normal (an upload
between its object and its commit); older ones are listed, and the sweeper removes them.
"""

from __future__ import annotations

import time

import asyncpg

from openkvs.backends.scaleout.objects import BlobLocation, ObjectStore
from openkvs.maintenance.findings import Findings


async def check_deployment(
    database_url: str, blob_url: str, s3_endpoint: str | None, grace_s: int
) -> Findings:
    findings = Findings()
    objects = ObjectStore(BlobLocation.parse(blob_url), s3_endpoint)
    await objects.start()
    try:
        listed = await objects.listing()
    finally:
        await objects.close()
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            rows = await conn.fetch(
                "SELECT store_id, key, size, object FROM records WHERE object IS NOT NULL"
            )
            findings.records = int(await conn.fetchval("SELECT count(*) FROM records"))
            waiting = {r["object"] for r in await conn.fetch("SELECT object FROM pending_objects")}
            waiting |= {r["object"] for r in await conn.fetch("SELECT object FROM dead_objects")}
    finally:
        await conn.close()
    referenced = set()
    for row in rows:
        name, size = row["object"], row["size"]
        findings.bodies += 1
        referenced.add(name)
        where = f"store {row['store_id']} record {row['key']!r}"
        if name not in listed:
            findings.damage.append(f"{where}: object {name} is missing")
        elif listed[name][0] != size:
            findings.damage.append(f"{where}: object {name} is {listed[name][0]} bytes, not {size}")
    cutoff = time.time() - grace_s
    young = 0
    for name in sorted(listed.keys() - referenced - waiting):
        if listed[name][1] >= cutoff:
            young += 1
        else:
            findings.unreferenced.append(f"object {name}: used by no record")
    if young:
        findings.notes.append(
            f"{young} unused objects younger than the grace ({grace_s} s) were not counted: "
            "uploads on their way, or versions the sweeper removes later"
        )
    return findings
