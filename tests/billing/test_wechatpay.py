"""WeChat Pay API v3 (Native QR) against a real local fake server with its own test key pairs:
our merchant signature checked by the fake, its answers checked by us, and its signed and
encrypted payment notifications sent to ``/billing/wechatpay/notify`` — a genuine one pays the
invoice once; a forged, replayed, stale, tampered or mismatched one is refused and changes
nothing."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
from cryptography.hazmat.primitives import serialization
from flask import Flask
from flask.testing import FlaskClient

from billing import wechatpay
from saas.settings import BillingSettings, SettingsError
from tests import services
from tests.billing import fake_wechatpay as fw
from tests.billing.payment_helpers import (
    audit_events,
    invoice_of,
    logged_in,
    make_invoice,
    payments_of,
    snapshot,
)
from tests.conftest import TenantFixture, csrf_from

NOTIFY = "/billing/wechatpay/notify"


@pytest.fixture(scope="module")
def fake_server() -> Iterator[fw.FakeWeChatPay]:
    server = fw.FakeWeChatPay().start()
    yield server
    server.stop()


@pytest.fixture
def fake(fake_server: fw.FakeWeChatPay) -> fw.FakeWeChatPay:
    fake_server.reset()
    return fake_server


@pytest.fixture
def pay_app(app: Flask, fake: fw.FakeWeChatPay) -> Iterator[Flask]:
    """The shared test app with WeChat Pay configured against the fake, and the real Redis
    (when the suite has one) keeping the notification nonces."""
    original = app.config["CLEANGATE_SETTINGS"]
    billing = BillingSettings.from_env(fake.env(), original.base_url)
    app.config["CLEANGATE_SETTINGS"] = replace(original, billing=billing)
    store = app.extensions["cleangate.redis"]
    if os.environ.get("CLEANGATE_TEST_REDIS_URL"):
        app.extensions["cleangate.redis"] = services.real_redis()  # type: ignore[no-untyped-call]
    yield app
    app.extensions["cleangate.redis"] = store
    app.config["CLEANGATE_SETTINGS"] = original


def _press_pay(client: FlaskClient, invoice_id: uuid.UUID) -> Any:
    """The 微信支付 button of the bills page (a form POST with the page's CSRF token)."""
    token = csrf_from(client, "/portal/billing")
    return client.post(
        f"/portal/billing/invoices/{invoice_id}/wechatpay", data={"csrf_token": token}
    )


def _order(app: Flask, tenant: TenantFixture, invoice_id: uuid.UUID) -> tuple[FlaskClient, str]:
    """The tenant admin presses 微信支付: returns their client and our out_trade_no."""
    client = logged_in(app, tenant.admin_username)
    started = _press_pay(client, invoice_id)
    assert started.status_code == 303, started.get_data(as_text=True)
    (payment,) = [p for p in payments_of(app, tenant, invoice_id) if p.status == "pending"]
    assert payment.out_trade_no
    return client, payment.out_trade_no


def _notify(app: Flask, headers: dict[str, str], body: str) -> Any:
    return app.test_client().post(NOTIFY, data=body.encode(), headers=headers)


# --- the primitives -----------------------------------------------------------------------------


def test_request_signature_matches_openssl(tmp_path: Path) -> None:
    key = fw.new_key()
    pem = tmp_path / "apiclient_key.pem"
    pem.write_text(fw.private_pem(key))
    body = '{"appid":"wxd678efh567hg6787","amount":{"total":100,"currency":"CNY"}}'
    message = wechatpay.request_message(
        "POST",
        "/v3/pay/transactions/native",
        "1554208460",
        "593BEC0C930BF1AFEB40B4A08C8FB242",
        body,
    )
    assert message == (
        "POST\n/v3/pay/transactions/native\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n"
        + body
        + "\n"
    )
    data = tmp_path / "message"
    data.write_bytes(message.encode())
    raw = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", str(pem), str(data)],
        check=True,
        capture_output=True,
    ).stdout
    assert wechatpay.sign(key, message) == base64.b64encode(raw).decode()


