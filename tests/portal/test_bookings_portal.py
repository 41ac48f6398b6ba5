"""Portal page of visitor bookings: pending first, then those to come; approve and decline
through CSRF-protected forms (a decline needs its reason); read-only roles see but cannot
decide; another tenant's booking answers 404; visitor text is escaped."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from saas import bookings
from saas.db import get_database
from saas.models.identity import Role
from saas.models.miniprogram import MpUser, VisitorBooking
from saas.models.outbox import OutboxMessage
from saas.models.tenancy import Site
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture, csrf_from, login, make_user

XSS = '<img src=x onerror="alert(1)">'


def _client(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username) == 302
    return client


def _visitor(app: Flask) -> uuid.UUID:
    with get_database(app).sessionmaker() as session:
        user = MpUser(openid="o" + uuid.uuid4().hex[:27])
        session.add(user)
        session.commit()
        return user.id


def _booking(
    app: Flask,
    tenant: TenantFixture,
    *,
    name: str = "王五",
    plate: str | None = "冀B5A001",
    start_in: timedelta = timedelta(hours=2),
    now: datetime | None = None,
    purpose: str = "商务洽谈",
) -> uuid.UUID:
    """A pending booking made through the service (as the mini-program does)."""
    now = now or datetime.now(UTC)
    start = now + start_in
    data = bookings.BookingCreate(
        visitor_name=name,
        phone="13900001111",
        plate=plate,
        purpose=purpose,
        host="赵六",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
    )
    user_id = _visitor(app)
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        row = bookings.create_booking(
            session, site, user_id, data, max_hours=24, max_days_ahead=30, now=now
        )
        return row.id


def _status(app: Flask, tenant: TenantFixture, booking_id: uuid.UUID) -> str:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        row = session.get(VisitorBooking, booking_id)
        assert row is not None
        return row.status


def _notices(app: Flask, tenant: TenantFixture) -> int:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        return len(session.scalars(select(OutboxMessage.id)).all())


def _page(tenant: TenantFixture) -> str:
    return f"/portal/sites/{tenant.site_id}/bookings"


def test_pending_first_then_upcoming_and_decisions_through_the_forms(
    app: Flask, tenant_a: TenantFixture
) -> None:
    later = _booking(app, tenant_a, name="后来者", start_in=timedelta(hours=30))
    sooner = _booking(app, tenant_a, name="先来者", plate="冀B60001", start_in=timedelta(hours=3))
    walking = _booking(app, tenant_a, name="步行访客", plate=None, start_in=timedelta(hours=4))
    client = _client(app, tenant_a.admin_username)

    index = client.get("/portal/bookings").get_data(as_text=True)
    assert _page(tenant_a) in index
    assert "<strong>3</strong>" in index  # pending at the site
    home = client.get("/portal/").get_data(as_text=True)
    assert "/portal/bookings" in home

    html = client.get(_page(tenant_a)).get_data(as_text=True)
    pending = html[html.index('id="pending"') : html.index('id="upcoming"')]
    assert pending.index(str(sooner)) < pending.index(str(walking)) < pending.index(str(later))

    token = csrf_from(client, _page(tenant_a))
    approved = client.post(
        f"{_page(tenant_a)}/{sooner}/approve", data={"csrf_token": token, "note": "带好身份证"}
    )
    assert approved.status_code == 302
    assert _status(app, tenant_a, sooner) == "approved"
    html = client.get(_page(tenant_a)).get_data(as_text=True)
    upcoming = html[html.index('id="upcoming"') : html.index('id="others"')]
    assert str(sooner) in upcoming
    assert "带好身份证" in upcoming
    assert str(sooner) not in html[html.index('id="pending"') : html.index('id="upcoming"')]

    # Declining needs the reason the visitor will read: 422 on the page, nothing changed.
    refused = client.post(f"{_page(tenant_a)}/{later}/decline", data={"csrf_token": token})
    assert refused.status_code == 422
    assert 'data-field="note"' in refused.get_data(as_text=True)
    assert _status(app, tenant_a, later) == "pending"
    too_long = client.post(
        f"{_page(tenant_a)}/{later}/decline", data={"csrf_token": token, "note": "长" * 201}
    )
    assert too_long.status_code == 422
    assert _status(app, tenant_a, later) == "pending"
    declined = client.post(
        f"{_page(tenant_a)}/{later}/decline", data={"csrf_token": token, "note": "当日停产检修"}
    )
    assert declined.status_code == 302
    assert _status(app, tenant_a, later) == "declined"
    others = client.get(_page(tenant_a)).get_data(as_text=True)
    assert "当日停产检修" in others[others.index('id="others"') :]
    assert _notices(app, tenant_a) == 2  # one notice per decision

    # Without the CSRF token nothing happens.
    forged = client.post(f"{_page(tenant_a)}/{walking}/approve", data={})
    assert forged.status_code == 400
    assert _status(app, tenant_a, walking) == "pending"


def test_a_past_pending_booking_cannot_be_approved(app: Flask, tenant_a: TenantFixture) -> None:
    past = _booking(app, tenant_a, now=datetime.now(UTC) - timedelta(hours=5))
    client = _client(app, tenant_a.admin_username)
    html = client.get(_page(tenant_a)).get_data(as_text=True)
    assert "时段已过" in html
    assert f"{past}/approve" not in html
    answer = client.post(
        f"{_page(tenant_a)}/{past}/approve", data={"csrf_token": csrf_from(client, _page(tenant_a))}
    )
    assert answer.status_code == 302
    assert "预约时段已过" in client.get(_page(tenant_a)).get_data(as_text=True)
    assert _status(app, tenant_a, past) == "pending"
    assert _notices(app, tenant_a) == 0


def test_read_only_roles_see_but_cannot_decide(app: Flask, tenant_a: TenantFixture) -> None:
    booking = _booking(app, tenant_a)
    viewer = make_user(app, Role.VIEWER, tenant_a.tenant_id)
    client = _client(app, viewer.username)
    html = client.get(_page(tenant_a)).get_data(as_text=True)
    assert str(booking) in html
    assert f"{booking}/approve" not in html
    token = csrf_from(client, _page(tenant_a))
    for action in ("approve", "decline"):
        answer = client.post(
            f"{_page(tenant_a)}/{booking}/{action}", data={"csrf_token": token, "note": "x"}
        )
        assert answer.status_code == 403
    assert _status(app, tenant_a, booking) == "pending"
    manager = make_user(app, Role.ENV_MANAGER, tenant_a.tenant_id)
    managing = _client(app, manager.username)
    answer = managing.post(
        f"{_page(tenant_a)}/{booking}/approve",
        data={"csrf_token": csrf_from(managing, _page(tenant_a))},
    )
    assert answer.status_code == 302
    assert _status(app, tenant_a, booking) == "approved"


def test_another_tenants_booking_is_404_and_unchanged(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    booking = _booking(app, tenant_a)
    client = _client(app, tenant_b.admin_username)
    token = csrf_from(client, _page(tenant_b))
    assert client.get(_page(tenant_a)).status_code == 404
    assert str(booking) not in client.get(_page(tenant_b)).get_data(as_text=True)
    for page in (_page(tenant_a), _page(tenant_b)):
        for action in ("approve", "decline"):
            answer = client.post(
                f"{page}/{booking}/{action}", data={"csrf_token": token, "note": "拒绝"}
            )
            assert answer.status_code == 404
    assert _status(app, tenant_a, booking) == "pending"
    assert _notices(app, tenant_a) == 0


def test_visitor_text_is_escaped(app: Flask, tenant_a: TenantFixture) -> None:
    _booking(app, tenant_a, name=XSS[:50], purpose=XSS)
    html = _client(app, tenant_a.admin_username).get(_page(tenant_a)).get_data(as_text=True)
    assert XSS not in html
    assert re.search(r"&lt;img src=x onerror=(&#34;|&quot;)alert\(1\)", html)
