"""Fixtures of the notification tests: the fake providers (real local servers), channels
pointed at them, contacts and alerts made through the service layer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from saas.db import get_database
from saas.models.alerts import Alert
from saas.models.outbox import OutboxMessage, SiteContact
from saas.models.tenancy import Site
from saas.notify.channels import Channel, build_channels
from saas.notify.contacts import ContactCreate, create_contact
from saas.notify.relay import RelayCounts, RetryPolicy, relay
from saas.policy import alerts
from saas.settings import NotifySettings
from saas.tenancy import system_context, tenant_context
from tests.conftest import TenantFixture
from tests.notify import fakes as f

POLICY = RetryPolicy(max_attempts=3, base_seconds=30, max_seconds=600, lease_seconds=60)


@pytest.fixture(scope="session")
def fake_servers() -> Iterator[f.Fakes]:
    servers = f.start_fakes()
    yield servers
    servers.stop()


@pytest.fixture
def servers(fake_servers: f.Fakes) -> f.Fakes:
    fake_servers.reset()
    return fake_servers


def settings_for(servers: f.Fakes, tmp_path: Path, **overrides: Any) -> NotifySettings:
    """Every channel real and pointed at the fakes (Aliyun for SMS unless overridden)."""
    base = NotifySettings(
        sms_provider="aliyun",
        sms_sign_name="CleanGate",
        sms_template_alert="SMS_470001",
        sms_template_alert_end="SMS_470002",
        aliyun_access_key_id=f.ALIYUN_KEY_ID,
        aliyun_access_key_secret=f.ALIYUN_SECRET,
        aliyun_sms_endpoint=servers.aliyun.url,
        tencent_secret_id=f.TENCENT_ID,
        tencent_secret_key=f.TENCENT_KEY,
        tencent_sms_app_id=f.TENCENT_APP,
        tencent_sms_endpoint=servers.tencent.url,
        wechat_provider="wechat",
        wechat_app_id=f.WECHAT_APPID,
        wechat_app_secret=f.WECHAT_SECRET,
        wechat_api_base=servers.wechat.url,
        wechat_template_alert="tmpl-alert-0001",
        wechat_template_alert_end="tmpl-end-0002",
        wechat_page="pages/alert/index",
        email_provider="smtp",
        smtp_host="127.0.0.1",
        smtp_port=servers.smtp.port,
        smtp_security="none",
        smtp_from="CleanGate <noreply@cleangate.test>",
        simulator_file=tmp_path / "sim.jsonl",
        send_timeout_seconds=5,
    )
    settings = replace(base, **overrides)
    settings.check()
    return settings


def channels_for(app: Flask, settings: NotifySettings) -> dict[str, Channel]:
    # A fresh Redis namespace per call would hide token caching; the app's Redis is shared.
    return build_channels(settings, app.extensions["cleangate.redis"])


def run_relay(
    app: Flask,
    tenant: TenantFixture,
    channels: dict[str, Channel],
    *,
    at: datetime | None = None,
    policy: RetryPolicy = POLICY,
    batch: int = 100,
) -> RelayCounts:
    clock = (lambda: at) if at is not None else (lambda: datetime.now(UTC))
    with tenant_context(tenant.tenant_id):
        return relay(
            get_database(app).sessionmaker, channels, policy=policy, batch=batch, clock=clock
        )


def fresh_region(prefix: str = "13") -> str:
    """A district of a city no other test uses (sites of make_tenant sit in 130200)."""
    return f"{prefix}{uuid.uuid4().int % 80 + 20:02d}{uuid.uuid4().int % 90 + 10:02d}"


def place_site(app: Flask, tenant: TenantFixture, region: str, name: str | None = None) -> None:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        site.region_code = region
        if name:
            site.name = name
        session.commit()


def add_contact(app: Flask, tenant: TenantFixture, **fields: Any) -> uuid.UUID:
    body = ContactCreate.model_validate({"name": "环保负责人", **fields})
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        return create_contact(session, site, body, actor_id=None).id


def issue_for_site(
    app: Flask,
    tenant: TenantFixture,
    *,
    level: str = "orange",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> Alert:
    """A regulator-feed style alert addressed to the tenant's site, committed."""
    with get_database(app).sessionmaker() as session:
        alert = alerts.issue(
            session,
            level=level,
            starts_at=starts_at or datetime.now(UTC) + timedelta(hours=1),
            ends_at=ends_at,
            site_id=tenant.site_id,
            source="import:test",
            external_id=uuid.uuid4().hex,
            actor_label="test",
        )
        session.commit()
        return alert


def outbox_rows(app: Flask, tenant: TenantFixture, **where: Any) -> list[OutboxMessage]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        stmt = select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.channel)
        for name, value in where.items():
            stmt = stmt.where(getattr(OutboxMessage, name) == value)
        return list(session.scalars(stmt))


def contacts_of(app: Flask, tenant: TenantFixture) -> list[SiteContact]:
    with get_database(app).sessionmaker() as session, system_context("test"):
        return list(
            session.scalars(select(SiteContact).where(SiteContact.tenant_id == tenant.tenant_id))
        )