def test_authorization_header_shape() -> None:
    key = fw.new_key()
    header = wechatpay.authorization(
        mchid="1900000109", serial_no="ABC123", private_key=key, method="POST",
        path="/v3/pay/transactions/native", body="{}", timestamp="1554208460", nonce="N0NCE",
    )  # fmt: skip
    assert header.startswith("WECHATPAY2-SHA256-RSA2048 ")
    fields = dict(re.findall(r'(\w+)="([^"]*)"', header))
    assert set(fields) == {"mchid", "nonce_str", "signature", "timestamp", "serial_no"}
    assert (fields["mchid"], fields["nonce_str"], fields["timestamp"]) == (
        "1900000109",
        "N0NCE",
        "1554208460",
    )
    message = "POST\n/v3/pay/transactions/native\n1554208460\nN0NCE\n{}\n"
    assert fw.rsa_ok(key.public_key(), message, fields["signature"])


def test_resource_decryption_golden_vector() -> None:
    # AES-256-GCM, key = the 32-byte APIv3 key, nonce "fedcba987654", AAD "transaction"
    resource = {
        "algorithm": "AEAD_AES_256_GCM",
        "nonce": "fedcba987654",
        "associated_data": "transaction",
        "ciphertext": "cu1Xj7YcXMSguAzLQ4eDXe8s4NyF+sqYQycyhytZMfsYdp2PW+1V6+Xlx8NiJMVjP5bNvg==",
    }
    key = b"0123456789abcdefghijABCDEFGHIJ01"
    assert wechatpay.decrypt_resource(key, resource) == {"out_trade_no": "CG2026000001_ab12"}
    for broken in (
        {**resource, "associated_data": "refund"},
        {**resource, "nonce": "fedcba987655"},
        {**resource, "ciphertext": "du1" + resource["ciphertext"][3:]},
        {**resource, "algorithm": "AES_128_CBC"},
    ):
        with pytest.raises(wechatpay.Rejected):
            wechatpay.decrypt_resource(key, broken)


def test_settings_name_what_is_missing_and_hide_secrets(
    fake: fw.FakeWeChatPay, tmp_path: Path
) -> None:
    env = fake.env()
    settings = BillingSettings.from_env(env, "https://cg.example")
    text = repr(settings)
    assert fw.API_V3_KEY not in text
    assert "PRIVATE KEY" not in text
    assert "CERTIFICATE" not in text
    assert settings.wechatpay_enabled
    with pytest.raises(SettingsError, match="WECHATPAY_APPID, WECHATPAY_API_V3_KEY"):
        BillingSettings.from_env({"WECHATPAY_MCHID": "1900000109"}, "https://cg.example")
    with pytest.raises(SettingsError, match="32 bytes"):
        BillingSettings.from_env({**env, "WECHATPAY_API_V3_KEY": "short"}, "https://cg.example")
    key_only = {
        "WECHATPAY_PLATFORM_CERT": "",
        "WECHATPAY_PUBLIC_KEY": fw.public_pem(fake.platform_key),
    }
    with pytest.raises(SettingsError, match="WECHATPAY_PUBLIC_KEY_ID"):
        BillingSettings.from_env({**env, **key_only}, "https://cg.example")
    with pytest.raises(SettingsError, match="https in production"):
        BillingSettings.from_env(env, "https://cg.example", production=True)
    key_file = tmp_path / "apiclient_key.pem"
    key_file.write_text(env["WECHATPAY_PRIVATE_KEY"])
    from_file = BillingSettings.from_env(
        {**env, "WECHATPAY_PRIVATE_KEY": "", "WECHATPAY_PRIVATE_KEY_FILE": str(key_file)},
        "https://cg.example",
    )
    assert from_file.wechatpay_private_key == env["WECHATPAY_PRIVATE_KEY"].strip()
    assert BillingSettings.from_env({}, "https://cg.example").wechatpay_notify_url == (
        "https://cg.example/billing/wechatpay/notify"
    )


def test_the_platform_public_key_mode(fake: fw.FakeWeChatPay) -> None:
    """Merchants registered since 2024 verify with 微信支付公钥 and its ID, not a certificate."""
    env = {
        **fake.env(),
        "WECHATPAY_PLATFORM_CERT": "",
        "WECHATPAY_PUBLIC_KEY": fw.public_pem(fake.platform_key),
        "WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_0114232134912410000000000001",
    }
    client = wechatpay.WeChatPay.from_settings(BillingSettings.from_env(env, "https://x"))
    body = '{"code_url":"weixin://wxpay/bizpayurl?pr=abc"}'
    headers = fake.sign_notification(body, serial="PUB_KEY_ID_0114232134912410000000000001")
    client.verify_signed(headers, body)
    with pytest.raises(wechatpay.WeChatPayError, match="unknown Wechatpay-Serial"):
        client.verify_signed(fake.sign_notification(body), body)  # the certificate's serial


