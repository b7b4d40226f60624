"""Choosing the backend from the settings (behaviour.md#backends)."""

from __future__ import annotations

from pathlib import Path

from openkvs.core.storage import Backend


def open_backend(
    data_dir: Path,
    *,
    database_url: str | None = None,
    blob_url: str | None = None,
    s3_endpoint: str | None = None,
    durability: str = "strict",
    inline_threshold: int = 65536,
    object_grace: int = 3600,
) -> Backend:
    """The embedded store in `data_dir`, or PostgreSQL + S3 when a database URL is given."""
    if database_url:
        from openkvs.backends.scaleout.backend import ScaleOutBackend

        return ScaleOutBackend(
            database_url,
            blob_url or "s3://openkvs",
            s3_endpoint,
            inline_threshold=inline_threshold,
            object_grace_s=object_grace,
        )
    from openkvs.backends.embedded.backend import EmbeddedBackend

    return EmbeddedBackend(data_dir, durability, inline_threshold)
