"""`cleangate ledger checkpoint` writes each new checkpoint once to the write-once archive
(CHECKPOINT_STORAGE_URL), as JSON an auditor can verify without our database; a failing
archive leaves the checkpoint signed and a later run writes it."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Flask
from moto.server import ThreadedMotoServer
from sqlalchemy import select

from saas.app import create_app
from saas.db import get_database
from saas.ledger.chain import iso
from saas.models.ledger import Checkpoint
from saas.storage import LocalStorage, S3Storage
from saas.tenancy import system_context
from tests.conftest import Backend, TenantFixture, make_tenant
from tests.ledger.edge_helpers import make_device, passage, post_batch

REGION = "us-east-1"

AppWith = Callable[..., Flask]


@pytest.fixture
def app_with(backend: Backend) -> Iterator[AppWith]:
    """The test database, with the archive (and S3 settings) changed."""
    made: list[Flask] = []

    def build(**changes: object) -> Flask:
        app = create_app(replace(backend.app.config["CLEANGATE_SETTINGS"], **changes))
        made.append(app)
        return app

    yield build
    for app in made:
        get_database(app).dispose()


def _site_with_passages(app: Flask, label: str, count: int = 3) -> TenantFixture:
    tenant = make_tenant(app, label)
    device = make_device(app, tenant.tenant_id, tenant.site_id)
    response = post_batch(
        app.test_client(),
        device,
        [passage(f"冀B3000{i}", minutes_ago=count - i) for i in range(count)],
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return tenant


def _run(app: Flask) -> list[str]:
    result = app.test_cli_runner().invoke(args=["ledger", "checkpoint"])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def _rows(app: Flask, site_id: uuid.UUID) -> list[Checkpoint]:
    with get_database(app).sessionmaker() as session, system_context("test checkpoints"):
        rows = list(
            session.scalars(
                select(Checkpoint).where(Checkpoint.site_id == site_id).order_by(Checkpoint.seq)
            )
        )
        session.expunge_all()
    return rows


def _path(tenant: TenantFixture, seq: int) -> str:
    """The documented layout (docs/ledger-chain.md), spelled out: auditors rely on it."""
    return f"checkpoints/t/{tenant.tenant_id}/s/{tenant.site_id}/{seq:012d}.json"


def _check_document(data: bytes, row: Checkpoint, app: Flask) -> None:
    """What an auditor does, with nothing but the file and the cryptography package."""
    doc = json.loads(data)
    public = base64.b64decode(doc["public_key"])
    Ed25519PublicKey.from_public_bytes(public).verify(
        base64.b64decode(doc["signature"]), doc["note"].encode()
    )  # raises InvalidSignature otherwise
    origin, seq, head, signed_at = doc["note"].splitlines()
    assert origin == f"cleangate.ledger/{doc['site_id']}"
    assert (int(seq), head, signed_at) == (doc["seq"], doc["head"], doc["signed_at"])
    assert doc == {
        "site_id": str(row.site_id),
        "seq": row.seq,
        "head": base64.b64encode(row.head).decode(),
        "signed_at": iso(row.signed_at),
        "key_id": row.key_id,
        "note": row.note,
        "signature": base64.b64encode(row.signature).decode(),
        "public_key": base64.b64encode(
            app.extensions["cleangate.ledger_key"].public_bytes
        ).decode(),
    }


def _files(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()
    }


def test_new_checkpoints_are_archived_once_and_verify(app_with: AppWith, tmp_path: Path) -> None:
    root = tmp_path / "archive"
    app = app_with(checkpoint_storage_url=f"file://{root}")
    assert isinstance(app.extensions["cleangate.checkpoint_archive"], LocalStorage)
    a = _site_with_passages(app, "arch-a")
    b = _site_with_passages(app, "arch-b", 2)  # another tenant, the same site name

    signed, archived = _run(app)
    assert "checkpoints signed" in signed
    assert "checkpoints archived" in archived
    for tenant, seq in ((a, 3), (b, 2)):
        [row] = _rows(app, tenant.site_id)
        assert row.seq == seq
        _check_document((root / _path(tenant, seq)).read_bytes(), row, app)

    before = _files(root)
    assert _run(app) == [
        f"0 checkpoints signed with key {app.extensions['cleangate.ledger_key'].key_id}",
        "0 checkpoints archived",
    ]
    assert _files(root) == before  # nothing written again, nothing touched

    device = make_device(app, a.tenant_id, a.site_id)
    assert post_batch(app.test_client(), device, [passage("冀B39999")]).status_code == 200
    _signed, archived = _run(app)
    assert archived == "1 checkpoints archived"
    after = _files(root)
    assert set(after) - set(before) == {_path(a, 4)}
    assert {k: after[k] for k in before} == before
    _check_document((root / _path(a, 4)).read_bytes(), _rows(app, a.site_id)[-1], app)


def test_unreachable_archive_keeps_the_checkpoint_and_the_next_run_writes_it(
    app_with: AppWith, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "mount"
    blocker.write_text("not a directory")  # the archive's root cannot be created
    app = app_with(checkpoint_storage_url=f"file://{blocker}/archive")
    tenant = _site_with_passages(app, "arch-down")

    with caplog.at_level(logging.ERROR, logger="saas.ledger.checkpoints"):
        signed, archived = _run(app)
    assert "checkpoints signed" in signed
    assert "archiving stopped" in archived
    assert any("checkpoint archive" in r.getMessage() for r in caplog.records)
    [row] = _rows(app, tenant.site_id)  # committed although the archive failed
    assert row.seq == 3

    blocker.unlink()  # the store is back
    signed, archived = _run(app)
    assert signed.startswith("0 checkpoints signed")
    assert "archiving stopped" not in archived
    _check_document((blocker / "archive" / _path(tenant, 3)).read_bytes(), row, app)


# -- S3: moto's real HTTP server, an Object Lock bucket as in production ----------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _host, port = server.get_host_and_port()
    try:
        yield f"http://localhost:{port}"  # path-style requests only (see tests/test_storage.py)
    finally:
        server.stop()
        server._server.server_close()  # type: ignore[union-attr]


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    return boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name=REGION,
        config=Config(s3={"addressing_style": "path"}),
    )


def _locked_bucket(s3: Any, name: str | None = None) -> str:
    """A bucket as the production archive's: Object Lock, default COMPLIANCE retention."""
    name = name or f"cleangate-ckpt-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=name,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    return name


