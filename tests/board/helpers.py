"""Shared set-up for the board tests: a site that looks like seed 001's, its plan, its token,
passages through the real ingest endpoint, and alerts."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from flask import Flask

from saas.board import tokens
from saas.db import get_database
from saas.models.alerts import Alert
from saas.models.ledger import TransportVehicle
from saas.models.tenancy import Site
from saas.policy import alerts, plans
from saas.tenancy import system_context, tenant_context
from tests.conftest import TenantFixture
from tests.ledger.edge_helpers import Device, make_device, passage, post_batch

XSS_PLATE = "<script>alert(1)</script>"
XSS_MEASURE = '<img src=x onerror="window.__xss = 1">'
LEGAL_PHONE, RESPONSIBLE_PHONE = "13912345678", "13812344321"


def unique_region() -> str:
    """A district code of its own, so alerts issued by other tests never cover this site
    (alerts are provider data shared by the whole test database)."""
    n = uuid.uuid4().int
    return f"65{n % 90 + 10:02d}{n // 90 % 98 + 1:02d}"


def seed_site(app: Flask, tenant: TenantFixture, *, xss_measure: bool = False) -> str:
    """Make tenant's site a B-rated long-process steel plant (ordinary days let 国四 trucks in,
    orange alerts refuse them) with a legal representative and an approved plan. Returns the
    site's region code."""
    region = unique_region()
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        site.region_code, site.industry, site.rating = region, "steel_long", "B"
        site.legal_representative, site.legal_representative_phone = "张XX", LEGAL_PHONE
        site.contact_name, site.contact_phone = "王XX", RESPONSIBLE_PHONE
        session.flush()
        row = plans.create_draft(session, site, actor_id=None)
        document = dict(row.document)
        if xss_measure:
            production = dict(document["production"])
            production["orange"] = [{"kind": "text", "text": XSS_MEASURE}, *production["orange"]]
            document["production"] = production
        plans.update_draft(
            session,
            row,
            {"document": document, "city": "XX市", "district": "XX区", "remarks": "省重点出口企业",
             "responsible_name": "王XX", "responsible_phone": RESPONSIBLE_PHONE},
            actor_id=None,
        )  # fmt: skip
        plans.approve(session, row, actor_id=None)
        session.commit()
    return region


def board_token(app: Flask, tenant: TenantFixture) -> str:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        token = tokens.ensure_token(session, site)
        session.commit()
        return token


def cn4_passage(plate: str, *, verdict: str = "DENY", minutes_ago: int = 0) -> dict[str, Any]:
    """A heavy 国四 diesel truck as the edge reports it (the decision's four LED lines)."""
    phrase = "不符合国V及以上标准" if verdict == "DENY" else "符合标准"
    shown = "禁止进入" if verdict == "DENY" else "准许进入"
    return passage(
        plate,
        minutes_ago=minutes_ago,
        verdict=verdict,
        vehicle={"registered": True, "vehicle_type": "H11", "fuel_type": "diesel",
                 "emission_stage": "CN4"},
        decision={"verdict": verdict, "reasons": [], "policy_version": "p-1",
                  "alert_level": "orange", "display": [plate[:10], "国四", phrase, shown]},
    )  # fmt: skip


def push(app: Flask, device: Device, *items: dict[str, Any]) -> None:
    response = post_batch(app.test_client(), device, list(items))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert all(a["status"] == "stored" for a in response.get_json()["acks"])


def device_for(app: Flask, tenant: TenantFixture) -> Device:
    return make_device(app, tenant.tenant_id, tenant.site_id)


def issue_alert(app: Flask, region: str, level: str, starts_at: datetime) -> uuid.UUID:
    """A regional alert for ``region``'s city, committed and announced (the hubs hear it)."""
    with get_database(app).sessionmaker() as session:
        alert = alerts.issue(
            session, level=level, region_code=region[:4] + "00", starts_at=starts_at,
            actor_label="ops@provider",
        )  # fmt: skip
        session.commit()
        alerts.notify(session, app.extensions["cleangate.redis"], alert)
        return alert.id


def end_alert(app: Flask, alert_id: uuid.UUID) -> None:
    with get_database(app).sessionmaker() as session, system_context("test: end alert"):
        alert = session.get(Alert, alert_id)
        assert alert is not None
        alerts.end(session, alert)
        session.commit()
        alerts.notify(session, app.extensions["cleangate.redis"], alert)


def register_truck(app: Flask, tenant: TenantFixture, plate: str, stage: str) -> None:
    """A heavy diesel truck (H11 重型普通货车) of ``stage`` in the site's registry."""
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        session.add(
            TransportVehicle(
                site_id=tenant.site_id,
                plate=plate,
                plate_color="yellow",
                vehicle_type="H11",
                fuel_type="diesel",
                emission_stage=stage,
                registration_date=date(2014, 5, 1) if stage == "cn4" else date(2022, 5, 1),
            )
        )
        session.commit()
