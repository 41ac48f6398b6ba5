"""WeChat mini-program subscribe message (``POST /cgi-bin/message/subscribe/send``) through
wechatpy, wrapped as CONVENTIONS.md asks: the API base URL is configurable (tests talk to a
local fake), the access token lives in Redis (shared by every worker, refreshed by whoever
finds it expired) and is fetched from ``/cgi-bin/stable_token`` with the secret in the JSON
body, never in a URL.

A subscribe message reaches only a user who accepted the template in the mini-program (each
acceptance allows one message): ``43101`` ("user refuse to accept the msg") is therefore a
permanent failure of that message, not of the channel.

Two kinds of notice use it: heavy-pollution alerts to site contacts (templates ``alert`` and
``alert_end``, keywords ``WECHAT_ALERT_FIELDS``) and visitor booking decisions to the visitor
(template ``booking_result`` → ``WECHAT_TEMPLATE_BOOKING``, keywords ``WECHAT_BOOKING_FIELDS``).
Invoice reminders of provider billing go to the tenant's billing contact (template
``invoice_reminder`` → ``WECHAT_TEMPLATE_INVOICE``, keywords ``WECHAT_INVOICE_FIELDS``). The
booking and invoice templates are optional: without one, its notice fails permanently, saying so.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import redis
import requests
from wechatpy import WeChatClient  # type: ignore[import-untyped]
from wechatpy.exceptions import WeChatClientException  # type: ignore[import-untyped]
from wechatpy.session.redisstorage import RedisStorage  # type: ignore[import-untyped]

from saas.notify.channels import Outgoing, PermanentError, RetryableError, redact
from saas.settings import NotifySettings

RETRYABLE_ERRCODES = frozenset({-1, 45009, 45011})  # system busy, API quota / frequency
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})  # invalid or expired access token

BOOKING_TEMPLATE = "booking_result"  # the outbox rows' template of booking decisions
INVOICE_TEMPLATE = "invoice_reminder"  # billing.dunning's payment reminders
_TEMPLATE_SETTINGS = {
    "alert": "WECHAT_TEMPLATE_ALERT",
    "alert_end": "WECHAT_TEMPLATE_ALERT_END",
    BOOKING_TEMPLATE: "WECHAT_TEMPLATE_BOOKING",
    INVOICE_TEMPLATE: "WECHAT_TEMPLATE_INVOICE",
}

# Value limits of the template keyword types (WeChat docs, 订阅消息参数值内容限制).
_LIMITS = {"thing": 20, "phrase": 5, "character_string": 32, "number": 32, "letter": 32, "name": 10}


class ApiClient(WeChatClient):  # type: ignore[misc]
    """wechatpy's client with a configurable base URL and the stable-token endpoint (shared
    by the notification channel and the mini-program backend)."""

    def __init__(self, appid: str, secret: str, base: str, storage: Any, timeout: float) -> None:
        super().__init__(appid, secret, session=storage, timeout=timeout)
        self.base = base
        self.API_BASE_URL = base + "cgi-bin/"
        self.wxa.API_BASE_URL = base  # sns/jscode2session lives at the root

    def fetch_access_token(self) -> dict[str, Any]:
        response = self._http.post(
            self.base + "cgi-bin/stable_token",
            json={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            timeout=self.timeout,
        )
        if response.status_code != 200:
            raise WeChatClientException(None, f"HTTP {response.status_code}", client=self)
        result: dict[str, Any] = response.json()
        if result.get("errcode"):
            raise WeChatClientException(result["errcode"], result.get("errmsg", ""), client=self)
        expires_in = int(result.get("expires_in", 7200))
        # Keep a margin so no worker uses a token in its last minute.
        self.session.set(self.access_token_key, result["access_token"], max(expires_in - 60, 60))
        self.expires_at = int(time.time()) + expires_in
        return result


def template_data(fields: str, values: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``thing1=site,phrase2=level`` + the notice's values → WeChat's ``data`` object, each
    value cut to its keyword type's limit."""
    data: dict[str, dict[str, str]] = {}
    for pair in fields.split(","):
        key, _, name = (part.strip() for part in pair.partition("="))
        kind = key.rstrip("0123456789")
        value = values.get(name, "")
        limit = _LIMITS.get(kind)
        data[key] = {"value": value[:limit] if limit else value}
    return data


