"""Sites as a driver reaches them: by the id in the board's QR code.

The mini-program has no tenant: a driver acts on whatever site's QR code they scanned. The
site id (a random UUID printed in the QR code of that site's public board) is resolved to its
tenant here — the one look-up that steps past tenant scoping — and everything after runs in
that tenant's context (``site_scope``), so every query and write is scoped as in the portal.
A suspended tenant's site answers 404 like an unknown one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from saas.db import get_session
from saas.errors import ApiError, NotFound
from saas.models.regulator import SiteGate
from saas.models.tenancy import Site, Tenant, TenantStatus
from saas.tenancy import system_context, tenant_context

_CARGO_PATH = re.compile(r"^/mp/cargo/([0-9a-fA-F-]{36})/?$")


@dataclass(frozen=True)
class SiteRef:
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    enterprise: str


def resolve(site_id: uuid.UUID) -> SiteRef:
    """The site and its tenant, or 404 (unknown site, or its tenant is not active)."""
    session = get_session()
    with system_context("mini-program: the site id in a QR code names the tenant"):
        row = session.execute(
            select(Site.id, Site.tenant_id, Site.name, Tenant.name, Tenant.status)
            .join(Tenant, Tenant.id == Site.tenant_id)
            .where(Site.id == site_id)
        ).one_or_none()
        session.rollback()  # end the system-context transaction before any tenant work
    if row is None or row[4] != TenantStatus.ACTIVE:
        raise NotFound("站点")
    return SiteRef(id=row[0], tenant_id=row[1], name=row[2], enterprise=row[3])


@contextmanager
def site_scope(site_id: uuid.UUID) -> Iterator[tuple[Session, Site]]:
    """The request's session in the tenant context of ``site_id``'s tenant, and the site."""
    ref = resolve(site_id)
    session = get_session()
    with tenant_context(ref.tenant_id):
        try:
            site = session.get(Site, ref.id)
            if site is None:
                raise NotFound("站点")
            yield session, site
        finally:
            session.rollback()  # nothing uncommitted leaks out of the tenant's context


def gates(session: Session, site: Site) -> list[dict[str, str]]:
    """The site's active gates (code and name), one entry per gate code."""
    seen: dict[str, str] = {}
    for gate in session.scalars(
        select(SiteGate)
        .where(SiteGate.site_id == site.id, SiteGate.active.is_(True))
        .order_by(SiteGate.gate_code, SiteGate.lane_code)
    ):
        seen.setdefault(gate.gate_code, gate.name)
    return [{"code": code, "name": name} for code, name in seen.items()]


def parse_qr(url: str) -> tuple[uuid.UUID, str | None]:
    """``…/mp/cargo/<site id>[?gate=<code>]`` (the board's QR code) → (site id, gate code).
    WeChat hands a scanned link to the mini-program as the page's ``q`` parameter; the
    mini-program passes it here as it is."""
    parts = urlsplit(url.strip())
    match = _CARGO_PATH.match(parts.path)
    if parts.scheme not in {"http", "https"} or match is None:
        raise ApiError(
            422,
            "qr_unknown",
            "不是本平台的货物登记二维码",
            {"fields": {"url": "应为 …/mp/cargo/<站点编号> 形式的链接"}},
        )
    try:
        site_id = uuid.UUID(match.group(1))
    except ValueError:
        raise ApiError(422, "qr_unknown", "二维码中的站点编号无效") from None
    gate = (parse_qs(parts.query).get("gate") or [None])[0]
    if gate is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,20}", gate):
        raise ApiError(422, "qr_unknown", "二维码中的出入口编号无效")
    return site_id, gate
