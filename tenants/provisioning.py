"""Create a tenant with its first site and administrator, in one transaction."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from saas.auth import audit
from saas.auth.passwords import generate_password, hash_password
from saas.models.identity import Role, User
from saas.models.tenancy import Site, Tenant
from saas.sites import SiteFields
from saas.tenancy import system_context

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=1, max_length=200)]
    slug: Annotated[str, Field(pattern=SLUG_PATTERN, max_length=63)]
    site: SiteFields
    admin_username: Annotated[
        str | None, Field(default=None, min_length=3, max_length=120, pattern=r"^[A-Za-z0-9_.@-]+$")
    ] = None
    admin_display_name: Annotated[str | None, Field(default=None, max_length=120)] = None


class DuplicateSlug(Exception):
    pass


class DuplicateUsername(Exception):
    pass


@dataclass(frozen=True)
class Provisioned:
    tenant_id: uuid.UUID
    site_id: uuid.UUID
    admin_user_id: uuid.UUID
    admin_username: str
    one_time_password: str

    def as_dict(self) -> dict[str, str]:
        return {
            "tenant_id": str(self.tenant_id),
            "site_id": str(self.site_id),
            "admin_username": self.admin_username,
            "admin_user_id": str(self.admin_user_id),
            "one_time_password": self.one_time_password,
        }


def create_tenant(
    session: Session,
    data: TenantCreate,
    *,
    actor_user_id: uuid.UUID | None = None,
    actor_label: str | None = None,
    commit: bool = True,
) -> Provisioned:
    """Validated input in, one committed transaction out; nothing is written on any error.
    ``commit=False`` flushes only: the caller's larger transaction (the console's onboarding
    wizard) commits or rolls back everything together."""
    username = (data.admin_username or f"admin@{data.slug}").lower()
    password = generate_password()
    with system_context("provision tenant"):
        if session.scalar(select(func.count()).select_from(Tenant).where(Tenant.slug == data.slug)):
            raise DuplicateSlug(data.slug)
        if session.scalar(select(func.count()).select_from(User).where(User.username == username)):
            raise DuplicateUsername(username)
        tenant = Tenant(slug=data.slug, name=data.name)
        session.add(tenant)
        session.flush()
        site = Site(tenant_id=tenant.id, **data.site.model_dump())
        admin = User(
            tenant_id=tenant.id,
            username=username,
            display_name=data.admin_display_name or f"{data.name}管理员",
            role=Role.TENANT_ADMIN,
            password_hash=hash_password(password),
            must_change_password=True,
        )
        session.add_all([site, admin])
        session.flush()
        audit.record(
            session,
            "tenant.create",
            tenant_id=tenant.id,
            actor_user_id=actor_user_id,
            actor_label=actor_label or "cli",
            details={"slug": data.slug, "site_id": str(site.id), "admin": username},
        )
        audit.record(
            session,
            "role.grant",
            tenant_id=tenant.id,
            actor_user_id=actor_user_id,
            actor_label=actor_label or "cli",
            details={"user": username, "role": Role.TENANT_ADMIN.value},
        )
        try:
            session.commit() if commit else session.flush()
        except IntegrityError as exc:
            session.rollback()
            if re.search(r"slug", str(exc.orig), re.I):
                raise DuplicateSlug(data.slug) from exc
            raise
    return Provisioned(tenant.id, site.id, admin.id, username, password)
