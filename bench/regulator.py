"""Benchmark the regulator upload relay (issue 7): backlog drain rate and per-record overhead,
each beside a physical limit measured in the same run
(shared/reference/reliability-performance.md §1.2).

(a) backlog drain: ``--records`` passages of one site (ingested through ``ingest_passages``,
    which writes their ``regulator_uploads`` rows) drained by ONE ``relay()`` call — claim,
    load, ``hj1321-json`` build, RSA2 sign, POST, mark, in batches of ``adapter.max_batch``
    (200) — against the reference receiver ``cleangate regulator-sim`` running as a separate
    process on loopback. Records/s accepted, target >= 2 000/s (median of ``--repeats`` runs;
    between runs the receiver forgets its receipts and a bulk 补传 puts the rows back to
    ``pending``). Limits, same run, same number of records:
    * raw HTTP: the same request bodies (a real signed batch of 200 records) POSTed to the same
      receiver on a path it answers 404 after reading the body — HTTP, no signing, no
      verification, no database;
    * receiver: pre-signed, pre-encoded upload requests — everything the receiver does (token,
      signature verification, receipts), nothing of our side;
    * database: ``UPDATE regulator_uploads`` of the same rows by id, 200 per transaction, as
      the app role under RLS (the relay writes each row twice: claim and mark).
(b) relay overhead per record: the drain's ms/record beside the raw POST's ms/record, with the
    parts measured on their own: ``adapter.build``, envelope + RSA2 signature + encoding, the
    receiver's work, and the UPDATE.

PostgreSQL when reachable (``CLEANGATE_TEST_POSTGRES_URL``, a scratch database created and
dropped as bench/ledger.py does), else a scratch SQLite file. The circuit breaker uses Redis
(``CLEANGATE_TEST_REDIS_URL``, default ``redis://127.0.0.1:6379/15``) when reachable, else the
app's embedded substitute; the app's own job triggers always go to the embedded substitute so
nothing is left queued in a real Redis. ``--profile`` runs one more drain under cProfile and
prints the top costs.

    .venv/bin/python bench/regulator.py [--records 20000] [--repeats 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.edge import redis_reachable  # noqa: E402

RESULTS = ROOT / "bench" / "results.local.json"
REDIS_URL = os.environ.get("CLEANGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TARGET = 2000.0  # records/s
CLIENT_ID, CLIENT_SECRET, ENT_CODE = "bench-ent-0001", "bench-client-secret-0001", "TS1302BENCH01"
INGEST_BATCH = 500
PART_BATCHES = 20  # batches the CPU parts are timed on (scaled to the run's records)


# --- setup ---------------------------------------------------------------------------------


class Setup:
    """Database (scratch PostgreSQL or SQLite), app, one tenant and site with an
    ``hj1321-json`` configuration, the receiver process, the breaker's Redis."""

    def __init__(self, tmp: Path) -> None:
        from sqlalchemy.exc import OperationalError

        from bench.ledger import create_database
        from saas import migrate
        from saas.app import create_app
        from saas.settings import Settings

        self.tmp = tmp
        self.pg: dict[str, str] | None = None
        try:
            self.pg = create_database()
        except OperationalError as exc:
            print(f"    PostgreSQL not reachable ({type(exc).__name__}): SQLite fallback")
        if self.pg is not None:
            migrate.upgrade(self.pg["owner"], self.pg["app"])
            database_url, migration_url = self.pg["app"], self.pg["owner"]
        else:
            database_url = migration_url = f"sqlite:///{tmp / 'regulator.db'}"
            migrate.upgrade(database_url)
        self.app = create_app(
            Settings.from_env(
                {
                    "CLEANGATE_VAR_DIR": str(tmp / "var"),
                    "DATABASE_URL": database_url,
                    "MIGRATION_DATABASE_URL": migration_url,
                },
                testing=True,
            )
        )
        self.real_redis = redis_reachable(REDIS_URL)
        if self.real_redis:
            import redis

            self.redis: Any = redis.Redis.from_url(REDIS_URL)
        else:
            self.redis = self.app.extensions["cleangate.redis"]
        self.backend = (
            f"{'PostgreSQL (app role, RLS)' if self.pg else 'SQLite'} + "
            f"{'Redis' if self.real_redis else 'embedded Redis'} breaker + "
            "cleangate regulator-sim process"
        )
        self.sim: subprocess.Popen[bytes] | None = None
        self.sim_url = ""
        self.private_key = ""
        self.tenant_id = uuid.UUID(int=0)
        self.site_id = uuid.UUID(int=0)
        self.config_id = uuid.UUID(int=0)

    def start_receiver(self) -> None:
        from saas.regulator.base import Credentials
        from saas.regulator.signing import generate_private_key, public_material

        self.private_key = generate_private_key("rsa2")
        material = public_material("rsa2", Credentials(private_key=self.private_key))
        clients = self.tmp / "clients.json"
        clients.write_text(
            json.dumps(
                {
                    "clients": [
                        {
                            "client_id": CLIENT_ID,
                            "client_secret": CLIENT_SECRET,
                            "signer": "rsa2",
                            "public_key": material,
                            "ent_code": ENT_CODE,
                        }
                    ]
                }
            )
        )
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.sim_url = f"http://127.0.0.1:{port}"
        log = open(self.tmp / "sim.log", "ab")  # noqa: SIM115 (the process keeps it)
        self.sim = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "cleangate"),
                "regulator-sim",
                "--port",
                str(port),
                "--clients",
                str(clients),
            ],
            env={**os.environ, "CLEANGATE_VAR_DIR": str(self.tmp / "sim-var")},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        import requests

        deadline = time.monotonic() + 30
        while True:
            if self.sim.poll() is not None:
                raise RuntimeError(f"regulator-sim exited with {self.sim.returncode}")
            try:
                requests.get(self.sim_url + "/_sim/stats", timeout=1)
                return
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def make_site(self) -> None:
        from saas.auth.passwords import use_fast_hashing_for_tests
        from saas.db import get_database
        from saas.models.regulator import RegulatorConfig
        from saas.regulator import envelope
        from saas.regulator.base import Credentials
        from saas.regulator.signing import public_material
        from saas.tenancy import tenant_context
        from tenants.provisioning import TenantCreate, create_tenant

        use_fast_hashing_for_tests()
        with get_database(self.app).sessionmaker() as session:
            result = create_tenant(
                session,
                TenantCreate(
                    name="压测 监管上报 集团",
                    slug=f"bench-reg-{uuid.uuid4().hex[:6]}",
                    site={
                        "name": "一号焦化厂",
                        "uscc": "91350100M000100Y43",
                        "region_code": "130200",
                        "industry": "coking",
                        "rating": "B",
                    },
                ),
            )
        self.tenant_id, self.site_id = result.tenant_id, result.site_id
        keyring = self.app.config["CLEANGATE_SETTINGS"].regulator_keyring
        box = json.dumps({"client_secret": CLIENT_SECRET, "private_key": self.private_key})
        with tenant_context(self.tenant_id), get_database(self.app).sessionmaker() as session:
            config = RegulatorConfig(
                site_id=self.site_id,
                name="唐山市重点用车单位管控平台",
                adapter="hj1321-json",
                endpoint=self.sim_url,
                signer="rsa2",
                client_id=CLIENT_ID,
                enterprise_code=ENT_CODE,
                uscc="91350100M000100Y43",
                permit_no="91350100M000100Y43001P",
                secret_box=envelope.seal(box.encode(), keyring),
                public_key=public_material("rsa2", Credentials(private_key=self.private_key)),
                active=True,
            )
            session.add(config)
            session.commit()
            self.config_id = config.id

    def ingest(self, records: int) -> float:
        """``records`` passages over the last hours (the backlog's rows are written with them)."""
        from bench.ledger import passage_body
        from saas.db import get_database
        from saas.ledger.ingest import PassageBatch, ingest_passages
        from saas.models.tenancy import Site
        from saas.tenancy import tenant_context

        newest = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        started = time.perf_counter()
        with tenant_context(self.tenant_id), get_database(self.app).sessionmaker() as session:
            site = session.get(Site, self.site_id)
            assert site is not None
            for first in range(0, records, INGEST_BATCH):
                bodies = [
                    canonical_stage(passage_body(n, newest - timedelta(seconds=records - n)))
                    for n in range(first, min(first + INGEST_BATCH, records))
                ]
                ingest_passages(session, site, PassageBatch.model_validate({"passages": bodies}))
        return time.perf_counter() - started

    def stop(self) -> None:
        from saas.db import get_database

        if self.sim is not None:
            self.sim.terminate()
            try:
                self.sim.wait(10)
            except subprocess.TimeoutExpired:
                self.sim.kill()
                self.sim.wait()
        if self.real_redis:
            from saas.regulator.relay import Breaker

            if self.sim_url:
                key = Breaker.key(self.sim_url)
                self.redis.delete(key, key + ":probe")
        get_database(self.app).dispose()
        if self.pg is not None:
            from bench.ledger import drop_database

            drop_database(self.pg["name"])


