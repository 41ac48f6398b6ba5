"""``Plant``: the cloud, the regulator's receiver and a simulated plant of two sites, started and
stopped as one (docs/demo.md).

In this process, each in its own thread: the web app (werkzeug's threaded server), the hub
(``saas.edge_hub.server.Hub`` on its own event loop), a job worker
(``saas.jobs.start_stoppable_worker``), the scheduler (``saas.scheduler.Scheduler``), the
reference receiver (``saas.regulator.sim.RegulatorSim``) and the truck traffic
(``edge_bridge.simulate.Simulator``, one per site). As child processes: one edge bridge per site
(``python -m edge_bridge.cli run``), paired with the cloud over HTTP like a real box, its
cameras taking signed pushes on loopback ports, its barriers and LED screens simulated — so
killing one is a real SIGKILL.

On the embedded defaults (SQLite file, in-process Redis) everything that shares Redis must be
in this one process, which is why the cloud's parts are threads. With ``DATABASE_URL`` and
``REDIS_URL`` set, the same code runs on PostgreSQL and Redis (the e2e test does).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import BaseWSGIServer, make_server

from cleangate_demo import seed as demo_seed
from edge_bridge import config as edge_config
from edge_bridge.simulate import Simulator
from saas import jobs, migrate
from saas.app import create_app
from saas.db import get_database
from saas.edge_hub.server import Hub
from saas.models.alerts import Alert
from saas.models.ledger import Passage
from saas.policy import alerts
from saas.regulator.sim import RegulatorSim, load_clients
from saas.scheduler import Scheduler
from saas.settings import RegulatorRelaySettings, Settings
from saas.tenancy import system_context, tenant_context

log = logging.getLogger(__name__)

# Retries for a demo's minutes, not a production outage's days (the production defaults back
# off from 30 s to an hour): a receiver that comes back is caught up within seconds.
DEMO_RELAY = RegulatorRelaySettings(
    max_attempts=500,
    retry_base_seconds=2,
    retry_max_seconds=15,
    lease_seconds=60,
    breaker_failures=5,
    breaker_cooldown_seconds=5,
)
GUARD = "guard"


def port_or_free(host: str, preferred: int) -> int:
    """``preferred`` when it can be bound (0: any), else a free port."""
    for candidate in (preferred, 0) if preferred else (0,):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, candidate))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError(f"no free port on {host}")


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.1)
        return sock.connect_ex((host, port)) == 0


def wait_for(what: str, predicate: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"demo: {what} did not happen within {timeout:.0f} s")
        time.sleep(0.1)


# --- the parts -----------------------------------------------------------------------------------


class HubThread:
    """The hub on its own event loop, as ``cleangate hub`` runs it."""

    def __init__(self, app: Flask, host: str, port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="demo-hub", daemon=True)
        self.hub = Hub(app, host=host, port=port)

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.hub.start(), self.loop).result(15)

    def online(self, device_id: uuid.UUID) -> bool:
        return device_id in self.hub.bridges

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.hub.stop(), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class WebThread:
    def __init__(self, app: Flask, host: str, port: int) -> None:
        self.server: BaseWSGIServer = make_server(host, port, app, threaded=True)
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="demo-web", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class EdgeProcess:
    """One site's bridge: ``python -m edge_bridge.cli run`` with its output in ``daemon.log``."""

    def __init__(self, config_path: Path, camera_ports: list[int]) -> None:
        self.config_path = config_path
        self.camera_ports = camera_ports
        self.log_path = config_path.parent / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30) -> None:
        if self.running:  # a second one would find the ports taken and die unseen
            raise RuntimeError(f"the bridge of {self.config_path.parent.name} is already running")
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "edge_bridge.cli", "run", "--config", str(self.config_path)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in the terminal reaches us, not the bridge
            )

        def listening() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                tail = self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise RuntimeError(f"edge bridge exited ({self.config_path}):\n{tail}")
            return all(_port_open("127.0.0.1", p) for p in self.camera_ports)

        wait_for(f"the edge bridge of {self.config_path.parent.name}", listening, timeout)

    def kill(self) -> None:
        """SIGKILL: no goodbye, no flush — what a power cut does."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Traffic:
    """Trucks arriving at one site's cameras (Poisson arrivals at ``rate`` per second), pushed
    from this thread's event loop; an unanswered push is resent like a camera resends."""

    def __init__(self, config_path: Path, rate: float, seed: int | None) -> None:
        self.sim = Simulator(edge_config.load(config_path), seed=seed, images=True)
        self.rate = rate
        self.stopping = threading.Event()
        self.paused = threading.Event()
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self._run()), name="demo-traffic", daemon=True
        )
        self.in_flight = 0

    async def _run(self) -> None:
        pending: set[asyncio.Task[bool]] = set()
        while not self.stopping.is_set():
            if not self.paused.is_set() and len(pending) < 16:
                task = asyncio.create_task(self.sim.push(*self.sim.next_push(), deadline=600))
                pending.add(task)
                task.add_done_callback(pending.discard)
            self.in_flight = len(pending)
            await asyncio.sleep(min(self.sim.rng.expovariate(self.rate), 5.0))
        if pending:  # every push already built is seen through to its answer
            await asyncio.wait(pending, timeout=120)
        self.in_flight = len(pending)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 130) -> None:
        self.stopping.set()
        self.thread.join(timeout)


