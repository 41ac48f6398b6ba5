"""Test plumbing: a real hub on a loopback port in its own thread, and bridge boxes (key,
pairing state and edge.toml) for devices registered in the test database."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from flask import Flask
from sqlalchemy import func, select

from saas.db import get_database
from saas.edge_hub.server import Hub
from saas.models.ledger import Passage
from saas.tenancy import tenant_context
from tests.ledger.edge_helpers import Device


class HubThread:
    """``Hub`` serving on 127.0.0.1 from a background event loop."""

    def __init__(self, app: Flask, port: int = 0, **options: Any) -> None:
        self.app, self.port, self.options = app, port, options
        self.loop = asyncio.new_event_loop()
        self.hub: Hub | None = None
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> HubThread:
        self.thread.start()
        self.hub = Hub(self.app, host="127.0.0.1", port=self.port, **self.options)
        asyncio.run_coroutine_threadsafe(self.hub.start(), self.loop).result(10)
        self.port = self.hub.port
        return self

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.hub is not None:
            self.call(self.hub.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def __enter__(self) -> HubThread:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@dataclass
class Box:
    """An edge bridge's state directory on disk."""

    root: Path
    device: Device

    @property
    def config_path(self) -> Path:
        return self.root / "edge.toml"


def make_box(
    root: Path,
    device: Device,
    hub_url: str,
    lanes: str,
    *,
    web_port: int | None = None,
) -> Box:
    root.mkdir(parents=True, exist_ok=True)
    (root / "device.key").write_bytes(
        device.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    (root / "bridge.json").write_text(
        json.dumps(
            {
                "device_id": str(device.id),
                "tenant_id": str(device.tenant_id),
                "site_id": str(device.site_id),
                "site_name": "测试厂区",
                "hub_url": hub_url,
            }
        )
    )
    web = f"[web]\nport = {web_port}\nhost = '127.0.0.1'\n" if web_port is not None else ""
    (root / "edge.toml").write_text(
        f'[bridge]\nstate_dir = "{root}"\nkey = "{root / "device.key"}"\n\n{web}\n{lanes}',
        encoding="utf-8",
    )
    return Box(root, device)


SIM_LANES = """
[[gates]]
code = "1"
[[gates.lanes]]
lane = "01"
direction = "in"
camera = { driver = "simulator", serial = "CAM-IN", rate = 0 }
barrier = { driver = "simulator", serial = "BAR-IN" }
display = { driver = "simulator", serial = "LED-IN" }
[[gates.lanes]]
lane = "02"
direction = "out"
camera = { driver = "simulator", serial = "CAM-OUT", rate = 0 }
barrier = { driver = "simulator", serial = "BAR-OUT" }
"""


def ledger_event_ids(app: Flask, tenant_id: uuid.UUID, site_id: uuid.UUID) -> list[uuid.UUID]:
    with tenant_context(tenant_id), get_database(app).sessionmaker() as session:
        return list(
            session.scalars(
                select(Passage.event_id).where(Passage.site_id == site_id).order_by(Passage.seq)
            )
        )


async def until(predicate: Callable[[], object], timeout: float = 60.0) -> None:
    """Wait (in the test's event loop) until ``predicate()`` holds, or fail."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def ledger_records(app: Flask, tenant_id: uuid.UUID, site_id: uuid.UUID) -> list[dict[str, Any]]:
    with tenant_context(tenant_id), get_database(app).sessionmaker() as session:
        return [
            json.loads(r)
            for r in session.scalars(
                select(Passage.record).where(Passage.site_id == site_id).order_by(Passage.seq)
            )
        ]


def ledger_count(app: Flask, tenant_id: uuid.UUID, site_id: uuid.UUID) -> int:
    with tenant_context(tenant_id), get_database(app).sessionmaker() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Passage).where(Passage.site_id == site_id)
            )
            or 0
        )


def chain_intact(app: Flask, tenant_id: uuid.UUID, site_id: uuid.UUID) -> tuple[int, object]:
    """(records checked, first break or None) for the site's whole chain."""
    from saas.ledger import chain
    from saas.models.ledger import LedgerHead

    with tenant_context(tenant_id), get_database(app).sessionmaker() as session:
        head = session.get(LedgerHead, site_id)
        rows = session.scalars(
            select(Passage).where(Passage.site_id == site_id).order_by(Passage.seq)
        )
        return chain.verify_rows(
            iter(rows), expected_head=(head.seq, head.head) if head is not None else None
        )


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def push_lanes(secret: str = "durability-secret-0123") -> str:
    """Two lanes whose cameras are generic HTTP push receivers on free loopback ports."""

    def lane(number: str, direction: str, serial: str) -> str:
        camera = (
            f'{{ driver = "generic_http", serial = "{serial}", secret = "{secret}", '
            f'listen_host = "127.0.0.1", listen_port = {free_port()}, decision_timeout = 2.0 }}'
        )
        return (
            f'[[gates.lanes]]\nlane = "{number}"\ndirection = "{direction}"\n'
            f"camera = {camera}\n"
            f'barrier = {{ driver = "simulator", serial = "BAR-{serial}" }}\n'
        )

    return '[[gates]]\ncode = "1"\n' + lane("01", "in", "PUSH-IN") + lane("02", "out", "PUSH-OUT")


def make_fleet(app: Flask, tenant_id: uuid.UUID, count: int) -> list[dict[str, Any]]:
    """``count`` sites of one tenant, each with a registered bridge; returns the fleet spec."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import PublicFormat

    from saas.models.ledger import EdgeDevice
    from saas.models.tenancy import Site

    bridges = []
    with tenant_context(tenant_id), get_database(app).sessionmaker() as session:
        for n in range(count):
            site = Site(
                name=f"厂区 {n}",
                uscc="91350100M000100Y43",
                region_code="130200",
                industry="steel",
                rating="B",
            )
            session.add(site)
            session.flush()
            key = Ed25519PrivateKey.generate()
            device = EdgeDevice(
                site_id=site.id,
                name=f"bridge {n}",
                public_key=key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
            )
            session.add(device)
            session.flush()
            bridges.append(
                {
                    "device_id": str(device.id),
                    "site_id": str(site.id),
                    "key_pem": key.private_bytes(
                        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
                    ).decode(),
                }
            )
        session.commit()
    return bridges
