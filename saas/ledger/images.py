"""Passage photos: content-addressed by SHA-256, JPEG or PNG, at most 5 MB, stored once per
site (the HTTP endpoint and the websocket hub both store through ``store_image``)."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

MAX_IMAGE_BYTES = 5 * 1024 * 1024
IMAGE_TYPES = {b"\xff\xd8\xff": ("image/jpeg", "jpg"), b"\x89PNG\r\n\x1a\n": ("image/png", "png")}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ImageRejected(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def image_key(tenant_id: object, site_id: object, sha256: str, ext: str) -> str:
    return f"t/{tenant_id}/s/{site_id}/img/{sha256[:2]}/{sha256}.{ext}"


def sniff_image(data: bytes) -> tuple[str, str] | None:
    for magic, kind in IMAGE_TYPES.items():
        if data.startswith(magic):
            return kind
    return None


def check_image(sha256: str, data: bytes) -> tuple[str, str]:
    """``(content_type, ext)`` of a valid photo named by its hash, else ``ImageRejected``."""
    if not _SHA256.match(sha256):
        raise ImageRejected("invalid_name", "图片名必须是 SHA-256（64 位小写十六进制）")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageRejected("payload_too_large", "图片超过 5 MB")
    kind = sniff_image(data)
    if kind is None:
        raise ImageRejected("unsupported_media_type", "只接受 JPEG 或 PNG 图片")
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ImageRejected("sha256_mismatch", "图片内容与 SHA-256 不符")
    return kind


def store_image(
    storage: Any, tenant_id: uuid.UUID, site_id: uuid.UUID, sha256: str, data: bytes
) -> str:
    """Validate and store (idempotent); returns the storage key."""
    content_type, ext = check_image(sha256, data)
    key = image_key(tenant_id, site_id, sha256, ext)
    if not storage.exists(key):
        storage.put(key, data, content_type)
    return key
