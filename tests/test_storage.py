"""Object storage: local disk and S3 (against moto's real HTTP server), built via from_settings;
the retention class of every key shape the code writes, sent as the S3 object tag."""

from __future__ import annotations

import os
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from saas.console import rating
from saas.ledger import checkpoints, exports, registries
from saas.ledger.images import image_key
from saas.models.ledger import Checkpoint
from saas.settings import Settings
from saas.storage import (
    RETENTION_CLASSES,
    LocalStorage,
    S3Storage,
    checkpoint_archive,
    from_settings,
    retention_class,
)

REGION = "us-east-1"
BAD_KEYS = ["", "../x", "a/../../x", "/abs", "/etc/passwd", "a\\b", "..\\x", "..", "a/.."]


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(
        {"CLEANGATE_VAR_DIR": str(tmp_path), "SECRET_KEY": "test-secret", **env}, testing=True
    )


TENANT, SITE = uuid.uuid4(), uuid.uuid4()
SHA256 = "ab" * 32

# Every key shape written today, built by the functions that write it.
KEY_SHAPES = [
    (image_key(TENANT, SITE, SHA256, "jpg"), "passage-image"),
    (registries.document_key(TENANT, SITE, b"\xff\xd8scan", "jpg"), "registry-document"),
    (rating.document_key(TENANT, SITE, SHA256, "pdf"), "registry-document"),
    (exports.storage_key(TENANT, uuid.uuid4(), "xlsx"), "export"),
    (exports.storage_key(TENANT, uuid.uuid4(), "csv"), "export"),
    (
        checkpoints.archive_key(Checkpoint(tenant_id=TENANT, site_id=SITE, seq=42)),
        "checkpoint",
    ),
    # Nothing writes video yet; this is the shape the lifecycle rule is written for.
    (f"t/{TENANT}/s/{SITE}/video/{SHA256}.mp4", "video"),
]

# Near misses are "other" (kept by every lifecycle rule), never a shorter class.
OTHER_KEYS = [
    "tenant-a/passages/plate.jpg",
    "report.pdf",
    "checkpoints",
    f"t/{TENANT}/img/{SHA256}.jpg",
    f"t/{TENANT}/exports/sub/x.csv",
    f"t//exports/{SHA256}.csv",
    f"t/{TENANT}/s/{SITE}/img",
    f"t/{TENANT}/s/{SITE}/thumbs/{SHA256}.jpg",
    f"media/t/{TENANT}/exports/{SHA256}.csv",
    f"x/t/{TENANT}/s/{SITE}/img/ab/{SHA256}.jpg",
]


@pytest.mark.parametrize(("key", "expected"), KEY_SHAPES + [(k, "other") for k in OTHER_KEYS])
def test_retention_class_of_each_key_shape(key: str, expected: str) -> None:
    assert retention_class(key) == expected


def test_every_retention_class_is_covered() -> None:
    assert {cls for _, cls in KEY_SHAPES} | {"other"} == set(RETENTION_CLASSES)


# -- local disk -------------------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    storage = from_settings(_settings(tmp_path, STORAGE_URL=f"file://{tmp_path / 'media'}"))
    assert isinstance(storage, LocalStorage)
    assert storage.root == tmp_path / "media"
    return storage


def test_local_put_get_exists(local: LocalStorage) -> None:
    key = "tenant-a/passages/2025/01/plate.jpg"
    assert not local.exists(key)
    local.put(key, b"\xff\xd8jpeg", "image/jpeg")
    assert local.exists(key)
    assert local.get(key) == b"\xff\xd8jpeg"
    assert (local.root / key).read_bytes() == b"\xff\xd8jpeg"

    local.put(key, b"second", "image/jpeg")
    assert local.get(key) == b"second"


def test_local_write_leaves_no_temporary_file(local: LocalStorage) -> None:
    local.put("a/b/c.bin", b"x" * 100_000, "application/octet-stream")
    local.put("a/b/c.bin", b"y", "application/octet-stream")
    files = sorted(p.relative_to(local.root).as_posix() for p in local.root.rglob("*"))
    assert files == ["a", "a/b", "a/b/c.bin"]


def test_local_missing_key(local: LocalStorage) -> None:
    assert not local.exists("nothing/here")
    with pytest.raises(FileNotFoundError):
        local.get("nothing/here")


def test_local_failed_write_keeps_old_content_and_no_leftovers(local: LocalStorage) -> None:
    local.put("doc.txt", b"old", "text/plain")
    with pytest.raises(TypeError):
        local.put("doc.txt", "not bytes", "text/plain")  # type: ignore[arg-type]
    assert local.get("doc.txt") == b"old"
    assert sorted(p.name for p in local.root.iterdir()) == ["doc.txt"]


