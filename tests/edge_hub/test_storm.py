"""Reconnect storm: 1 000 bridges (real ``CloudLink`` clients with SQLite outboxes, in a child
process) lose their hub, keep recording, and all reconnect and drain within 30 s of the hub
coming back — every record stored exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from saas.db import get_database
from saas.models.ledger import Passage
from saas.tenancy import tenant_context
from tests.conftest import make_tenant
from tests.edge_hub.harness import HubThread, free_port, make_fleet
from tests.edge_hub.test_durability import durable_app  # noqa: F401 - fixture

BRIDGES = int(os.environ.get("CLEANGATE_STORM_BRIDGES", "1000"))
FIRST, SECOND = 2, 3  # records per bridge before and during the outage


def _read_line(proc: subprocess.Popen[str], prefix: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"fleet exited (rc {proc.poll()}) before {prefix!r}")
        if line.startswith(prefix):
            return float(line.split()[-1])
    raise AssertionError(f"no {prefix!r} within {timeout}s")


@pytest.mark.timeout(600)
def test_a_thousand_bridges_reconnect_after_a_hub_restart(
    durable_app: Flask,  # noqa: F811
    tmp_path: Path,
) -> None:
    tenant = make_tenant(durable_app, "storm")
    fleet = make_fleet(durable_app, tenant.tenant_id, BRIDGES)
    port = free_port()
    spec = tmp_path / "fleet.json"
    spec.write_text(
        json.dumps(
            {
                "hub_url": f"ws://127.0.0.1:{port}/",
                "root": str(tmp_path / "fleet"),
                "bridges": fleet,
                "records": [FIRST, SECOND],
            }
        )
    )
    hub = HubThread(durable_app, port=port).start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.edge_hub.fleet", str(spec)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        _read_line(proc, "drained 0", 300)
        hub.stop()  # the restart: every connection drops
        _read_line(proc, "offline", 60)  # the fleet recorded on while the hub was down
        time.sleep(2)
        hub = HubThread(durable_app, port=port).start()
        restarted = time.monotonic()
        online = _read_line(proc, "online 1", 120)
        drained = _read_line(proc, "drained 1", 120)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        hub.stop()
    took = drained - restarted
    print(
        f"{BRIDGES} bridges all online {online - restarted:.1f} s and drained {took:.1f} s "
        "after the hub restart"
    )
    assert took <= 30
    with tenant_context(tenant.tenant_id), get_database(durable_app).sessionmaker() as session:
        per_site = dict(
            session.execute(
                select(Passage.site_id, func.count(func.distinct(Passage.event_id))).group_by(
                    Passage.site_id
                )
            ).all()
        )
        total = session.scalar(select(func.count()).select_from(Passage))
    assert total == BRIDGES * (FIRST + SECOND)  # nothing dropped, nothing twice
    assert len(per_site) == BRIDGES
    assert set(per_site.values()) == {FIRST + SECOND}
