"""Site contacts: input validation and the service functions behind the API.

A contact belongs to one site of the current tenant. Each enabled channel needs its address
(SMS → mobile number, WeChat → openid, e-mail → address): a 422 names the missing field and
nothing is written. Changes are audited (``site_contact.create|update|delete``) with the names
of the changed fields, never their values.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool
from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.orm import Session

from saas.auth import audit
from saas.db import utcnow
from saas.errors import NotFound, validation_error
from saas.models.outbox import OutboxMessage, SiteContact
from saas.models.tenancy import Site

_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})+$")
_OPENID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def _phone(value: str | None) -> str | None:
    """A mainland mobile number; ``+86``/``86`` prefixes, spaces and dashes are dropped."""
    if value is None or value == "":
        return None
    digits = re.sub(r"[\s-]", "", value)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not _MOBILE.match(digits):
        raise PydanticCustomError("phone_invalid", "手机号无效：需为11位中国大陆手机号")
    return digits


def _email(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > 254 or not _EMAIL.match(value):
        raise PydanticCustomError("email_invalid", "电子邮箱地址无效")
    return value


def _openid(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not _OPENID.match(value):
        raise PydanticCustomError("openid_invalid", "微信 openid 无效")
    return value


Phone = Annotated[str | None, Field(default=None, max_length=30), AfterValidator(_phone)]
Email = Annotated[str | None, Field(default=None, max_length=254), AfterValidator(_email)]
OpenId = Annotated[str | None, Field(default=None, max_length=64), AfterValidator(_openid)]
Name = Annotated[str, Field(min_length=1, max_length=100)]


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name
    phone: Phone = None
    email: Email = None
    wechat_openid: OpenId = None
    notify_sms: StrictBool = True
    notify_wechat: StrictBool = False
    notify_email: StrictBool = False
    active: StrictBool = True


class ContactPatch(BaseModel):
    """Only the fields given change; ``null`` clears an address."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name | None = None
    phone: Phone = None
    email: Email = None
    wechat_openid: OpenId = None
    notify_sms: StrictBool | None = None
    notify_wechat: StrictBool | None = None
    notify_email: StrictBool | None = None
    active: StrictBool | None = None


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    site_id: uuid.UUID
    name: str
    phone: str | None
    email: str | None
    wechat_openid: str | None
    notify_sms: bool
    notify_wechat: bool
    notify_email: bool
    active: bool
    created_at: datetime
    updated_at: datetime


class NotificationOut(BaseModel):
    """An outbox row as the tenant sees it: what was sent to whom and how it went."""

    id: uuid.UUID
    site_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    channel: str
    recipient: str
    template: str
    event: str | None
    alert_id: str | None
    subject: str
    text: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    provider_message_id: str | None
    created_at: datetime
    sent_at: datetime | None


def notification_out(row: OutboxMessage) -> dict[str, Any]:
    payload = row.payload or {}
    return NotificationOut(
        id=row.id,
        site_id=row.site_id,
        contact_id=row.contact_id,
        channel=row.channel,
        recipient=row.recipient,
        template=row.template,
        event=payload.get("event"),
        alert_id=payload.get("alert_id"),
        subject=row.subject,
        text=str(payload.get("text", "")),
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
        last_error=row.last_error,
        provider_message_id=row.provider_message_id,
        created_at=row.created_at,
        sent_at=row.sent_at,
    ).model_dump(mode="json")


_ADDRESS = {"notify_sms": "phone", "notify_wechat": "wechat_openid", "notify_email": "email"}
_REASON = {
    "phone": "开启短信通知需要手机号",
    "wechat_openid": "开启微信通知需要微信 openid",
    "email": "开启邮件通知需要电子邮箱",
}


def _check_channels(state: dict[str, Any]) -> None:
    missing = {
        address: _REASON[address]
        for flag, address in _ADDRESS.items()
        if state.get(flag) and not state.get(address)
    }
    if missing:
        raise validation_error(missing)


def get_contact(session: Session, site: Site, contact_id: uuid.UUID) -> SiteContact:
    """The contact of ``site`` (current tenant), or 404 — another tenant's answers the same."""
    row = session.scalars(
        select(SiteContact).where(SiteContact.id == contact_id, SiteContact.site_id == site.id)
    ).one_or_none()
    if row is None:
        raise NotFound("联系人")
    return row


def create_contact(
    session: Session, site: Site, body: ContactCreate, *, actor_id: uuid.UUID | None
) -> SiteContact:
    data = body.model_dump()
    _check_channels(data)
    contact = SiteContact(site_id=site.id, tenant_id=site.tenant_id, **data)
    session.add(contact)
    session.flush()
    audit.record(
        session,
        "site_contact.create",
        tenant_id=site.tenant_id,
        actor_user_id=actor_id,
        details={"site_id": str(site.id), "contact_id": str(contact.id)},
    )
    session.commit()
    return contact


def update_contact(
    session: Session, contact: SiteContact, body: ContactPatch, *, actor_id: uuid.UUID | None
) -> SiteContact:
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise validation_error({"name": "不能为空"})
    for flag in ("notify_sms", "notify_wechat", "notify_email", "active"):
        if flag in changes and changes[flag] is None:
            raise validation_error({flag: "需为 true 或 false"})
    state = {c: getattr(contact, c) for c in ContactCreate.model_fields} | changes
    _check_channels(state)
    for name, value in changes.items():
        setattr(contact, name, value)
    contact.updated_at = utcnow()
    audit.record(
        session,
        "site_contact.update",
        tenant_id=contact.tenant_id,
        actor_user_id=actor_id,
        details={
            "site_id": str(contact.site_id),
            "contact_id": str(contact.id),
            "fields": sorted(changes),
        },
    )
    session.commit()
    return contact


def delete_contact(session: Session, contact: SiteContact, *, actor_id: uuid.UUID | None) -> None:
    """Delete the contact; notifications already queued or sent stay on record."""
    audit.record(
        session,
        "site_contact.delete",
        tenant_id=contact.tenant_id,
        actor_user_id=actor_id,
        details={"site_id": str(contact.site_id), "contact_id": str(contact.id)},
    )
    session.delete(contact)
    session.commit()