# --- the whole ------------------------------------------------------------------------------------


@dataclass
class SiteRun:
    site: demo_seed.DemoSite
    box: Path
    guard_port: int
    camera_ports: list[int] = field(default_factory=list)
    device_id: uuid.UUID | None = None
    edge: EdgeProcess | None = None
    traffic: Traffic | None = None


class Plant:
    """``start()``, then the actions (``raise_alert``, ``kill_edge`` …), then ``stop()``."""

    def __init__(
        self,
        settings: Settings,
        *,
        host: str = "127.0.0.1",
        web_port: int = 8000,
        hub_port: int = 8765,
        receiver_port: int = 8766,
        guard_ports: tuple[int, ...] = (8181, 8182),
        rate: float = 0.5,
        seed: int | None = None,
        relay: RegulatorRelaySettings = DEMO_RELAY,
        say: Callable[[str], None] = print,
    ) -> None:
        self.host = host
        self.web_port = port_or_free(host, web_port)
        self.hub_port = port_or_free(host, hub_port)
        self.receiver_port = port_or_free("127.0.0.1", receiver_port)
        self.guard_ports = [port_or_free(host, p) for p in guard_ports]
        self.rate = rate
        self.seed = seed
        self.say = say
        self.settings = dataclasses.replace(
            settings,
            base_url=self.base_url,
            edge_hub_url=f"ws://{host}:{self.hub_port}/",
            board_feed_url=f"ws://{host}:{self.hub_port}/",
            regulator_relay=relay,
        )
        self.demo_dir = settings.var_dir.resolve() / "demo"  # bridges resolve paths themselves
        self.app: Flask | None = None
        self.seeded: demo_seed.Seeded | None = None
        self.sites: dict[str, SiteRun] = {}
        self.receiver: RegulatorSim | None = None
        self.hub: HubThread | None = None
        self.web: WebThread | None = None
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.alert_ids: list[uuid.UUID] = []
        self.started = False

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.web_port}"

    # -- start

    def start(self) -> None:
        settings = self.settings
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        self.say("准备数据库 / migrating …")
        migrate.upgrade(settings.migration_database_url, settings.database_url)
        app = self.app = create_app(settings)
        receiver_url = f"http://127.0.0.1:{self.receiver_port}"
        self.say("创建示例企业 / seeding the demo tenant …")
        seeded = self.seeded = demo_seed.seed(app, self.demo_dir, receiver_url)
        self._guard_login(seeded.logins)
        self.receiver = RegulatorSim(  # loopback only: its /_sim controls have no login
            load_clients(demo_seed.rotate_receiver_clients(app, seeded)),
            "127.0.0.1",
            self.receiver_port,
            store=self.demo_dir / "receiver-receipts.jsonl",
        ).start()
        self.hub = HubThread(app, self.host, self.hub_port)
        self.hub.start()
        self.web = WebThread(app, self.host, self.web_port)
        self.web.start()
        self.threads.append(jobs.start_stoppable_worker(app, self.stopping))
        scheduler = Scheduler(app, tick_seconds=1.0)
        thread = threading.Thread(
            target=scheduler.run, args=(self.stopping,), name="demo-scheduler", daemon=True
        )
        thread.start()
        self.threads.append(thread)
        self.started = True
        self.say("启动边缘网关 / starting the edge bridges …")
        for site, guard_port in zip(seeded.sites, self.guard_ports, strict=True):
            run = SiteRun(site, self.demo_dir / "edges" / site.key, guard_port)
            self.sites[site.key] = run
            self._box(run)
            run.edge = EdgeProcess(run.box / "edge.toml", run.camera_ports)
            run.edge.start()
        for run in self.sites.values():
            self._wait_synced(run)
        for n, run in enumerate(self.sites.values()):
            seed = None if self.seed is None else self.seed + n
            run.traffic = Traffic(run.box / "edge.toml", self.rate, seed)
            run.traffic.start()

    def _guard_login(self, logins: dict[str, dict[str, str]]) -> None:
        if "guard" not in logins:
            logins["guard"] = {"username": GUARD, "password": secrets.token_urlsafe(9)}
            demo_seed._write_private(self.demo_dir / "logins.json", logins)

    def _box(self, run: SiteRun) -> None:
        """Pair the site's box if it is not (fresh, or its state is from another database),
        then write its ``edge.toml`` for this run's ports."""
        from edge_bridge.cli import main as edge_cli
        from edge_bridge.web import hash_password

        assert self.app is not None
        assert self.seeded is not None
        pairing = run.box / "bridge.json"
        known = json.loads(pairing.read_text(encoding="utf-8")) if pairing.exists() else {}
        active = demo_seed.active_bridges(self.app, self.seeded).get(run.site.site_id)
        paired = bool(known.get("device_id")) and uuid.UUID(known["device_id"]) == active
        if not paired and run.box.exists():  # another database's box: start it afresh
            shutil.rmtree(run.box)
        run.box.mkdir(parents=True, exist_ok=True)
        run.camera_ports = [port_or_free("127.0.0.1", 0), port_or_free("127.0.0.1", 0)]
        secret = secrets.token_urlsafe(24)
        guard = self.seeded.logins["guard"]
        lanes = "".join(
            f'[[gates.lanes]]\nlane = "{lane}"\ndirection = "{direction}"\n'
            f'camera = {{ driver = "generic_http", serial = "CAM-{run.site.key}-{lane}", '
            f'secret = "{secret}", listen_host = "127.0.0.1", listen_port = {port}, '
            f"decision_timeout = 2.0 }}\n"
            f'barrier = {{ driver = "simulator", serial = "BAR-{run.site.key}-{lane}" }}\n'
            f'display = {{ driver = "simulator", serial = "LED-{run.site.key}-{lane}" }}\n'
            for lane, direction, port in (
                ("01", "in", run.camera_ports[0]),
                ("02", "out", run.camera_ports[1]),
            )
        )
        config = run.box / "edge.toml"  # camera secrets and guard hashes: owner only
        config.touch(mode=0o600)
        config.chmod(0o600)
        config.write_text(
            f'[bridge]\nstate_dir = "{run.box}"\nsite_name = "{run.site.name}"\n\n'
            f'[cloud]\nurl = "{self.base_url}"\nhub_url = "{self.settings.edge_hub_url}"\n\n'
            f'[web]\nhost = "{self.host}"\nport = {run.guard_port}\n'
            f'[web.users]\n{guard["username"]} = "{hash_password(guard["password"])}"\n\n'
            f'[[gates]]\ncode = "1"\n{lanes}',
            encoding="utf-8",
        )
        if paired:
            run.device_id = active
            return
        code = demo_seed.new_pairing_code(self.app, self.seeded, run.site.site_id)
        with contextlib.redirect_stdout(None):
            if edge_cli(["pair", "--config", str(config), "--code", code]) != 0:
                raise RuntimeError(f"pairing the {run.site.name} bridge failed")
        run.device_id = uuid.UUID(json.loads(pairing.read_text(encoding="utf-8"))["device_id"])

    def _wait_synced(self, run: SiteRun, timeout: float = 60) -> None:
        hub, device_id = self.hub, run.device_id
        assert hub is not None
        assert device_id is not None
        wait_for(f"{run.site.name}'s bridge online", lambda: hub.online(device_id), timeout)
        trucks = len(demo_seed.fleet_plates(demo_seed.SITES[0]))

        def synced() -> bool:
            try:
                body = json.loads((run.box / "snapshot.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return False
            return len(body.get("registry") or {}) >= trucks

        wait_for(f"{run.site.name}'s bridge synced", synced, timeout)

    # -- what a person (or the e2e test) does while it runs

    def raise_alert(
        self, level: str = "orange", *, starts_in: float = 0.0, lasts: float | None = None
    ) -> uuid.UUID:
        """A heavy-pollution alert for the demo city (唐山市), told to the bridges at once."""
        assert self.app is not None
        now = datetime.now(UTC)
        starts = now + timedelta(seconds=starts_in)
        ends = starts + timedelta(seconds=lasts) if lasts is not None else None
        with get_database(self.app).sessionmaker() as session:
            alert = alerts.issue(
                session,
                level=level,
                region_code=demo_seed.CITY,
                starts_at=starts,
                ends_at=ends,
                notice="演示：唐山市启动重污染天气橙色预警" if level == "orange" else "演示预警",
                actor_label="cleangate demo",
            )
            session.commit()
            alerts.notify(session, self.app.extensions["cleangate.redis"], alert)
            self.alert_ids.append(alert.id)
            return alert.id

    def end_alerts(self) -> int:
        """End every alert this demo raised that is still in force."""
        assert self.app is not None
        ended = 0
        with get_database(self.app).sessionmaker() as session:
            for alert_id in self.alert_ids:
                with system_context("demo: end its own alerts"):
                    alert = session.get(Alert, alert_id)
                if alert is None or alert.ends_at is not None:  # over, or its end is set
                    continue
                alerts.end(session, alert, actor_label="cleangate demo")
                session.commit()
                alerts.notify(session, self.app.extensions["cleangate.redis"], alert)
                ended += 1
        return ended

    def alert_windows(self) -> list[tuple[str, datetime, datetime | None]]:
        assert self.app is not None
        windows = []
        with get_database(self.app).sessionmaker() as session:
            for alert_id in self.alert_ids:
                with system_context("demo: its own alerts"):
                    alert = session.get(Alert, alert_id)
                assert alert is not None
                starts = _aware(alert.starts_at)
                assert starts is not None
                windows.append((alert.level, starts, _aware(alert.ends_at)))
        return windows

    def kill_edge(self, key: str) -> None:
        edge = self.sites[key].edge
        assert edge is not None
        edge.kill()

    def restart_edge(self, key: str) -> None:
        edge = self.sites[key].edge
        assert edge is not None
        edge.start()

    def kill_bridges(self) -> None:
        """Every bridge, at once (they run in sessions of their own: nothing else stops them)."""
        for run in self.sites.values():
            if run.edge is not None:
                run.edge.kill()

    def receiver_down(self, down: bool = True) -> None:
        assert self.receiver is not None
        self.receiver.set_faults(down=down)

    def stop_traffic(self) -> None:
        for run in self.sites.values():
            if run.traffic is not None:
                run.traffic.stop()

    def ledger_counts(self) -> dict[str, int]:
        assert self.app is not None
        assert self.seeded is not None
        with tenant_context(self.seeded.tenant_id), get_database(self.app).sessionmaker() as s:
            rows = dict(
                s.execute(select(Passage.site_id, func.count()).group_by(Passage.site_id)).all()
            )
        return {key: int(rows.get(run.site.site_id, 0)) for key, run in self.sites.items()}

    def status(self) -> dict[str, Any]:
        counts = self.ledger_counts()
        receipts = self.receiver.stats()["by_kind"].get("passage", {}) if self.receiver else {}
        return {
            "sites": {
                key: {
                    "edge": "running" if run.edge and run.edge.running else "stopped",
                    "online": bool(self.hub and run.device_id and self.hub.online(run.device_id)),
                    "answered": len(run.traffic.sim.produced) if run.traffic else 0,
                    "verdicts": dict(run.traffic.sim.verdicts) if run.traffic else {},
                    "ledger": counts[key],
                }
                for key, run in self.sites.items()
            },
            "receiver": {
                "down": self._receiver_down(),
                "passages_accepted": receipts.get("accepted", 0),
            },
        }

    def _receiver_down(self) -> bool:
        if self.receiver is None:
            return False
        with self.receiver.state.lock:
            return bool(self.receiver.state.faults["down"])

    def urls(self) -> dict[str, Any]:
        assert self.seeded is not None
        assert self.receiver is not None
        return {
            "portal": f"{self.base_url}/portal/",
            "console": f"{self.base_url}/console/",
            "login": f"{self.base_url}/login",
            "boards": {
                run.site.name: f"{self.base_url}/board/{run.site.board_token}"
                for run in self.sites.values()
            },
            "guards": {
                run.site.name: f"http://{self.host}:{run.guard_port}/"
                for run in self.sites.values()
            },
            "receiver": f"{self.receiver.url}/",
            "api": f"{self.base_url}/api/v1/openapi.json",
        }

    # -- stop

    def stop(self) -> None:
        """Everything, in the order that loses nothing: traffic, bridges, then the cloud."""
        for run in self.sites.values():
            if run.traffic is not None:
                run.traffic.stopping.set()
        for run in self.sites.values():
            if run.traffic is not None:
                run.traffic.thread.join(5)
            if run.edge is not None:
                run.edge.stop()
        self.stopping.set()
        for thread in self.threads:
            thread.join(15)
        if self.web is not None:
            self.web.stop()
        if self.hub is not None:
            self.hub.stop()
        if self.receiver is not None:
            self.receiver.stop()
        if self.app is not None:
            get_database(self.app).dispose()

    def __enter__(self) -> Plant:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@contextlib.contextmanager
def running(settings: Settings, **options: Any) -> Iterator[Plant]:
    with Plant(settings, **options) as plant:
        yield plant