def _s3_app(app_with: AppWith, endpoint: str, bucket: str) -> Flask:
    app = app_with(
        checkpoint_storage_url=f"s3://{bucket}/ledger",
        s3_endpoint_url=endpoint,
        s3_region=REGION,
        s3_addressing_style="path",
    )
    assert isinstance(app.extensions["cleangate.checkpoint_archive"], S3Storage)
    return app


def test_s3_archive_in_an_object_lock_bucket(
    app_with: AppWith, moto_endpoint: str, s3: Any
) -> None:
    bucket = _locked_bucket(s3)
    app = _s3_app(app_with, moto_endpoint, bucket)
    tenant = _site_with_passages(app, "arch-s3")

    _signed, archived = _run(app)
    assert "archiving stopped" not in archived
    [row] = _rows(app, tenant.site_id)
    key = f"ledger/{_path(tenant, 3)}"
    _check_document(s3.get_object(Bucket=bucket, Key=key)["Body"].read(), row, app)
    assert s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"] == [
        {"Key": "retention", "Value": "checkpoint"}
    ]
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ContentType"] == "application/json"

    def versions() -> list[str]:
        listed = s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
        return [v["VersionId"] for v in listed]

    before = versions()
    _run(app)
    assert versions() == before  # not written twice: Object Lock would keep a second version


def test_s3_archive_missing_bucket_then_created(
    app_with: AppWith, moto_endpoint: str, s3: Any
) -> None:
    bucket = f"cleangate-later-{uuid.uuid4().hex[:8]}"  # not created yet
    app = _s3_app(app_with, moto_endpoint, bucket)
    tenant = _site_with_passages(app, "arch-s3-late", 2)

    _signed, archived = _run(app)
    assert "archiving stopped" in archived
    [row] = _rows(app, tenant.site_id)

    _locked_bucket(s3, bucket)  # the store is there now
    _signed, archived = _run(app)
    assert "archiving stopped" not in archived
    data = s3.get_object(Bucket=bucket, Key=f"ledger/{_path(tenant, 2)}")["Body"].read()
    _check_document(data, row, app)


class CountingStore(LocalStorage):
    """A local archive that counts its existence checks (an S3 HEAD each)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.checks = 0

    def exists(self, key: str) -> bool:
        self.checks += 1
        return super().exists(key)


def test_a_complete_run_bounds_the_next_ones_look_back(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    """With the previous complete run's watermark, a run looks only at what was signed since
    (less the overlap) — not at every checkpoint of the week, which at thousands of sites would
    outlast the job's time limit."""
    from datetime import timedelta

    from sqlalchemy import update

    from saas.db import utcnow
    from saas.ledger import checkpoints

    app = sqlite_backend.app
    tenant = _site_with_passages(app, "watermark", 2)
    _run(app)
    keys = app.extensions["cleangate.ledger_keys"]
    now = utcnow()
    with get_database(app).sessionmaker() as session, system_context("test: age a checkpoint"):
        session.execute(  # SQLite: the app may; on PostgreSQL the table is append-only
            update(Checkpoint)
            .where(Checkpoint.site_id == tenant.site_id)
            .values(signed_at=now - timedelta(days=2))
        )
        session.commit()
        store = CountingStore(tmp_path / "archive")
        first = checkpoints.archive(session, store, keys, [], now)
        assert first.error is None
        assert first.through is not None
        everything = store.checks
        assert everything >= 1
        assert any(str(tenant.site_id) in key for key in first.written)

        store.checks = 0
        again = checkpoints.archive(session, store, keys, [], now, first.through)
        assert again.written == []
        assert store.checks < everything  # the aged checkpoint is not looked at again
        with_none = checkpoints.archive(session, store, keys, [], now, None)
        assert with_none.written == []  # and nothing was missed: the full look-back agrees
