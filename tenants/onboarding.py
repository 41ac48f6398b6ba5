"""Onboarding a new customer in one transaction: the tenant with its first site and
administrator (``tenants.provisioning.create_tenant``), optionally a subscription to a plan and
a regulator platform configuration (``saas.regulator.configs.create_config``, connection test
skipped: the tenant registers our key with the platform first), and a pending edge bridge with
its one-time pairing code (the rules of ``saas.api.devices``).

``create_tenant`` and ``create_config`` run with ``commit=False`` (they flush), so the whole
onboarding commits once at the end and any failure (a taken slug, a bad key) leaves nothing
behind.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from flask import Flask
from pydantic import SecretStr
from sqlalchemy.orm import Session

from saas.api.devices import PAIRING_TTL, code_digest, new_pairing_code
from saas.auth import audit
from saas.db import utcnow
from saas.models.billing import BillingPlan, Subscription
from saas.models.ledger import EdgeDevice
from saas.models.tenancy import Site
from saas.regulator.configs import ConfigCreate, create_config
from saas.regulator.signing import generate_private_key
from saas.tenancy import system_context
from tenants.provisioning import Provisioned, TenantCreate, create_tenant

GENERATED_KEY_SIGNERS = ("rsa2", "sm2")  # our key pair: made here when none is given
CYCLES = ("monthly", "annual")


class PlanUnavailable(Exception):
    """The chosen plan no longer exists or was retired."""


@dataclass(frozen=True)
class PlanChoice:
    plan_id: uuid.UUID
    cycle: str  # CYCLES
    starts_on: date
    billing_email: str | None = None


@dataclass(frozen=True)
class Onboarding:
    tenant: TenantCreate
    bridge_name: str
    plan: PlanChoice | None = None
    regulator: ConfigCreate | None = None  # uscc and permit no. of the first site


@dataclass(frozen=True)
class Onboarded:
    provisioned: Provisioned
    device_id: uuid.UUID
    pairing_code: str  # shown once; only its SHA-256 is stored
    pairing_expires_at: datetime
    plan_name: str | None
    regulator_config_id: uuid.UUID | None
    regulator_public_key: str | None  # to register with the platform
    regulator_key_generated: bool


def onboard(
    session: Session,
    data: Onboarding,
    *,
    app: Flask,
    actor_user_id: uuid.UUID,
    actor_label: str,
) -> Onboarded:
    """All of it or nothing: raises ``DuplicateSlug``, ``DuplicateUsername``,
    ``PlanUnavailable`` or the regulator configuration's 422 (``ApiError`` naming the field),
    with the transaction rolled back."""
    regulator = data.regulator
    generated = False
    if regulator is not None and regulator.signer in GENERATED_KEY_SIGNERS:
        given = regulator.private_key.get_secret_value().strip() if regulator.private_key else ""
        if not given:
            key = SecretStr(generate_private_key(regulator.signer))
            regulator = regulator.model_copy(update={"private_key": key})
            generated = True
    try:
        with system_context("console: onboarding a tenant"):
            provisioned = create_tenant(
                session,
                data.tenant,
                actor_user_id=actor_user_id,
                actor_label=actor_label,
                commit=False,
            )
            site = session.get(Site, provisioned.site_id)
            assert site is not None  # flushed just now
            plan_name = _subscribe(session, provisioned, data, actor_user_id, actor_label)
            config = None
            if regulator is not None:
                config = create_config(
                    session, site, regulator, app=app, actor_id=actor_user_id, commit=False
                )
            device, code, expires_at = _pending_bridge(
                session, site, data.bridge_name, actor_user_id, actor_label
            )
            audit.record(
                session,
                "tenant.onboard",
                tenant_id=provisioned.tenant_id,
                actor_user_id=actor_user_id,
                actor_label=actor_label,
                details={
                    "site_id": str(site.id),
                    "plan": plan_name,
                    "regulator_config_id": str(config.id) if config else None,
                    "device_id": str(device.id),
                },
            )
            session.commit()
    except BaseException:
        session.rollback()
        raise
    return Onboarded(
        provisioned=provisioned,
        device_id=device.id,
        pairing_code=code,
        pairing_expires_at=expires_at,
        plan_name=plan_name,
        regulator_config_id=config.id if config else None,
        regulator_public_key=config.public_key if config else None,
        regulator_key_generated=generated,
    )


def _subscribe(
    session: Session,
    provisioned: Provisioned,
    data: Onboarding,
    actor_user_id: uuid.UUID,
    actor_label: str,
) -> str | None:
    choice = data.plan
    if choice is None:
        return None
    plan = session.get(BillingPlan, choice.plan_id)
    if plan is None or not plan.active:
        raise PlanUnavailable(str(choice.plan_id))
    if choice.cycle not in CYCLES:
        raise ValueError("cycle")
    session.add(
        Subscription(
            tenant_id=provisioned.tenant_id,
            plan_id=plan.id,
            cycle=choice.cycle,
            addons={},
            starts_on=choice.starts_on,
            buyer_name=data.tenant.name,  # 购买方名称: the enterprise, editable in billing
            buyer_tax_no=data.tenant.site.uscc,  # 纳税人识别号 = 统一社会信用代码
            billing_email=choice.billing_email,
        )
    )
    audit.record(
        session,
        "subscription.create",
        tenant_id=provisioned.tenant_id,
        actor_user_id=actor_user_id,
        actor_label=actor_label,
        details={
            "plan": plan.code,
            "cycle": choice.cycle,
            "starts_on": choice.starts_on.isoformat(),
        },
    )
    return plan.name


def _pending_bridge(
    session: Session, site: Site, name: str, actor_user_id: uuid.UUID, actor_label: str
) -> tuple[EdgeDevice, str, datetime]:
    """The first bridge, pending until the box redeems the code (as in the portal)."""
    code = new_pairing_code()
    expires_at = utcnow() + PAIRING_TTL
    device = EdgeDevice(
        tenant_id=site.tenant_id,
        site_id=site.id,
        name=name,
        public_key=None,
        status="pending",
        pairing_code_hash=code_digest(code),
        pairing_expires_at=expires_at,
    )
    session.add(device)
    session.flush()
    for event, details in (
        ("device.register", {"pending": True}),
        ("device.pairing_code", {"expires_at": expires_at.isoformat(), "repair": False}),
    ):
        audit.record(
            session,
            event,
            tenant_id=site.tenant_id,
            actor_user_id=actor_user_id,
            actor_label=actor_label,
            details={"device_id": str(device.id), "site_id": str(site.id), **details},
        )
    return device, code, expires_at
