"""Sites of the current tenant."""

from __future__ import annotations

import uuid

from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from sqlalchemy import select

from saas.api import items, registry
from saas.api.pagination import QUERY_PARAMETERS, paginate
from saas.auth.permissions import Permission
from saas.db import get_session
from saas.models.tenancy import Site
from saas.sites import SiteOut, SitePatch, get_site, update_site


class SitePage(BaseModel):
    items: list[SiteOut]
    next_cursor: str | None


@registry.route(
    "/sites",
    "GET",
    summary="列出本企业的站点",
    tags=["sites"],
    permission=Permission.SITE_READ,
    response=SitePage,
    query=QUERY_PARAMETERS,
)
def list_sites() -> ResponseReturnValue:
    rows, cursor = paginate(get_session(), select(Site), Site.created_at, Site.id)
    return items([SiteOut.model_validate(r).model_dump(mode="json") for r in rows], cursor)


@registry.route(
    "/sites/<uuid:site_id>",
    "GET",
    summary="站点详情",
    tags=["sites"],
    permission=Permission.SITE_READ,
    response=SiteOut,
)
def get_site_detail(site_id: uuid.UUID) -> ResponseReturnValue:
    return SiteOut.model_validate(get_site(get_session(), site_id)).model_dump(mode="json")


@registry.route(
    "/sites/<uuid:site_id>",
    "PATCH",
    summary="修改站点信息",
    tags=["sites"],
    permission=Permission.SITE_WRITE,
    body=SitePatch,
    response=SiteOut,
)
def patch_site(site_id: uuid.UUID, body: SitePatch) -> ResponseReturnValue:
    session = get_session()
    site = update_site(session, get_site(session, site_id), body)
    return SiteOut.model_validate(site).model_dump(mode="json")