def test_local_concurrent_writers_of_one_key(local: LocalStorage) -> None:
    """Each writer stages its own temporary file, so every write lands whole."""
    payloads = [bytes([i]) * 200_000 for i in range(8)]
    errors: list[BaseException] = []

    def write(data: bytes) -> None:
        try:
            for _ in range(5):
                local.put("hot/key.bin", data, "application/octet-stream")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert local.get("hot/key.bin") in payloads
    assert [p.name for p in (local.root / "hot").iterdir()] == ["key.bin"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_local_rejects_unsafe_keys(local: LocalStorage, key: str) -> None:
    for call in (
        lambda: local.put(key, b"x", "text/plain"),
        lambda: local.get(key),
        lambda: local.exists(key),
    ):
        with pytest.raises(ValueError, match="invalid storage key"):
            call()
    assert not local.root.exists() or list(local.root.rglob("*")) == []


def test_default_storage_is_local_under_var_dir(tmp_path: Path) -> None:
    storage = from_settings(_settings(tmp_path))
    assert isinstance(storage, LocalStorage)
    assert storage.root == tmp_path / "media"


def test_local_objects_get_the_usual_file_mode(local: LocalStorage) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    local.put("mode.txt", b"x", "text/plain")
    assert stat.S_IMODE((local.root / "mode.txt").stat().st_mode) == 0o666 & ~umask


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file://", "file:// needs a directory"),
        ("s3://", "must name a bucket"),
        ("s3:///prefix-only", "must name a bucket"),
    ],
)
def test_incomplete_storage_url_is_a_clear_error(tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_settings(_settings(tmp_path, STORAGE_URL=url))


@pytest.mark.parametrize("url", ["ftp://host/x", "gs://bucket", "minio://bucket", "/plain/path"])
def test_unknown_scheme_is_a_clear_error(tmp_path: Path, url: str) -> None:
    with pytest.raises(ValueError, match=r"STORAGE_URL must be file:// or s3://.*" + url):
        from_settings(_settings(tmp_path, STORAGE_URL=url))


def test_checkpoint_archive_defaults_to_local_under_var_dir(tmp_path: Path) -> None:
    archive = checkpoint_archive(_settings(tmp_path))
    assert isinstance(archive, LocalStorage)
    assert archive.root == tmp_path / "checkpoints"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file://", "CHECKPOINT_STORAGE_URL file:// needs a directory"),
        ("s3://", "CHECKPOINT_STORAGE_URL must name a bucket"),
        ("gs://bucket", "CHECKPOINT_STORAGE_URL must be file:// or s3://"),
    ],
)
def test_bad_checkpoint_storage_url_names_its_variable(
    tmp_path: Path, url: str, message: str
) -> None:
    settings = _settings(tmp_path, CHECKPOINT_STORAGE_URL=url)
    with pytest.raises(ValueError, match=message):
        checkpoint_archive(settings)
    assert isinstance(from_settings(settings), LocalStorage)  # the media store is unaffected


# -- S3 (moto's real HTTP server) -----------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _host, port = server.get_host_and_port()
    try:
        # "localhost" rather than the IP: virtual-host addressing would then need
        # <bucket>.localhost to resolve, so only path-style requests reach the server.
        yield f"http://localhost:{port}"
    finally:
        server.stop()
        server._server.server_close()  # type: ignore[union-attr]  # stop() leaves it open


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture
def bucket(moto_endpoint: str, aws_env: None) -> str:
    name = f"cleangate-{uuid.uuid4().hex[:12]}"
    _raw_client(moto_endpoint).create_bucket(Bucket=name)
    return name


def _raw_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        config=Config(s3={"addressing_style": "path"}),
    )


def _s3(tmp_path: Path, endpoint: str, storage_url: str) -> tuple[S3Storage, list[str]]:
    storage = from_settings(
        _settings(
            tmp_path,
            STORAGE_URL=storage_url,
            S3_ENDPOINT_URL=endpoint,
            S3_REGION=REGION,
            S3_ADDRESSING_STYLE="path",
        )
    )
    assert isinstance(storage, S3Storage)
    urls: list[str] = []
    storage.client.meta.events.register(
        "before-send.s3", lambda request, **_: urls.append(request.url)
    )
    return storage, urls


