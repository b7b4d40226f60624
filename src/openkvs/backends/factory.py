"""Choosing the backend from the settings (behaviour.md#backends)."""

from __future__ import annotations

from openkvs.config import Settings
from openkvs.core.storage import Backend


def open_backend(settings: Settings) -> Backend:
    """The embedded store in --data-dir, or PostgreSQL + S3 with --database-url and --blob-url.

    Without --blob-url a scale-out backend holds no bucket: it serves users and tokens to
    `openkvs user` and `openkvs token` (`start(serve=False)`), and refuses to serve records.
    """
    if settings.database_url:
        from openkvs.backends.scaleout.backend import ScaleOutBackend

        return ScaleOutBackend(
            settings.database_url,
            settings.blob_url,
            settings.s3_endpoint,
            inline_threshold=settings.inline_threshold,
            object_grace_s=settings.object_grace,
        )
    from openkvs.backends.embedded.backend import EmbeddedBackend

    return EmbeddedBackend(settings.data_dir, settings.durability, settings.inline_threshold)
