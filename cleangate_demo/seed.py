"""The demo's data, created through the same services the console and portal use, idempotently:

* provider staff ``ops@provider`` (provider admin: the console, alerts);
* the tenant 示例焦化集团 (``demo``) onboarded as the console's wizard does — its first site
  示例焦化厂 with a regulator platform configuration (``hj1321-json``, RSA2 key generated here)
  and a pending bridge — plus a second site 示例钢铁厂 with its own configuration and bridge;
  both sites in 唐山市 (130200), so one city alert covers them;
* per site: an approved 一厂一策 plan from the built-in template, the public board's token, a
  registry of heavy trucks of every stage (国六 and 国五 diesel, 国四 natural gas, 国四 diesel,
  new energy) and two blacklisted plates.

Passwords are generated, never well known: the logins go to ``<var>/demo/logins.json`` (mode
0600) and are printed by ``cleangate demo``. The receiver's client secrets are rotated at every
start (``rotate_receiver_clients``), so no secret needs to survive on disk.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from flask import Flask
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from saas.auth.passwords import generate_password, hash_password
from saas.auth.principal import Principal
from saas.board import tokens
from saas.compliance import uscc_check_char
from saas.db import get_database
from saas.ledger import registries
from saas.models.identity import Role, User
from saas.models.ledger import EdgeDevice
from saas.models.regulator import RegulatorConfig
from saas.models.tenancy import Site, Tenant
from saas.policy import plans
from saas.regulator import envelope
from saas.regulator.configs import ConfigCreate, create_config
from saas.regulator.signing import generate_private_key
from saas.sites import SiteFields
from saas.tenancy import system_context, tenant_context

DEMO_SLUG = "demo"
TENANT_NAME = "示例焦化集团"
ADMIN_USERNAME = "admin@demo"
STAFF_USERNAME = "ops@provider"
CITY = "130200"  # 唐山市: the orange alert of the demo is for this city


class DemoRefused(RuntimeError):
    """The demo would touch accounts it must not (a production configuration)."""


@dataclass(frozen=True)
class SiteSpec:
    key: str  # short name used for directories and the receiver's client id
    fields: dict[str, str]
    uscc_body: str  # 17 characters; the check character is computed
    bridge_name: str
    plate_prefix: str  # registry plates: prefix + 3 digits


SITES = (
    SiteSpec(
        "coking",
        {
            "name": "示例焦化厂",
            "region_code": "130204",
            "industry": "coking",
            "rating": "B",
            "address": "河北省唐山市古冶区示例路1号",
            "legal_representative": "张三",
            "legal_representative_phone": "13800001234",
            "contact_name": "李四",
            "contact_phone": "13900005678",
        },
        "91130204MA0C8K2P1",
        "焦化厂东门网关",
        "冀B6",
    ),
    SiteSpec(
        "steel",
        {
            "name": "示例钢铁厂",
            "region_code": "130207",
            "industry": "steel_long",
            "rating": "B",
            "address": "河北省唐山市丰南区示例大道8号",
            "legal_representative": "王五",
            "legal_representative_phone": "13700002345",
            "contact_name": "赵六",
            "contact_phone": "13600006789",
        },
        "91130207MA0D3F5X2",
        "钢铁厂南门网关",
        "冀B7",
    ),
)

# (emission stage, fuel, how many, registration date): a realistic mix for a Tangshan plant.
FLEET = (
    ("cn6b", "diesel", 12, date(2022, 3, 1)),
    ("cn5", "diesel", 8, date(2018, 6, 1)),
    ("cn4", "natural_gas", 6, date(2015, 5, 1)),
    ("cn4", "diesel", 4, date(2013, 9, 1)),
)
NEW_ENERGY = 3  # heavy battery-electric trucks (冀B…D plates)


@dataclass(frozen=True)
class DemoSite:
    key: str
    site_id: uuid.UUID
    name: str
    board_token: str
    config_id: uuid.UUID
    client_id: str
    ent_code: str


@dataclass(frozen=True)
class Seeded:
    tenant_id: uuid.UUID
    admin_user_id: uuid.UUID
    sites: tuple[DemoSite, ...]
    logins: dict[str, dict[str, str]]


def uscc(body: str) -> str:
    return body + (uscc_check_char(body) or "0")


def _write_private(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=2)


def seed(app: Flask, demo_dir: Path, receiver_url: str) -> Seeded:
    """Create what is missing; point every demo regulator configuration at ``receiver_url``.
    Refuses a production configuration: it creates a provider administrator and sets the
    passwords of the demo's own accounts."""
    if app.config["CLEANGATE_SETTINGS"].production:
        raise DemoRefused("the demo never runs with CLEANGATE_ENV=production")
    logins_path = demo_dir / "logins.json"
    logins: dict[str, dict[str, str]] = (
        json.loads(logins_path.read_text(encoding="utf-8")) if logins_path.exists() else {}
    )
    factory = get_database(app).sessionmaker
    with factory() as session:
        staff_id = _staff(session, logins)
        with system_context("demo seed: is the demo tenant there"):
            tenant = session.scalars(select(Tenant).where(Tenant.slug == DEMO_SLUG)).one_or_none()
        if tenant is None:
            _onboard(session, app, staff_id, receiver_url, logins)
        with system_context("demo seed: the demo tenant and its administrator"):
            tenant = session.scalars(select(Tenant).where(Tenant.slug == DEMO_SLUG)).one()
            admin = session.scalars(
                select(User).where(User.username == ADMIN_USERNAME, User.tenant_id == tenant.id)
            ).one()
            if "portal" not in logins:  # the database outlived var/demo: a fresh password
                password = generate_password()
                admin.password_hash = hash_password(password)
                admin.must_change_password = False
                session.commit()
                logins["portal"] = {"username": ADMIN_USERNAME, "password": password}
            tenant_id, admin_id = tenant.id, admin.id
    sites = []
    with tenant_context(tenant_id), factory() as session:
        principal = Principal(
            user_id=admin_id,
            username=ADMIN_USERNAME,
            display_name="示例企业管理员",
            role=Role.TENANT_ADMIN,
            tenant_id=tenant_id,
            via="session",
        )
        for spec in SITES:
            site = _site(session, app, spec, principal, receiver_url)
            sites.append(_site_content(session, site, spec, principal, receiver_url))
    _write_private(logins_path, logins)
    return Seeded(tenant_id, admin_id, tuple(sites), logins)


