"""Benchmark the two speed targets of issue 6 (the public board and alerts reaching the gates).
Each figure is printed beside a physical limit measured in the same run
(shared/reference/reliability-performance.md §1.2):

(a) passage → board viewer: a simulated edge bridge (a full ``Daemon`` with simulator lanes,
    paired with a ``cleangate hub`` process) captures ``--passages`` passages one at a time; a
    viewer websocket on the hub's ``/feed/<site id>?token=`` receives each. Latency from just
    before the camera emits to the viewer receiving the frame carrying that plate — p50/p99,
    target < 1 s; limits: a Redis PUBLISH → subscriber hop (the hub's own polling
    ``pubsub.get_message`` loop, same Redis) and a loopback websocket echo round trip; the
    floor of the path is taken as their sum (bridge → hub and hub → viewer are the two
    websocket hops, the feed crosses Redis once).
(b) alert → gate: ``--alerts`` cycles of issuing an orange alert for the site's city
    (``saas.policy.alerts.issue`` + commit + ``notify``, as the console does) and then ending
    it; each transition is timed from before ``issue``/``end`` to the daemon's snapshot version
    changing, and the gate's decision for a registered 国四 heavy diesel truck is checked to
    flip (orange → DENY, ended → ALLOW) — p50/p99, target < 60 s; limits: the hub's debounce
    (200 ms, saas/edge_hub/server.py ``_debounced_change``) plus a bare
    ``saas.edge_hub.snapshot.build`` of that site, measured in the run.

PostgreSQL (``CLEANGATE_TEST_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/test``; a scratch database is created and dropped) and
Redis (``CLEANGATE_TEST_REDIS_URL``, default ``redis://127.0.0.1:6379/15``) are used when
reachable, the hub then running as a ``cleangate hub`` process as in bench/edge.py. Without
Redis the hub runs in-process (tests' ``HubThread``) on the embedded substitute, since a
separate process could not hear the notices; without PostgreSQL a scratch SQLite file is used.
The JSON lines say which.

    .venv/bin/python bench/board.py [--passages 500] [--alerts 20] [--anchor-samples 1000]
        [--only a,b]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.edge import pct, redis_reachable, wait_port  # noqa: E402

RESULTS = ROOT / "bench" / "results.local.json"
REDIS_URL = os.environ.get("CLEANGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
DEBOUNCE_S = 0.2  # saas/edge_hub/server.py Hub._debounced_change
CN4_PLATE = "冀B44444"  # registered 国四 heavy diesel: allowed on ordinary days, refused on orange


def report(results: list[dict[str, Any]], **row: Any) -> None:
    row["ratio"] = row["value"] / row["anchor_value"] if row.get("anchor_value") else None
    results.append(row)
    print(
        f"{row['name']}: {row['value']:.2f} {row['unit']} (target {row['target']}, "
        f"met {row['met']}); {row['anchor_name']}: {row['anchor_value']:.2f} {row['unit']}; "
        f"ratio {row['ratio']:.1f}"
    )


# --- the cloud: database, app, hub ---------------------------------------------------------


class Cloud:
    """A scratch database, an app (what the console would use) and a hub sharing its Redis."""

    def __init__(self, tmp: Path) -> None:
        from saas import migrate
        from saas.app import create_app
        from saas.settings import Settings

        self.tmp = tmp
        self.secret = secrets.token_urlsafe(48)
        self.pg: dict[str, str] | None = None
        from sqlalchemy.exc import OperationalError

        from bench.ledger import create_database

        try:
            self.pg = create_database()
        except OperationalError as exc:
            print(f"    PostgreSQL not reachable ({type(exc).__name__}): SQLite fallback")
        if self.pg is not None:
            migrate.upgrade(self.pg["owner"], self.pg["app"])
            database_url, migration_url = self.pg["app"], self.pg["owner"]
        else:
            database_url = migration_url = f"sqlite:///{tmp / 'board.db'}"
            migrate.upgrade(database_url)
        self.real_redis = redis_reachable(REDIS_URL)
        self.env = {
            "CLEANGATE_VAR_DIR": str(tmp / "var"),
            "DATABASE_URL": database_url,
            "SECRET_KEY": self.secret,
            **({"REDIS_URL": REDIS_URL} if self.real_redis else {}),
        }
        self.app = create_app(
            Settings.from_env({**self.env, "MIGRATION_DATABASE_URL": migration_url}, testing=True)
        )
        hub = (
            "Redis, cleangate hub process" if self.real_redis else "embedded Redis, in-process hub"
        )
        self.backend = f"{'PostgreSQL' if self.pg else 'SQLite'} + {hub}"
        self.hub: subprocess.Popen[bytes] | None = None
        self.hub_thread: Any = None
        self.port = 0

    @property
    def redis(self) -> Any:
        return self.app.extensions["cleangate.redis"]

    @property
    def hub_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def start_hub(self) -> None:
        from tests.edge_hub.harness import HubThread, free_port

        if not self.real_redis:
            self.hub_thread = HubThread(self.app).start()
            self.port = self.hub_thread.port
            return
        self.port = free_port()
        self.hub = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "cleangate"),
                "hub",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=open(self.tmp / "hub.log", "ab"),  # noqa: SIM115
        )
        wait_port(self.port, self.hub)

    def stop(self) -> None:
        from saas.db import get_database

        if self.hub_thread is not None:
            self.hub_thread.stop()
        if self.hub is not None:
            self.hub.send_signal(signal.SIGTERM)
            try:
                self.hub.wait(20)
            except subprocess.TimeoutExpired:
                self.hub.kill()
                self.hub.wait()
        get_database(self.app).dispose()
        if self.pg is not None:
            from bench.ledger import drop_database

            drop_database(self.pg["name"])


# --- physical limits -------------------------------------------------------------------------


def redis_hop_ms(client: Any, n: int) -> list[float]:
    """PUBLISH → a subscriber thread polling ``get_message`` as the hub's listener does."""
    channel = f"bench:board:{uuid.uuid4().hex}"
    arrived: queue.Queue[float] = queue.Queue()
    ready, stop = threading.Event(), threading.Event()

    def listen() -> None:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(channel)
        pubsub.get_message(timeout=1)  # the subscribe confirmation
        ready.set()
        try:
            while not stop.is_set():
                if pubsub.get_message(timeout=0.5) is not None:
                    arrived.put(time.perf_counter())
        finally:
            pubsub.close()

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    ready.wait(10)
    samples = []
    try:
        for _ in range(n):
            started = time.perf_counter()
            client.publish(channel, "x" * 200)
            samples.append((arrived.get(timeout=10) - started) * 1000)
    finally:
        stop.set()
        thread.join(5)
    return samples