# --- helpers -------------------------------------------------------------------------------


def canonical_stage(body: dict[str, Any]) -> dict[str, Any]:
    """bench/ledger.py writes ``CN6A``; the canonical code (saas.compliance) is ``cn6a``, and
    the adapter refuses anything else (ingest does not check it)."""
    body["vehicle"]["emission_stage"] = body["vehicle"]["emission_stage"].lower()
    return body


def status_counts(setup: Setup) -> dict[str, int]:
    from sqlalchemy import func, select

    from saas.db import get_database
    from saas.models.regulator import RegulatorUpload
    from saas.tenancy import tenant_context

    with tenant_context(setup.tenant_id), get_database(setup.app).sessionmaker() as session:
        return {
            str(s): int(n)
            for s, n in session.execute(
                select(RegulatorUpload.status, func.count()).group_by(RegulatorUpload.status)
            )
        }


def sim_call(setup: Setup, method: str, path: str) -> Any:
    import requests

    response = requests.request(method, setup.sim_url + path, timeout=30)
    response.raise_for_status()
    return response.json()


def back_to_pending(setup: Setup) -> int:
    """Between runs: the receiver forgets its receipts, a bulk 补传 re-queues every row."""
    from saas.db import get_database
    from saas.regulator.relay import resend
    from saas.tenancy import tenant_context

    sim_call(setup, "POST", "/_sim/reset")
    with tenant_context(setup.tenant_id), get_database(setup.app).sessionmaker() as session:
        count = resend(session, None, status=("accepted",))
        session.commit()
    return count


