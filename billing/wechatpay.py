"""WeChat Pay API v3, Native (QR code) payments — with ``cryptography`` only: wechatpy speaks
v2, and the v3 protocol is three small primitives (docs/billing.md, "WeChat Pay").

* Every request is signed with the merchant's API key (RSA-SHA256, PKCS#1 v1.5) over
  ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n`` and sent as
  ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",
  timestamp="…",serial_no="…"``.
* Every answer and every notification is signed by WeChat Pay over
  ``TIMESTAMP\\nNONCE\\nBODY\\n`` (headers ``Wechatpay-Timestamp``, ``-Nonce``, ``-Signature``,
  ``-Serial``) and verified with the platform key named by ``Wechatpay-Serial``: a platform
  certificate's serial, or the ID of the 微信支付公钥 (``PUB_KEY_ID_…``).
* A notification's ``resource`` is AEAD_AES_256_GCM-encrypted with the merchant's APIv3 key.

A notification is applied only after all of: timestamp within ±5 minutes, a known serial, a
valid signature, a nonce not seen before (kept in Redis for twice the skew window), a
successful decryption, our ``mchid`` and ``appid``, one of our orders and exactly its amount.
Applying is idempotent on ``transaction_id``: the same payment told twice changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import redis
import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from billing import payments
from saas.auth import audit
from saas.db import utcnow
from saas.errors import ApiError
from saas.models.billing import Invoice, Payment
from saas.settings import BillingSettings
from saas.tenancy import system_context, tenant_context

log = logging.getLogger(__name__)

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
NATIVE_PATH = "/v3/pay/transactions/native"
SUCCESS_EVENT = "TRANSACTION.SUCCESS"
OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_*|-]{6,32}$")
REUSE_MARGIN = timedelta(minutes=10)  # a QR code this close to expiry is not shown again
_NONCE_KEY = "cleangate:wechatpay:notify-nonce:"


class WeChatPayError(Exception):
    """The API could not be used (configuration, transport, a refused or unverifiable answer).
    ``str()`` never carries key material."""


class Rejected(Exception):
    """A notification we refuse: answered ``status`` with ``{"code": "FAIL", "message": …}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- the primitives -----------------------------------------------------------------------------


def request_message(method: str, path: str, timestamp: str, nonce: str, body: str) -> str:
    """What the merchant signs: ``path`` is the URL's absolute path with its query string."""
    return f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{body}\n"


def answer_message(timestamp: str, nonce: str, body: str) -> str:
    """What WeChat Pay signs, in answers and in notifications alike."""
    return f"{timestamp}\n{nonce}\n{body}\n"


def sign(private_key: rsa.RSAPrivateKey, message: str) -> str:
    raw = private_key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode()


