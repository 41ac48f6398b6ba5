"""`cleangate regulator rewrap`: rotating REGULATOR_MASTER_KEYS. With a new key put first, the
command re-seals every stored credential under it (``--dry-run`` counts and writes nothing);
afterwards the old key can be dropped and every credential still opens."""

from __future__ import annotations

import dataclasses
import json
import uuid

from flask import Flask

from saas.app import create_app
from saas.db import get_database
from saas.models.regulator import RegulatorConfig
from saas.regulator import envelope
from saas.regulator.cli import rewrap_command
from saas.regulator.envelope import generate_master_key, parse_master_keys
from saas.regulator.signing import generate_private_key
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture
from tests.regulator.conftest import stored_hj1321_config


def _box(app: Flask, tenant: TenantFixture, config_id: uuid.UUID) -> bytes:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        config = session.get(RegulatorConfig, config_id)
        assert config is not None
        return bytes(config.secret_box)


def test_rotation_reseals_every_credential_under_the_new_key(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    old = app.config["CLEANGATE_SETTINGS"].regulator_master_keys
    old_id = old.split(":", 1)[0]
    ids = {
        tenant.tenant_id: stored_hj1321_config(
            app, tenant, "http://127.0.0.1:9/", generate_private_key("rsa2"),
            client_id=f"rot-{tenant.tenant_id.hex[:6]}", client_secret="rotate-me-secret",
            ent_code="ROT001", name=f"轮换 {uuid.uuid4().hex[:6]}",
        )
        for tenant in (tenant_a, tenant_b)
    }  # fmt: skip
    new_key = generate_master_key(f"rot{uuid.uuid4().hex[:6]}")
    new_id = new_key.split(":", 1)[0]
    rotated = create_app(
        dataclasses.replace(
            app.config["CLEANGATE_SETTINGS"], regulator_master_keys=f"{new_key},{old}"
        )
    )
    try:
        runner = rotated.test_cli_runner()
        dry = runner.invoke(rewrap_command, ["--dry-run"], catch_exceptions=False)
        assert dry.exit_code == 0, dry.output
        assert json.loads(dry.output)["would_re-seal"][old_id] >= 2
        for tenant, config_id in zip((tenant_a, tenant_b), ids.values(), strict=True):
            assert envelope.key_id_of(_box(app, tenant, config_id)) == old_id  # unchanged

        done = runner.invoke(rewrap_command, [], catch_exceptions=False)
        assert done.exit_code == 0, done.output
        report = json.loads(done.output)
        assert report["current_key"] == new_id
        assert report["re-sealed"][old_id] >= 2
        only_new = parse_master_keys(new_key)
        for tenant, config_id in zip((tenant_a, tenant_b), ids.values(), strict=True):
            box = _box(app, tenant, config_id)
            assert envelope.key_id_of(box) == new_id
            assert (
                json.loads(envelope.open_box(box, only_new))["client_secret"] == "rotate-me-secret"
            )

        again = runner.invoke(rewrap_command, [], catch_exceptions=False)
        assert json.loads(again.output)["re-sealed"] == {}
    finally:
        get_database(rotated).dispose()