# --- ordering -----------------------------------------------------------------------------------


def test_native_order_is_signed_and_its_qr_shown(
    pay_app: Flask, tenant_a: TenantFixture, fake: fw.FakeWeChatPay
) -> None:
    invoice_id = make_invoice(pay_app, tenant_a, total="1234.56")
    client, out_trade_no = _order(pay_app, tenant_a, invoice_id)
    assert fake.rejected == []  # our merchant signature verified
    order = fake.orders[out_trade_no]
    assert (order.appid, order.mchid, order.total, order.currency) == (
        fw.APPID,
        fw.MCHID,
        123456,
        "CNY",
    )
    invoice = invoice_of(pay_app, tenant_a, invoice_id)
    assert invoice.number in order.description
    assert order.notify_url == "http://127.0.0.1/billing/wechatpay/notify"
    assert order.time_expire
    assert order.time_expire.endswith("+08:00")
    (payment,) = payments_of(pay_app, tenant_a, invoice_id)
    assert (payment.status, payment.amount, payment.code_url) == (
        "pending",
        Decimal("1234.56"),
        order.code_url,
    )
    page = client.get(f"/portal/billing/invoices/{invoice_id}/wechatpay")
    assert page.status_code == 200
    assert page.headers["Refresh"] == "5"
    html = page.get_data(as_text=True)
    assert '<div class="qr" id="wechatpay-qr"><svg' in html
    assert order.code_url not in html  # only its QR code
    # pressing again shows the same order instead of opening a second one
    again = _press_pay(client, invoice_id)
    assert again.status_code == 303
    assert len(fake.orders) == 1
    assert len(payments_of(pay_app, tenant_a, invoice_id)) == 1
    assert [e.event for e in audit_events(pay_app, tenant_a)] == ["billing.payment.wechat_order"]


def test_an_unverifiable_answer_is_not_trusted(
    pay_app: Flask, tenant_a: TenantFixture, fake: fw.FakeWeChatPay
) -> None:
    invoice_id = make_invoice(pay_app, tenant_a)
    fake.forge_answers = True
    client = logged_in(pay_app, tenant_a.admin_username)
    response = _press_pay(client, invoice_id)
    assert response.status_code == 502
    assert "微信支付下单失败" in response.get_data(as_text=True)
    (payment,) = payments_of(pay_app, tenant_a, invoice_id)
    assert (payment.status, payment.code_url) == ("failed", None)
    assert "not verified" in (payment.note or "")
    assert invoice_of(pay_app, tenant_a, invoice_id).status == "open"


def test_the_fake_refuses_a_wrong_merchant_key(
    pay_app: Flask, tenant_a: TenantFixture, fake: fw.FakeWeChatPay
) -> None:
    """The fake really checks our signature: signed with another key, the order is refused."""
    settings = pay_app.config["CLEANGATE_SETTINGS"]
    other = replace(settings.billing, wechatpay_private_key=fw.private_pem(fw.new_key()))
    pay_app.config["CLEANGATE_SETTINGS"] = replace(settings, billing=other)
    invoice_id = make_invoice(pay_app, tenant_a)
    client = logged_in(pay_app, tenant_a.admin_username)
    response = _press_pay(client, invoice_id)
    assert response.status_code == 502
    assert fake.rejected == ["signature"]
    assert fake.orders == {}


def test_nothing_to_pay_on_a_paid_or_void_invoice(
    pay_app: Flask, tenant_a: TenantFixture, fake: fw.FakeWeChatPay
) -> None:
    invoice_id = make_invoice(pay_app, tenant_a, status="void")
    client = logged_in(pay_app, tenant_a.admin_username)
    html = client.get("/portal/billing").get_data(as_text=True)
    assert "微信支付</button>" not in html
    response = _press_pay(client, invoice_id)
    assert response.status_code == 409
    assert fake.requests == 0