def drain(setup: Setup, records: int, profiler: cProfile.Profile | None = None) -> float:
    """One ``relay()`` call with a budget of every row; returns the seconds it took."""
    from saas.db import get_database
    from saas.regulator.relay import RelayPolicy, relay
    from saas.settings import RegulatorRelaySettings
    from saas.tenancy import tenant_context

    policy = RelayPolicy.from_settings(RegulatorRelaySettings())
    with tenant_context(setup.tenant_id), setup.app.app_context():
        if profiler is not None:
            profiler.enable()
        started = time.perf_counter()
        counts = relay(
            get_database(setup.app).sessionmaker,
            setup.redis,
            policy=policy,
            batch=records,
            app=setup.app,
        )
        elapsed = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
    if counts.accepted != records:
        raise RuntimeError(f"drain accepted {counts.accepted} of {records}: {counts.as_dict()}")
    stats = sim_call(setup, "GET", "/_sim/stats")
    if (stats["accepted"], stats["duplicates"], stats["bad_signature"]) != (records, 0, 0):
        raise RuntimeError(f"the receiver disagrees: {stats}")
    return elapsed


def sample_batch(setup: Setup) -> tuple[Any, list[Any], list[dict[str, Any]]]:
    """The endpoint, 200 claimed-row stand-ins and their sources, as the relay would load them."""
    from sqlalchemy import select

    from saas.db import get_database
    from saas.models.regulator import RegulatorConfig, RegulatorUpload
    from saas.regulator.adapters.hj1321_json import ADAPTER
    from saas.regulator.relay import Claimed, credentials_for, endpoint_for, load_sources
    from saas.tenancy import tenant_context

    with tenant_context(setup.tenant_id), get_database(setup.app).sessionmaker() as session:
        config = session.get(RegulatorConfig, setup.config_id)
        assert config is not None
        endpoint = endpoint_for(config, credentials_for(config, setup.app))
        rows = [
            Claimed(r.id, r.kind, r.source_id, r.key, r.site_id, r.gate_code, r.lane_code, 1)
            for r in session.scalars(
                select(RegulatorUpload).order_by(RegulatorUpload.key).limit(ADAPTER.max_batch)
            )
        ]
        sources = load_sources(session, rows)
    return endpoint, rows, [sources[r.id] for r in rows]


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


