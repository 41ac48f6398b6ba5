"""Object storage behind one small interface: local disk (``file://``) by default, any
S3-compatible store (``s3://bucket/prefix``) through boto3."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from saas.settings import Settings


class Storage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...


def _check_key(key: str) -> str:
    if not key or key.startswith("/") or ".." in key.split("/") or "\\" in key:
        raise ValueError(f"invalid storage key {key!r}")
    return key


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Atomic: readers see the old or the new object, never a partial one. Each write
        stages its own uniquely named file (concurrent writers of one key cannot collide, and a
        key such as ``x.tmp`` is never clobbered), removed again if the write fails."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Not mkstemp: its 0600 mode would survive the rename; O_EXCL + umask keeps the mode
        # a plain open() would have given.
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()


class S3Storage:
    def __init__(self, bucket: str, prefix: str, client: Any) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client

    def _key(self, key: str) -> str:
        key = _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
        )

    def get(self, key: str) -> bytes:
        body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        return body.read()  # type: ignore[no-any-return]

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True


def from_settings(settings: Settings) -> Storage:
    parsed = urlparse(settings.storage_url)
    if parsed.scheme == "file":
        root = parsed.netloc + parsed.path
        if not root:  # Path("") would silently mean the working directory
            raise ValueError(f"STORAGE_URL file:// needs a directory, got {settings.storage_url!r}")
        return LocalStorage(Path(root))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(
                f"STORAGE_URL must name a bucket (s3://bucket/prefix), got {settings.storage_url!r}"
            )
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            config=Config(
                s3={"addressing_style": settings.s3_addressing_style},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        return S3Storage(parsed.netloc, parsed.path, client)
    raise ValueError(f"STORAGE_URL must be file:// or s3://, got {settings.storage_url!r}")