def test_s3_put_get_exists_through_from_settings(
    tmp_path: Path, moto_endpoint: str, bucket: str
) -> None:
    storage, urls = _s3(tmp_path, moto_endpoint, f"s3://{bucket}/media/")
    assert storage.bucket == bucket
    assert storage.prefix == "media"

    key = "tenant-a/passages/plate.jpg"
    assert not storage.exists(key)
    storage.put(key, b"\xff\xd8jpeg", "image/jpeg")
    assert storage.exists(key)
    assert storage.get(key) == b"\xff\xd8jpeg"

    raw = _raw_client(moto_endpoint)
    head = raw.head_object(Bucket=bucket, Key=f"media/{key}")
    assert head["ContentType"] == "image/jpeg"
    listed = raw.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == [f"media/{key}"]

    assert urls, "no request reached the S3 endpoint"
    assert all(u.startswith(f"{moto_endpoint}/{bucket}/media/") for u in urls), urls


def test_s3_without_prefix(tmp_path: Path, moto_endpoint: str, bucket: str) -> None:
    storage, _ = _s3(tmp_path, moto_endpoint, f"s3://{bucket}")
    storage.put("report.pdf", b"%PDF-1.7", "application/pdf")
    assert storage.get("report.pdf") == b"%PDF-1.7"
    raw = _raw_client(moto_endpoint)
    assert [o["Key"] for o in raw.list_objects_v2(Bucket=bucket)["Contents"]] == ["report.pdf"]


def test_s3_missing_key(tmp_path: Path, moto_endpoint: str, bucket: str) -> None:
    storage, _ = _s3(tmp_path, moto_endpoint, f"s3://{bucket}/p")
    assert not storage.exists("absent.bin")
    with pytest.raises(ClientError) as excinfo:
        storage.get("absent.bin")
    assert excinfo.value.response["Error"]["Code"] == "NoSuchKey"


@pytest.mark.parametrize("key", BAD_KEYS)
def test_s3_rejects_unsafe_keys(tmp_path: Path, moto_endpoint: str, bucket: str, key: str) -> None:
    storage, urls = _s3(tmp_path, moto_endpoint, f"s3://{bucket}/p")
    for call in (
        lambda: storage.put(key, b"x", "text/plain"),
        lambda: storage.get(key),
        lambda: storage.exists(key),
    ):
        with pytest.raises(ValueError, match="invalid storage key"):
            call()
    assert urls == []


def _tags(raw: Any, bucket: str, key: str) -> list[dict[str, str]]:
    return raw.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("key", "expected"), [*KEY_SHAPES, ("tenant-a/misc/x.bin", "other")])
def test_s3_put_tags_each_object_with_its_retention_class(
    tmp_path: Path, moto_endpoint: str, bucket: str, key: str, expected: str
) -> None:
    storage, _ = _s3(tmp_path, moto_endpoint, f"s3://{bucket}/media")
    storage.put(key, b"payload", "application/octet-stream")
    raw = _raw_client(moto_endpoint)
    # The class comes from our key, not from the bucket prefix in front of it.
    assert _tags(raw, bucket, f"media/{key}") == [{"Key": "retention", "Value": expected}]
    assert storage.get(key) == b"payload"


def test_s3_streamed_export_is_tagged_too(tmp_path: Path, moto_endpoint: str, bucket: str) -> None:
    """Exports reach S3 through ``store_file`` (a managed upload), not ``put``."""
    storage, urls = _s3(tmp_path, moto_endpoint, f"s3://{bucket}")
    key = exports.storage_key(TENANT, uuid.uuid4(), "csv")
    source = tmp_path / "export.csv"
    source.write_bytes(b"plate,verdict\n\xe5\x86\x80B12345,ALLOW\n")
    exports.store_file(storage, key, source, "text/csv")
    raw = _raw_client(moto_endpoint)
    assert _tags(raw, bucket, key) == [{"Key": "retention", "Value": "export"}]
    assert raw.head_object(Bucket=bucket, Key=key)["ContentType"] == "text/csv"
    assert storage.get(key) == source.read_bytes()
    assert urls, "the upload did not go through the storage's client"


def test_s3_put_satisfies_an_object_lock_bucket(
    tmp_path: Path, moto_endpoint: str, aws_env: None
) -> None:
    """A bucket with default COMPLIANCE retention refuses a PUT without Content-MD5 (or a
    checksum); the client sends none of its own ("when_required"), so ``put`` adds it."""
    raw = _raw_client(moto_endpoint)
    name = f"cleangate-lock-{uuid.uuid4().hex[:8]}"
    raw.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    raw.put_object_lock_configuration(
        Bucket=name,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    storage, _ = _s3(tmp_path, moto_endpoint, f"s3://{name}")
    with pytest.raises(ClientError, match="Content-MD5"):
        storage.client.put_object(Bucket=name, Key="bare.json", Body=b"{}")
    storage.put("checkpoints/a.json", b"{}", "application/json")
    head = raw.head_object(Bucket=name, Key="checkpoints/a.json")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert _tags(raw, name, "checkpoints/a.json") == [{"Key": "retention", "Value": "checkpoint"}]
