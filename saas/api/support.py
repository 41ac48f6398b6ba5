"""Support access: provider staff enter one tenant's data for a stated reason and a limited
time; the tenant sees every grant."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from flask import session as cookie_session
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from saas.api import items, registry
from saas.api.pagination import QUERY_PARAMETERS, paginate
from saas.auth import service
from saas.auth.permissions import Permission
from saas.auth.principal import check_permission
from saas.db import get_session
from saas.errors import NotFound
from saas.models.identity import SupportGrant
from saas.models.tenancy import Tenant
from saas.tenancy import system_context


class SupportStart(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    tenant_id: uuid.UUID
    reason: Annotated[str, Field(min_length=5, max_length=500)]
    minutes: Annotated[int, Field(ge=1, le=service.MAX_SUPPORT_MINUTES)] = 60


class GrantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    tenant_id: uuid.UUID
    staff_user_id: uuid.UUID
    reason: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None


class GrantPage(BaseModel):
    items: list[GrantOut]
    next_cursor: str | None


@registry.route(
    "/support-grants",
    "POST",
    summary="开始支持访问（限时、需理由、留痕）",
    tags=["support"],
    permission=Permission.SUPPORT_ACCESS,
    body=SupportStart,
    response=GrantOut,
    status=201,
)
def start_support(body: SupportStart) -> ResponseReturnValue:
    principal = check_permission(Permission.SUPPORT_ACCESS)
    session = get_session()
    with system_context("support access: tenant exists"):
        if session.get(Tenant, body.tenant_id) is None:
            raise NotFound("企业")
    grant = service.start_support(session, principal, body.tenant_id, body.reason, body.minutes)
    if principal.via == "session":
        cookie_session["support_grant"] = str(grant.id)
    return GrantOut.model_validate(grant).model_dump(mode="json"), 201


@registry.route(
    "/support-grants/<uuid:grant_id>",
    "DELETE",
    summary="结束支持访问",
    tags=["support"],
    permission=Permission.CONSOLE_VIEW,
    status=204,
)
def end_support(grant_id: uuid.UUID) -> ResponseReturnValue:
    principal = check_permission(Permission.CONSOLE_VIEW)
    if not service.end_support(get_session(), principal, grant_id):
        raise NotFound("支持访问")
    cookie_session.pop("support_grant", None)
    return "", 204


@registry.route(
    "/support-grants",
    "GET",
    summary="本企业的支持访问记录",
    tags=["support"],
    permission=Permission.AUDIT_READ,
    response=GrantPage,
    query=QUERY_PARAMETERS,
)
def list_support_grants() -> ResponseReturnValue:
    rows, cursor = paginate(
        get_session(), select(SupportGrant), SupportGrant.created_at, SupportGrant.id
    )
    return items([GrantOut.model_validate(r).model_dump(mode="json") for r in rows], cursor)