async def websocket_echo_ms(n: int) -> list[float]:
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import ServerConnection, serve

    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    samples = []
    async with serve(echo, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            for _ in range(n):
                started = time.perf_counter()
                await ws.send("x" * 400)
                await ws.recv()
                samples.append((time.perf_counter() - started) * 1000)
    return samples


def snapshot_build_ms(
    cloud: Cloud, tenant_id: uuid.UUID, site_id: uuid.UUID, n: int
) -> list[float]:
    from saas.db import get_database
    from saas.edge_hub import snapshot
    from saas.tenancy import tenant_context

    base_url = cloud.app.config["CLEANGATE_SETTINGS"].base_url
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        with tenant_context(tenant_id), get_database(cloud.app).sessionmaker() as session:
            snapshot.build(session, site_id, base_url=base_url)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def ingest_one_ms(cloud: Cloud, n: int) -> list[float]:
    """Context, not a limit: the hub's own commit of a one-passage batch (``ingest_passages``,
    chained insert, app role under RLS), in-process on the same database."""
    from saas.db import get_database
    from saas.ledger.ingest import PassageBatch, ingest_passages
    from saas.models.tenancy import Site
    from saas.tenancy import tenant_context
    from tests.conftest import make_tenant
    from tests.edge_hub.fleet import passage

    tenant = make_tenant(cloud.app, "ingest")
    samples = []
    for i in range(n):
        batch = PassageBatch.model_validate({"passages": [passage(i)]})
        started = time.perf_counter()
        with tenant_context(tenant.tenant_id), get_database(cloud.app).sessionmaker() as session:
            site = session.get(Site, tenant.site_id)
            assert site is not None
            ingest_passages(session, site, batch)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


# --- the scenario ----------------------------------------------------------------------------


def _alert(cloud: Cloud, region: str, alert_id: uuid.UUID | None) -> tuple[uuid.UUID, float]:
    """Issue (alert_id None) or end an orange city alert, as the console does: write, commit,
    notify. Returns the alert's id and the seconds that took."""
    from saas.db import get_database
    from saas.models.alerts import Alert
    from saas.policy import alerts
    from saas.tenancy import system_context

    started = time.perf_counter()
    with get_database(cloud.app).sessionmaker() as session:
        if alert_id is None:
            alert = alerts.issue(
                session,
                level="orange",
                region_code=region[:4] + "00",
                starts_at=datetime.now(UTC) - timedelta(seconds=1),
                actor_label="bench@provider",
            )
        else:
            with system_context("bench: end alert"):
                found = session.get(Alert, alert_id)
                assert found is not None
                alert = alerts.end(session, found, actor_label="bench@provider")
        session.commit()
        alerts.notify(session, cloud.redis, alert)
        return alert.id, time.perf_counter() - started


async def _wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.002)
    return True


