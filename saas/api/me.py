"""The caller's own identity."""

from __future__ import annotations

import uuid

from flask.typing import ResponseReturnValue
from flask_wtf.csrf import generate_csrf
from pydantic import BaseModel

from saas.api import registry
from saas.auth.permissions import Permission
from saas.auth.principal import check_permission


class MeOut(BaseModel):
    user_id: uuid.UUID
    username: str
    display_name: str
    role: str
    tenant_id: uuid.UUID | None
    permissions: list[str]
    support_grant_id: uuid.UUID | None
    csrf_token: str | None


def _any_permission() -> None:
    """/me needs only a principal."""


@registry.route(
    "/me", "GET", summary="当前用户", tags=["identity"], permission=None, response=MeOut
)
def me() -> ResponseReturnValue:
    from saas.auth.principal import current_principal

    principal = current_principal()
    if principal is None:
        check_permission(Permission.PORTAL_VIEW)  # raises 401
        raise AssertionError("unreachable")
    return MeOut(
        user_id=principal.user_id,
        username=principal.username,
        display_name=principal.display_name,
        role=principal.role,
        tenant_id=principal.tenant_id,
        permissions=sorted(p.value for p in principal.permissions),
        support_grant_id=principal.support_grant_id,
        csrf_token=generate_csrf() if principal.via == "session" else None,
    ).model_dump(mode="json")
