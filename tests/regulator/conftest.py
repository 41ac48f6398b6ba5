"""Fixtures of the regulator pipeline tests: a small test adapter (``test-json``) registered from
here, speaking to a REAL local HTTP receiver (a thread on 127.0.0.1:0) with fault injection,
platform configurations sealed with the app's keyring, and passages ingested through
``ingest_passages``. Importing this module registers the adapter (the SIGKILL test's relay
subprocess does so)."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from sqlalchemy import select

from saas.db import get_database
from saas.ledger.ingest import PassageBatch, ingest_passages
from saas.models.regulator import RegulatorConfig, RegulatorUpload
from saas.models.tenancy import Site
from saas.notify.relay import RetryPolicy
from saas.regulator import envelope
from saas.regulator.base import Endpoint, Item, ItemResult, TransportError, register
from saas.regulator.relay import Breaker, RelayCounts, RelayPolicy, relay
from saas.tenancy import tenant_context
from tests import services
from tests.conftest import TenantFixture

TOKEN = "test-client-secret-9f3a"
ADAPTER = "test-json"
POLICY = RelayPolicy(
    retry=RetryPolicy(max_attempts=4, base_seconds=30, max_seconds=600, lease_seconds=60),
    breaker_failures=3,
    breaker_cooldown_seconds=120,
)


# --- the receiver --------------------------------------------------------------------------------


@dataclass
class Receiver:
    """What the fake platform saw and how it misbehaves. ``fail`` > 0: answer 503 that many
    times (-1: always); ``reject``: keys answered as refused with a message."""

    server: ThreadingHTTPServer | None = None
    requests: list[list[str]] = field(default_factory=list)  # keys per request, in order
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # key → payload (dedupe)
    reject: dict[str, str] = field(default_factory=dict)
    fail: int = 0
    delay: float = 0.0
    hits: int = 0  # every POST, failed ones included
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def seen_keys(self) -> list[str]:
        with self.lock:
            return [k for batch in self.requests for k in batch]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def _answer(self, status: int, body: Mapping[str, Any]) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.headers.get("X-Token") != TOKEN:
                self._answer(401, {"error": "bad token"})
                return
            if receiver.delay:
                time.sleep(receiver.delay)
            with receiver.lock:
                receiver.hits += 1
                if receiver.fail:
                    receiver.fail -= 1 if receiver.fail > 0 else 0
                    failing = True
                else:
                    failing = False
                    receiver.requests.append([i["key"] for i in body["items"]])
            if failing:
                self._answer(503, {"error": "service unavailable"})
                return
            results = []
            with receiver.lock:
                for item in body["items"]:
                    if item["key"] in receiver.reject:
                        results.append(
                            {
                                "key": item["key"],
                                "ok": False,
                                "code": "E400",
                                "message": receiver.reject[item["key"]],
                            }
                        )
                        continue
                    receiver.accepted.setdefault(item["key"], item["payload"])
                    results.append({"key": item["key"], "ok": True, "code": "0", "message": "成功"})
            self._answer(200, {"results": results})

    return Handler


@pytest.fixture
def receiver(breaker_redis: redis.Redis) -> Iterator[Receiver]:
    rec = Receiver()
    rec.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec))
    thread = threading.Thread(target=rec.server.serve_forever, daemon=True)
    thread.start()
    breaker_redis.delete(Breaker.key(rec.url), Breaker.key(rec.url) + ":probe")
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


# --- the adapter ---------------------------------------------------------------------------------


class TestJsonAdapter:
    """A minimal platform protocol: POST {items: [{key, kind, payload}]} to ``/upload`` with the
    client secret in ``X-Token``; per-record ``{key, ok, code, message}`` answers."""

    name = ADAPTER
    max_batch = 5

    def build(self, kind: str, source: Mapping[str, Any], endpoint: Endpoint) -> dict[str, Any]:
        if kind == "passage":
            plate = (source.get("plate") or {}).get("raw")
            if plate == "无法映射":
                raise ValueError("plate_color: no platform code for this colour")
            return {
                "carNo": plate,
                "gate": source["gate_code"],
                "lane": source["lane_code"],
                "time": source["captured_at"],
                "ent": endpoint.enterprise_code,
            }
        return {"kind": kind, **source}

    def send(
        self, http: requests.Session, endpoint: Endpoint, items: Sequence[Item]
    ) -> list[ItemResult]:
        body = {"items": [{"key": i.key, "kind": i.kind, "payload": i.payload} for i in items]}
        try:
            response = http.post(
                endpoint.endpoint + "/upload",
                json=body,
                headers={"X-Token": endpoint.credentials.client_secret},
                timeout=endpoint.timeout,
            )
        except requests.RequestException as exc:
            raise TransportError(type(exc).__name__) from None
        if response.status_code >= 500 or response.status_code == 401:
            raise TransportError(f"HTTP {response.status_code}")
        return [
            ItemResult(
                key=r["key"],
                outcome="accepted" if r["ok"] else "rejected",
                code=r["code"],
                message=r["message"],
            )
            for r in response.json()["results"]
        ]

    def test_connection(self, http: requests.Session, endpoint: Endpoint) -> str:
        return "ok"


register(TestJsonAdapter())


# --- Redis for the breaker -----------------------------------------------------------------------


@pytest.fixture
def breaker_redis(app: Flask) -> redis.Redis:
    """The real Redis when the suite is given one (CLEANGATE_TEST_REDIS_URL), else the app's
    embedded substitute."""
    if os.environ.get("CLEANGATE_TEST_REDIS_URL"):
        return services.real_redis()  # type: ignore[no-any-return]
    return app.extensions["cleangate.redis"]  # type: ignore[no-any-return]


# --- data ----------------------------------------------------------------------------------------


def make_config(
    app: Flask,
    tenant: TenantFixture,
    url: str,
    *,
    name: str = "唐山市移动源监管平台",
    active: bool = True,
    site_id: uuid.UUID | None = None,
) -> uuid.UUID:
    keyring = app.config["CLEANGATE_SETTINGS"].regulator_keyring
    box = envelope.seal(json.dumps({"client_secret": TOKEN}).encode(), keyring)
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        config = RegulatorConfig(
            site_id=site_id or tenant.site_id,
            name=name,
            adapter=ADAPTER,
            endpoint=url,
            signer="hmac-sha256",
            client_id="cg-test",
            enterprise_code="ENT0001",
            uscc="91350100M000100Y43",
            permit_no=None,
            secret_box=box,
            active=active,
        )
        session.add(config)
        session.commit()
        return config.id


def passage_body(
    plate: str = "冀B12345",
    *,
    captured_at: datetime | None = None,
    gate: str = "1",
    lane: str = "01",
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "captured_at": (captured_at or datetime.now(UTC)).isoformat(),
        "gate": gate,
        "lane": lane,
        "direction": "in",
        "plate_text": plate,
        "plate_color": "yellow",
        "decision": {"verdict": "ALLOW"},
    }


def ingest(
    app: Flask,
    tenant: TenantFixture,
    bodies: Sequence[dict[str, Any]],
    *,
    app_context: bool = False,
) -> list[str]:
    batch = PassageBatch.model_validate({"passages": list(bodies)})

    def run() -> None:
        with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
            site = session.get(Site, tenant.site_id)
            assert site is not None
            ingest_passages(session, site, batch)

    if app_context:
        with app.app_context():
            run()
    else:
        run()
    return [str(b["event_id"]) for b in bodies]


def uploads(app: Flask, tenant: TenantFixture, **where: Any) -> list[RegulatorUpload]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        stmt = select(RegulatorUpload).order_by(RegulatorUpload.key)
        for name, value in where.items():
            stmt = stmt.where(getattr(RegulatorUpload, name) == value)
        return list(session.scalars(stmt))


def run_relay(
    app: Flask,
    tenant: TenantFixture,
    connection: redis.Redis,
    *,
    at: datetime | None = None,
    policy: RelayPolicy = POLICY,
    batch: int = 1000,
    clock: Callable[[], datetime] | None = None,
) -> RelayCounts:
    if clock is None:
        clock = (lambda: at) if at is not None else (lambda: datetime.now(UTC))
    with tenant_context(tenant.tenant_id), app.app_context():
        return relay(
            get_database(app).sessionmaker,
            connection,
            policy=policy,
            batch=batch,
            clock=clock,
            app=app,
        )


def later(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


def until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


def stored_hj1321_config(
    app: Flask,
    tenant: TenantFixture,
    url: str,
    private_key: str,
    *,
    client_id: str,
    client_secret: str,
    ent_code: str,
    name: str,
    permit_no: str | None = None,
) -> uuid.UUID:
    """A site's ``hj1321-json`` RSA2 configuration as the configuration service stores it:
    secrets sealed with the app's keyring, our public key kept to register with the platform."""
    from saas.models.regulator import RegulatorConfig
    from saas.regulator import envelope
    from saas.regulator.base import Credentials
    from saas.regulator.signing import public_material

    keyring = app.config["CLEANGATE_SETTINGS"].regulator_keyring
    secrets_json = json.dumps({"client_secret": client_secret, "private_key": private_key})
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        config = RegulatorConfig(
            site_id=tenant.site_id,
            name=name,
            adapter="hj1321-json",
            endpoint=url,
            signer="rsa2",
            client_id=client_id,
            enterprise_code=ent_code,
            uscc="91350100M000100Y43",
            permit_no=permit_no,
            secret_box=envelope.seal(secrets_json.encode(), keyring),
            public_key=public_material("rsa2", Credentials(private_key=private_key)),
            active=True,
        )
        session.add(config)
        session.commit()
        return config.id
