"""The authenticated principal of a request, and the tenant context it implies."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from flask import abort, g
from flask_babel import gettext as _

from saas.auth.permissions import Permission


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    username: str
    display_name: str
    role: str
    tenant_id: uuid.UUID | None
    via: str  # "session" | "token"
    permissions: frozenset[Permission] = field(default_factory=frozenset)
    support_grant_id: uuid.UUID | None = None
    session_id: str | None = None
    must_change_password: bool = False

    @property
    def is_provider(self) -> bool:
        return self.role.startswith("provider_")

    @property
    def acting_tenant_id(self) -> uuid.UUID | None:
        """The tenant whose data this request may see (own tenant, or the support grant's)."""
        return self.tenant_id

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


def current_principal() -> Principal | None:
    return g.get("principal")


def check_permission(permission: Permission) -> Principal:
    principal = current_principal()
    if principal is None:
        abort(401, description=_("请先登录"))
    if not principal.can(permission):
        abort(403, description=_("没有权限执行此操作"))
    return principal
