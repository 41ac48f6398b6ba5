"""``cleangate-edge simulate``: trucks at the gate, pushed to the daemon's cameras over HTTP.

Feeds every lane whose camera uses the ``generic_http`` driver (signed JSON pushes, the same
wire format a programmable camera or gateway sends) with a realistic mix: random plates of
every kind (valid, malformed, unreadable, new-energy, trailers) plus plates the bridge's
snapshot knows — registered trucks of each stage, blacklisted ones, today's visitors — so
every verdict shows up. Entries go to "in" lanes; a truck that entered leaves later by an
"out" lane.

A push counts as produced only once the camera answered 200 with a decision (or said it already
had it): like a real camera, the simulator resends until then, with the same event id. The
produced (serial, event id) pairs can be written to a file — the durability test compares them
with the cloud ledger.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge_bridge.config import EdgeConfig, LaneConfig
from edge_bridge.drivers.generic_http import protocol
from edge_bridge.drivers.http import HttpError, http_request
from edge_bridge.drivers.simulator.jpeg import tiny_jpeg
from edge_bridge.drivers.simulator.plates import PlateMix
from edge_bridge.lanes import event_id_for
from saas.compliance import parse_plate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Camera:
    lane: LaneConfig
    serial: str
    url: str
    secret: bytes


def cameras(config: EdgeConfig) -> list[Camera]:
    found = []
    for lane in config.lanes:
        camera = lane.camera
        if camera is None or camera.get("driver") != "generic_http":
            continue
        host = camera.get("listen_host", "127.0.0.1")
        if host in ("0.0.0.0", "", "::"):  # noqa: S104 - a listen address, we connect to it
            host = "127.0.0.1"
        found.append(
            Camera(
                lane,
                str(camera["serial"]),
                f"http://{host}:{int(camera.get('listen_port', 8090))}/",
                str(camera["secret"]).encode(),
            )
        )
    return found


@dataclass
class Simulator:
    config: EdgeConfig
    seed: int | None = None
    images: bool = True
    produced: list[tuple[str, str]] = field(default_factory=list)
    verdicts: dict[str, int] = field(default_factory=dict)
    retries: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.mix = PlateMix(self.seed)
        self.cams = cameras(self.config)
        if not self.cams:
            raise ValueError("no lane has a generic_http camera to push to")
        self.known = self._known_plates()
        self.inside: list[tuple[str, str | None]] = []
        self.run_id = f"{int(time.time() * 1000):x}{self.rng.randrange(16**4):04x}"
        self.counter = 0

    def _known_plates(self) -> dict[str, list[str]]:
        path = self.config.state_dir / "snapshot.json"
        known: dict[str, list[str]] = {"registered": [], "black": [], "visitor": []}
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return known
        known["registered"] = sorted(body.get("registry") or {})
        known["black"] = sorted(body.get("black") or {})
        known["visitor"] = sorted({b.get("plate", "") for b in body.get("bookings") or []} - {""})
        return known

    def draw(self) -> tuple[str, str | None]:
        roll = self.rng.random()
        for kind, share in (("registered", 0.45), ("black", 0.03), ("visitor", 0.05)):
            if roll < share and self.known[kind]:
                plate = self.rng.choice(self.known[kind])
                implied = parse_plate(plate).color  # new-energy shapes imply theirs
                return plate, implied.value if implied is not None else "yellow"
            roll -= share
        drawn = self.mix.draw()
        return drawn.text, drawn.color.value if drawn.color else None

    def next_push(self) -> tuple[Camera, dict[str, Any]]:
        outs = [c for c in self.cams if c.lane.direction == "out"]
        ins = [c for c in self.cams if c.lane.direction == "in"] or self.cams
        leave = outs and self.inside and self.rng.random() < 0.4
        if leave:
            plate, color = self.inside.pop(self.rng.randrange(len(self.inside)))
            camera = self.rng.choice(outs)
        else:
            plate, color = self.draw()
            camera = self.rng.choice(ins)
            if len(self.inside) < 500:
                self.inside.append((plate, color))
        self.counter += 1
        body: dict[str, Any] = {
            "device": camera.serial,
            "lane": camera.lane.key,
            "plate": plate,
            "color": color,
            "confidence": round(0.85 + self.rng.random() * 0.15, 3),
            "time": datetime.now(UTC).isoformat(),
            "event_id": f"{self.run_id}-{self.counter}",
            "direction": "forward",
        }
        if self.images:
            import base64

            body["images"] = [
                {
                    "kind": "plate",
                    "content_type": "image/jpeg",
                    "base64": base64.b64encode(tiny_jpeg()).decode(),
                }
            ]
        return camera, body

    async def push(self, camera: Camera, body: dict[str, Any], deadline: float = 120.0) -> bool:
        """Send until the camera's lane answers with a decision; False if it never did."""
        raw = json.dumps(body, ensure_ascii=False).encode()
        give_up = time.monotonic() + deadline
        while time.monotonic() < give_up:
            try:
                response = await http_request(
                    "POST",
                    camera.url,
                    body=raw,
                    headers=protocol.signed_headers(camera.secret, raw),
                    timeout=2.0,
                )
                if response.status == 200:
                    answer = json.loads(response.body)
                    decision = answer.get("decision")
                    if decision is not None or answer.get("duplicate"):
                        self.produced.append((camera.serial, body["event_id"]))
                        verdict = (decision or {}).get("verdict", "duplicate")
                        self.verdicts[verdict] = self.verdicts.get(verdict, 0) + 1
                        return True
                elif response.status in (400, 401, 403):
                    log.error("camera %s refused a push: %s", camera.serial, response.body[:200])
                    return False
            except (HttpError, OSError, TimeoutError, ValueError):
                pass
            self.retries += 1
            await asyncio.sleep(0.05 + self.rng.random() * 0.1)
        return False

    async def run(self, trucks: int, rate: float, concurrency: int = 4) -> None:
        """``trucks`` passages at about ``rate`` per second (0: as fast as possible)."""
        queue: asyncio.Queue[tuple[Camera, dict[str, Any]] | None] = asyncio.Queue(concurrency * 2)

        async def worker() -> None:
            while (item := await queue.get()) is not None:
                await self.push(*item)

        workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
        started = time.monotonic()
        for n in range(trucks):
            if rate > 0:
                wait = started + n / rate - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            await queue.put(self.next_push())
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)

    def answered_ids(self) -> set[uuid.UUID]:
        """Ledger event ids of the pushes a lane answered: what must reach the cloud."""
        return {event_id_for(serial, event_id) for serial, event_id in self.produced}

    def built_ids(self) -> set[uuid.UUID]:
        """Ledger event ids of every push built, answered or not (one in flight at a stop may
        be stored without its answer): nothing else may appear in the ledger."""
        return {
            event_id_for(camera.serial, f"{self.run_id}-{n}")
            for camera in self.cams
            for n in range(1, self.counter + 1)
        }

    def write_produced(self, path: Path) -> None:
        path.write_text(
            "".join(f"{serial}\t{event_id}\n" for serial, event_id in self.produced),
            encoding="utf-8",
        )