# --- notifications ------------------------------------------------------------------------------


def test_a_genuine_notification_pays_the_invoice_once(
    pay_app: Flask, tenant_a: TenantFixture, fake: fw.FakeWeChatPay
) -> None:
    invoice_id = make_invoice(pay_app, tenant_a, total="1060.00")
    client, out_trade_no = _order(pay_app, tenant_a, invoice_id)
    headers, body = fake.notification(out_trade_no)
    transaction_id = fake.transaction(out_trade_no)["transaction_id"]  # a fresh one…
    tx = json.loads(body)  # …but the one in the notification is what counts
    assert tx["event_type"] == "TRANSACTION.SUCCESS"

    response = _notify(pay_app, headers, body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"code": "SUCCESS"}
    invoice = invoice_of(pay_app, tenant_a, invoice_id)
    assert invoice.status == "paid"
    (payment,) = payments_of(pay_app, tenant_a, invoice_id)
    assert payment.status == "succeeded"
    assert payment.external_id
    assert payment.received_at
    assert payment.external_id != transaction_id
    after_first = snapshot(pay_app, tenant_a, invoice_id)

    # WeChat Pay tells us again (its resend: same transaction, new nonce and signature)
    resend = fake.sign_notification(body)
    again = _notify(pay_app, resend, body)
    assert again.status_code == 200
    assert again.get_json() == {"code": "SUCCESS"}
    assert snapshot(pay_app, tenant_a, invoice_id) == after_first
    events = [e.event for e in audit_events(pay_app, tenant_a)]
    assert events.count("billing.payment.record") == 1
    assert events.count("billing.invoice.status") == 1
    page = client.get(f"/portal/billing/invoices/{invoice_id}/wechatpay")
    assert 'id="paid"' in page.get_data(as_text=True)
    assert "Refresh" not in page.headers


def test_a_forged_notification_is_rejected_and_changes_nothing(
    pay_app: Flask, tenant_a: TenantFixture, fake: fw.FakeWeChatPay
) -> None:
    invoice_id = make_invoice(pay_app, tenant_a)
    _client, out_trade_no = _order(pay_app, tenant_a, invoice_id)
    before = snapshot(pay_app, tenant_a, invoice_id)
    body = fake.envelope(fake.encrypt(fake.transaction(out_trade_no)))
    forged = fake.sign_notification(body, key=fake.stranger)  # right serial, wrong key
    response = _notify(pay_app, forged, body)
    assert response.status_code == 401
    assert response.get_json() == {"code": "FAIL", "message": "signature verification failed"}
    unsigned = {k: v for k, v in fake.sign_notification(body).items() if k != "Wechatpay-Signature"}
    assert _notify(pay_app, unsigned, body).status_code == 401
    # a genuine signature over another body does not cover this one
    other = fake.envelope(fake.encrypt(fake.transaction(out_trade_no)))
    assert _notify(pay_app, fake.sign_notification(other), body).status_code == 401
    assert snapshot(pay_app, tenant_a, invoice_id) == before


def test_a_replayed_notification_is_rejected_and_changes_nothing(
    pay_app: Flask, tenant_a: TenantFixture, fake: fw.FakeWeChatPay
) -> None:
    invoice_id = make_invoice(pay_app, tenant_a)
    _client, out_trade_no = _order(pay_app, tenant_a, invoice_id)
    headers, body = fake.notification(out_trade_no)
    assert _notify(pay_app, headers, body).status_code == 200
    after = snapshot(pay_app, tenant_a, invoice_id)
    audit_after = len(audit_events(pay_app, tenant_a))
    replay = _notify(pay_app, headers, body)
    assert replay.status_code == 409
    assert replay.get_json()["code"] == "FAIL"
    assert snapshot(pay_app, tenant_a, invoice_id) == after
    assert len(audit_events(pay_app, tenant_a)) == audit_after


