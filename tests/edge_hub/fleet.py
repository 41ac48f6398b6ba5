"""A fleet of simulated bridges in one process: each a real ``CloudLink`` with its own SQLite
outbox. Used by the reconnect-storm test and bench/edge.py.

    python -m tests.edge_hub.fleet SPEC.json

SPEC: {"hub_url", "root", "bridges": [{"device_id", "key_pem"}], "records": [n1, n2, ...],
"prefill": n}. With ``prefill`` every outbox gets n passages before any link starts (``filled
<monotonic>``), so a drain measures the link and the hub, not the local writes.
For each phase n in ``records`` the fleet puts n passages into every outbox, waits until every
bridge is online and every outbox is empty, and prints ``drained <phase> <monotonic>``; between
phases it waits until every bridge has seen the hub go away (``offline <monotonic>``).
With ``"idle": true`` it only connects and prints ``online <monotonic>``, then stays connected.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_private_key

from edge_bridge.link import CloudLink
from edge_bridge.outbox import Outbox
from edge_bridge.state import BridgeState
from edge_bridge.sync import SnapshotStore
from tests.ledger.edge_helpers import passage as ledger_passage


def passage(n: int) -> dict[str, Any]:
    return ledger_passage(f"冀B{n % 100000:05d}")


class Bridge:
    def __init__(self, root: Path, hub_url: str, device_id: str, key_pem: str, light: bool) -> None:
        self.dir = root / device_id
        self.dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(self.dir / "outbox")
        self.state = BridgeState()
        self.link = CloudLink(
            hub_url=hub_url,
            device_id=device_id,
            key=load_pem_private_key(key_pem.encode(), None),  # type: ignore[arg-type]
            outbox=self.outbox,
            snapshot=SnapshotStore(self.dir),
            state=self.state,
            software_version="fleet",
            health_interval=300 if light else 15,
        )

    def put(self, count: int, start: int) -> None:
        for i in range(count):
            body = passage(start + i)
            self.outbox.put(body["event_id"], body)
            self.link.notify()


async def main(spec_path: str) -> None:
    logging.basicConfig(level=logging.WARNING)
    spec = json.loads(Path(spec_path).read_text())
    root = Path(spec["root"])
    idle = bool(spec.get("idle"))
    bridges = [
        Bridge(root, spec["hub_url"], b["device_id"], b["key_pem"], idle) for b in spec["bridges"]
    ]
    prefill = int(spec.get("prefill", 0))  # records in every outbox before connecting
    if prefill:
        for n, bridge in enumerate(bridges):
            bridge.put(prefill, n * 100_000)
        print(f"filled {time.monotonic()}", flush=True)
    stagger = float(spec.get("stagger", 0))  # seconds to spread the first connections over
    tasks = []
    for bridge in bridges:
        tasks.append(asyncio.create_task(bridge.link.run()))
        if stagger:
            await asyncio.sleep(stagger / len(bridges))
    if idle:
        while not all(b.state.online for b in bridges):
            await asyncio.sleep(0.2)
        print(f"online {time.monotonic()}", flush=True)
        await asyncio.gather(*tasks)
        return
    for phase, count in enumerate(spec.get("records", [0])):
        if phase > 0:
            while any(b.state.online for b in bridges):
                await asyncio.sleep(0.05)
            print(f"offline {time.monotonic()}", flush=True)
        for n, bridge in enumerate(bridges):
            bridge.put(count, n * 1000 + phase * 100)
        while not all(b.state.online for b in bridges):
            await asyncio.sleep(0.1)
        print(f"online {phase} {time.monotonic()}", flush=True)
        while not all(b.state.online and b.outbox.depth() == 0 for b in bridges):
            await asyncio.sleep(0.1)
        print(f"drained {phase} {time.monotonic()}", flush=True)
    for b in bridges:
        await b.link.stop()
    for task in tasks:
        task.cancel()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