class WeChatSubscribe:
    provider = "wechat"

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        api_base: str,
        templates: Mapping[str, str],
        fields: str,
        page: str,
        booking_fields: str,
        booking_page: str,
        invoice_fields: str,
        miniprogram_state: str,
        client: redis.Redis,
        timeout: float,
    ) -> None:
        base = api_base if api_base.endswith("/") else api_base + "/"
        self._secret = app_secret
        self.templates = dict(templates)
        self.fields = fields
        self.page = page
        self.booking_fields = booking_fields
        self.booking_page = booking_page
        self.invoice_fields = invoice_fields
        self.state = miniprogram_state
        self.client = ApiClient(
            app_id, app_secret, base, RedisStorage(client, prefix="cleangate:wechat"), timeout
        )

    @classmethod
    def from_settings(cls, settings: NotifySettings, client: redis.Redis) -> WeChatSubscribe:
        return cls(
            app_id=settings.wechat_app_id,
            app_secret=settings.wechat_app_secret,
            api_base=settings.wechat_api_base,
            templates={
                "alert": settings.wechat_template_alert,
                "alert_end": settings.wechat_template_alert_end,
                BOOKING_TEMPLATE: settings.wechat_template_booking,
                INVOICE_TEMPLATE: settings.wechat_template_invoice,
            },
            fields=settings.wechat_alert_fields,
            page=settings.wechat_page,
            booking_fields=settings.wechat_booking_fields,
            booking_page=settings.wechat_booking_page,
            invoice_fields=settings.wechat_invoice_fields,
            miniprogram_state=settings.wechat_miniprogram_state,
            client=client,
            timeout=settings.send_timeout_seconds,
        )

    def body(self, message: Outgoing) -> dict[str, Any]:
        """The ``subscribe/send`` body; :class:`PermanentError` when the message's template is
        not configured (no retry can fix that)."""
        if message.template == BOOKING_TEMPLATE:
            template, fields = BOOKING_TEMPLATE, self.booking_fields
            page = self.booking_page
            booking_id = str(message.payload.get("booking_id") or "")
            if page and booking_id:
                page += ("&" if "?" in page else "?") + "id=" + booking_id
        elif message.template == INVOICE_TEMPLATE:
            template, fields, page = INVOICE_TEMPLATE, self.invoice_fields, ""
        else:
            template = "alert_end" if message.template == "alert_ended" else "alert"
            fields, page = self.fields, self.page
        template_id = self.templates.get(template, "")
        if not template_id:
            setting = _TEMPLATE_SETTINGS.get(template, template)
            raise PermanentError(
                f"wechat template {template!r} not configured ({setting} is empty): "
                "this message cannot be sent"
            )
        body: dict[str, Any] = {
            "touser": message.recipient,
            "template_id": template_id,
            "data": template_data(fields, message.values),
            "miniprogram_state": self.state,
            "lang": "zh_CN",
        }
        if page:
            body["page"] = page
        return body

    def send(self, message: Outgoing) -> str:
        try:
            result = self.client.post(
                self.client.base + "cgi-bin/message/subscribe/send", data=self.body(message)
            )
        except requests.RequestException as exc:
            raise RetryableError(f"wechat unreachable: {type(exc).__name__}") from None
        except WeChatClientException as exc:
            reason = redact(f"wechat {exc.errcode}: {exc.errmsg}", [self._secret])
            if exc.errcode in TOKEN_ERRCODES:
                self.client.session.delete(self.client.access_token_key)
                raise RetryableError(reason) from None
            if exc.errcode is None or exc.errcode in RETRYABLE_ERRCODES:
                raise RetryableError(reason) from None
            raise PermanentError(reason) from None
        return str(result.get("msgid", "")) if isinstance(result, dict) else ""
