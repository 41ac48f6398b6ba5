"""Kill tests: the edge daemon is SIGKILLed at random moments, over a hundred times, while
simulated cameras push a burst of passages; afterwards the cloud ledger holds every passage the
cameras were answered for exactly once and the chain verifies.

The daemon runs as a real process (``python -m edge_bridge.cli run``) with generic HTTP push
cameras; the simulator resends an unanswered push like a camera does. The hub and the database
are real (PostgreSQL when available). Variant two keeps the hub down during the whole burst
(the plant's internet is out) and starts it afterwards.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from pathlib import Path

import pytest
from flask import Flask

from cleangate_demo.plant import EdgeProcess
from edge_bridge import config as edge_config
from edge_bridge.simulate import Simulator
from tests.conftest import TenantFixture, make_tenant
from tests.edge_hub.harness import (
    HubThread,
    chain_intact,
    free_port,
    ledger_event_ids,
    make_box,
    push_lanes,
)
from tests.ledger.edge_helpers import make_device

KILLS = int(os.environ.get("CLEANGATE_KILLS", "100"))


class Pusher:
    """The simulator pushing continuously from its own thread until stopped."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        async def lane_worker() -> None:
            while not self.stopping.is_set():
                await self.sim.push(*self.sim.next_push(), deadline=300)

        await asyncio.gather(*(lane_worker() for _ in range(3)))

    def __enter__(self) -> Pusher:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopping.set()
        self.thread.join(120)


@pytest.fixture
def durable_app(request: pytest.FixtureRequest) -> Flask:
    """PostgreSQL when the service is there (CI requires it), else SQLite."""
    try:
        backend = request.getfixturevalue("pg_backend")
    except pytest.skip.Exception:
        backend = request.getfixturevalue("sqlite_backend")
    return backend.app  # type: ignore[no-any-return]


def _burst_with_kills(
    app: Flask, tenant: TenantFixture, root: Path, *, hub_up_during_burst: bool
) -> None:
    device = make_device(app, tenant.tenant_id, tenant.site_id)
    hub_port = free_port()
    hub = HubThread(app, port=hub_port)
    if hub_up_during_burst:
        hub.start()
    box = make_box(root, device, f"ws://127.0.0.1:{hub_port}/", push_lanes())
    config = edge_config.load(box.config_path)
    ports = [int(lane.camera["listen_port"]) for lane in config.lanes if lane.camera]
    daemon = EdgeProcess(box.config_path, ports)
    sim = Simulator(config, seed=7, images=True)
    rng = random.Random(11)
    kills = 0
    try:
        daemon.start()
        with Pusher(sim):
            while kills < KILLS:
                time.sleep(rng.uniform(0.02, 0.4))
                daemon.kill()
                kills += 1
                daemon.start()
            time.sleep(0.5)
        if not hub_up_during_burst:
            assert ledger_event_ids(app, tenant.tenant_id, tenant.site_id) == []
            hub.start()
        expected = sim.answered_ids()
        assert len(expected) == len(sim.produced) > KILLS  # a real burst, no double answers
        deadline = time.monotonic() + 120
        while True:
            stored = ledger_event_ids(app, tenant.tenant_id, tenant.site_id)
            if set(stored) >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        daemon.stop()
        hub.stop() if hub.hub is not None else None
    missing = expected - set(stored)
    assert not missing, f"{len(missing)} answered passages never reached the ledger"
    assert len(stored) == len(set(stored)), "a passage was stored twice"
    # Pushes in flight at the last stop may be stored without an answer: never anything else.
    assert set(stored) <= sim.built_ids(), "a record nobody produced"
    checked, broken = chain_intact(app, tenant.tenant_id, tenant.site_id)
    assert broken is None
    assert checked == len(stored)
    assert kills >= 100 or KILLS < 100


@pytest.mark.timeout(900)
def test_sigkill_during_a_burst_loses_and_duplicates_nothing(
    durable_app: Flask, tmp_path: Path
) -> None:
    tenant = make_tenant(durable_app, "kill")
    _burst_with_kills(durable_app, tenant, tmp_path / "box", hub_up_during_burst=True)


@pytest.mark.timeout(900)
def test_sigkill_with_the_cloud_unreachable_then_back(durable_app: Flask, tmp_path: Path) -> None:
    tenant = make_tenant(durable_app, "offline")
    _burst_with_kills(durable_app, tenant, tmp_path / "box", hub_up_during_burst=False)