# --- limits and parts ----------------------------------------------------------------------

# A bare loopback HTTP server (its own process, like the receiver): reads the body and answers
# in one write with TCP_NODELAY — the floor for moving the same bytes with http.server.
ECHO_SERVER = """
import socket, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def log_message(self, *args):
        pass
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.wfile.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\n{}")
server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
print(server.server_port, flush=True)
server.serve_forever()
"""


def start_echo() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", ECHO_SERVER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, f"http://127.0.0.1:{int(proc.stdout.readline())}"


def raw_post_seconds(url: str, body: bytes, requests_n: int, status: int) -> float:
    """The same body, ``requests_n`` times, keep-alive (the receiver's 404 path or the echo)."""
    import requests

    with requests.Session() as http:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        http.post(url, data=body, headers=headers, timeout=30)  # connection warm-up
        started = time.perf_counter()
        for _ in range(requests_n):
            response = http.post(url, data=body, headers=headers, timeout=30)
            if response.status_code != status:
                raise RuntimeError(f"raw POST answered {response.status_code}")
        return time.perf_counter() - started


def receiver_seconds(setup: Setup, endpoint: Any, payloads: list[dict[str, Any]], n: int) -> float:
    """Pre-signed upload requests of ``n`` records (fresh keys and nonces): the receiver's
    whole work per record, none of ours inside the timing."""
    import requests

    from saas.regulator.adapters.hj1321_json import (
        ADAPTER,
        Hj1321JsonAdapter,
        encode_body,
        envelope,
    )
    from saas.regulator.signing import make_signer

    assert isinstance(ADAPTER, Hj1321JsonAdapter)
    signer = make_signer("rsa2", endpoint.credentials)
    run = uuid.uuid4().hex[:8]
    bodies = []
    for first in range(0, n, len(payloads)):
        records = [
            {**p, "key": f"anchor:{run}:{first + i}"}
            for i, p in enumerate(payloads[: min(len(payloads), n - first)])
        ]
        bodies.append(encode_body(envelope(endpoint, signer, records)))
    with requests.Session() as http:
        token = ADAPTER.fetch_token(http, endpoint)
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json; charset=utf-8",
        }
        url = setup.sim_url + "/api/v1/upload/passage"
        started = time.perf_counter()
        for body in bodies:
            answer = http.post(url, data=body, headers=headers, timeout=30).json()
            if answer.get("code") != "0":
                raise RuntimeError(f"pre-signed upload refused: {answer}")
        return time.perf_counter() - started


def update_seconds(setup: Setup, batch: int) -> float:
    """UPDATE every row of the site by id, ``batch`` per transaction, app role (RLS)."""
    from sqlalchemy import select, update

    from saas.db import get_database
    from saas.models.regulator import RegulatorUpload
    from saas.tenancy import tenant_context

    with tenant_context(setup.tenant_id), get_database(setup.app).sessionmaker() as session:
        ids = list(session.scalars(select(RegulatorUpload.id).order_by(RegulatorUpload.id)))
        session.commit()
        now = datetime.now(UTC)
        started = time.perf_counter()
        for first in range(0, len(ids), batch):
            session.execute(
                update(RegulatorUpload)
                .where(RegulatorUpload.id.in_(ids[first : first + batch]))
                .values(sent_at=now)
                .execution_options(synchronize_session=False)
            )
            session.commit()
        return time.perf_counter() - started


