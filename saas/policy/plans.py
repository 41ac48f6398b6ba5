"""一厂一策 plans: drafting, approval and the plan in force (docs/plans.md).

A site has at most one *approved* plan version — the one in force. Without one, the site
decides and shows the built-in template for its industry and rating
(``saas.compliance.plan.template_for``), so a newly onboarded site is never without rules.
Drafts are edited freely by tenant admins and environment managers; approval (tenant admins
only, ``plan.approve``) freezes a version, supersedes the one in force and pushes the new
snapshot to the site's edge bridges (the ``site_plans`` model is in the snapshot model set, so
the commit itself publishes the change).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from saas.auth import audit
from saas.compliance.board import mask_phone
from saas.compliance.codes import AlertLevel
from saas.compliance.industry import Industry, Rating
from saas.compliance.plan import PLAN_TEMPLATES, Plan, PlanTemplate, template_for
from saas.compliance.policy import PolicyError
from saas.db import utcnow
from saas.errors import ApiError, NotFound, validation_error
from saas.models.plans import SitePlan
from saas.models.tenancy import Site

RATING_ZH = {
    Rating.A.value: "A级",
    Rating.B.value: "B级",
    Rating.B_MINUS.value: "B-级",
    Rating.C.value: "C级",
    Rating.D.value: "D级",
    Rating.LEADING.value: "引领性",
    Rating.NON_LEADING.value: "非引领性",
    Rating.UNRATED.value: "未评级",
}
EDITABLE = ("city", "district", "responsible_name", "responsible_phone", "remarks", "change_note")


def in_force(session: Session, site_id: uuid.UUID) -> SitePlan | None:
    """The approved version of the site's plan (current tenant), or None."""
    return session.scalars(
        select(SitePlan).where(SitePlan.site_id == site_id, SitePlan.status == "approved")
    ).one_or_none()


def default_template(site: Site) -> PlanTemplate:
    return template_for(site.industry, site.rating)


def document(session: Session, site: Site) -> tuple[Plan, SitePlan | None]:
    """The plan in force (its stored document), or the site's built-in template."""
    row = in_force(session, site.id)
    if row is None:
        return default_template(site).plan, None
    return Plan.from_dict(row.document), row


def get(session: Session, site_id: uuid.UUID, plan_id: uuid.UUID) -> SitePlan:
    row = session.scalars(
        select(SitePlan).where(SitePlan.id == plan_id, SitePlan.site_id == site_id)
    ).one_or_none()
    if row is None:
        raise NotFound("一厂一策方案")
    return row


def versions(session: Session, site_id: uuid.UUID) -> list[SitePlan]:
    return list(
        session.scalars(
            select(SitePlan).where(SitePlan.site_id == site_id).order_by(SitePlan.version.desc())
        )
    )


def _next_version(session: Session, site_id: uuid.UUID) -> int:
    current = session.scalar(select(func.max(SitePlan.version)).where(SitePlan.site_id == site_id))
    return int(current or 0) + 1


def create_draft(
    session: Session,
    site: Site,
    *,
    actor_id: uuid.UUID | None,
    actor_label: str = "",
    template: str | None = None,
    from_plan: SitePlan | None = None,
) -> SitePlan:
    """A new draft version: a copy of ``from_plan`` (default: the plan in force), or a fresh
    start from the named built-in template (default: the site's). Flushes; caller commits."""
    if template is not None and template not in PLAN_TEMPLATES:
        raise validation_error({"template": f"未知模板: {template}"})
    base = from_plan if template is None else None
    if base is None and template is None:
        base = in_force(session, site.id)
    if base is not None:
        row = SitePlan(
            site_id=site.id,
            tenant_id=site.tenant_id,
            version=_next_version(session, site.id),
            template=base.template,
            document=dict(base.document),
            city=base.city,
            district=base.district,
            responsible_name=base.responsible_name,
            responsible_phone=base.responsible_phone,
            remarks=base.remarks,
        )
    else:
        chosen = PLAN_TEMPLATES[template] if template else default_template(site)
        row = SitePlan(
            site_id=site.id,
            tenant_id=site.tenant_id,
            version=_next_version(session, site.id),
            template=chosen.id,
            document=chosen.plan.to_dict(),
            responsible_name=site.contact_name or "",
            responsible_phone=site.contact_phone or "",
        )
    row.created_by = actor_id
    session.add(row)
    session.flush()
    _audit(session, "plan.draft", row, actor_id, actor_label)
    return row


def update_draft(
    session: Session,
    row: SitePlan,
    changes: dict[str, Any],
    *,
    actor_id: uuid.UUID | None,
    actor_label: str = "",
) -> SitePlan:
    """Apply ``changes`` (``document`` and the fields in ``EDITABLE``) to a draft. Every bad
    field is reported at once and nothing is written."""
    if row.status != "draft":
        raise ApiError(
            409, "plan_frozen", f"第{row.version}版已{_STATUS_ZH[row.status]}，不能修改；请新建草稿"
        )
    fields: dict[str, str] = {}
    if "document" in changes:
        try:
            plan = Plan.from_dict(changes["document"])
        except PolicyError as exc:
            for issue in exc.issues[:50]:
                fields[f"document.{issue.path}"] = f"{issue.code}: {issue.message}"
        else:
            changes = {**changes, "document": plan.to_dict()}
    for name in ("responsible_name", "responsible_phone"):
        if name in changes and not str(changes[name] or "").strip():
            fields[name] = "必填"
    if fields:
        raise validation_error(fields, "方案有误，未保存")
    for name in (*EDITABLE, "document"):
        if name in changes:
            value = changes[name]
            setattr(row, name, value.strip() if isinstance(value, str) else value)
    row.updated_at = utcnow()
    session.flush()
    _audit(session, "plan.update", row, actor_id, actor_label, fields=sorted(changes))
    return row


