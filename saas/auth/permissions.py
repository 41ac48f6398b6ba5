"""Who may do what — in one place. Routes declare a permission; roles map to permission sets."""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from saas.models.identity import Role


class Permission(enum.StrEnum):
    # tenant side
    PORTAL_VIEW = "portal.view"
    SITE_READ = "site.read"
    SITE_WRITE = "site.write"
    USER_MANAGE = "user.manage"
    TOKEN_MANAGE = "token.manage"  # noqa: S105 (a permission name)
    AUDIT_READ = "audit.read"
    REGISTRY_READ = "registry.read"
    REGISTRY_WRITE = "registry.write"
    LEDGER_READ = "ledger.read"
    PASSAGE_RELEASE = "passage.release"
    # provider side
    CONSOLE_VIEW = "console.view"
    TENANT_READ_ALL = "tenant.read_all"
    TENANT_CREATE = "tenant.create"
    SUPPORT_ACCESS = "support.access"
    BILLING_MANAGE = "billing.manage"
    ALERT_MANAGE = "alert.manage"  # issue, end and import heavy-pollution alerts
    RATING_MANAGE = "rating.manage"  # upload rating documents and move their status
    PLAN_WRITE = "plan.write"  # draft 一厂一策 plan versions
    PLAN_APPROVE = "plan.approve"  # put a plan version in force (tenant admins only)


_TENANT_READ = {
    Permission.PORTAL_VIEW,
    Permission.SITE_READ,
    Permission.LEDGER_READ,
    Permission.REGISTRY_READ,
}
_CONSOLE = {Permission.CONSOLE_VIEW, Permission.TENANT_READ_ALL, Permission.TOKEN_MANAGE}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PROVIDER_ADMIN: frozenset(
        _CONSOLE
        | {
            Permission.TENANT_CREATE,
            Permission.SUPPORT_ACCESS,
            Permission.BILLING_MANAGE,
            Permission.ALERT_MANAGE,
            Permission.RATING_MANAGE,
        }
    ),
    Role.PROVIDER_OPS: frozenset(
        _CONSOLE | {Permission.TENANT_CREATE, Permission.SUPPORT_ACCESS, Permission.ALERT_MANAGE}
    ),
    Role.PROVIDER_EXPERT: frozenset(
        _CONSOLE | {Permission.SUPPORT_ACCESS, Permission.RATING_MANAGE}
    ),
    Role.PROVIDER_BILLING: frozenset(_CONSOLE | {Permission.BILLING_MANAGE}),
    Role.TENANT_ADMIN: frozenset(
        _TENANT_READ
        | {
            Permission.SITE_WRITE,
            Permission.REGISTRY_WRITE,
            Permission.USER_MANAGE,
            Permission.TOKEN_MANAGE,
            Permission.AUDIT_READ,
            Permission.PASSAGE_RELEASE,
            Permission.PLAN_WRITE,
            Permission.PLAN_APPROVE,
        }
    ),
    Role.ENV_MANAGER: frozenset(
        _TENANT_READ
        | {
            Permission.SITE_WRITE,
            Permission.PLAN_WRITE,
            Permission.REGISTRY_WRITE,
            Permission.TOKEN_MANAGE,
            Permission.PASSAGE_RELEASE,
        }
    ),
    Role.GUARD: frozenset(_TENANT_READ | {Permission.PASSAGE_RELEASE}),
    Role.VIEWER: frozenset(_TENANT_READ),
}

# What a provider staff member may do inside a tenant during support access: read only.
SUPPORT_PERMISSIONS: frozenset[Permission] = frozenset(
    _TENANT_READ | {Permission.AUDIT_READ, Permission.CONSOLE_VIEW}
)

# API token scopes narrow the owner's permissions further.
TOKEN_SCOPES = ("read", "write")
_WRITE_PERMISSIONS = frozenset(
    {
        Permission.SITE_WRITE,
        Permission.REGISTRY_WRITE,
        Permission.USER_MANAGE,
        Permission.TOKEN_MANAGE,
        Permission.TENANT_CREATE,
        Permission.SUPPORT_ACCESS,
        Permission.BILLING_MANAGE,
        Permission.PASSAGE_RELEASE,
        Permission.ALERT_MANAGE,
        Permission.RATING_MANAGE,
        Permission.PLAN_WRITE,
        Permission.PLAN_APPROVE,
    }
)


def permissions_for(
    role: str, *, support: bool = False, scopes: list[str] | None = None
) -> frozenset[Permission]:
    if support:
        granted = SUPPORT_PERMISSIONS
    else:
        try:
            granted = ROLE_PERMISSIONS[Role(role)]
        except ValueError:
            return frozenset()
    if scopes is not None and "write" not in scopes:
        granted = granted - _WRITE_PERMISSIONS
    if scopes is not None and "read" not in scopes and "write" not in scopes:
        return frozenset()
    return granted


F = TypeVar("F", bound=Callable[..., Any])


def require(permission: Permission) -> Callable[[F], F]:
    """Route decorator: 401 without a principal, 403 without the permission."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from saas.auth.principal import check_permission

            check_permission(permission)
            return view(*args, **kwargs)

        wrapper.required_permission = permission  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator
