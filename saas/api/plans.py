"""一厂一策 plans: built-in templates, a site's versions, drafting and approval (docs/plans.md)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field

from saas.api import registry
from saas.auth.permissions import Permission
from saas.auth.principal import check_permission
from saas.compliance.codes import AlertLevel
from saas.compliance.plan import PLAN_TEMPLATES
from saas.db import get_session
from saas.errors import validation_error
from saas.policy import plans
from saas.sites import get_site

_LEVELS = (AlertLevel.NONE, AlertLevel.YELLOW, AlertLevel.ORANGE, AlertLevel.RED)
Phone = Annotated[str, Field(min_length=7, max_length=30, pattern=r"^[0-9+\- ]+$")]


class PlanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str | None = None  # start afresh from this built-in template
    from_version: Annotated[int | None, Field(ge=1)] = None  # or copy this version


class PlanPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    document: dict[str, Any] | None = None
    city: Annotated[str | None, Field(max_length=40)] = None
    district: Annotated[str | None, Field(max_length=40)] = None
    responsible_name: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    responsible_phone: Phone | None = None
    remarks: Annotated[str | None, Field(max_length=200)] = None
    change_note: Annotated[str | None, Field(max_length=2000)] = None


class PlanOut(BaseModel):
    id: uuid.UUID
    site_id: uuid.UUID
    version: int
    status: str
    template: str
    city: str
    district: str
    responsible_name: str
    responsible_phone: str
    remarks: str
    change_note: str
    document: dict[str, Any]
    measures: dict[str, list[str]]
    created_by: uuid.UUID | None
    created_at: str
    updated_at: str
    approved_by: uuid.UUID | None
    approved_at: str | None


class PlanList(BaseModel):
    in_force: uuid.UUID | None
    default_template: str
    items: list[PlanOut]


class TemplateOut(BaseModel):
    id: str
    name: str
    industries: list[str]
    ratings: list[str]
    source: str
    confidence: str
    measures: dict[str, list[str]]


class TemplateList(BaseModel):
    items: list[TemplateOut]


@registry.route(
    "/plan-templates",
    "GET",
    summary="一厂一策内置模板（按行业与绩效等级）",
    tags=["plans"],
    permission=Permission.SITE_READ,
    response=TemplateList,
)
def list_plan_templates() -> ResponseReturnValue:
    return {
        "items": [
            {
                "id": t.id,
                "name": t.name,
                "industries": [i.value for i in t.industries],
                "ratings": [r.value for r in t.ratings],
                "source": t.source,
                "confidence": t.confidence,
                "measures": {lv.value: list(t.plan.measures(lv)) for lv in _LEVELS},
            }
            for t in PLAN_TEMPLATES.values()
        ]
    }


@registry.route(
    "/sites/<uuid:site_id>/plans",
    "GET",
    summary="站点一厂一策方案的全部版本",
    tags=["plans"],
    permission=Permission.SITE_READ,
    response=PlanList,
)
def list_plans(site_id: uuid.UUID) -> ResponseReturnValue:
    session = get_session()
    site = get_site(session, site_id)
    rows = plans.versions(session, site.id)
    current = next((r for r in rows if r.status == "approved"), None)
    return {
        "in_force": str(current.id) if current else None,
        "default_template": plans.default_template(site).id,
        "items": [plans.plan_out(r) for r in rows],
    }


@registry.route(
    "/sites/<uuid:site_id>/plans",
    "POST",
    summary="新建方案草稿（复制现行版本、指定版本或内置模板）",
    tags=["plans"],
    permission=Permission.PLAN_WRITE,
    body=PlanCreate,
    response=PlanOut,
    status=201,
)
def create_plan(site_id: uuid.UUID, body: PlanCreate) -> ResponseReturnValue:
    principal = check_permission(Permission.PLAN_WRITE)
    session = get_session()
    site = get_site(session, site_id)
    source = None
    if body.from_version is not None:
        source = next(
            (r for r in plans.versions(session, site.id) if r.version == body.from_version), None
        )
        if source is None:
            raise validation_error({"from_version": f"没有第{body.from_version}版"})
    row = plans.create_draft(
        session,
        site,
        actor_id=principal.user_id,
        actor_label=principal.username,
        template=body.template,
        from_plan=source,
    )
    session.commit()
    return plans.plan_out(row), 201


@registry.route(
    "/sites/<uuid:site_id>/plans/<uuid:plan_id>",
    "GET",
    summary="方案版本详情",
    tags=["plans"],
    permission=Permission.SITE_READ,
    response=PlanOut,
)
def get_plan(site_id: uuid.UUID, plan_id: uuid.UUID) -> ResponseReturnValue:
    session = get_session()
    site = get_site(session, site_id)
    return plans.plan_out(plans.get(session, site.id, plan_id))


@registry.route(
    "/sites/<uuid:site_id>/plans/<uuid:plan_id>",
    "PATCH",
    summary="修改方案草稿（生产措施、运输管控、负责人）",
    tags=["plans"],
    permission=Permission.PLAN_WRITE,
    body=PlanPatch,
    response=PlanOut,
)
def patch_plan(site_id: uuid.UUID, plan_id: uuid.UUID, body: PlanPatch) -> ResponseReturnValue:
    principal = check_permission(Permission.PLAN_WRITE)
    session = get_session()
    site = get_site(session, site_id)
    row = plans.get(session, site.id, plan_id)
    plans.update_draft(  # validates everything before writing anything
        session,
        row,
        body.model_dump(exclude_unset=True),
        actor_id=principal.user_id,
        actor_label=principal.username,
    )
    session.commit()
    return plans.plan_out(row)


@registry.route(
    "/sites/<uuid:site_id>/plans/<uuid:plan_id>/approve",
    "POST",
    summary="批准方案并立即生效（企业管理员）",
    tags=["plans"],
    permission=Permission.PLAN_APPROVE,
    response=PlanOut,
)
def approve_plan(site_id: uuid.UUID, plan_id: uuid.UUID) -> ResponseReturnValue:
    principal = check_permission(Permission.PLAN_APPROVE)
    session = get_session()
    site = get_site(session, site_id)
    row = plans.get(session, site.id, plan_id)
    plans.approve(session, row, actor_id=principal.user_id, actor_label=principal.username)
    session.commit()  # the snapshot listener pushes the new rules to the site's bridges
    return plans.plan_out(row)


@registry.route(
    "/sites/<uuid:site_id>/plans/<uuid:plan_id>/withdraw",
    "POST",
    summary="撤回方案草稿",
    tags=["plans"],
    permission=Permission.PLAN_WRITE,
    response=PlanOut,
)
def withdraw_plan(site_id: uuid.UUID, plan_id: uuid.UUID) -> ResponseReturnValue:
    principal = check_permission(Permission.PLAN_WRITE)
    session = get_session()
    site = get_site(session, site_id)
    row = plans.get(session, site.id, plan_id)
    plans.withdraw(session, row, actor_id=principal.user_id, actor_label=principal.username)
    session.commit()
    return plans.plan_out(row)
