"""Aliyun SMS (Dysmsapi ``SendSms``, API version 2017-05-25) with the RPC-style signature.

Signature (Aliyun "RPC 风格签名", SignatureVersion 1.0): sort every parameter but
``Signature`` by name; percent-encode names and values as RFC 3986 (UTF-8, only
``A-Z a-z 0-9 - _ . ~`` literal, so space → ``%20``, ``*`` → ``%2A``); join as ``k=v&…``;
``StringToSign = METHOD & %2F & percentEncode(that string)``;
``Signature = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))``. Pinned by the
published worked examples (tests/notify/test_signing.py).

``OutId`` carries the outbox row id (one-to-one with the sender's idempotency key) so a
receiver can deduplicate a message the relay sent twice.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

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

API_VERSION = "2017-05-25"

# Codes worth another try: throttling and system errors, and account or credential problems an
# operator can fix within the retry window (arrears, a rotated key, clock skew).
RETRYABLE_CODES = frozenset(
    {
        "isv.BUSINESS_LIMIT_CONTROL",
        "isv.OUT_OF_SERVICE",
        "isv.AMOUNT_NOT_ENOUGH",
        "SignatureDoesNotMatch",
        "SignatureNonceUsed",
        "InvalidTimeStamp.Expired",
        "InvalidAccessKeyId.NotFound",
        "InvalidAccessKeyId.Inactive",
        "Forbidden.RAM",
        "Throttling",
        "ServiceUnavailable",
        "InternalError",
    }
)
RETRYABLE_PREFIXES = ("isp.", "Throttling", "ServiceUnavailable", "InternalError")


def percent_encode(value: object) -> str:
    """RFC 3986 as Aliyun wants it: UTF-8, only unreserved characters left literal."""
    return quote(str(value), safe="")


def canonical_query(params: Mapping[str, object]) -> str:
    return "&".join(
        f"{percent_encode(key)}={percent_encode(value)}" for key, value in sorted(params.items())
    )


def string_to_sign(method: str, params: Mapping[str, object]) -> str:
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"


def sign(method: str, params: Mapping[str, object], access_key_secret: str) -> str:
    digest = hmac.new(
        f"{access_key_secret}&".encode(),
        string_to_sign(method, params).encode(),
        hashlib.sha1,
    ).digest()
    return base64.b64encode(digest).decode()


class AliyunSms:
    provider = "aliyun"

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        endpoint: str,
        region: str,
        sign_name: str,
        templates: Mapping[str, str],
        timeout: float,
    ) -> None:
        self.access_key_id = access_key_id
        self._secret = access_key_secret
        self.endpoint = endpoint
        self.region = region
        self.sign_name = sign_name
        self.templates = dict(templates)
        self.timeout = timeout
        self.http = requests.Session()

    @classmethod
    def from_settings(cls, settings: NotifySettings, _client: redis.Redis) -> AliyunSms:
        return cls(
            access_key_id=settings.aliyun_access_key_id,
            access_key_secret=settings.aliyun_access_key_secret,
            endpoint=settings.aliyun_sms_endpoint,
            region=settings.aliyun_sms_region,
            sign_name=settings.sms_sign_name,
            templates={
                "alert": settings.sms_template_alert,
                "alert_end": settings.sms_template_alert_end,
            },
            timeout=settings.send_timeout_seconds,
        )

    def request_params(self, message: Outgoing, *, now: datetime | None = None) -> dict[str, str]:
        """Every parameter of the SendSms call, signed."""
        params = {
            "AccessKeyId": self.access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "RegionId": self.region,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": API_VERSION,
            "PhoneNumbers": message.recipient,
            "SignName": self.sign_name,
            "TemplateCode": self.templates[sms_template(message)],
            "TemplateParam": json.dumps(
                dict(sms_params(message)), ensure_ascii=False, separators=(",", ":")
            ),
            "OutId": message.receiver_key,
        }
        params["Signature"] = sign("POST", params, self._secret)
        return params

    def send(self, message: Outgoing) -> str:
        body = canonical_query(self.request_params(message))
        try:
            response = self.http.post(
                self.endpoint,
                data=body.encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise RetryableError(self._safe(f"aliyun unreachable: {type(exc).__name__}")) from None
        data: dict[str, Any] = {}
        with contextlib.suppress(ValueError):
            data = response.json()
        code = str(data.get("Code") or "")
        if code == "OK":
            return str(data.get("BizId") or data.get("RequestId") or "")
        label = code or f"HTTP {response.status_code}"
        reason = self._safe(f"{label}: {data.get('Message', '')}")
        if (
            response.status_code >= 500
            or response.status_code == 429
            or not code
            or code in RETRYABLE_CODES
            or code.startswith(RETRYABLE_PREFIXES)
        ):
            raise RetryableError(reason)
        raise PermanentError(reason)

    def _safe(self, text: str) -> str:
        return redact(text[:300], [self._secret])