def test_a_replay_of_an_unapplied_notification_is_refused_too(
    pay_app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture, fake: fw.FakeWeChatPay
) -> None:
    """Captured before it reached us: the first delivery pays, its copy is refused — even
    pointed at another order of another tenant."""
    a_invoice = make_invoice(pay_app, tenant_a)
    _a, a_trade = _order(pay_app, tenant_a, a_invoice)
    headers, body = fake.notification(a_trade)
    assert _notify(pay_app, headers, body).status_code == 200
    b_invoice = make_invoice(pay_app, tenant_b)
    _b, _b_trade = _order(pay_app, tenant_b, b_invoice)
    before = snapshot(pay_app, tenant_b, b_invoice)
    assert _notify(pay_app, headers, body).status_code == 409
    assert snapshot(pay_app, tenant_b, b_invoice) == before


@pytest.mark.parametrize(
    ("override", "status"),
    [
        ({"amount": {"total": 1, "payer_total": 1, "currency": "CNY"}}, 400),
        ({"amount": {"total": 106001, "payer_total": 106001, "currency": "CNY"}}, 400),
        ({"amount": {"total": 106000, "currency": "USD"}}, 400),
        ({"mchid": "1900000999"}, 400),
        ({"appid": "wx0000000000000000"}, 400),
        ({"out_trade_no": "NOSUCHORDER_0001"}, 404),
    ],
)
def test_a_mismatched_notification_is_rejected(
    pay_app: Flask,
    tenant_a: TenantFixture,
    fake: fw.FakeWeChatPay,
    override: dict[str, Any],
    status: int,
) -> None:
    invoice_id = make_invoice(pay_app, tenant_a, total="1060.00")
    _client, out_trade_no = _order(pay_app, tenant_a, invoice_id)
    before = snapshot(pay_app, tenant_a, invoice_id)
    headers, body = fake.notification(out_trade_no, **override)  # genuinely signed
    response = _notify(pay_app, headers, body)
    assert response.status_code == status
    assert response.get_json()["code"] == "FAIL"
    assert snapshot(pay_app, tenant_a, invoice_id) == before


def test_tampered_ciphertext_is_rejected(
    pay_app: Flask, tenant_a: TenantFixture, fake: fw.FakeWeChatPay
) -> None:
    invoice_id = make_invoice(pay_app, tenant_a)
    _client, out_trade_no = _order(pay_app, tenant_a, invoice_id)
    before = snapshot(pay_app, tenant_a, invoice_id)
    resource = fake.encrypt(fake.transaction(out_trade_no))
    sealed = bytearray(base64.b64decode(resource["ciphertext"]))
    sealed[10] ^= 0x01
    tampered = {**resource, "ciphertext": base64.b64encode(bytes(sealed)).decode()}
    body = fake.envelope(tampered)
    # signed after tampering (as if the platform key were stolen): the GCM tag still fails
    response = _notify(pay_app, fake.sign_notification(body), body)
    assert response.status_code == 400
    assert response.get_json() == {"code": "FAIL", "message": "resource cannot be decrypted"}
    # tampered in transit after signing: the signature fails first
    genuine = fake.envelope(resource)
    headers = fake.sign_notification(genuine)
    assert _notify(pay_app, headers, body).status_code == 401
    # encrypted under another APIv3 key
    stranger = fake.envelope(fake.encrypt(fake.transaction(out_trade_no), key="x" * 32))
    assert _notify(pay_app, fake.sign_notification(stranger), stranger).status_code == 400
    assert snapshot(pay_app, tenant_a, invoice_id) == before


@pytest.mark.parametrize("skew", [-301, 301, -3600])
def test_a_stale_or_future_timestamp_is_rejected(
    pay_app: Flask, tenant_a: TenantFixture, fake: fw.FakeWeChatPay, skew: int
) -> None:
    invoice_id = make_invoice(pay_app, tenant_a)
    _client, out_trade_no = _order(pay_app, tenant_a, invoice_id)
    before = snapshot(pay_app, tenant_a, invoice_id)
    body = fake.envelope(fake.encrypt(fake.transaction(out_trade_no)))
    headers = fake.sign_notification(body, timestamp=int(time.time()) + skew)
    response = _notify(pay_app, headers, body)
    assert response.status_code == 401
    assert "window" in response.get_json()["message"]
    assert snapshot(pay_app, tenant_a, invoice_id) == before
    # the same notification on time is fine: the stale attempt spent nothing
    assert _notify(pay_app, fake.sign_notification(body), body).status_code == 200