def part_seconds(endpoint: Any, sources: list[dict[str, Any]], n: int) -> dict[str, float]:
    """Our CPU parts for ``n`` records, measured alone: ``adapter.build``; loading the signing
    key (``make_signer``, which ``adapter.send`` does once per batch); envelope + canonical
    string + RSA2 signature + JSON encoding."""
    from saas.regulator.adapters.hj1321_json import ADAPTER, encode_body, envelope
    from saas.regulator.signing import make_signer

    batches = max(1, min(PART_BATCHES, n // len(sources)))
    scale = n / (batches * len(sources))  # measured on a sample of batches, scaled to n
    build = timed(
        lambda: [ADAPTER.build("passage", s, endpoint) for _ in range(batches) for s in sources]
    )
    payloads = [{**ADAPTER.build("passage", s, endpoint), "key": "k"} for s in sources]
    key = timed(lambda: [make_signer("rsa2", endpoint.credentials) for _ in range(batches)])
    signer = make_signer("rsa2", endpoint.credentials)
    sign = timed(
        lambda: [encode_body(envelope(endpoint, signer, payloads)) for _ in range(batches)]
    )
    return {"build": build * scale, "key": key * scale, "sign": sign * scale}


# --- main ----------------------------------------------------------------------------------


def figure(results: list[dict[str, Any]], **row: Any) -> None:
    anchor = row.get("anchor_value")
    row["ratio"] = round(row["value"] / anchor, 3) if anchor else None
    results.append(row)
    met = "" if row["met"] is None else (" MET" if row["met"] else " MISS")
    print(
        f"{row['name']}: {row['value']:,.3f} {row['unit']} (target {row['target']}{met}); "
        f"{row['anchor_name']}: {anchor:,.3f}; ratio {row['ratio']}"
    )


PROFILED = (
    ("relay.py", "_claim", "claim (SELECT … FOR UPDATE SKIP LOCKED + UPDATE … RETURNING)"),
    ("relay.py", "load_sources", "load sources (ledger join)"),
    ("hj1321_json.py", "build", "adapter.build"),
    ("signing.py", "make_signer", "make_signer (PEM key load, per batch)"),
    ("hj1321_json.py", "_post", "_post (envelope, sign, HTTP round trip)"),
    ("relay.py", "_mark_all", "mark (UPDATE per outcome group)"),
)


def profile_drain(setup: Setup, records: int) -> None:
    back_to_pending(setup)
    profiler = cProfile.Profile()
    elapsed = drain(setup, records, profiler)
    stats = pstats.Stats(profiler)
    print(f"\n    cProfile of one drain ({records / elapsed:,.0f} records/s under the profiler)")
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for filename, function, label in PROFILED:
        cumulative = sum(
            row[3]
            for (path, _line, name), row in table.items()
            if name == function and path.endswith(filename)
        )
        print(f"    {label:<62} {cumulative:6.2f} s  {cumulative / records * 1000:.3f} ms/record")
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(12)
        lines = out.getvalue().splitlines()
        start = next(i for i, line in enumerate(lines) if "ncalls" in line)
        print(f"    -- by {order}")
        print("\n".join(lines[start : start + 13]))


def measure(setup: Setup, n: int, repeats: int) -> dict[str, list[float]]:
    """Seconds per part for ``n`` records, one list entry per run."""
    from saas.regulator.adapters.hj1321_json import ADAPTER, encode_body, envelope
    from saas.regulator.signing import make_signer

    endpoint, _rows, sources = sample_batch(setup)
    payloads = [ADAPTER.build("passage", s, endpoint) for s in sources]
    signer = make_signer("rsa2", endpoint.credentials)
    records = [{**p, "key": f"passage:{uuid.uuid4()}"} for p in payloads]
    body = encode_body(envelope(endpoint, signer, records))
    batches = -(-n // ADAPTER.max_batch)
    print(f"    batch: {len(payloads)} records, {len(body):,} bytes; {batches} batches per run")
    runs: dict[str, list[float]] = {
        k: [] for k in ("drain", "raw", "echo", "receiver", "update", "build", "key", "sign")
    }
    echo, echo_url = start_echo()
    try:
        for run in range(repeats):
            if run:
                back_to_pending(setup)
            runs["drain"].append(drain(setup, n))
            runs["raw"].append(raw_post_seconds(setup.sim_url + "/bench/raw", body, batches, 404))
            runs["echo"].append(raw_post_seconds(echo_url, body, batches, 200))
            runs["receiver"].append(receiver_seconds(setup, endpoint, payloads, n))
            runs["update"].append(update_seconds(setup, ADAPTER.max_batch))
            for part, seconds in part_seconds(endpoint, sources, n).items():
                runs[part].append(seconds)
            print(f"    run {run + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in runs.items()))
    finally:
        echo.terminate()
        echo.wait(10)
    return runs


def summarize(
    results: list[dict[str, Any]], runs: dict[str, list[float]], n: int, backend: str
) -> None:
    m = {k: statistics.median(v) for k, v in runs.items()}
    rate = n / m["drain"]
    per = 1000 / n  # seconds for n records → ms per record
    common = {"backend": backend, "runs": len(runs["drain"])}
    figure(
        results,
        name=f"regulator (a) backlog drain, {n:,} records (median)",
        value=rate,
        unit="records/s",
        target=">= 2000/s",
        met=rate >= TARGET,
        anchor_name="raw HTTP POST of the same bodies to the same receiver",
        anchor_value=n / m["raw"],
        **common,
    )
    figure(
        results,
        name="regulator (a) limit: raw POST to the receiver",
        value=n / m["raw"],
        unit="records/s",
        target="-",
        met=None,
        anchor_name="bare http.server echo, TCP_NODELAY, same bodies",
        anchor_value=n / m["echo"],
        **common,
    )
    figure(
        results,
        name="regulator (a) limit: receiver alone (pre-signed uploads)",
        value=n / m["receiver"],
        unit="records/s",
        target="-",
        met=None,
        anchor_name="raw POST to the receiver",
        anchor_value=n / m["raw"],
        **common,
    )
    figure(
        results,
        name=f"regulator (a) limit: UPDATE of the same {n:,} rows, 200 per transaction",
        value=n / m["update"],
        unit="rows/s",
        target="-",
        met=None,
        anchor_name="drain records/s",
        anchor_value=rate,
        **common,
    )
    figure(
        results,
        name="regulator (b) relay cost per record (drain)",
        value=m["drain"] * per,
        unit="ms/record",
        target="-",
        met=None,
        anchor_name="raw POST to the receiver per record",
        anchor_value=m["raw"] * per,
        **common,
    )
    figure(
        results,
        name="regulator (b) relay overhead per record (drain minus receiver alone)",
        value=(m["drain"] - m["receiver"]) * per,
        unit="ms/record",
        target="-",
        met=None,
        anchor_name="bare echo POST per record",
        anchor_value=m["echo"] * per,
        **common,
    )
    rest = m["drain"] - m["receiver"] - m["build"] - m["key"] - m["sign"]
    print(
        f"    (b) ms/record: drain {m['drain'] * per:.3f} = receiver alone "
        f"{m['receiver'] * per:.3f} (raw POST to it {m['raw'] * per:.3f}; bare echo "
        f"{m['echo'] * per:.3f}) + build {m['build'] * per:.3f} + key load (make_signer per "
        f"batch) {m['key'] * per:.3f} + envelope/sign/encode {m['sign'] * per:.3f} + the rest "
        f"(claim, load, mark, HTTP client) {rest * per:.3f}; UPDATE alone {m['update'] * per:.3f}"
    )
    if rate < TARGET:
        print(f"    MISSED by {TARGET - rate:,.0f} records/s ({rate / TARGET:.0%} of the target)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000, help="backlog size")
    parser.add_argument("--repeats", type=int, default=3, help="drains (median)")
    parser.add_argument("--profile", action="store_true", help="one more drain under cProfile")
    args = parser.parse_args()
    n = args.records
    if n < 200 or args.repeats < 1:
        parser.error("--records must be at least 200 and --repeats at least 1")

    started_all = time.monotonic()
    results: list[dict[str, Any]] = []
    print(f"cores: {os.cpu_count()}  python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="cleangate-bench-reg-") as tmp_name:
        setup = Setup(Path(tmp_name))
        print(f"    backend: {setup.backend}")
        try:
            setup.start_receiver()
            setup.make_site()
            ingest_s = setup.ingest(n)
            pending = status_counts(setup)
            print(f"    backlog: {pending} (ingested in {ingest_s:.1f} s, {n / ingest_s:,.0f}/s)")
            if pending != {"pending": n}:
                raise RuntimeError(f"expected {n} pending rows, found {pending}")
            runs = measure(setup, n, args.repeats)
            summarize(results, runs, n, setup.backend)
            print(f"    ({time.monotonic() - started_all:.0f} s before any profiling)")
            if args.profile:
                profile_drain(setup, n)
        finally:
            setup.stop()
    print(f"    ({time.monotonic() - started_all:.0f} s in all)")
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    RESULTS.write_text(
        json.dumps(
            [r for r in previous if not str(r["name"]).startswith("regulator (")] + results,
            ensure_ascii=False,
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
