"""API tokens of the caller: create (secret shown once), list, revoke."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from saas.api import items, registry
from saas.api.pagination import QUERY_PARAMETERS, paginate
from saas.auth import audit, service
from saas.auth.permissions import Permission
from saas.auth.principal import check_permission
from saas.db import get_session, utcnow
from saas.errors import NotFound, validation_error
from saas.models.identity import ApiToken


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=1, max_length=100)]
    scopes: Annotated[list[Literal["read", "write"]], Field(min_length=1)]
    expires_at: datetime | None = None


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenOut):
    token: str


class TokenPage(BaseModel):
    items: list[TokenOut]
    next_cursor: str | None


def _own_tokens() -> object:
    principal = check_permission(Permission.TOKEN_MANAGE)
    return select(ApiToken).where(ApiToken.user_id == principal.user_id)


@registry.route(
    "/tokens",
    "POST",
    summary="创建 API 令牌（只显示一次）",
    tags=["identity"],
    permission=Permission.TOKEN_MANAGE,
    body=TokenCreate,
    response=TokenCreated,
    status=201,
)
def create_token(body: TokenCreate) -> ResponseReturnValue:
    principal = check_permission(Permission.TOKEN_MANAGE)
    if body.expires_at is not None and (
        body.expires_at.tzinfo is None or body.expires_at <= utcnow()
    ):
        raise validation_error({"expires_at": "must be a future time with a timezone"})
    session = get_session()
    issued = service.create_token(
        session, principal, name=body.name, scopes=list(body.scopes), expires_at=body.expires_at
    )
    session.commit()
    out = TokenCreated(**TokenOut.model_validate(issued.token).model_dump(), token=issued.secret)
    return out.model_dump(mode="json"), 201


@registry.route(
    "/tokens",
    "GET",
    summary="我的 API 令牌",
    tags=["identity"],
    permission=Permission.TOKEN_MANAGE,
    response=TokenPage,
    query=QUERY_PARAMETERS,
)
def list_tokens() -> ResponseReturnValue:
    rows, cursor = paginate(
        get_session(),
        _own_tokens(),
        ApiToken.created_at,  # type: ignore[arg-type]
        ApiToken.id,
    )
    return items([TokenOut.model_validate(r).model_dump(mode="json") for r in rows], cursor)


@registry.route(
    "/tokens/<uuid:token_id>",
    "DELETE",
    summary="吊销 API 令牌",
    tags=["identity"],
    permission=Permission.TOKEN_MANAGE,
    status=204,
)
def revoke_token(token_id: uuid.UUID) -> ResponseReturnValue:
    principal = check_permission(Permission.TOKEN_MANAGE)
    session = get_session()
    row = session.scalars(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == principal.user_id)
    ).one_or_none()
    if row is None:
        raise NotFound("令牌")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(
            session,
            "token.revoke",
            tenant_id=principal.tenant_id,
            actor_user_id=principal.user_id,
            actor_label=principal.username,
            details={"token_id": str(row.id), "prefix": row.prefix},
        )
        session.commit()
    return "", 204
