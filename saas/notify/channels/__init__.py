"""Delivery channels behind one small interface (CONVENTIONS.md, "Adapters for the outside
world"): ``send(message) -> provider message id``, raising :class:`RetryableError` (try again
later) or :class:`PermanentError` (this message can never be delivered).

One module per provider, a registry by name, a simulator for development and the demo.
Secrets live in the channel objects only; every error text that leaves them goes through
:func:`redact` first.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis

from saas.settings import NotifySettings


class DeliveryError(Exception):
    """Base class; ``str()`` of it is stored as ``last_error``: keep it free of secrets."""


class RetryableError(DeliveryError):
    """Transient: network, timeouts, 5xx, throttling, provider system errors."""


class PermanentError(DeliveryError):
    """The provider refused this message for good (bad number, template, unsubscribed)."""


@dataclass(frozen=True)
class Outgoing:
    """What a channel gets: a snapshot of one outbox row, detached from the database."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    channel: str
    recipient: str
    template: str
    subject: str
    payload: Mapping[str, Any]
    idempotency_key: str
    attempt: int = 1

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))

    @property
    def values(self) -> Mapping[str, str]:
        values = self.payload.get("values") or {}
        return {str(k): str(v) for k, v in values.items()}

    @property
    def receiver_key(self) -> str:
        """The key receivers deduplicate on where the provider offers a field for it
        (Aliyun ``OutId``, e-mail ``Message-ID``): the row id, one-to-one with the sender's
        idempotency key and short enough for every provider."""
        return self.id.hex


class Channel(Protocol):
    provider: str

    def send(self, message: Outgoing) -> str: ...


# --- secrets never leave ---------------------------------------------------------------------

_SECRET_PARAMS = re.compile(
    r"(access_token|secret|password|signature|authorization|accesskeysecret)([\"']?\s*[=:]\s*[\"']?)"
    r"[^&\s\"',}]+",
    re.IGNORECASE,
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove secret-looking query/JSON values and every known secret from ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)[:480]


class RedactingFilter(logging.Filter):
    """Redact query-string secrets from log records of the HTTP stack: urllib3 logs every
    request line at DEBUG, and WeChat's API puts ``access_token`` in the URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}{m.group(2)}***", record.msg)
        return True


def install_log_redaction() -> None:
    for name in ("urllib3.connectionpool", "requests", "wechatpy"):
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactingFilter) for existing in logger.filters):
            logger.addFilter(RedactingFilter())


# --- registry ------------------------------------------------------------------------------

Factory = Callable[[NotifySettings, redis.Redis], Channel]


@dataclass
class Registry:
    """``channel kind → provider name → factory`` (``sms: aliyun | tencent | simulator``)."""

    factories: dict[str, dict[str, Factory]] = field(default_factory=dict)

    def register(self, kind: str, provider: str, factory: Factory) -> None:
        self.factories.setdefault(kind, {})[provider] = factory

    def build(
        self, kind: str, provider: str, settings: NotifySettings, client: redis.Redis
    ) -> Channel:
        try:
            factory = self.factories[kind][provider]
        except KeyError:
            raise ValueError(f"unknown {kind} provider {provider!r}") from None
        return factory(settings, client)


REGISTRY = Registry()


def _register_builtin() -> None:
    from saas.notify.channels import aliyun, email, simulator, tencent, wechat

    REGISTRY.register("sms", "aliyun", aliyun.AliyunSms.from_settings)
    REGISTRY.register("sms", "tencent", tencent.TencentSms.from_settings)
    REGISTRY.register("sms", "simulator", simulator.Simulator.for_kind("sms"))
    REGISTRY.register("wechat", "wechat", wechat.WeChatSubscribe.from_settings)
    REGISTRY.register("wechat", "simulator", simulator.Simulator.for_kind("wechat"))
    REGISTRY.register("email", "smtp", email.SmtpEmail.from_settings)
    REGISTRY.register("email", "simulator", simulator.Simulator.for_kind("email"))


def build_channels(settings: NotifySettings, client: redis.Redis) -> dict[str, Channel]:
    """The three channels the settings choose, by kind (``sms``, ``wechat``, ``email``)."""
    if not REGISTRY.factories:
        _register_builtin()
    install_log_redaction()
    return {
        "sms": REGISTRY.build("sms", settings.sms_provider, settings, client),
        "wechat": REGISTRY.build("wechat", settings.wechat_provider, settings, client),
        "email": REGISTRY.build("email", settings.email_provider, settings, client),
    }


# Variables of the two approved SMS templates, in order (Tencent's TemplateParamSet is
# positional; Aliyun's TemplateParam names them). docs/notifications.md shows sample texts.
SMS_TEMPLATE_VARIABLES = {
    "alert": ("site", "level", "response", "start", "end"),
    "alert_end": ("site", "level", "end"),
}


def sms_template(message: Outgoing) -> str:
    """``alert_end`` for an ended alert, ``alert`` for a new or changed one."""
    return "alert_end" if message.template == "alert_ended" else "alert"


def sms_params(message: Outgoing) -> list[tuple[str, str]]:
    values = message.values
    return [(name, values.get(name, "")) for name in SMS_TEMPLATE_VARIABLES[sms_template(message)]]