def _staff(session: Session, logins: dict[str, dict[str, str]]) -> uuid.UUID:
    with system_context("demo seed: provider staff"):
        staff = session.scalars(select(User).where(User.username == STAFF_USERNAME)).one_or_none()
        if staff is None or "console" not in logins:
            password = generate_password()
            if staff is None:
                staff = User(
                    username=STAFF_USERNAME,
                    display_name="服务商运维",
                    role=Role.PROVIDER_ADMIN,
                    email="ops@provider.example",
                    password_hash="",
                )
                session.add(staff)
            staff.password_hash = hash_password(password)
            session.commit()
            logins["console"] = {"username": STAFF_USERNAME, "password": password}
        return staff.id


def _onboard(
    session: Session,
    app: Flask,
    staff_id: uuid.UUID,
    receiver_url: str,
    logins: dict[str, dict[str, str]],
) -> None:
    from tenants.onboarding import Onboarding, onboard
    from tenants.provisioning import TenantCreate

    spec = SITES[0]
    site_fields = dict(spec.fields, uscc=uscc(spec.uscc_body))
    done = onboard(
        session,
        Onboarding(
            tenant=TenantCreate(
                name=TENANT_NAME,
                slug=DEMO_SLUG,
                site=SiteFields(**site_fields),
                admin_username=ADMIN_USERNAME,
                admin_display_name="示例企业管理员",
            ),
            bridge_name=spec.bridge_name,
            regulator=_config_body(spec, receiver_url),
        ),
        app=app,
        actor_user_id=staff_id,
        actor_label=STAFF_USERNAME,
    )
    with system_context("demo seed: the administrator's first login is done"):
        admin = session.get(User, done.provisioned.admin_user_id)
        assert admin is not None
        admin.must_change_password = False
        session.commit()
    logins["portal"] = {
        "username": done.provisioned.admin_username,
        "password": done.provisioned.one_time_password,
    }


