"""A site's notification contacts and the notifications sent to them (docs/notifications.md).
Thin routes over ``saas.notify.contacts``; another tenant's site or contact answers 404."""

from __future__ import annotations

import uuid

from flask import request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from sqlalchemy import select

from saas.api import items, registry
from saas.api.pagination import QUERY_PARAMETERS, paginate
from saas.auth.permissions import Permission
from saas.auth.principal import current_principal
from saas.db import get_session
from saas.errors import validation_error
from saas.models.outbox import STATUSES, OutboxMessage, SiteContact
from saas.notify import contacts
from saas.notify.contacts import ContactCreate, ContactOut, ContactPatch, NotificationOut
from saas.sites import get_site


class ContactPage(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None


def _actor() -> uuid.UUID | None:
    principal = current_principal()
    return principal.user_id if principal is not None else None


def _out(row: SiteContact) -> dict[str, object]:
    return ContactOut.model_validate(row).model_dump(mode="json")


@registry.route(
    "/sites/<uuid:site_id>/contacts",
    "GET",
    summary="站点通知联系人列表",
    tags=["notifications"],
    permission=Permission.SITE_READ,
    response=ContactPage,
    query=QUERY_PARAMETERS,
)
def list_site_contacts(site_id: uuid.UUID) -> ResponseReturnValue:
    session = get_session()
    site = get_site(session, site_id)
    stmt = select(SiteContact).where(SiteContact.site_id == site.id)
    rows, cursor = paginate(session, stmt, SiteContact.created_at, SiteContact.id)
    return items([_out(r) for r in rows], cursor)


@registry.route(
    "/sites/<uuid:site_id>/contacts",
    "POST",
    summary="添加站点通知联系人（开启的渠道须有对应的手机号/openid/邮箱）",
    tags=["notifications"],
    permission=Permission.SITE_WRITE,
    body=ContactCreate,
    response=ContactOut,
    status=201,
)
def create_site_contact(site_id: uuid.UUID, body: ContactCreate) -> ResponseReturnValue:
    session = get_session()
    site = get_site(session, site_id)
    return _out(contacts.create_contact(session, site, body, actor_id=_actor())), 201


@registry.route(
    "/sites/<uuid:site_id>/contacts/<uuid:contact_id>",
    "PATCH",
    summary="修改站点通知联系人（只改所给字段）",
    tags=["notifications"],
    permission=Permission.SITE_WRITE,
    body=ContactPatch,
    response=ContactOut,
)
def patch_site_contact(
    site_id: uuid.UUID, contact_id: uuid.UUID, body: ContactPatch
) -> ResponseReturnValue:
    session = get_session()
    contact = contacts.get_contact(session, get_site(session, site_id), contact_id)
    return _out(contacts.update_contact(session, contact, body, actor_id=_actor()))


@registry.route(
    "/sites/<uuid:site_id>/contacts/<uuid:contact_id>",
    "DELETE",
    summary="删除站点通知联系人（已发送的通知记录保留）",
    tags=["notifications"],
    permission=Permission.SITE_WRITE,
    status=204,
)
def delete_site_contact(site_id: uuid.UUID, contact_id: uuid.UUID) -> ResponseReturnValue:
    session = get_session()
    contact = contacts.get_contact(session, get_site(session, site_id), contact_id)
    contacts.delete_contact(session, contact, actor_id=_actor())
    return "", 204


@registry.route(
    "/sites/<uuid:site_id>/notifications",
    "GET",
    summary="站点最近的通知（短信、微信、邮件）及投递状态",
    tags=["notifications"],
    permission=Permission.SITE_READ,
    response=NotificationPage,
    query=[
        *QUERY_PARAMETERS,
        {
            "name": "status",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": list(STATUSES)},
        },
    ],
)
def list_site_notifications(site_id: uuid.UUID) -> ResponseReturnValue:
    session = get_session()
    site = get_site(session, site_id)
    stmt = select(OutboxMessage).where(OutboxMessage.site_id == site.id)
    status = request.args.get("status")
    if status:
        if status not in STATUSES:
            raise validation_error({"status": f"one of {', '.join(STATUSES)}"}, "查询参数有误")
        stmt = stmt.where(OutboxMessage.status == status)
    rows, cursor = paginate(session, stmt, OutboxMessage.created_at, OutboxMessage.id)
    return items([contacts.notification_out(r) for r in rows], cursor)
