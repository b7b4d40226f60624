"""Record bodies as S3 objects: multipart uploads in bounded parts, ranged reads, presigned GETs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from openkvs.core.errors import record_not_found

READ_CHUNK = 256 * 1024


@dataclass(frozen=True, slots=True)
class BlobLocation:
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> BlobLocation:
        """`s3://bucket/prefix` (the prefix may be empty)."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"--blob-url must look like s3://bucket/prefix, not {url!r}")
        return cls(parts.netloc, parts.path.strip("/"))


def _missing(error: ClientError) -> bool:
    code = str(error.response.get("Error", {}).get("Code", ""))
    return code in ("NoSuchKey", "404", "NotFound", "NoSuchUpload")


class ObjectStore:
    """One S3 client for the node; object names are unique per record version, never reused."""

    def __init__(self, location: BlobLocation, endpoint: str | None) -> None:
        self.location = location
        self.endpoint = endpoint
        self._stack = AsyncExitStack()
        self._client: Any = None

    async def start(self) -> None:
        session = get_session()
        config = AioConfig(
            max_pool_connections=64,
            retries={"max_attempts": 3, "mode": "standard"},
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            # No CRC32 of every body sent or read (botocore's default since 1.36): openkvs keeps
            # its own MD5 of each record, and the S3 store checks what it receives.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._client = await self._stack.enter_async_context(
            session.create_client(
                "s3",
                endpoint_url=self.endpoint,
                region_name=os.environ.get("AWS_REGION")
                or os.environ.get("AWS_DEFAULT_REGION")
                or "us-east-1",
                config=config,
            )
        )

    async def close(self) -> None:
        await self._stack.aclose()

    async def reachable(self) -> None:
        """Raises unless the bucket answers (one HEAD request)."""
        await self._client.head_bucket(Bucket=self.location.bucket)

    def key(self, name: str) -> str:
        prefix = self.location.prefix
        return f"{prefix}/objects/{name}" if prefix else f"objects/{name}"

    @property
    def objects_prefix(self) -> str:
        return self.key("")

    async def put(self, name: str, data: bytes, content_type: str, encoding: str | None) -> None:
        extra = {"ContentEncoding": encoding} if encoding else {}
        await self._client.put_object(
            Bucket=self.location.bucket,
            Key=self.key(name),
            Body=data,
            ContentType=content_type,
            **extra,
        )

    async def start_multipart(self, name: str, content_type: str, encoding: str | None) -> str:
        extra = {"ContentEncoding": encoding} if encoding else {}
        response = await self._client.create_multipart_upload(
            Bucket=self.location.bucket, Key=self.key(name), ContentType=content_type, **extra
        )
        return str(response["UploadId"])

    async def put_part(self, name: str, upload_id: str, number: int, data: bytes) -> str:
        response = await self._client.upload_part(
            Bucket=self.location.bucket,
            Key=self.key(name),
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
        )
        return str(response["ETag"])

    async def complete_multipart(self, name: str, upload_id: str, etags: list[str]) -> None:
        parts = [{"ETag": etag, "PartNumber": i} for i, etag in enumerate(etags, start=1)]
        await self._client.complete_multipart_upload(
            Bucket=self.location.bucket,
            Key=self.key(name),
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )

    async def abort_multipart(self, name: str, upload_id: str) -> None:
        with contextlib.suppress(ClientError):
            await self._client.abort_multipart_upload(
                Bucket=self.location.bucket, Key=self.key(name), UploadId=upload_id
            )

    async def delete(self, name: str) -> None:
        try:
            await self._client.delete_object(Bucket=self.location.bucket, Key=self.key(name))
        except ClientError as exc:
            if not _missing(exc):
                raise

    async def read(self, name: str, start: int, length: int) -> AsyncIterator[bytes]:
        if length <= 0:
            return
        try:
            response = await self._client.get_object(
                Bucket=self.location.bucket,
                Key=self.key(name),
                Range=f"bytes={start}-{start + length - 1}",
            )
        except ClientError as exc:
            if _missing(exc):
                raise record_not_found() from None
            raise
        async with response["Body"] as body:
            async for chunk in body.iter_chunks(READ_CHUNK):
                yield chunk

    async def presigned_get(
        self, name: str, content_type: str, disposition: str | None, expires: int
    ) -> str:
        params = {
            "Bucket": self.location.bucket,
            "Key": self.key(name),
            "ResponseContentType": content_type,
        }
        if disposition:
            params["ResponseContentDisposition"] = disposition
        url: str = await self._client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires
        )
        return url

    async def listing(self) -> dict[str, tuple[int, float]]:
        """Every object under the prefix: name -> (size, last modified epoch s)."""
        found = {}
        paginator = self._client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(
            Bucket=self.location.bucket, Prefix=self.objects_prefix
        ):
            for item in page.get("Contents", []):
                name = item["Key"][len(self.objects_prefix) :]
                found[name] = (int(item["Size"]), item["LastModified"].timestamp())
        return found

    async def stale_uploads(self) -> list[tuple[str, str, float]]:
        """Multipart uploads under the prefix: (object name, upload id, initiated epoch s)."""
        found = []
        paginator = self._client.get_paginator("list_multipart_uploads")
        async for page in paginator.paginate(
            Bucket=self.location.bucket, Prefix=self.objects_prefix
        ):
            for upload in page.get("Uploads", []):
                name = upload["Key"][len(self.objects_prefix) :]
                found.append((name, upload["UploadId"], upload["Initiated"].timestamp()))
        return found