def test_an_unknown_serial_is_rejected(
    pay_app: Flask, tenant_a: TenantFixture, fake: fw.FakeWeChatPay
) -> None:
    invoice_id = make_invoice(pay_app, tenant_a)
    _client, out_trade_no = _order(pay_app, tenant_a, invoice_id)
    before = snapshot(pay_app, tenant_a, invoice_id)
    body = fake.envelope(fake.encrypt(fake.transaction(out_trade_no)))
    headers = fake.sign_notification(body, serial="7132D72A03E93CDDF8C03BBD1F37EEDFFCCE1F5")
    assert _notify(pay_app, headers, body).status_code == 401
    assert snapshot(pay_app, tenant_a, invoice_id) == before


def test_a_partial_bank_transfer_then_wechat_pays_the_rest(
    pay_app: Flask, tenant_a: TenantFixture, fake: fw.FakeWeChatPay
) -> None:
    invoice_id = make_invoice(pay_app, tenant_a, total="1000.00")
    from billing.payments import BankTransfer, china_today, record_bank_transfer
    from saas.db import get_database
    from saas.models.billing import Invoice
    from saas.tenancy import tenant_context

    with tenant_context(tenant_a.tenant_id), get_database(pay_app).sessionmaker() as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        record_bank_transfer(
            session,
            invoice,
            BankTransfer(Decimal("999.99"), "付款方", f"P{uuid.uuid4().hex[:10]}", china_today()),
            actor_user_id=None,
            actor_label="test",
        )
    _client, out_trade_no = _order(pay_app, tenant_a, invoice_id)
    assert fake.orders[out_trade_no].total == 1  # one fen still due
    headers, body = fake.notification(out_trade_no)
    assert _notify(pay_app, headers, body).status_code == 200
    assert invoice_of(pay_app, tenant_a, invoice_id).status == "paid"


def test_notify_without_wechat_pay_configured(app: Flask, fake: fw.FakeWeChatPay) -> None:
    response = app.test_client().post(
        NOTIFY, data=b"{}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 404
    assert response.get_json()["code"] == "FAIL"


def test_the_replay_store_keeps_nonces_for_the_skew_window(
    pay_app: Flask, tenant_a: TenantFixture, fake: fw.FakeWeChatPay
) -> None:
    invoice_id = make_invoice(pay_app, tenant_a)
    _client, out_trade_no = _order(pay_app, tenant_a, invoice_id)
    headers, body = fake.notification(out_trade_no)
    assert _notify(pay_app, headers, body).status_code == 200
    store: redis.Redis = pay_app.extensions["cleangate.redis"]
    keys = [k for k in store.scan_iter("cleangate:wechatpay:notify-nonce:*")]
    assert keys
    ttls = [store.ttl(k) for k in keys]
    assert all(0 < ttl <= 600 for ttl in ttls)
    assert headers["Wechatpay-Nonce"] not in " ".join(k.decode() for k in keys)  # hashed


def test_keys_never_show(fake: fw.FakeWeChatPay) -> None:
    client = wechatpay.WeChatPay.from_settings(BillingSettings.from_env(fake.env(), "https://x"))
    text = repr(client) + str(vars(client).keys())
    assert "PRIVATE" not in repr(client)
    assert fw.API_V3_KEY not in repr(client)
    pem = fake.merchant_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    assert pem not in text


def test_a_malformed_timestamp_is_refused_and_cannot_clear_a_nonce(
    pay_app: Flask, tenant_a: TenantFixture, fake: fw.FakeWeChatPay
) -> None:
    """ "²" passes str.isdigit() but is no number: the header is refused (401, not a 500), and an
    unverified request never touches the replay store — a captured notification stays spent."""
    invoice_id = make_invoice(pay_app, tenant_a)
    _client, out_trade_no = _order(pay_app, tenant_a, invoice_id)
    headers, body = fake.notification(out_trade_no)
    assert _notify(pay_app, headers, body).status_code == 200
    for bad in ("²", "1" * 5000, "-5"):
        probe = {**headers, "Wechatpay-Timestamp": bad}
        response = _notify(pay_app, probe, body)
        assert response.status_code == 401, bad
        assert "Timestamp" in response.get_json()["message"]
    replay = _notify(pay_app, headers, body)  # the nonce is still remembered
    assert replay.status_code == 409
    assert "replayed" in replay.get_json()["message"]