def approve(
    session: Session, row: SitePlan, *, actor_id: uuid.UUID | None, actor_label: str = ""
) -> SitePlan:
    """Freeze the draft and put it in force (the previous version becomes ``superseded``)."""
    if row.status != "draft":
        raise ApiError(409, "plan_not_draft", f"第{row.version}版不是草稿，不能批准")
    if not row.responsible_name.strip() or not row.responsible_phone.strip():
        raise validation_error({"responsible_name": "批准前须填写措施落实负责人及电话"})
    Plan.from_dict(row.document)  # a stored draft is always valid; refuse loudly if not
    previous = in_force(session, row.site_id)
    if previous is not None:
        previous.status = "superseded"
        session.flush()  # the partial unique index allows one approved row per site
    row.status = "approved"
    row.approved_by = actor_id
    row.approved_at = utcnow()
    session.flush()
    _audit(
        session,
        "plan.approve",
        row,
        actor_id,
        actor_label,
        superseded=str(previous.id) if previous else None,
    )
    return row


def withdraw(
    session: Session, row: SitePlan, *, actor_id: uuid.UUID | None, actor_label: str = ""
) -> SitePlan:
    if row.status != "draft":
        raise ApiError(409, "plan_not_draft", f"第{row.version}版不是草稿，不能撤回")
    row.status = "withdrawn"
    session.flush()
    _audit(session, "plan.withdraw", row, actor_id, actor_label)
    return row


_STATUS_ZH = {"draft": "草稿", "approved": "批准生效", "superseded": "被替代", "withdrawn": "撤回"}


def _audit(
    session: Session,
    event: str,
    row: SitePlan,
    actor_id: uuid.UUID | None,
    actor_label: str,
    **extra: Any,
) -> None:
    audit.record(
        session,
        event,
        tenant_id=row.tenant_id,
        actor_user_id=actor_id,
        actor_label=actor_label,
        details={
            "site_id": str(row.site_id),
            "plan_id": str(row.id),
            "version": row.version,
            **extra,
        },
    )


# --- what the edge and the board get ---------------------------------------------------------


def industry_label(code: str) -> str:
    try:
        return Industry(code).label_zh
    except ValueError:
        return code


def cargo_url(base_url: str, site: Site) -> str:
    """What the board's QR code opens: cargo registration for this site in the drivers'
    mini-program (``/mp/cargo/<site id>``, served by miniprogram_api — issue 8). A WeChat
    "普通链接二维码" rule maps the URL prefix onto the mini-program page."""
    return f"{base_url.rstrip('/')}/mp/cargo/{site.id}" if base_url else ""


def board_section(session: Session, site: Site, *, cargo_url: str = "") -> dict[str, Any]:
    """The snapshot's ``plan`` section: everything the public board prints about the site, with
    phones masked (saas/compliance/board.py reads it, in the cloud and on the edge)."""
    plan, row = document(session, site)
    levels = (AlertLevel.NONE, AlertLevel.YELLOW, AlertLevel.ORANGE, AlertLevel.RED)
    return {
        "plan_id": str(row.id) if row else None,
        "plan_version": row.version if row else None,
        "template": row.template if row else default_template(site).id,
        "city": row.city if row else "",
        "enterprise": site.name,
        "district": row.district if row else "",  # as the plan prints it (no code→name table)
        "legal_representative": site.legal_representative or "",
        "legal_phone": mask_phone(site.legal_representative_phone),
        "industry": industry_label(site.industry),
        "rating": RATING_ZH.get(site.rating, site.rating),
        "responsible": row.responsible_name if row else (site.contact_name or ""),
        "responsible_phone": mask_phone(row.responsible_phone if row else site.contact_phone),
        "remarks": row.remarks if row else "",
        "measures": {level.value: list(plan.measures(level)) for level in levels},
        "cargo_url": cargo_url,
    }


def plan_out(row: SitePlan) -> dict[str, Any]:
    """The API view of one version (phones in full: the reader is the tenant's own staff)."""
    plan = Plan.from_dict(row.document)
    return {
        "id": str(row.id),
        "site_id": str(row.site_id),
        "version": row.version,
        "status": row.status,
        "template": row.template,
        "city": row.city,
        "district": row.district,
        "responsible_name": row.responsible_name,
        "responsible_phone": row.responsible_phone,
        "remarks": row.remarks,
        "change_note": row.change_note,
        "document": row.document,
        "measures": {
            level.value: list(plan.measures(level))
            for level in (AlertLevel.NONE, AlertLevel.YELLOW, AlertLevel.ORANGE, AlertLevel.RED)
        },
        "created_by": str(row.created_by) if row.created_by else None,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "approved_by": str(row.approved_by) if row.approved_by else None,
        "approved_at": row.approved_at.isoformat() if row.approved_at else None,
    }