async def scenario(
    cloud: Cloud, tmp: Path, only: set[str], passages: int, cycles: int, anchors: int
) -> dict[str, Any]:
    from edge_bridge import config as edge_config
    from edge_bridge.daemon import Daemon
    from edge_bridge.drivers.simulator import SimulatedCamera, SimulatedPlate
    from saas.compliance import PlateColor
    from tests.board.helpers import device_for, register_truck, seed_site
    from tests.conftest import make_tenant
    from tests.edge_hub.harness import SIM_LANES, make_box

    tenant = await asyncio.to_thread(make_tenant, cloud.app, "board")
    region = await asyncio.to_thread(seed_site, cloud.app, tenant)  # B-rated steel, a plan
    await asyncio.to_thread(register_truck, cloud.app, tenant, CN4_PLATE, "cn4")
    device = await asyncio.to_thread(device_for, cloud.app, tenant)
    box = make_box(tmp / "box", device, cloud.hub_url, SIM_LANES)
    daemon = Daemon(edge_config.load(box.config_path))
    out: dict[str, Any] = {}
    await daemon.start()
    try:
        await daemon.supervisor.wait_started(10)
        if not await _wait(lambda: daemon.state.online and daemon.snapshot.synced, 60):
            raise RuntimeError("the bridge never came online")
        await _wait(lambda: CN4_PLATE in daemon.snapshot.site.registry, 30)
        camera = daemon.supervisor._entries["simulator:CAM-IN"].device
        assert isinstance(camera, SimulatedCamera)
        cn4 = SimulatedPlate("ordinary_yellow", CN4_PLATE, PlateColor.YELLOW)

        if "a" in only:
            out["a"] = await _passages(cloud, tenant.site_id, camera, passages)
        if "b" in only:
            out["b"] = await _alerts(cloud, region, daemon, camera, cn4, cycles)
            out["b"]["build"] = await asyncio.to_thread(
                snapshot_build_ms, cloud, tenant.tenant_id, tenant.site_id, anchors // 10 or 1
            )
    finally:
        await daemon.stop()
    if "a" in only:
        out["a"]["redis"] = await asyncio.to_thread(redis_hop_ms, cloud.redis, anchors)
        out["a"]["echo"] = await websocket_echo_ms(anchors)
        out["a"]["ingest"] = await asyncio.to_thread(ingest_one_ms, cloud, anchors // 10 or 1)
    return out


async def _passages(cloud: Cloud, site_id: uuid.UUID, camera: Any, n: int) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    from edge_bridge.drivers.simulator import SimulatedPlate
    from saas.compliance import PlateColor
    from saas.edge_hub.feeds import feed_token

    url = f"{cloud.hub_url}feed/{site_id}?token={feed_token(cloud.secret, site_id)}"
    arrived: dict[str, float] = {}
    waiting: dict[str, asyncio.Event] = {}
    frames = 0

    async def read(ws: Any) -> None:
        nonlocal frames
        async for raw in ws:
            now = time.perf_counter()
            message = json.loads(raw)
            if message.get("type") != "passages":
                continue
            frames += 1
            for item in message["passages"]:
                plate = item["plate"]
                arrived.setdefault(plate, now)
                if plate in waiting:
                    waiting[plate].set()

    total, edge, missed = [], [], 0
    warmup = 10
    async with connect(url) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert hello["type"] == "hello", hello
        reader = asyncio.create_task(read(ws))
        try:
            for i in range(warmup + n):
                plate = f"冀B{i:05d}"  # unique per passage: the frame carrying it is unambiguous
                waiting[plate] = asyncio.Event()
                started = time.perf_counter()
                decision = await camera.emit(
                    SimulatedPlate("ordinary_yellow", plate, PlateColor.YELLOW)
                )
                decided = time.perf_counter()
                assert decision is not None
                try:
                    await asyncio.wait_for(waiting[plate].wait(), 30)
                except TimeoutError:
                    missed += 1
                    continue
                if i >= warmup:
                    total.append((arrived[plate] - started) * 1000)
                    edge.append((decided - started) * 1000)
        finally:
            reader.cancel()
    return {"total": total, "edge": edge, "missed": missed, "frames": frames}


async def _alerts(
    cloud: Cloud,
    region: str,
    daemon: Any,
    camera: Any,
    cn4: Any,
    cycles: int,
) -> dict[str, Any]:
    from saas.compliance import Verdict

    samples: list[float] = []
    commits: list[float] = []
    flipped = timeouts = 0
    alert_id: uuid.UUID | None = None
    for _ in range(cycles * 2):
        before = daemon.snapshot.version
        issuing = alert_id is None
        started = time.perf_counter()
        new_id, took = await asyncio.to_thread(_alert, cloud, region, alert_id)
        alert_id = new_id if issuing else None
        if not await _wait(lambda b=before: daemon.snapshot.version != b, 120):
            timeouts += 1
            continue
        samples.append(time.perf_counter() - started)
        commits.append(took)
        expected = Verdict.DENY if issuing else Verdict.ALLOW
        decision = await camera.emit(cn4)
        level = daemon.state.alert_level
        if decision is not None and decision.verdict is expected and (level == "orange") == issuing:
            flipped += 1
    if alert_id is not None:  # a timeout left it open
        await asyncio.to_thread(_alert, cloud, region, alert_id)
    return {"samples": samples, "commits": commits, "flipped": flipped, "timeouts": timeouts}


# --- report ----------------------------------------------------------------------------------


def summarize(results: list[dict[str, Any]], out: dict[str, Any], backend: str) -> None:
    if "a" in out:
        a = out["a"]
        total, redis_hop, echo = a["total"], a["redis"], a["echo"]
        print(
            f"    (a) {len(total)} passages, {a['missed']} missed, {a['frames']} frames; "
            f"emit → gate decision p50 {pct(a['edge'], 0.5):.2f} ms; Redis hop p50 "
            f"{pct(redis_hop, 0.5):.3f} / p99 {pct(redis_hop, 0.99):.3f} ms; websocket echo "
            f"p50 {pct(echo, 0.5):.3f} / p99 {pct(echo, 0.99):.3f} ms; context: one-passage "
            f"ingest_passages in-process p50 {pct(a['ingest'], 0.5):.1f} / p99 "
            f"{pct(a['ingest'], 0.99):.1f} ms"
        )
        for q, name in ((0.5, "p50"), (0.99, "p99")):
            report(
                results,
                name=f"board (a) passage → viewer {name}, {len(total)} passages",
                value=pct(total, q),
                unit="ms",
                target="< 1 s",
                met=bool(total) and a["missed"] == 0 and pct(total, q) < 1000,
                anchor_name=f"Redis PUBLISH→subscriber + loopback websocket echo {name}",
                anchor_value=pct(redis_hop, q) + pct(echo, q),
                backend=backend,
            )
    if "b" in out:
        b = out["b"]
        samples, build = b["samples"], b["build"]
        print(
            f"    (b) {len(samples)} transitions ({len(samples) // 2} issue/end cycles), "
            f"{b['timeouts']} timed out, decision flipped {b['flipped']}/{len(samples)}; "
            f"issue|end + commit + notify p50 {pct(b['commits'], 0.5) * 1000:.1f} ms; "
            f"snapshot.build p50 {pct(build, 0.5):.1f} / p99 {pct(build, 0.99):.1f} ms; "
            f"hub debounce {DEBOUNCE_S * 1000:.0f} ms"
        )
        for q, name in ((0.5, "p50"), (0.99, "p99")):
            report(
                results,
                name=f"board (b) alert → gate snapshot {name}, {len(samples)} transitions",
                value=pct(samples, q),
                unit="s",
                target="< 60 s",
                met=bool(samples)
                and b["timeouts"] == 0
                and b["flipped"] == len(samples)
                and pct(samples, q) < 60,
                anchor_name=f"hub debounce 0.2 s + snapshot.build {name}",
                anchor_value=DEBOUNCE_S + pct(build, q) / 1000,
                backend=backend,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=500)
    parser.add_argument("--alerts", type=int, default=20, help="issue/end cycles")
    parser.add_argument("--anchor-samples", type=int, default=1000)
    parser.add_argument("--only", default="a,b")
    args = parser.parse_args()
    only = set(args.only.split(","))
    results: list[dict[str, Any]] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cloud = Cloud(tmp)
        print(f"    backend: {cloud.backend}")
        try:
            cloud.start_hub()
            out = asyncio.run(
                scenario(cloud, tmp, only, args.passages, args.alerts, args.anchor_samples)
            )
        finally:
            cloud.stop()
    summarize(results, out, cloud.backend)
    print(f"    ({time.monotonic() - started:.0f} s in all)")
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    RESULTS.write_text(
        json.dumps(
            [r for r in previous if not str(r["name"]).startswith("board (")] + results,
            ensure_ascii=False,
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
