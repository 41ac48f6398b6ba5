"""A local stand-in for WeChat Pay API v3: a REAL HTTP server on 127.0.0.1 with its own test
key pairs, sharing no code with ``billing.wechatpay``.

* It verifies our merchant signature from the raw request with the merchant's public key, as
  WeChat Pay does (``Authorization: WECHATPAY2-SHA256-RSA2048 …`` over
  ``METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY\\n``), and refuses a bad one with 401 SIGN_ERROR.
* It answers ``POST /v3/pay/transactions/native`` with a ``code_url`` and signs its answer
  with its platform key (``Wechatpay-*`` headers); ``forge_answers`` signs with a stranger's key.
* It builds payment notifications as WeChat Pay sends them — the transaction encrypted with
  AEAD_AES_256_GCM under the APIv3 key, the envelope signed with the platform key — for the
  tests to deliver to ``/billing/wechatpay/notify`` through the Flask test client.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

MCHID = "1900000109"
APPID = "wxd678efh567hg6787"
API_V3_KEY = "0123456789abcdefghijABCDEFGHIJ01"  # 32 bytes
MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
_AUTH = re.compile(r'(\w+)="([^"]*)"')


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def self_signed(key: rsa.RSAPrivateKey, serial: int) -> str:
    """A platform certificate like WeChat Pay's (``Tenpay.com Root CA`` issues the real one)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com fake platform")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def rsa_sign(key: rsa.RSAPrivateKey, text: str) -> str:
    return base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_ok(public: rsa.RSAPublicKey, text: str, signature: str) -> bool:
    try:
        public.verify(
            base64.b64decode(signature), text.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass
class Order:
    out_trade_no: str
    appid: str
    mchid: str
    description: str
    notify_url: str
    total: int
    currency: str
    time_expire: str | None
    code_url: str


@dataclass
class FakeWeChatPay:
    merchant_key: rsa.RSAPrivateKey = field(default_factory=new_key)  # ours: we sign with it
    platform_key: rsa.RSAPrivateKey = field(default_factory=new_key)  # WeChat Pay's
    platform_serial_int: int = field(default_factory=lambda: secrets.randbits(150) | (1 << 152))
    orders: dict[str, Order] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    requests: int = 0
    forge_answers: bool = False  # sign answers with a key that is not the platform's
    fail_next: int = 0  # answer 500 SYSTEM_ERROR this many times
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.platform_cert = self_signed(self.platform_key, self.platform_serial_int)
        self.stranger = new_key()

    @property
    def platform_serial(self) -> str:
        return f"{self.platform_serial_int:X}"

    # --- the environment our app needs -----------------------------------------------------

    def env(self, notify_url: str = "http://127.0.0.1/billing/wechatpay/notify") -> dict[str, str]:
        return {
            "WECHATPAY_MCHID": MCHID,
            "WECHATPAY_APPID": APPID,
            "WECHATPAY_API_V3_KEY": API_V3_KEY,
            "WECHATPAY_SERIAL_NO": MERCHANT_SERIAL,
            "WECHATPAY_PRIVATE_KEY": private_pem(self.merchant_key),
            "WECHATPAY_PLATFORM_CERT": self.platform_cert,
            "WECHATPAY_API_BASE": self.url,
            "WECHATPAY_NOTIFY_URL": notify_url,
        }

    # --- the server ------------------------------------------------------------------------

    def start(self) -> FakeWeChatPay:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = fake.handle(
                    self.command, self.path, self.headers.get("Authorization", ""), body
                )
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                for name, value in fake.signed_headers(data.decode()).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/"

    def reset(self) -> None:
        with self._lock:
            self.orders.clear()
            self.rejected.clear()
            self.requests = 0
            self.forge_answers = False
            self.fail_next = 0

    def signed_headers(self, body: str, *, key: rsa.RSAPrivateKey | None = None) -> dict[str, str]:
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        signer = key or (self.stranger if self.forge_answers else self.platform_key)
        return {
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": rsa_sign(signer, f"{timestamp}\n{nonce}\n{body}\n"),
            "Wechatpay-Serial": self.platform_serial,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
            "Request-ID": secrets.token_hex(8),
        }

    def _refuse(self, why: str) -> tuple[int, dict[str, Any]]:
        self.rejected.append(why)
        return 401, {"code": "SIGN_ERROR", "message": why}

    def handle(
        self, method: str, path: str, authorization: str, body: bytes
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests += 1
            scheme, _, params = authorization.partition(" ")
            if scheme != "WECHATPAY2-SHA256-RSA2048":
                return self._refuse("authorization scheme")
            fields = dict(_AUTH.findall(params))
            if fields.get("mchid") != MCHID or fields.get("serial_no") != MERCHANT_SERIAL:
                return self._refuse("mchid or serial_no")
            timestamp = fields.get("timestamp", "")
            if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
                return self._refuse("timestamp")
            text = body.decode()
            message = f"{method}\n{path}\n{timestamp}\n{fields.get('nonce_str', '')}\n{text}\n"
            if not rsa_ok(self.merchant_key.public_key(), message, fields.get("signature", "")):
                return self._refuse("signature")
            if self.fail_next:
                self.fail_next -= 1
                return 500, {"code": "SYSTEM_ERROR", "message": "系统错误"}
            if path != "/v3/pay/transactions/native":
                return 404, {"code": "NOT_FOUND", "message": "no such API"}
            order = json.loads(text)
            if order.get("appid") != APPID or order.get("mchid") != MCHID:
                return 400, {"code": "PARAM_ERROR", "message": "appid/mchid"}
            amount = order.get("amount") or {}
            if not isinstance(amount.get("total"), int) or amount["total"] <= 0:
                return 400, {"code": "PARAM_ERROR", "message": "amount.total"}
            if len(order.get("description", "").encode()) > 127:
                return 400, {"code": "PARAM_ERROR", "message": "description"}
            code_url = f"weixin://wxpay/bizpayurl?pr={secrets.token_urlsafe(6)}"
            self.orders[order["out_trade_no"]] = Order(
                out_trade_no=order["out_trade_no"],
                appid=order["appid"],
                mchid=order["mchid"],
                description=order["description"],
                notify_url=order["notify_url"],
                total=amount["total"],
                currency=amount.get("currency", "CNY"),
                time_expire=order.get("time_expire"),
                code_url=code_url,
            )
            return 200, {"code_url": code_url}

    # --- notifications ---------------------------------------------------------------------

    def transaction(self, out_trade_no: str, /, **overrides: Any) -> dict[str, Any]:
        """The decrypted ``resource`` WeChat Pay sends once the payer has paid the order."""
        order = self.orders[out_trade_no]
        data: dict[str, Any] = {
            "mchid": order.mchid,
            "appid": order.appid,
            "out_trade_no": out_trade_no,
            "transaction_id": "42000" + str(secrets.randbits(64)).zfill(23),
            "trade_type": "NATIVE",
            "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功",
            "bank_type": "OTHERS",
            "attach": "",
            "success_time": dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).isoformat(
                timespec="seconds"
            ),
            "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
            "amount": {
                "total": order.total,
                "payer_total": order.total,
                "currency": "CNY",
                "payer_currency": "CNY",
            },
        }
        data.update(overrides)
        return data

    def encrypt(self, plain: dict[str, Any], *, key: str = API_V3_KEY) -> dict[str, str]:
        nonce, associated = secrets.token_hex(6), "transaction"
        sealed = AESGCM(key.encode()).encrypt(
            nonce.encode(), json.dumps(plain, ensure_ascii=False).encode(), associated.encode()
        )
        return {
            "original_type": "transaction",
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": base64.b64encode(sealed).decode(),
            "associated_data": associated,
            "nonce": nonce,
        }

    def envelope(self, resource: dict[str, str], event_type: str = "TRANSACTION.SUCCESS") -> str:
        return json.dumps(
            {
                "id": secrets.token_hex(16),
                "create_time": dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).isoformat(
                    timespec="seconds"
                ),
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": "支付成功",
                "resource": resource,
            },
            ensure_ascii=False,
        )

    def sign_notification(
        self,
        body: str,
        *,
        key: rsa.RSAPrivateKey | None = None,
        timestamp: int | None = None,
        serial: str | None = None,
    ) -> dict[str, str]:
        """The headers WeChat Pay sends with ``body`` (signed by ``key``, default the
        platform's; ``timestamp`` to make a stale one)."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = secrets.token_hex(16)
        return {
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": rsa_sign(
                key or self.platform_key, f"{stamp}\n{nonce}\n{body}\n"
            ),
            "Wechatpay-Serial": serial or self.platform_serial,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
            "Content-Type": "application/json",
        }

    def notification(self, out_trade_no: str, /, **overrides: Any) -> tuple[dict[str, str], str]:
        """A genuine payment notification for the order: (headers, body)."""
        body = self.envelope(self.encrypt(self.transaction(out_trade_no, **overrides)))
        return self.sign_notification(body), body