def verify(public_key: rsa.RSAPublicKey, message: str, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, message.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def authorization(
    *,
    mchid: str,
    serial_no: str,
    private_key: rsa.RSAPrivateKey,
    method: str,
    path: str,
    body: str,
    timestamp: str | None = None,
    nonce: str | None = None,
) -> str:
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or secrets.token_hex(16).upper()
    signature = sign(private_key, request_message(method, path, timestamp, nonce, body))
    return (
        f'{SCHEMA} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial_no}"'
    )


def decrypt_resource(api_v3_key: bytes, resource: Mapping[str, Any]) -> dict[str, Any]:
    """AEAD_AES_256_GCM: key = APIv3 key, the resource's nonce and associated data; the
    ciphertext is base64 with the 16-byte tag at its end."""
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise Rejected(400, "unsupported resource algorithm")
    try:
        nonce = str(resource["nonce"]).encode()
        associated = str(resource.get("associated_data") or "").encode()
        ciphertext = base64.b64decode(str(resource["ciphertext"]), validate=True)
        plain = AESGCM(api_v3_key).decrypt(nonce, ciphertext, associated)
        data = json.loads(plain)
    except (KeyError, binascii.Error, InvalidTag, ValueError):
        raise Rejected(400, "resource cannot be decrypted") from None
    if not isinstance(data, dict):
        raise Rejected(400, "resource is not an object")
    return data


def serial_of(certificate: x509.Certificate) -> str:
    return f"{certificate.serial_number:X}"


def _same_serial(a: str, b: str) -> bool:
    return a.upper().lstrip("0") == b.upper().lstrip("0")


def load_platform_keys(settings: BillingSettings) -> dict[str, rsa.RSAPublicKey]:
    """``Wechatpay-Serial`` → key: every certificate in ``WECHATPAY_PLATFORM_CERT`` by its
    serial, and the 微信支付公钥 by ``WECHATPAY_PUBLIC_KEY_ID``."""
    keys: dict[str, rsa.RSAPublicKey] = {}
    pem = settings.wechatpay_platform_certs
    for block in re.findall(
        r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, re.DOTALL
    ):
        try:
            certificate = x509.load_pem_x509_certificate(block.encode())
        except ValueError:
            raise WeChatPayError(
                "WECHATPAY_PLATFORM_CERT holds an unreadable certificate"
            ) from None
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise WeChatPayError("WECHATPAY_PLATFORM_CERT: not an RSA certificate")
        keys[serial_of(certificate)] = key
    if settings.wechatpay_public_key:
        try:
            loaded = serialization.load_pem_public_key(settings.wechatpay_public_key.encode())
        except ValueError:
            raise WeChatPayError("WECHATPAY_PUBLIC_KEY is not a readable public key") from None
        if not isinstance(loaded, rsa.RSAPublicKey):
            raise WeChatPayError("WECHATPAY_PUBLIC_KEY: not an RSA key")
        keys[settings.wechatpay_public_key_id] = loaded
    if not keys:
        raise WeChatPayError("no WeChat Pay platform key (WECHATPAY_PLATFORM_CERT)")
    return keys


# --- the client ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """A verified, decrypted notification."""

    event_type: str
    notification_id: str
    transaction: dict[str, Any]


class WeChatPay:
    """One merchant's API v3 client. Keys live in this object only."""

    def __init__(
        self,
        *,
        mchid: str,
        appid: str,
        serial_no: str,
        private_key: rsa.RSAPrivateKey,
        api_v3_key: bytes,
        platform_keys: Mapping[str, rsa.RSAPublicKey],
        api_base: str,
        notify_url: str,
        timeout: float = 10,
        skew_seconds: int = 300,
        order_minutes: int = 120,
    ) -> None:
        if len(api_v3_key) != 32:
            raise WeChatPayError("the APIv3 key must be 32 bytes")
        self.mchid = mchid
        self.appid = appid
        self.serial_no = serial_no
        self._private_key = private_key
        self._api_v3_key = api_v3_key
        self.platform_keys = dict(platform_keys)
        self.api_base = api_base.rstrip("/")
        self.notify_url = notify_url
        self.timeout = timeout
        self.skew_seconds = skew_seconds
        self.order_minutes = order_minutes

    def __repr__(self) -> str:
        return f"WeChatPay(mchid={self.mchid!r}, api_base={self.api_base!r})"

    @classmethod
    def from_settings(cls, settings: BillingSettings) -> WeChatPay:
        if not settings.wechatpay_enabled:
            raise WeChatPayError("WeChat Pay is not configured (WECHATPAY_MCHID)")
        try:
            key = serialization.load_pem_private_key(
                settings.wechatpay_private_key.encode(), password=None
            )
        except (ValueError, TypeError):
            raise WeChatPayError("WECHATPAY_PRIVATE_KEY is not a readable private key") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise WeChatPayError("WECHATPAY_PRIVATE_KEY must be an RSA key")
        return cls(
            mchid=settings.wechatpay_mchid,
            appid=settings.wechatpay_appid,
            serial_no=settings.wechatpay_serial_no,
            private_key=key,
            api_v3_key=settings.wechatpay_api_v3_key.encode(),
            platform_keys=load_platform_keys(settings),
            api_base=settings.wechatpay_api_base,
            notify_url=settings.wechatpay_notify_url,
            timeout=settings.wechatpay_timeout_seconds,
            skew_seconds=settings.wechatpay_skew_seconds,
            order_minutes=settings.wechatpay_order_minutes,
        )

    # --- requests ---

    def _post(self, path: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        url = self.api_base + path
        header = authorization(
            mchid=self.mchid,
            serial_no=self.serial_no,
            private_key=self._private_key,
            method="POST",
            path=urlsplit(url).path,
            body=body,
        )
        try:
            response = requests.post(
                url,
                data=body.encode(),
                headers={
                    "Authorization": header,
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    "User-Agent": "CleanGate-billing",
                },
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise WeChatPayError(f"WeChat Pay unreachable: {type(exc).__name__}") from None
        text = response.content.decode("utf-8", errors="replace")
        if response.status_code >= 300:
            code, message = "", ""
            try:
                answer = json.loads(text)
                code, message = str(answer.get("code", "")), str(answer.get("message", ""))
            except ValueError:
                pass
            raise WeChatPayError(f"WeChat Pay HTTP {response.status_code} {code} {message[:120]}")
        self.verify_signed(response.headers, text)
        try:
            data: dict[str, Any] = json.loads(text)
        except ValueError:
            raise WeChatPayError("WeChat Pay answered no JSON") from None
        return data

    def verify_signed(
        self, headers: Mapping[str, str], body: str, *, now: float | None = None
    ) -> None:
        """An answer must carry WeChat Pay's valid signature (else WeChatPayError)."""
        try:
            self._check_signature(headers, body, now)
        except Rejected as exc:
            raise WeChatPayError(f"WeChat Pay answer not verified: {exc.message}") from None

    def _check_signature(
        self, headers: Mapping[str, str], body: str, now: float | None
    ) -> tuple[str, str]:
        """Timestamp, serial and signature of a signed message; returns (nonce, signature)."""
        lower = {k.lower(): v for k, v in headers.items()}
        timestamp = lower.get("wechatpay-timestamp", "")
        nonce = lower.get("wechatpay-nonce", "")
        signature = lower.get("wechatpay-signature", "")
        serial = lower.get("wechatpay-serial", "")
        if not (timestamp and nonce and signature and serial):
            raise Rejected(401, "missing Wechatpay-* signature headers")
        kind = lower.get("wechatpay-signature-type")
        if kind and kind != SCHEMA:
            raise Rejected(401, "unsupported Wechatpay-Signature-Type")
        if not re.fullmatch(r"[0-9]{1,12}", timestamp):  # ASCII digits only ("²" is a digit)
            raise Rejected(401, "bad Wechatpay-Timestamp")
        if abs((time.time() if now is None else now) - int(timestamp)) > self.skew_seconds:
            raise Rejected(401, "Wechatpay-Timestamp outside the allowed window")
        key = next((k for s, k in self.platform_keys.items() if _same_serial(s, serial)), None)
        if key is None:
            raise Rejected(401, "unknown Wechatpay-Serial")
        if not verify(key, answer_message(timestamp, nonce, body), signature):
            raise Rejected(401, "signature verification failed")
        return nonce, signature

    def create_native_order(
        self, *, out_trade_no: str, description: str, total_fen: int, expires_at: datetime
    ) -> str:
        """``POST /v3/pay/transactions/native`` → the ``code_url`` to show as a QR code."""
        if not OUT_TRADE_NO.fullmatch(out_trade_no):
            raise WeChatPayError("out_trade_no must be 6–32 of [0-9A-Za-z_-|*]")
        if total_fen <= 0:
            raise WeChatPayError("amount must be at least 1 fen")
        answer = self._post(
            NATIVE_PATH,
            {
                "appid": self.appid,
                "mchid": self.mchid,
                "description": _cut_bytes(description, 127),
                "out_trade_no": out_trade_no,
                "time_expire": expires_at.astimezone(payments.CHINA).isoformat(timespec="seconds"),
                "notify_url": self.notify_url,
                "amount": {"total": total_fen, "currency": "CNY"},
            },
        )
        code_url = answer.get("code_url")
        if not isinstance(code_url, str) or not code_url.startswith("weixin://"):
            raise WeChatPayError("WeChat Pay answered no code_url")
        return code_url

    # --- notifications ---

    def verify_notification(
        self,
        headers: Mapping[str, str],
        body: bytes,
        replay_store: redis.Redis,
        *,
        now: float | None = None,
    ) -> Notification:
        """Check and decrypt one notification, or raise :class:`Rejected`. The nonce is
        remembered only once the signature is valid, so nobody can spend a nonce but
        WeChat Pay."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected(400, "body is not UTF-8") from None
        nonce, _signature = self._check_signature(headers, text, now)
        key = _NONCE_KEY + hashlib.sha256(nonce.encode()).hexdigest()
        try:
            first = replay_store.set(key, "1", nx=True, ex=2 * self.skew_seconds)
        except redis.RedisError as exc:
            raise Rejected(503, f"replay store unavailable: {type(exc).__name__}") from None
        if not first:
            raise Rejected(409, "notification replayed (nonce seen before)")
        try:
            return self._open(text)
        except Rejected:
            replay_store.delete(key)  # a refusal changes nothing; WeChat Pay may resend
            raise

    def _open(self, text: str) -> Notification:
        try:
            envelope = json.loads(text)
        except ValueError:
            raise Rejected(400, "body is not JSON") from None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("resource"), dict):
            raise Rejected(400, "no resource in the notification")
        transaction = decrypt_resource(self._api_v3_key, envelope["resource"])
        return Notification(
            event_type=str(envelope.get("event_type", "")),
            notification_id=str(envelope.get("id", "")),
            transaction=transaction,
        )

    def forget_nonce(self, headers: Mapping[str, str], replay_store: redis.Redis) -> None:
        """After a failure on our side (5xx) the resend must not look like a replay."""
        nonce = {k.lower(): v for k, v in headers.items()}.get("wechatpay-nonce", "")
        if nonce:
            replay_store.delete(_NONCE_KEY + hashlib.sha256(nonce.encode()).hexdigest())


def _cut_bytes(text: str, limit: int) -> str:
    data = text.encode()[:limit]
    return data.decode("utf-8", errors="ignore")


def client_for(app: Flask) -> WeChatPay | None:
    """The app's client (cached while its settings object stays the same); None when WeChat
    Pay is not configured."""
    settings: BillingSettings = app.config["CLEANGATE_SETTINGS"].billing
    if not settings.wechatpay_enabled:
        return None
    cached = app.extensions.get("cleangate.wechatpay")
    if cached is not None and cached[0] is settings:
        return cached[1]  # type: ignore[no-any-return]
    client = WeChatPay.from_settings(settings)
    app.extensions["cleangate.wechatpay"] = (settings, client)
    return client


# --- orders and notifications against the database --------------------------------------------


def new_out_trade_no(invoice: Invoice) -> str:
    """Ours, unique, ≤ 32 characters: the invoice number's letters and digits, then random."""
    stem = re.sub(r"[^0-9A-Za-z]", "", invoice.number)[:19]
    return f"{stem}_{secrets.token_hex(6)}"


def start_native_payment(
    session: Session,
    invoice: Invoice,
    client: WeChatPay,
    *,
    actor_user_id: uuid.UUID | None,
    actor_label: str,
) -> Payment:
    """A pending WeChat Pay payment for what is still due on ``invoice``, with its QR code
    content. A pending order for the same amount that stays payable a while longer is shown
    again instead of opening a second one. Commits."""
    session.refresh(invoice, with_for_update=True)  # two clicks at once open one order
    if invoice.status not in payments.OUTSTANDING:
        raise ApiError(409, "conflict", "该账单无需支付", {"fields": {"invoice": invoice.status}})
    due = payments.balance(session, invoice).due
    if due <= 0:
        raise ApiError(409, "conflict", "该账单已付清", {"fields": {"invoice": "paid"}})
    now = utcnow()
    lifetime = timedelta(minutes=client.order_minutes)
    reusable = session.scalars(
        select(Payment)
        .where(
            Payment.invoice_id == invoice.id,
            Payment.method == "wechat_pay",
            Payment.status == "pending",
            Payment.code_url.is_not(None),
            Payment.amount == due,
            Payment.created_at > now - lifetime + REUSE_MARGIN,
        )
        .order_by(Payment.created_at.desc())
        .limit(1)
    ).first()
    if reusable is not None:
        return reusable
    payment = Payment(
        tenant_id=invoice.tenant_id,
        invoice_id=invoice.id,
        method="wechat_pay",
        status="pending",
        amount=due,
        out_trade_no=new_out_trade_no(invoice),
        recorded_by=actor_user_id,
        created_at=now,
    )
    session.add(payment)
    session.commit()  # the order exists on our side before WeChat Pay can tell us about it
    try:
        code_url = client.create_native_order(
            out_trade_no=payment.out_trade_no or "",
            description=f"CleanGate 账单 {invoice.number}",
            total_fen=payments.to_fen(due),
            expires_at=now + lifetime,
        )
    except WeChatPayError as exc:
        payment.status, payment.note = "failed", str(exc)[:300]
        session.commit()
        log.warning("WeChat Pay order for %s failed: %s", invoice.number, exc)
        raise ApiError(502, "payment_provider_error", "微信支付下单失败，请稍后重试") from None
    payment.code_url = code_url
    audit.record(
        session,
        "billing.payment.wechat_order",
        tenant_id=invoice.tenant_id,
        actor_user_id=actor_user_id,
        actor_label=actor_label,
        details={
            "invoice": invoice.number,
            "out_trade_no": payment.out_trade_no,
            "amount": str(due),
        },
    )
    session.commit()
    return payment


def apply_notification(
    factory: sessionmaker[Session], client: WeChatPay, notification: Notification
) -> str:
    """Apply a verified notification; return ``paid``, ``duplicate`` or ``ignored``, or raise
    :class:`Rejected` (nothing written)."""
    if notification.event_type != SUCCESS_EVENT:
        return "ignored"  # refunds and the like: acknowledged, handled by staff
    tx = notification.transaction
    if tx.get("mchid") != client.mchid or tx.get("appid") != client.appid:
        raise Rejected(400, "mchid/appid are not ours")
    if tx.get("trade_state") != "SUCCESS":
        return "ignored"
    out_trade_no = str(tx.get("out_trade_no") or "")
    transaction_id = str(tx.get("transaction_id") or "")
    amount: dict[str, Any] = tx["amount"] if isinstance(tx.get("amount"), dict) else {}
    if not OUT_TRADE_NO.fullmatch(out_trade_no) or not transaction_id:
        raise Rejected(400, "out_trade_no or transaction_id missing")
    with system_context("WeChat Pay notify: the out_trade_no names the tenant"), factory() as s:
        found = s.execute(
            select(Payment.tenant_id, Payment.id).where(
                Payment.out_trade_no == out_trade_no, Payment.method == "wechat_pay"
            )
        ).one_or_none()
    if found is None:
        raise Rejected(404, "unknown out_trade_no")
    tenant_id, payment_id = found
    with tenant_context(tenant_id), factory() as session:
        # Lock the invoice first (the order every payment path takes), then the payment: two
        # payments of one invoice reconcile one after the other, never both seeing half of it.
        invoice_id = session.scalar(select(Payment.invoice_id).where(Payment.id == payment_id))
        invoice = session.get(Invoice, invoice_id, with_for_update=True, populate_existing=True)
        payment = session.get(Payment, payment_id, with_for_update=True, populate_existing=True)
        assert invoice is not None
        assert payment is not None
        if (
            amount.get("total") != payments.to_fen(payment.amount)
            or amount.get("currency", "CNY") != "CNY"
        ):
            log.warning(
                "WeChat Pay notify for %s: amount %r, ours %s", out_trade_no, amount, payment.amount
            )
            raise Rejected(400, "amount differs from the order")
        if payment.status == "succeeded":
            if payment.external_id == transaction_id:
                return "duplicate"
            raise Rejected(409, "order already paid by another transaction")
        payment.status = "succeeded"
        payment.external_id = transaction_id
        payment.received_at = _parse_time(tx.get("success_time")) or utcnow()
        session.flush()
        status = payments.reconcile(session, invoice, actor_label="wechat_pay")
        audit.record(
            session,
            "billing.payment.record",
            tenant_id=tenant_id,
            actor_label="wechat_pay",
            details={
                "invoice": invoice.number,
                "method": "wechat_pay",
                "amount": str(payment.amount),
                "out_trade_no": out_trade_no,
                "transaction_id": transaction_id,
                "invoice_status": status,
            },
        )
        try:
            session.commit()
        except IntegrityError:  # the transaction_id is already on another payment
            session.rollback()
            raise Rejected(409, "transaction_id already recorded") from None
    return "paid"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
