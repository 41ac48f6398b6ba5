"""Provider-side tenant endpoints on /api/v1 (added to saas.api's registry by tenants.init_app)."""

from __future__ import annotations

import uuid
from datetime import datetime

from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from saas.api import items, registry
from saas.api.pagination import QUERY_PARAMETERS, paginate
from saas.auth.permissions import Permission
from saas.auth.principal import check_permission
from saas.db import get_session
from saas.errors import ApiError
from saas.models.tenancy import Tenant
from saas.tenancy import system_context
from tenants.provisioning import DuplicateSlug, DuplicateUsername, TenantCreate, create_tenant


class ProvisionedOut(BaseModel):
    tenant_id: uuid.UUID
    site_id: uuid.UUID
    admin_user_id: uuid.UUID
    admin_username: str
    one_time_password: str


class TenantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    slug: str
    name: str
    status: str
    created_at: datetime


class TenantPage(BaseModel):
    items: list[TenantOut]
    next_cursor: str | None


@registry.route(
    "/tenants",
    "POST",
    summary="开通企业（含首个站点和管理员）",
    tags=["tenants"],
    permission=Permission.TENANT_CREATE,
    body=TenantCreate,
    response=ProvisionedOut,
    status=201,
)
def provision_tenant(body: TenantCreate) -> ResponseReturnValue:
    principal = check_permission(Permission.TENANT_CREATE)
    try:
        result = create_tenant(
            get_session(), body, actor_user_id=principal.user_id, actor_label=principal.username
        )
    except DuplicateSlug:
        raise ApiError(
            409, "conflict", "企业标识已被使用", {"fields": {"slug": "already exists"}}
        ) from None
    except DuplicateUsername:
        raise ApiError(
            409,
            "conflict",
            "管理员用户名已被使用",
            {"fields": {"admin_username": "already exists"}},
        ) from None
    return result.as_dict(), 201


@registry.route(
    "/tenants",
    "GET",
    summary="全部企业（服务商）",
    tags=["tenants"],
    permission=Permission.TENANT_READ_ALL,
    response=TenantPage,
    query=QUERY_PARAMETERS,
)
def list_tenants() -> ResponseReturnValue:
    check_permission(Permission.TENANT_READ_ALL)
    with system_context("provider: tenant list"):
        rows, cursor = paginate(get_session(), select(Tenant), Tenant.created_at, Tenant.id)
        return items([TenantOut.model_validate(r).model_dump(mode="json") for r in rows], cursor)
