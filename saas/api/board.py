"""The public board's address per site: read it (minted on first use) and rotate it
(docs/board.md)."""

from __future__ import annotations

import uuid

from flask import current_app
from flask.typing import ResponseReturnValue
from pydantic import BaseModel

from saas.api import registry
from saas.auth.permissions import Permission
from saas.auth.principal import check_permission
from saas.board import tokens
from saas.db import get_session
from saas.sites import get_site


class BoardLinkOut(BaseModel):
    site_id: uuid.UUID
    url: str  # /board/<token>: public, no login; rotate it to revoke
    json_url: str


def _out(site_id: uuid.UUID, token: str) -> dict[str, str]:
    url = tokens.board_url(current_app.config["CLEANGATE_SETTINGS"].base_url, token)
    return {"site_id": str(site_id), "url": url, "json_url": f"{url}.json"}


@registry.route(
    "/sites/<uuid:site_id>/board",
    "GET",
    summary="站点一厂一策公示大屏地址（首次读取时生成）",
    tags=["board"],
    permission=Permission.SITE_READ,
    response=BoardLinkOut,
)
def get_board_link(site_id: uuid.UUID) -> ResponseReturnValue:
    principal = check_permission(Permission.SITE_READ)
    session = get_session()
    site = get_site(session, site_id)
    token = tokens.ensure_token(
        session, site, actor_id=principal.user_id, actor_label=principal.username
    )
    session.commit()
    return _out(site.id, token)


@registry.route(
    "/sites/<uuid:site_id>/board-token",
    "POST",
    summary="更换公示大屏地址（旧地址立即失效）",
    tags=["board"],
    permission=Permission.SITE_WRITE,
    response=BoardLinkOut,
)
def rotate_board_token(site_id: uuid.UUID) -> ResponseReturnValue:
    principal = check_permission(Permission.SITE_WRITE)
    session = get_session()
    site = get_site(session, site_id)
    token = tokens.rotate(session, site, actor_id=principal.user_id, actor_label=principal.username)
    session.commit()
    return _out(site.id, token)
