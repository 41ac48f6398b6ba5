"""Rotating LEDGER_SIGNING_KEY: checkpoints signed with the retired key keep verifying as long
as its public half is listed in LEDGER_PREVIOUS_PUBLIC_KEYS; without it `cleangate ledger
verify` reports them as not verifying, and a malformed entry stops the start naming it."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from saas import migrate
from saas.app import create_app
from saas.db import get_database
from saas.settings import Settings
from tests.conftest import make_tenant
from tests.ledger.edge_helpers import make_device, passage, post_batch


def _rotated(app: Flask, previous: str) -> Flask:
    settings = app.config["CLEANGATE_SETTINGS"]
    return create_app(
        dataclasses.replace(
            settings,
            ledger_signing_key=base64.b64encode(os.urandom(32)).decode(),
            ledger_previous_public_keys=previous,
        )
    )


@pytest.fixture
def own_app(tmp_path: Path) -> Iterator[Flask]:
    """A database of its own: checkpoints signed with keys the shared test app does not know
    must not reach the other ledger tests' archive sweeps."""
    url = f"sqlite:///{tmp_path / 'rotation.db'}"
    migrate.upgrade(url)
    app = create_app(Settings.from_env({"CLEANGATE_VAR_DIR": str(tmp_path), "DATABASE_URL": url}))
    yield app
    get_database(app).dispose()


def test_old_checkpoints_verify_after_a_rotation_with_the_previous_key_listed(
    own_app: Flask,
) -> None:
    app = own_app
    tenant = make_tenant(app, "rot")
    device = make_device(app, tenant.tenant_id, tenant.site_id)
    client = app.test_client()
    assert post_batch(client, device, [passage("冀B30001", minutes_ago=3)]).status_code == 200
    assert app.test_cli_runner().invoke(args=["ledger", "checkpoint"]).exit_code == 0
    old = app.extensions["cleangate.ledger_key"]
    old_public = base64.b64encode(old.public_bytes).decode()

    forgetful = _rotated(app, "")
    listed = _rotated(app, f" {old_public} ,")
    try:
        site = str(tenant.site_id)
        # the new key signs the next checkpoint
        assert post_batch(client, device, [passage("冀B30002", minutes_ago=1)]).status_code == 200
        signed = listed.test_cli_runner().invoke(args=["ledger", "checkpoint"])
        assert signed.exit_code == 0, signed.output
        new_id = listed.extensions["cleangate.ledger_key"].key_id
        assert new_id in signed.output
        assert new_id != old.key_id

        ok = listed.test_cli_runner().invoke(args=["ledger", "verify", "--site", site])
        assert ok.exit_code == 0, ok.output
        assert "2 checkpoints intact" in ok.output
        exported = listed.test_cli_runner().invoke(args=["ledger", "checkpoints", "--site", site])
        lines = [json.loads(line) for line in exported.output.splitlines()]
        first = lines[0]
        assert (first["key_id"], first["public_key"]) == (old.key_id, old_public)

        bad = forgetful.test_cli_runner().invoke(args=["ledger", "verify", "--site", site])
        assert bad.exit_code == 1
        assert "checkpoint_unknown_key" in bad.output  # not reported as tampering
        assert old.key_id in bad.output
        assert "LEDGER_PREVIOUS_PUBLIC_KEYS" in bad.output
    finally:
        for rotated in (forgetful, listed):
            get_database(rotated).dispose()


def test_a_malformed_previous_key_is_refused_by_name(own_app: Flask) -> None:
    with pytest.raises(ValueError, match=r"LEDGER_PREVIOUS_PUBLIC_KEYS\[1\]"):
        _rotated(own_app, base64.b64encode(os.urandom(32)).decode() + ",bm90LWEta2V5")