def _config_body(spec: SiteSpec, receiver_url: str) -> ConfigCreate:
    return ConfigCreate(
        name="唐山市重型车辆门禁监管平台 (模拟)",
        endpoint=receiver_url,
        signer="rsa2",
        client_id=f"demo-{spec.key}",
        enterprise_code=f"DEMO{spec.uscc_body[-6:]}",
        uscc=uscc(spec.uscc_body),
        client_secret=SecretStr(secrets.token_urlsafe(18)),  # rotated at every start anyway
        private_key=SecretStr(generate_private_key("rsa2")),  # ours; the platform gets the public
        skip_test=True,  # the receiver learns our key from the configuration at its start
    )


def _site(
    session: Session, app: Flask, spec: SiteSpec, principal: Principal, receiver_url: str
) -> Site:
    site = session.scalars(select(Site).where(Site.name == spec.fields["name"])).one_or_none()
    if site is not None:
        return site
    fields = SiteFields(**dict(spec.fields, uscc=uscc(spec.uscc_body)))
    site = Site(tenant_id=principal.tenant_id, **fields.model_dump())
    session.add(site)
    session.flush()
    create_config(session, site, _config_body(spec, receiver_url), app=app, actor_id=None)
    from saas.api.devices import create_bridge

    create_bridge(session, principal, site.id, spec.bridge_name)
    return site


def _site_content(
    session: Session, site: Site, spec: SiteSpec, principal: Principal, receiver_url: str
) -> DemoSite:
    if plans.in_force(session, site.id) is None:
        row = plans.create_draft(session, site, actor_id=principal.user_id)
        plans.update_draft(
            session,
            row,
            {
                "city": "唐山市",
                "district": "古冶区" if spec.key == "coking" else "丰南区",
                "responsible_name": spec.fields["contact_name"],
                "responsible_phone": spec.fields["contact_phone"],
            },
            actor_id=principal.user_id,
        )
        plans.approve(session, row, actor_id=principal.user_id)
        session.commit()
    token = tokens.ensure_token(session, site)
    session.commit()
    _registry(session, site, spec, principal)
    config = session.scalars(
        select(RegulatorConfig).where(RegulatorConfig.site_id == site.id)
    ).one()
    if config.endpoint != receiver_url:  # the receiver's port may differ between runs
        config.endpoint = receiver_url
        session.commit()
    return DemoSite(
        key=spec.key,
        site_id=site.id,
        name=site.name,
        board_token=token,
        config_id=config.id,
        client_id=config.client_id,
        ent_code=config.enterprise_code,
    )


def fleet_plates(spec: SiteSpec) -> list[dict[str, Any]]:
    """The registry of one site: heavy trucks (H11 重型普通货车) of each stage."""
    trucks: list[dict[str, Any]] = []
    n = 0
    for stage, fuel, count, registered in FLEET:
        for _ in range(count):
            n += 1
            trucks.append(
                {
                    "plate": f"{spec.plate_prefix}{n:03d}{'ABCDEFGH'[n % 8]}",
                    "plate_color": "yellow",
                    "fuel_type": fuel,
                    "emission_stage": stage,
                    "registration_date": registered,
                }
            )
    for k in range(NEW_ENERGY):
        trucks.append(
            {
                "plate": f"{spec.plate_prefix}{900 + k:03d}{k}D",
                "plate_color": "yellow_green",
                "fuel_type": "electric",
                "emission_stage": None,
                "registration_date": date(2024, 4, 1),
            }
        )
    return trucks


