"""Benchmark the edge bridge and the hub. Each figure is printed beside an anchor measured in the
same run (shared/reference/reliability-performance.md §1.2):

(a) decision latency: signed camera push received (the generic HTTP driver's ``received_at``) →
    barrier command sent, through decide + durable outbox write (WAL, ``synchronous=FULL``,
    photo fsynced) — p50/p99, target p99 ≤ 5 ms; anchor: a bare loopback HTTP round trip on
    the same asyncio HTTP server/client, p50/p99;
(b) hub memory with ``--idle`` idle bridge connections (authenticated, snapshot synced) —
    target ≤ 300 MiB RSS; anchor: a bare ``websockets`` server process holding the same number
    of idle connections that never authenticate;
(c) end-to-end ingest: ``--bridges`` simulated bridges (real ``CloudLink`` + SQLite outbox, in
    child processes) each start with ``--records`` passages and drain them through a
    ``cleangate hub`` process into PostgreSQL — target ≥ 5 000 passages/s; anchor:
    ``ingest_passages`` called directly in-process on the same database, batches of 500.

(b) and (c) need PostgreSQL (``CLEANGATE_TEST_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/test``); a scratch database is created and dropped.

    .venv/bin/python bench/edge.py [--pushes 3000] [--idle 10000] [--bridges 40] [--records 2500]
        [--only a,b,c]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results.local.json"
FLEET_PROCESSES = 4


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(results: list[dict[str, Any]], **row: Any) -> None:
    results.append(row)
    anchor = f"; {row['anchor_name']}: {row['anchor_value']:.2f}" if "anchor_name" in row else ""
    print(f"{row['name']}: {row['value']:.2f} {row['unit']} (target {row['target']}){anchor}")


# --- (a) decision latency -------------------------------------------------------------------


async def _http_anchor(n: int) -> list[float]:
    from edge_bridge.drivers.http import HttpResponse, HttpServer, http_request

    async def ok(_request: Any) -> HttpResponse:
        return HttpResponse(200, b'{"ok":true}', "application/json")

    server = HttpServer(ok, "127.0.0.1", 0, name="anchor")
    await server.start()
    samples = []
    try:
        for _ in range(n):
            started = time.perf_counter()
            await http_request("POST", server.url + "/", body=b"{}")
            samples.append((time.perf_counter() - started) * 1000)
    finally:
        await server.stop()
    return samples


async def _latency(n: int, tmp: Path) -> tuple[list[float], list[float]]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    from edge_bridge import config as edge_config
    from edge_bridge.daemon import Daemon
    from edge_bridge.lanes import Timing
    from edge_bridge.simulate import Simulator
    from tests.edge_hub.harness import free_port, push_lanes

    key = Ed25519PrivateKey.generate()
    (tmp / "device.key").write_bytes(
        key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    closed = free_port()  # the cloud is unreachable: the gate must not care
    (tmp / "bridge.json").write_text(
        json.dumps({"device_id": str(uuid.uuid4()), "hub_url": f"ws://127.0.0.1:{closed}/"})
    )
    (tmp / "edge.toml").write_text(f'[bridge]\nstate_dir = "{tmp}"\n{push_lanes()}')
    config = edge_config.load(tmp / "edge.toml")
    timing = Timing()
    daemon = Daemon(config, timing=timing)
    await daemon.start()
    await daemon.supervisor.wait_started(5)
    sim = Simulator(config, seed=1, images=True)
    try:
        for _ in range(200):  # warm-up
            await sim.push(*sim.next_push())
        timing.samples.clear()
        for _ in range(n):
            await sim.push(*sim.next_push())
    finally:
        await daemon.stop()
    anchor = await _http_anchor(n)
    return timing.samples, anchor


def fsync_ms(directory: Path, n: int = 500) -> list[float]:
    """The disk's floor: one 4 KiB append + fsync, the least a durable write costs."""
    samples = []
    fd = os.open(directory / "fsync.probe", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(n):
            os.write(fd, b"x" * 4096)
            started = time.perf_counter()
            os.fsync(fd)
            samples.append((time.perf_counter() - started) * 1000)
    finally:
        os.close(fd)
    return samples


def bench_latency(results: list[dict[str, Any]], pushes: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        samples, anchor = asyncio.run(_latency(pushes, Path(tmp)))
        floor = fsync_ms(Path(tmp))
    print(f"    disk floor: fsync p50 {pct(floor, 0.5):.2f} ms, p99 {pct(floor, 0.99):.2f} ms")
    for q, name in ((0.5, "p50"), (0.99, "p99")):
        report(
            results,
            name=f"(a) push → barrier command {name}, {len(samples)} pushes",
            value=pct(samples, q),
            unit="ms",
            target="p99 ≤ 5 ms",
            met=pct(samples, 0.99) <= 5,
            anchor_name=f"loopback HTTP round trip {name}",
            anchor_value=pct(anchor, q),
        )


# --- database, hub and fleet processes ---------------------------------------------------


class Cloud:
    """A scratch PostgreSQL database, an app for set-up and a ``cleangate hub`` process."""

    def __init__(self, tmp: Path) -> None:
        from bench.ledger import build_app, create_database
        from saas import migrate

        self.tmp = tmp
        self.db = create_database()
        migrate.upgrade(self.db["owner"], self.db["app"])
        self.app = build_app(self.db, tmp / "var")
        self.hub: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start_hub(self) -> int:
        from tests.edge_hub.harness import free_port

        self.port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": self.db["app"],
            "CLEANGATE_VAR_DIR": str(self.tmp / "var"),
        }
        redis_url = os.environ.get("CLEANGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
        if redis_reachable(redis_url):
            env["REDIS_URL"] = redis_url  # as in production; else the embedded substitute
        self.hub = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "cleangate"),
                "hub",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.tmp / "hub.log", "ab"),  # noqa: SIM115
        )
        wait_port(self.port, self.hub)
        return self.hub.pid

    def stop(self) -> None:
        from bench.ledger import drop_database
        from saas.db import get_database

        if self.hub is not None:
            self.hub.send_signal(signal.SIGTERM)
            try:
                self.hub.wait(20)
            except subprocess.TimeoutExpired:
                self.hub.kill()
        get_database(self.app).dispose()
        drop_database(self.db["name"])


def redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def wait_port(port: int, proc: subprocess.Popen[Any], timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port}")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def start_fleets(
    tmp: Path, hub_url: str, bridges: list[dict[str, Any]], **spec: Any
) -> list[subprocess.Popen[str]]:
    procs = []
    tmp.mkdir(parents=True, exist_ok=True)
    for n in range(FLEET_PROCESSES):
        part = bridges[n::FLEET_PROCESSES]
        if not part:
            continue
        path = tmp / f"fleet-{n}.json"
        path.write_text(
            json.dumps(
                {"hub_url": hub_url, "root": str(tmp / f"fleet-{n}"), "bridges": part, **spec}
            )
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.edge_hub.fleet", str(path)],
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
        )
    return procs


def wait_lines(procs: list[subprocess.Popen[str]], prefix: str) -> list[float]:
    stamps = []
    for proc in procs:
        assert proc.stdout is not None
        while True:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"fleet exited before {prefix!r}")
            if line.startswith(prefix):
                stamps.append(float(line.split()[-1]))
                break
    return stamps


def stop_all(procs: list[subprocess.Popen[Any]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- (b) idle memory ----------------------------------------------------------------------


BARE_SERVER = """
import asyncio, sys
from websockets.asyncio.server import serve
async def idle(ws):
    await ws.wait_closed()
async def main():
    async with serve(idle, "127.0.0.1", int(sys.argv[1]), compression=None, backlog=4096):
        await asyncio.Future()
asyncio.run(main())
"""

IDLE_BRIDGES = """
import asyncio, base64, json, sys, time
from datetime import UTC, datetime
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from websockets.asyncio.client import connect
from edge_bridge.protocol import auth_message
async def bridge(url, spec, gate, conns):
    key = load_pem_private_key(spec["key_pem"].encode(), None)
    async with gate:
        ws = await connect(url, compression=None, max_size=2**26, open_timeout=60)
        challenge = json.loads(await ws.recv())
        stamp = datetime.now(UTC).isoformat()
        signature = key.sign(auth_message(spec["device_id"], challenge["nonce"], stamp))
        await ws.send(json.dumps({"type": "auth", "device_id": spec["device_id"],
            "nonce": challenge["nonce"], "timestamp": stamp,
            "signature": base64.b64encode(signature).decode()}))
        await ws.send(json.dumps({"type": "hello", "protocol": 1, "software_version": "bench",
            "snapshot_version": None, "outbox_depth": 0, "clock": stamp}))
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome", welcome
        snapshot = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "synced", "version": snapshot["version"]}))
    conns.append(ws)
async def main():
    url, specs = sys.argv[1], json.load(open(sys.argv[2]))
    gate, conns = asyncio.Semaphore(50), []
    await asyncio.gather(*(bridge(url, s, gate, conns) for s in specs))
    print(f"online {time.monotonic()}", flush=True)
    await asyncio.Future()
asyncio.run(main())
"""

BARE_CLIENTS = """
import asyncio, sys, time
from websockets.asyncio.client import connect
async def main():
    url, n = sys.argv[1], int(sys.argv[2])
    conns = []
    for i in range(n):
        conns.append(await connect(url, compression=None))
    print(f"online {time.monotonic()}", flush=True)
    await asyncio.Future()
asyncio.run(main())
"""


def bench_idle(results: list[dict[str, Any]], cloud: Cloud, tmp: Path, count: int) -> None:
    from tests.conftest import make_tenant
    from tests.edge_hub.harness import free_port, make_fleet

    tenant = make_tenant(cloud.app, "idle")
    bridges = make_fleet(cloud.app, tenant.tenant_id, count)
    pid = cloud.start_hub()
    time.sleep(1)
    base = rss_mib(pid)
    # Idle bridges: authenticated, snapshot received, then silent (pings only). Light
    # clients speaking the protocol, 50 handshakes in flight per process: on a 2-core box a
    # fleet of full daemons would measure the fleet, not the hub.
    procs = []
    started = time.monotonic()
    for n in range(FLEET_PROCESSES):
        spec = tmp / f"idle-{n}.json"
        spec.write_text(json.dumps(bridges[n::FLEET_PROCESSES]))
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", IDLE_BRIDGES, f"ws://127.0.0.1:{cloud.port}/", str(spec)],
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    try:
        stamps = wait_lines(procs, "online")
        time.sleep(5)
        hub_rss = rss_mib(pid)
    finally:
        stop_all(procs)
    # Anchor: a bare websockets server holding the same number of idle connections.
    port = free_port()
    bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port)])
    clients: list[subprocess.Popen[str]] = []
    try:
        wait_port(port, bare)
        bare_base = rss_mib(bare.pid)
        per = count // FLEET_PROCESSES
        clients = [
            subprocess.Popen(
                [sys.executable, "-c", BARE_CLIENTS, f"ws://127.0.0.1:{port}/", str(per)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(FLEET_PROCESSES)
        ]
        wait_lines(clients, "online")
        time.sleep(3)
        bare_rss = rss_mib(bare.pid)
    finally:
        stop_all([*clients, bare])
    print(
        f"    hub RSS {base:.0f} MiB before, {hub_rss:.0f} MiB with {count} bridges "
        f"({(hub_rss - base) * 1024 / count:.1f} KiB each; all online "
        f"{max(stamps) - started:.1f} s after the first connect); bare server {bare_base:.0f} → "
        f"{bare_rss:.0f} MiB"
    )
    report(
        results,
        name=f"(b) hub RSS with {count} idle bridges",
        value=hub_rss,
        unit="MiB",
        target="≤ 300 MiB",
        met=hub_rss <= 300,
        anchor_name=f"bare websockets server, {per * FLEET_PROCESSES} idle connections",
        anchor_value=bare_rss,
    )


# --- (c) end-to-end ingest -------------------------------------------------------------------


def direct_ingest(cloud: Cloud, total: int) -> float:
    from saas.db import get_database
    from saas.ledger.ingest import PassageBatch, ingest_passages
    from saas.models.tenancy import Site
    from saas.tenancy import tenant_context
    from tests.conftest import make_tenant
    from tests.edge_hub.fleet import passage

    tenant = make_tenant(cloud.app, "direct")
    batches = [
        PassageBatch.model_validate({"passages": [passage(i) for i in range(500)]})
        for _ in range(total // 500)
    ]
    started = time.perf_counter()
    with tenant_context(tenant.tenant_id), get_database(cloud.app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        for batch in batches:
            ingest_passages(session, site, batch)
    return total / (time.perf_counter() - started)


def bench_ingest(
    results: list[dict[str, Any]], cloud: Cloud, tmp: Path, bridges_n: int, records: int
) -> None:
    from tests.conftest import make_tenant
    from tests.edge_hub.harness import make_fleet

    tenant = make_tenant(cloud.app, "ingest")
    bridges = make_fleet(cloud.app, tenant.tenant_id, bridges_n)
    if cloud.hub is None:
        cloud.start_hub()
    shm = Path("/dev/shm")  # noqa: S108 - mkdtemp makes a private directory
    fleet_dir = Path(tempfile.mkdtemp(dir=shm if shm.is_dir() else tmp))
    procs = start_fleets(
        fleet_dir, f"ws://127.0.0.1:{cloud.port}/", bridges, prefill=records, records=[0]
    )
    try:
        started = min(wait_lines(procs, "filled"))  # conservative: the earliest start
        stamps = wait_lines(procs, "drained 0")
    finally:
        stop_all(procs)
        import shutil

        shutil.rmtree(fleet_dir, ignore_errors=True)
    total = bridges_n * records
    rate = total / (max(stamps) - started)
    anchor = direct_ingest(cloud, min(total, 50_000))
    report(
        results,
        name=f"(c) end-to-end ingest, {bridges_n} bridges × {records} passages via the hub",
        value=rate,
        unit="passages/s",
        target="≥ 5 000/s",
        met=rate >= 5000,
        anchor_name="ingest_passages in-process, batches of 500",
        anchor_value=anchor,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pushes", type=int, default=3000)
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--bridges", type=int, default=40)
    parser.add_argument("--records", type=int, default=2500)
    parser.add_argument("--only", default="a,b,c")
    args = parser.parse_args()
    only = set(args.only.split(","))
    results: list[dict[str, Any]] = []
    if "a" in only:
        bench_latency(results, args.pushes)
    if only & {"b", "c"}:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            cloud = Cloud(tmp)
            try:
                if "b" in only:
                    bench_idle(results, cloud, tmp, args.idle)
                if "c" in only:
                    bench_ingest(results, cloud, tmp, args.bridges, args.records)
            finally:
                cloud.stop()
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    RESULTS.write_text(
        json.dumps(
            [
                r
                for r in previous
                if not str(r["name"]).startswith(("(a) push", "(b) hub", "(c) end"))
            ]
            + results,
            ensure_ascii=False,
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
