"""Tencent Cloud SMS (API 3.0 ``SendSms``, version 2021-01-11) with TC3-HMAC-SHA256.

Signature (腾讯云 API 3.0 "签名方法 v3"):
``CanonicalRequest = POST \\n / \\n <empty query> \\n content-type:…\\nhost:…\\n \\n
content-type;host \\n hex(SHA256(body))``;
``StringToSign = TC3-HMAC-SHA256 \\n <timestamp> \\n <UTC date>/<service>/tc3_request \\n
hex(SHA256(CanonicalRequest))``; the key is derived ``HMAC("TC3"+SecretKey, date) → service →
"tc3_request"``; ``Signature = hex(HMAC(key, StringToSign))``. Pinned by the published worked
example (tests/notify/test_signing.py).

``SessionContext`` carries the sender's idempotency key (documented: echoed back, < 512 bytes).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import redis
import requests

from saas.notify.channels import (
    Outgoing,
    PermanentError,
    RetryableError,
    redact,
    sms_params,
    sms_template,
)
from saas.settings import NotifySettings

SERVICE = "sms"
VERSION = "2021-01-11"
ACTION = "SendSms"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host"

RETRYABLE_PREFIXES = (
    "InternalError",
    "RequestLimitExceeded",
    "LimitExceeded",
    "AuthFailure",  # a rotated key or clock skew: fixable within the retry window
    "UnauthorizedOperation",
    "FailedOperation.InsufficientBalanceInSmsPackage",
    "FailedOperation.ContainSensitiveWord",
)


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def canonical_request(host: str, payload: bytes, content_type: str = CONTENT_TYPE) -> str:
    return "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{content_type}\nhost:{host}\n",
            SIGNED_HEADERS,
            _sha256_hex(payload),
        ]
    )


def utc_date(timestamp: int) -> str:
    """The credential date is the UTC date of the timestamp (never local time)."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def string_to_sign(timestamp: int, service: str, canonical: str) -> str:
    scope = f"{utc_date(timestamp)}/{service}/tc3_request"
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{_sha256_hex(canonical.encode())}"


def signature(secret_key: str, timestamp: int, service: str, canonical: str) -> str:
    key = _hmac(("TC3" + secret_key).encode(), utc_date(timestamp))
    key = _hmac(key, service)
    key = _hmac(key, "tc3_request")
    return hmac.new(
        key, string_to_sign(timestamp, service, canonical).encode(), hashlib.sha256
    ).hexdigest()


def authorization(
    secret_id: str, secret_key: str, timestamp: int, service: str, canonical: str
) -> str:
    scope = f"{utc_date(timestamp)}/{service}/tc3_request"
    return (
        f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, "
        f"Signature={signature(secret_key, timestamp, service, canonical)}"
    )


class TencentSms:
    provider = "tencent"

    def __init__(
        self,
        *,
        secret_id: str,
        secret_key: str,
        app_id: str,
        endpoint: str,
        region: str,
        sign_name: str,
        templates: Mapping[str, str],
        timeout: float,
    ) -> None:
        self.secret_id = secret_id
        self._secret = secret_key
        self.app_id = app_id
        self.endpoint = endpoint
        self.host = urlsplit(endpoint).netloc
        self.region = region
        self.sign_name = sign_name
        self.templates = dict(templates)
        self.timeout = timeout
        self.http = requests.Session()

    @classmethod
    def from_settings(cls, settings: NotifySettings, _client: redis.Redis) -> TencentSms:
        return cls(
            secret_id=settings.tencent_secret_id,
            secret_key=settings.tencent_secret_key,
            app_id=settings.tencent_sms_app_id,
            endpoint=settings.tencent_sms_endpoint,
            region=settings.tencent_sms_region,
            sign_name=settings.sms_sign_name,
            templates={
                "alert": settings.sms_template_alert,
                "alert_end": settings.sms_template_alert_end,
            },
            timeout=settings.send_timeout_seconds,
        )

    def request(
        self, message: Outgoing, *, timestamp: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        """Headers and body of the SendSms call, signed."""
        body = {
            "PhoneNumberSet": [f"+86{message.recipient}"],
            "SmsSdkAppId": self.app_id,
            "SignName": self.sign_name,
            "TemplateId": self.templates[sms_template(message)],
            "TemplateParamSet": [value for _, value in sms_params(message)],
            "SessionContext": message.idempotency_key,
        }
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        stamp = int(time.time()) if timestamp is None else timestamp
        canonical = canonical_request(self.host, payload)
        headers = {
            "Authorization": authorization(self.secret_id, self._secret, stamp, SERVICE, canonical),
            "Content-Type": CONTENT_TYPE,
            "Host": self.host,
            "X-TC-Action": ACTION,
            "X-TC-Timestamp": str(stamp),
            "X-TC-Version": VERSION,
            "X-TC-Region": self.region,
        }
        return headers, payload

    def send(self, message: Outgoing) -> str:
        headers, payload = self.request(message)
        try:
            response = self.http.post(
                self.endpoint, data=payload, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise RetryableError(f"tencent unreachable: {type(exc).__name__}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableError(f"tencent HTTP {response.status_code}")
        try:
            answer: dict[str, Any] = response.json().get("Response") or {}
        except (ValueError, AttributeError):
            raise RetryableError(f"tencent unreadable answer HTTP {response.status_code}") from None
        error = answer.get("Error")
        if error:
            self._raise(str(error.get("Code", "")), str(error.get("Message", "")))
        statuses = answer.get("SendStatusSet") or []
        if not statuses:
            raise RetryableError("tencent answered without a send status")
        status = statuses[0]
        code = str(status.get("Code", ""))
        if code == "Ok":
            return str(status.get("SerialNo") or answer.get("RequestId") or "")
        self._raise(code, str(status.get("Message", "")))
        raise AssertionError("unreachable")

    def _raise(self, code: str, text: str) -> None:
        reason = redact(f"{code}: {text}"[:300], [self._secret])
        if not code or code.startswith(RETRYABLE_PREFIXES):
            raise RetryableError(reason)
        raise PermanentError(reason)
