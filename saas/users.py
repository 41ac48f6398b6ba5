"""User management inside a tenant (tenant admins) and provider-staff bootstrap (CLI)."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from saas import entitlements
from saas.auth import audit, service
from saas.auth.passwords import generate_password, hash_password
from saas.auth.principal import Principal
from saas.errors import ApiError, NotFound
from saas.models.identity import Role, User
from saas.tenancy import system_context

TENANT_ROLES = tuple(r.value for r in Role if not r.is_provider)
USERNAME = Annotated[str, Field(min_length=3, max_length=120, pattern=r"^[A-Za-z0-9_.@-]+$")]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    username: USERNAME
    display_name: Annotated[str, Field(min_length=1, max_length=120)]
    role: Annotated[str, Field(pattern="^(" + "|".join(TENANT_ROLES) + ")$")]
    email: Annotated[
        str | None, Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    ] = None


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    display_name: Annotated[str | None, Field(default=None, min_length=1, max_length=120)] = None
    role: Annotated[
        str | None, Field(default=None, pattern="^(" + "|".join(TENANT_ROLES) + ")$")
    ] = None
    is_active: bool | None = None


def username_taken(session: Session, username: str) -> bool:
    with system_context("username uniqueness"):
        return bool(
            session.scalar(select(func.count()).select_from(User).where(User.username == username))
        )


def create_user(session: Session, actor: Principal, data: UserCreate) -> tuple[User, str]:
    """A new user in the actor's tenant with a one-time password (to be changed at login)."""
    if actor.tenant_id is not None:  # inviting users is a convenience billing may hold back
        entitlements.check(session, entitlements.USER_INVITE, actor.tenant_id)
    username = data.username.lower()
    if username_taken(session, username):
        raise ApiError(
            409, "conflict", "用户名已被使用", {"fields": {"username": "already exists"}}
        )
    password = generate_password()
    user = User(
        username=username,
        display_name=data.display_name,
        role=data.role,
        email=data.email.lower() if data.email else None,
        password_hash=hash_password(password),
        must_change_password=True,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        "role.grant",
        tenant_id=actor.tenant_id,
        actor_user_id=actor.user_id,
        actor_label=actor.username,
        details={"user": username, "role": data.role},
    )
    session.commit()
    return user, password


def get_user(session: Session, user_id: uuid.UUID) -> User:
    user = session.scalars(select(User).where(User.id == user_id)).one_or_none()
    if user is None:
        raise NotFound("用户")
    return user


def update_user(session: Session, actor: Principal, user: User, patch: UserPatch) -> User:
    changes = patch.model_dump(exclude_unset=True, exclude_none=True)
    if user.id == actor.user_id and ("role" in changes or changes.get("is_active") is False):
        raise ApiError(
            422,
            "validation_failed",
            "不能修改自己的角色或停用自己",
            {"fields": {"role" if "role" in changes else "is_active": "self"}},
        )
    if "role" in changes and changes["role"] != user.role:
        audit.record(
            session,
            "role.change",
            tenant_id=user.tenant_id,
            actor_user_id=actor.user_id,
            actor_label=actor.username,
            details={"user": user.username, "from": user.role, "to": changes["role"]},
        )
        service.revoke_user_sessions(session, user.id)
    if changes.get("is_active") is False and user.is_active:
        audit.record(
            session,
            "user.deactivate",
            tenant_id=user.tenant_id,
            actor_user_id=actor.user_id,
            actor_label=actor.username,
            details={"user": user.username},
        )
        service.revoke_user_sessions(session, user.id)
    for name, value in changes.items():
        setattr(user, name, value)
    session.commit()
    return user


def create_staff(
    session: Session, username: str, display_name: str, role: str, email: str | None
) -> tuple[User, str]:
    """Provider staff (no tenant). Used by `cleangate staff create` to bootstrap the console."""
    if role not in {r.value for r in Role if r.is_provider}:
        raise ValueError(f"role must be one of the provider roles, got {role!r}")
    if username_taken(session, username.lower()):
        raise ValueError(f"username {username!r} already exists")
    password = generate_password()
    with system_context("create provider staff"):
        user = User(
            username=username.lower(),
            display_name=display_name,
            role=role,
            email=email.lower() if email else None,
            password_hash=hash_password(password),
            must_change_password=True,
        )
        session.add(user)
        session.flush()
        audit.record(
            session,
            "role.grant",
            tenant_id=None,
            actor_label="cli",
            details={"user": user.username, "role": role},
        )
        session.commit()
    return user, password