def _registry(session: Session, site: Site, spec: SiteSpec, principal: Principal) -> None:
    """Create what is missing (a restart after a crash completes a half-seeded registry)."""
    from saas.models.ledger import TransportVehicle, VehicleListEntry

    have = set(
        session.scalars(select(TransportVehicle.plate).where(TransportVehicle.site_id == site.id))
    )
    for truck in fleet_plates(spec):
        if truck["plate"] in have:
            continue
        body = registries.TransportVehicleIn(
            site_id=site.id,
            vehicle_type="H11",
            use_nature="F",
            network_status="online",
            owner_name="唐山示例物流有限公司",
            **{k: v for k, v in truck.items() if v is not None},
        )
        registries.create_record(
            session, registries.TRANSPORT_VEHICLES, body, user_id=principal.user_id, source="import"
        )
    listed = set(
        session.scalars(select(VehicleListEntry.plate).where(VehicleListEntry.site_id == site.id))
    )
    for k in range(2):
        plate = f"{spec.plate_prefix}{800 + k:03d}X"
        if plate in listed:
            continue
        entry = registries.VehicleListIn(
            site_id=site.id, plate=plate, list_kind="black", reason="超标排放，监管部门通报"
        )
        registries.create_record(
            session, registries.VEHICLE_LISTS, entry, user_id=principal.user_id, source="import"
        )


def rotate_receiver_clients(app: Flask, seeded: Seeded) -> list[dict[str, str]]:
    """A fresh client secret for each demo site's platform configuration (resealed with the
    app's keyring, the private key kept), returned as the receiver's client list."""
    keyring = app.config["CLEANGATE_SETTINGS"].regulator_keyring
    clients = []
    with tenant_context(seeded.tenant_id), get_database(app).sessionmaker() as session:
        for site in seeded.sites:
            config = session.get(RegulatorConfig, site.config_id)
            assert config is not None
            assert config.secret_box is not None
            sealed = json.loads(envelope.open_box(config.secret_box, keyring))
            sealed["client_secret"] = secrets.token_urlsafe(24)
            config.secret_box = envelope.seal(json.dumps(sealed).encode(), keyring)
            clients.append(
                {
                    "client_id": config.client_id,
                    "client_secret": sealed["client_secret"],
                    "signer": config.signer,
                    "public_key": config.public_key or "",
                    "ent_code": config.enterprise_code,
                }
            )
        session.commit()
    return clients


def active_bridges(app: Flask, seeded: Seeded) -> dict[uuid.UUID, uuid.UUID]:
    """site id → device id of each demo site's active bridge (absent: not paired yet)."""
    with tenant_context(seeded.tenant_id), get_database(app).sessionmaker() as session:
        rows = session.scalars(select(EdgeDevice).where(EdgeDevice.status == "active"))
        return {row.site_id: row.id for row in rows}


def new_pairing_code(app: Flask, seeded: Seeded, site_id: uuid.UUID) -> str:
    """A fresh code for the site's bridge (pending, or active whose box lost its state)."""
    from saas.api.devices import issue_pairing_code

    principal = Principal(
        user_id=seeded.admin_user_id,
        username=ADMIN_USERNAME,
        display_name="示例企业管理员",
        role=Role.TENANT_ADMIN,
        tenant_id=seeded.tenant_id,
        via="session",
    )
    with tenant_context(seeded.tenant_id), get_database(app).sessionmaker() as session:
        device = session.scalars(
            select(EdgeDevice)
            .where(EdgeDevice.site_id == site_id, EdgeDevice.status.in_(("pending", "active")))
            .order_by(EdgeDevice.created_at)
        ).first()
        assert device is not None, "every demo site is seeded with a bridge"
        issued = issue_pairing_code(session, principal, device)
        session.commit()
        return issued.code
