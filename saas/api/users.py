"""Users of the current tenant (tenant admins)."""

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
from saas.models.identity import User
from saas.users import UserCreate, UserPatch, create_user, get_user, update_user


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    display_name: str
    email: str | None
    role: str
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None


class UserCreated(UserOut):
    one_time_password: str


class UserPage(BaseModel):
    items: list[UserOut]
    next_cursor: str | None


@registry.route(
    "/users",
    "GET",
    summary="本企业用户",
    tags=["users"],
    permission=Permission.USER_MANAGE,
    response=UserPage,
    query=QUERY_PARAMETERS,
)
def list_users() -> ResponseReturnValue:
    rows, cursor = paginate(get_session(), select(User), User.created_at, User.id)
    return items([UserOut.model_validate(r).model_dump(mode="json") for r in rows], cursor)


@registry.route(
    "/users",
    "POST",
    summary="新建用户（一次性密码）",
    tags=["users"],
    permission=Permission.USER_MANAGE,
    body=UserCreate,
    response=UserCreated,
    status=201,
)
def post_user(body: UserCreate) -> ResponseReturnValue:
    principal = check_permission(Permission.USER_MANAGE)
    user, password = create_user(get_session(), principal, body)
    out = UserCreated(**UserOut.model_validate(user).model_dump(), one_time_password=password)
    return out.model_dump(mode="json"), 201


@registry.route(
    "/users/<uuid:user_id>",
    "GET",
    summary="用户详情",
    tags=["users"],
    permission=Permission.USER_MANAGE,
    response=UserOut,
)
def get_user_detail(user_id: uuid.UUID) -> ResponseReturnValue:
    return UserOut.model_validate(get_user(get_session(), user_id)).model_dump(mode="json")


@registry.route(
    "/users/<uuid:user_id>",
    "PATCH",
    summary="修改角色、停用",
    tags=["users"],
    permission=Permission.USER_MANAGE,
    body=UserPatch,
    response=UserOut,
)
def patch_user(user_id: uuid.UUID, body: UserPatch) -> ResponseReturnValue:
    principal = check_permission(Permission.USER_MANAGE)
    session = get_session()
    user = update_user(session, principal, get_user(session, user_id), body)
    return UserOut.model_validate(user).model_dump(mode="json")
