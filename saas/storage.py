"""Object storage behind one small interface: local disk (``file://``) by default, any
S3-compatible store (``s3://bucket/prefix``) through boto3.

Every S3 object is tagged ``retention=<class>`` (``retention_class``): the bucket's lifecycle
rules, which can filter by prefix or by tag only, keep or expire objects by legal retention,
and our keys are tenant-first, so no prefix separates photos from exports."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode, urlparse

from saas.settings import Settings

RETENTION_TAG = "retention"

# The segment after ``t/<tenant>/s/<site>/`` (saas/ledger/images.py ``image_key``,
# saas/ledger/registries.py and saas/console/rating.py ``document_key``) and its class.
_SITE_AREAS = {
    "img": "passage-image",  # ≥ 24 months, like the ledger records they belong to
    "docs": "registry-document",  # ≥ 5 years
    "rating": "registry-document",  # 整改方案, 应急减排措施 (saas/console/rating.py)
    "video": "video",  # ≥ 12 months; nothing writes video yet
}

RETENTION_CLASSES = (
    "passage-image",
    "registry-document",
    "export",  # dropped after 30 days
    "checkpoint",  # the write-once archive of signed ledger checkpoints
    "video",
    "other",  # an unknown shape: no lifecycle rule may expire it
)


class Storage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...


def retention_class(key: str) -> str:
    """The retention class of an object, from its key alone. Only the exact shapes the code
    writes are classified; anything else is ``other``, so a stray key is kept, never expired
    early under a shorter class."""
    parts = key.split("/")
    if parts[0] == "checkpoints" and len(parts) > 1:
        return "checkpoint"
    if len(parts) < 4 or parts[0] != "t" or not parts[1]:
        return "other"
    if parts[2] == "exports" and len(parts) == 4:  # t/<tenant>/exports/<id>.<format>
        return "export"
    if parts[2] == "s" and parts[3] and len(parts) >= 6:
        return _SITE_AREAS.get(parts[4], "other")
    return "other"


def retention_tagging(key: str) -> str:
    """The ``Tagging`` header value S3 expects: URL-encoded ``key=value`` pairs."""
    return urlencode({RETENTION_TAG: retention_class(key)})


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
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            ContentType=content_type,
            Tagging=retention_tagging(key),
            # An Object Lock bucket (the checkpoint archive) refuses a PUT without a checksum,
            # and the client computes one only "when_required" (for S3-compatible stores).
            ContentMD5=base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode(),
        )

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Stream a local file (boto3's managed upload, multipart when large) with the same
        retention tag; ``saas.ledger.exports.store_file`` prefers this to ``put``."""
        self.client.upload_file(
            str(path),
            self.bucket,
            self._key(key),
            ExtraArgs={"ContentType": content_type, "Tagging": retention_tagging(key)},
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
    """The media store (``STORAGE_URL``): photos, documents, exports."""
    return from_url(settings.storage_url, settings, "STORAGE_URL")


def checkpoint_archive(settings: Settings) -> Storage:
    """The write-once archive of signed ledger checkpoints (``CHECKPOINT_STORAGE_URL``; in
    production an Object Lock bucket, docs/ledger-chain.md)."""
    return from_url(settings.checkpoint_storage_url, settings, "CHECKPOINT_STORAGE_URL")


def from_url(url: str, settings: Settings, variable: str) -> Storage:
    """A store for ``file://dir`` or ``s3://bucket/prefix``; S3 connection settings (endpoint,
    region, addressing) are shared by every store. ``variable`` names the setting in errors."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        root = parsed.netloc + parsed.path
        if not root:  # Path("") would silently mean the working directory
            raise ValueError(f"{variable} file:// needs a directory, got {url!r}")
        return LocalStorage(Path(root))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"{variable} must name a bucket (s3://bucket/prefix), got {url!r}")
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
    raise ValueError(f"{variable} must be file:// or s3://, got {url!r}")
