"""Dunning: the daily run marks invoices overdue and queues reminders by e-mail and WeChat in the
notification outbox (at most one per invoice per interval, however often it runs); after the
grace period only the convenience features stop — an export window over 30 days and inviting
users answer 402 naming the invoice — and they come back with the payment."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from billing import dunning, payments
from billing.dunning_cli import dunning_command
from saas.db import get_database
from saas.models.billing import Invoice
from saas.models.identity import Role
from saas.settings import BillingSettings, NotifySettings
from saas.tenancy import tenant_context
from tests.billing.conftest import BillingTenant, issue
from tests.billing.payment_helpers import (
    audit_events,
    form_post,
    invoice_of,
    logged_in,
    make_invoice,
    outbox,
    subscribe,
)
from tests.conftest import TenantFixture, api_csrf, login, make_user

TODAY = payments.china_today()


def _run(
    app: Flask, tenant: TenantFixture, today: date, notify: NotifySettings | None = None
) -> dunning.DunningCounts:
    """One run limited to ``tenant`` (the test database holds other tests' invoices)."""
    settings = app.config["CLEANGATE_SETTINGS"]
    with app.app_context():
        return dunning.run(
            get_database(app).sessionmaker,
            settings=settings.billing,
            notify=notify or settings.notify,
            base_url="https://cg.example",
            today=today,
            tenant_ids={tenant.tenant_id},
        )


def _cli(app: Flask, today: date, *tenants: TenantFixture) -> str:
    args = ["--today", today.isoformat()]
    for tenant in tenants:
        args += ["--tenant", str(tenant.tenant_id)]
    result = app.test_cli_runner().invoke(dunning_command, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_overdue_invoices_get_one_reminder_per_interval(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    subscribe(app, tenant_a)
    subscribe(app, tenant_b)
    due = TODAY - timedelta(days=20)
    late = make_invoice(app, tenant_a, total="2385.00", due_on=due)
    current = make_invoice(app, tenant_b, due_on=TODAY + timedelta(days=3))

    assert _run(app, tenant_a, due).marked_overdue == 0  # on the due date it is not late yet
    assert invoice_of(app, tenant_a, late).status == "open"
    output = _cli(app, due + timedelta(days=1), tenant_a, tenant_b)
    assert "marked overdue 1" in output
    assert "messages queued 2" in output
    invoice = invoice_of(app, tenant_a, late)
    assert (invoice.status, invoice.reminders_sent) == ("overdue", 1)
    messages = outbox(app, tenant_a)
    assert [(m.channel, m.recipient) for m in messages] == [
        ("email", "finance@example.com"),
        ("wechat", "oBILLING-openid-0001"),
    ]
    email = messages[0]
    assert invoice.number in email.subject
    assert "¥2,385.00" in email.payload["text"]
    assert due.isoformat() in email.payload["text"]
    portal = app.config["CLEANGATE_SETTINGS"].base_url + "/portal/billing"
    assert portal in email.payload["text"]
    assert messages[1].payload["values"]["invoice"] == invoice.number

    # the same day again, and the next two days: nothing more
    for offset in (1, 2, 3):
        counts = _run(app, tenant_a, due + timedelta(days=offset))
        assert counts.messages == 0
    assert len(outbox(app, tenant_a)) == 2
    assert invoice_of(app, tenant_a, late).reminders_sent == 1
    # three days after the first reminder (BILLING_REMINDER_INTERVAL_DAYS=3): the second
    assert _run(app, tenant_a, due + timedelta(days=4)).messages == 2
    assert invoice_of(app, tenant_a, late).reminders_sent == 2
    assert len(outbox(app, tenant_a)) == 4
    reminders = audit_events(app, tenant_a, "billing.invoice.reminder")
    assert [e.details["reminder"] for e in reminders] == [1, 2]
    assert [e.details["to"] for e in audit_events(app, tenant_a, "billing.invoice.status")] == [
        "overdue"
    ]
    # the other tenant's invoice is not due: untouched
    assert invoice_of(app, tenant_b, current).status == "open"
    assert outbox(app, tenant_b) == []


def test_paid_and_void_invoices_are_left_alone(app: Flask, tenant_a: TenantFixture) -> None:
    subscribe(app, tenant_a)
    paid = make_invoice(app, tenant_a, due_on=TODAY - timedelta(days=40), status="paid")
    void = make_invoice(app, tenant_a, due_on=TODAY - timedelta(days=40), status="void")
    _run(app, tenant_a, TODAY)
    assert invoice_of(app, tenant_a, paid).status == "paid"
    assert invoice_of(app, tenant_a, void).status == "void"
    assert outbox(app, tenant_a) == []


def test_a_fully_paid_open_invoice_becomes_paid_not_overdue(
    app: Flask, tenant_a: TenantFixture
) -> None:
    """Reconciliation first: money that arrived before the run wins over the due date."""
    subscribe(app, tenant_a)
    invoice_id = make_invoice(app, tenant_a, total="10.00", due_on=TODAY - timedelta(days=2))
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        from saas.models.billing import Payment

        session.add(
            Payment(
                invoice_id=invoice_id,
                method="bank_transfer",
                status="succeeded",
                amount=Decimal("10.00"),
                external_id=f"R{uuid.uuid4().hex[:12]}",
                received_at=datetime.now(UTC),
            )
        )
        session.commit()
    assert _run(app, tenant_a, TODAY).messages == 0
    assert invoice_of(app, tenant_a, invoice_id).status == "paid"


def test_the_wechat_channel_sends_reminders_with_their_own_template(app: Flask) -> None:
    """``invoice_reminder`` has its own subscribe template (never sent as a pollution alert);
    without ``WECHAT_TEMPLATE_INVOICE`` the WeChat row fails for good, naming the variable."""
    from saas.notify.channels import Outgoing, PermanentError
    from saas.notify.channels.wechat import WeChatSubscribe

    def channel(template: str) -> WeChatSubscribe:
        settings = replace(
            NotifySettings(),
            wechat_provider="wechat",
            wechat_app_id="wx0123456789abcdef",
            wechat_app_secret="secret",
            wechat_template_alert="tmpl-alert",
            wechat_template_invoice=template,
        )
        return WeChatSubscribe.from_settings(settings, app.extensions["cleangate.redis"])

    message = Outgoing(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        channel="wechat",
        recipient="o-billing",
        template="invoice_reminder",
        subject="",
        payload={
            "values": {
                "invoice": "CG2026-000001",
                "amount": "106.00",
                "due": "2026-11-20",
                "status": "已逾期",
            }
        },
        idempotency_key="k",
    )
    body = channel("tmpl-invoice").body(message)
    assert body["template_id"] == "tmpl-invoice"
    assert body["data"]["character_string1"] == {"value": "CG2026-000001"}
    assert body["data"]["amount2"] == {"value": "106.00"}
    with pytest.raises(PermanentError, match="WECHAT_TEMPLATE_INVOICE"):
        channel("").body(message)


def test_no_address_no_message(app: Flask, tenant_a: TenantFixture) -> None:
    subscribe(app, tenant_a, email=None, openid=None)
    invoice_id = make_invoice(app, tenant_a, due_on=TODAY - timedelta(days=1))
    counts = _run(app, tenant_a, TODAY)
    assert (counts.marked_overdue, counts.messages) == (1, 0)
    assert invoice_of(app, tenant_a, invoice_id).reminders_sent == 0


@pytest.mark.parametrize(
    ("grace", "days_late", "degraded"),
    [(15, 15, False), (15, 16, True), (3, 3, False), (3, 4, True), (0, 1, True), (0, 0, False)],
)
def test_degradation_starts_after_the_grace_period(
    app: Flask, tenant_a: TenantFixture, grace: int, days_late: int, degraded: bool
) -> None:
    subscribe(app, tenant_a, grace_days=grace)
    invoice_id = make_invoice(app, tenant_a, due_on=TODAY - timedelta(days=days_late))
    with app.app_context(), get_database(app).sessionmaker() as session:
        found = dunning.degradation(session, tenant_a.tenant_id, TODAY)
        assert (found is not None) == degraded
        if found is not None:
            assert found.id == invoice_id


def test_without_a_subscription_the_default_grace_applies(
    app: Flask, tenant_a: TenantFixture
) -> None:
    make_invoice(app, tenant_a, due_on=TODAY - timedelta(days=16))
    original = app.config["CLEANGATE_SETTINGS"]
    try:
        with app.app_context(), get_database(app).sessionmaker() as session:
            assert dunning.is_degraded(session, tenant_a.tenant_id, TODAY)  # 15 days
            app.config["CLEANGATE_SETTINGS"] = replace(
                original, billing=BillingSettings(grace_days=30)
            )
            assert not dunning.is_degraded(session, tenant_a.tenant_id, TODAY)
    finally:
        app.config["CLEANGATE_SETTINGS"] = original


# --- what an overdue tenant can and cannot do ---------------------------------------------------


def _admin(app: Flask, tenant: TenantFixture) -> tuple[FlaskClient, dict[str, str]]:
    client = app.test_client()
    assert login(client, tenant.admin_username) == 302
    return client, {"X-CSRFToken": api_csrf(client)}


def _export(
    client: FlaskClient, headers: dict[str, str], days: float, kind: str = "passages"
) -> Any:
    until = datetime.now(UTC).replace(microsecond=0)
    body: dict[str, Any] = {"kind": kind, "format": "csv"}
    if kind == "passages":
        body["filter"] = {
            "since": (until - timedelta(days=days)).isoformat(),
            "until": until.isoformat(),
        }
    return client.post("/api/v1/exports", json=body, headers=headers)


def _invite(client: FlaskClient, headers: dict[str, str]) -> Any:
    return client.post(
        "/api/v1/users",
        json={"username": f"u{uuid.uuid4().hex[:8]}@a", "display_name": "新同事", "role": "viewer"},
        headers=headers,
    )


def test_an_overdue_tenant_loses_long_exports_and_invites_until_it_pays(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    subscribe(app, tenant_a, grace_days=15)
    invoice_id = make_invoice(app, tenant_a, total="530.00", due_on=TODAY - timedelta(days=16))
    number = invoice_of(app, tenant_a, invoice_id).number
    client, headers = _admin(app, tenant_a)

    long = _export(client, headers, 31)
    assert long.status_code == 402
    error = long.get_json()["error"]
    assert error["code"] == "payment_overdue"
    assert number in error["message"]
    assert "¥530.00" in error["message"]
    assert "导出超过 30 天的数据" in error["message"]
    assert error["details"] == {"feature": "export.long_range"}
    invite = _invite(client, headers)
    assert invite.status_code == 402
    assert number in invite.get_json()["error"]["message"]
    assert "邀请新用户" in invite.get_json()["error"]["message"]
    # the portal's export form says the same
    portal = client.post(
        "/portal/exports",
        data={
            "csrf_token": headers["X-CSRFToken"],
            "export_kind": "passages",
            "format": "csv",
            "since": (datetime.now() - timedelta(days=40)).strftime("%Y-%m-%dT%H:%M"),
            "until": datetime.now().strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert portal.status_code == 402
    assert number in portal.get_data(as_text=True)
    # what stays: 30 days, registries, and everything of the other tenant
    assert _export(client, headers, 30).status_code == 202
    assert _export(client, headers, 0, kind="transport_vehicles").status_code == 202
    other, other_headers = _admin(app, tenant_b)
    assert _export(other, other_headers, 90).status_code == 202
    assert _invite(other, other_headers).status_code == 201
    # the bills page says why
    page = client.get("/portal/billing").get_data(as_text=True)
    assert 'id="degraded"' in page
    assert number in page

    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        payments.record_bank_transfer(
            session,
            invoice,
            payments.BankTransfer(Decimal("530.00"), "付款方", f"B{uuid.uuid4().hex[:10]}", TODAY),
            actor_user_id=None,
            actor_label="test",
        )
    assert _export(client, headers, 31).status_code == 202
    assert _invite(client, headers).status_code == 201
    assert 'id="degraded"' not in client.get("/portal/billing").get_data(as_text=True)


def test_a_partial_payment_does_not_lift_the_degradation(
    app: Flask, tenant_a: TenantFixture
) -> None:
    subscribe(app, tenant_a, grace_days=0)
    invoice_id = make_invoice(app, tenant_a, total="100.00", due_on=TODAY - timedelta(days=1))
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        payments.record_bank_transfer(
            session,
            invoice,
            payments.BankTransfer(Decimal("99.99"), "付款方", f"B{uuid.uuid4().hex[:10]}", TODAY),
            actor_user_id=None,
            actor_label="test",
        )
    client, headers = _admin(app, tenant_a)
    refused = _invite(client, headers)
    assert refused.status_code == 402
    assert "¥0.01" in refused.get_json()["error"]["message"]  # what is still due


def test_an_invoice_issued_by_the_invoicing_service_runs_the_whole_course(
    app: Flask, billing_tenant: BillingTenant
) -> None:
    """BL1's real invoice (lines, VAT, buyer snapshot, gap-free number): overdue, reminded,
    degrading, then paid by bank transfer in the console — and the PDF is served."""
    invoice = issue(app, billing_tenant.tenant_id, "2026-01")
    tenant = billing_tenant.tenant
    assert invoice.total > 0
    overdue_day = invoice.due_on + timedelta(days=1)
    _run(app, tenant, overdue_day)
    late = invoice_of(app, tenant, invoice.id)
    assert (late.status, late.reminders_sent) == ("overdue", 1)
    assert [m.recipient for m in outbox(app, tenant)] == ["finance@example.com"]
    grace = late.due_on + timedelta(days=_grace_of(app, tenant) + 1)
    with app.app_context(), get_database(app).sessionmaker() as session:
        assert not dunning.is_degraded(session, tenant.tenant_id, grace - timedelta(days=1))
        assert dunning.is_degraded(session, tenant.tenant_id, grace)
    staff = logged_in(app, make_user(app, Role.PROVIDER_BILLING, None).username)
    page = f"/console/billing/payments/invoices/{invoice.id}"
    assert late.buyer["name"] in staff.get(page).get_data(as_text=True)  # payer prefilled
    paid = form_post(
        staff,
        page,
        {
            "amount": str(invoice.total),
            "payer_name": str(late.buyer["name"]),
            "bank_reference": f"ABC{uuid.uuid4().hex[:12]}",
            "received_on": TODAY.isoformat(),
        },
    )
    assert paid.status_code == 303
    assert invoice_of(app, tenant, invoice.id).status == "paid"
    with app.app_context(), get_database(app).sessionmaker() as session:
        assert not dunning.is_degraded(session, tenant.tenant_id, grace)
    pdf = logged_in(app, tenant.admin_username).get(f"/portal/billing/invoices/{invoice.id}/pdf")
    assert pdf.status_code == 200
    assert pdf.data.startswith(b"%PDF")


def _grace_of(app: Flask, tenant: TenantFixture) -> int:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        return dunning.grace_days(session, 15)
