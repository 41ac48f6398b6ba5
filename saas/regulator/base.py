"""The regulator adapter interface and the registry of adapters by name
(docs/regulator-adapters.md).

An adapter knows one platform's protocol: it maps our canonical records to the platform's fields
and code tables (``build``), signs and sends a batch (``send``), and reads the answer record by
record. The relay (``saas.regulator.relay``) owns everything else — claiming rows, retries,
backoff, the circuit breaker and the statuses — so an adapter stays a translation and a
transport.

Records reach an adapter as plain dicts (``Source``): a passage is its ledger record (the JSON the
edge sent, ``saas.ledger.ingest.PassageIn`` fields) plus ``gate_code``/``lane_code``; a registry
row is ``saas.ledger.registries.to_out(...)`` as JSON; a gate is its registration fields; a daily
count is ``{"date", "gate_code", "lane_code", "count"}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import requests

Outcome = Literal["accepted", "rejected", "retry"]


@dataclass(frozen=True)
class Credentials:
    """Decrypted secrets of one configuration; never logged (``repr`` hides the values)."""

    client_secret: str = field(default="", repr=False)
    private_key: str = field(default="", repr=False)  # PEM (RSA) or hex (SM2)
    shared_key: str = field(default="", repr=False)  # HMAC-SHA256 / MD5+key
    password: str = field(default="", repr=False)


@dataclass(frozen=True)
class Endpoint:
    """Everything an adapter needs to talk to one platform for one site."""

    config_id: str
    endpoint: str  # base URL
    client_id: str
    enterprise_code: str  # 平台企业唯一编码
    uscc: str  # 统一社会信用代码
    permit_no: str | None  # 排污许可证编号
    signer: str  # rsa2 | hmac-sha256 | md5-key | sm2
    credentials: Credentials
    timeout: float = 10.0


@dataclass(frozen=True)
class Item:
    """One record ready to send: ``key`` is the idempotency key the platform dedupes on."""

    key: str
    kind: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class ItemResult:
    key: str
    outcome: Outcome  # accepted | rejected (the platform refused it: fix and re-send) | retry
    code: str = ""
    message: str = ""  # the platform's words (平台信息)


class TransportError(Exception):
    """The batch as a whole did not get an answer to act on (network, timeout, 5xx, an answer
    that cannot be read): every item is retried later; counts against the circuit breaker."""


class ConfigError(ValueError):
    """The configuration cannot work (bad key, unknown signer, refused credentials): names the
    field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


class Adapter(Protocol):
    name: str
    max_batch: int

    def build(self, kind: str, source: Mapping[str, Any], endpoint: Endpoint) -> dict[str, Any]:
        """The platform's payload for one record (field names and codes as the platform
        writes them); raises ValueError naming what cannot be mapped."""
        ...

    def send(
        self, http: requests.Session, endpoint: Endpoint, items: Sequence[Item]
    ) -> list[ItemResult]:
        """Sign and send ``items`` (at most ``max_batch``); one result per item, in any order.
        Raises TransportError when there is no per-record answer."""
        ...

    def test_connection(self, http: requests.Session, endpoint: Endpoint) -> str:
        """Authenticate (and whatever else is cheap) against the platform; a human-readable
        success message, or ConfigError / TransportError."""
        ...


ADAPTERS: dict[str, Adapter] = {}


def register(adapter: Adapter) -> Adapter:
    ADAPTERS[adapter.name] = adapter
    return adapter


def get_adapter(name: str) -> Adapter:
    """The adapter registered as ``name`` (importing the built-ins first)."""
    from saas.regulator import adapters  # noqa: F401  (registers the built-in adapters)

    try:
        return ADAPTERS[name]
    except KeyError:
        known = ", ".join(sorted(ADAPTERS)) or "none"
        raise ConfigError("adapter", f"unknown platform adapter {name!r}; known: {known}") from None
