"""Benchmark the passage ledger on PostgreSQL: ingest, the day view, and exports.

Each figure is printed beside a physical anchor measured in the same run, so a slow machine can
be told from slow code (shared/reference/reliability-performance.md §1.2, §3.3, §4.1):

(a) ingest through ``ingest_passages`` (chained, batches of 500, app role under RLS)
    — target ≥ 5 000 passages/s; anchor: ``COPY`` of the same rows into an unlogged plain table
    as the owner;
(b) day-view query p95 (one tenant, one site, one day, first page of 50 via ``queries.page``)
    over ``--rows`` synthetic passages of 20 tenants × 2 years — target ≤ 50 ms; anchor: a bare
    ``SELECT 1`` round trip p95 through the same session machinery;
(c) export of ``--export-rows`` passages to xlsx — target ≤ 10 s; anchor: the same rows to csv;
    plus peak Python memory (tracemalloc) of that export vs a 10 000-row one.

A scratch database (owner + app roles, as tests/services.py does) is created from the admin URL
``CLEANGATE_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``),
migrated with ``saas.migrate.upgrade`` and dropped at the end.

    .venv/bin/python bench/ledger.py [--rows 10000000] [--export-rows 100000] [--queries 300]

Prints one line per figure and writes a JSON list to ``bench/results.local.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from saas import migrate  # noqa: E402
from saas.settings import normalize_database_url  # noqa: E402

ADMIN_URL = normalize_database_url(
    os.environ.get("CLEANGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
)
OWNER_ROLE, APP_ROLE = "cleangate_owner", "cleangate_app"
TENANTS = 20
DAYS = 730
INGEST_BATCH = 500
RESULTS = ROOT / "bench" / "results.local.json"
# A ~300-byte record around the plate number (the day view reads records only for its page).
RECORD_HEAD = '{"v":1,"kind":"passage","gate":"1","lane":"01","plate":{"raw":"冀B'
RECORD_TAIL = (
    '"},"decision":{"verdict":"ALLOW","reasons":[],"policy_version":"p-1"},'
    '"vehicle":{"vehicle_type":"Q11","fuel_type":"diesel","emission_stage":"CN6A"},'
    '"images":[],"cargo":null}'
)


# --- scratch database ------------------------------------------------------------------------


def create_database() -> dict[str, str]:
    admin = create_engine(ADMIN_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    name = f"cleangate_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        for role in (OWNER_ROLE, APP_ROLE):
            if not conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}):
                conn.execute(
                    text(
                        f"CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
                    )
                )
        conn.execute(text(f"CREATE DATABASE {name} OWNER {OWNER_ROLE}"))
    admin.dispose()
    base = make_url(ADMIN_URL).set(database=name)
    return {
        "name": name,
        "owner": base.set(username=OWNER_ROLE, password=None).render_as_string(False),
        "app": base.set(username=APP_ROLE, password=None).render_as_string(False),
        "super": base.render_as_string(False),
    }


def drop_database(name: str) -> None:
    admin = create_engine(ADMIN_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
            {"d": name},
        )
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
    admin.dispose()


def build_app(db: dict[str, str], var_dir: Path) -> Any:
    from saas.app import create_app
    from saas.settings import Settings

    settings = Settings.from_env(
        {
            "CLEANGATE_VAR_DIR": str(var_dir),
            "DATABASE_URL": db["app"],
            "MIGRATION_DATABASE_URL": db["owner"],
        },
        testing=True,
    )
    return create_app(settings)


def make_tenants(app: Any, count: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    from saas.auth.passwords import use_fast_hashing_for_tests
    from saas.db import get_database
    from tenants.provisioning import TenantCreate, create_tenant

    use_fast_hashing_for_tests()
    out = []
    for n in range(count):
        with get_database(app).sessionmaker() as session:
            result = create_tenant(
                session,
                TenantCreate(
                    name=f"压测 {n} 集团",
                    slug=f"bench-{n}-{uuid.uuid4().hex[:6]}",
                    site={
                        "name": "一号焦化厂",
                        "uscc": "91350100M000100Y43",
                        "region_code": "130200",
                        "industry": "coking",
                        "rating": "B",
                    },
                ),
            )
        out.append((result.tenant_id, result.site_id))
    return out


# --- helpers ------------------------------------------------------------------------------------


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[94]


def figure(
    name: str,
    value: float,
    unit: str,
    target: str,
    met: bool,
    anchor_name: str,
    anchor_value: float,
) -> dict[str, Any]:
    ratio = value / anchor_value if anchor_value else None
    row = {
        "name": name,
        "value": round(value, 3),
        "unit": unit,
        "target": target,
        "met": met,
        "anchor_name": anchor_name,
        "anchor_value": round(anchor_value, 3),
        "ratio": round(ratio, 4) if ratio is not None else None,
    }
    print(
        f"{name:<34} {value:>12,.2f} {unit:<12} target {target:<10} "
        f"{'MET ' if met else 'MISS'}  | {anchor_name}: {anchor_value:,.2f} (ratio {row['ratio']})"
    )
    return row


def passage_body(n: int, captured: datetime) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "captured_at": captured.isoformat(),
        "gate": str(1 + n % 3),
        "lane": f"{1 + n % 2:02d}",
        "direction": "in" if n % 2 else "out",
        "plate_text": f"冀B{n % 100000:05d}",
        "plate_color": "yellow",
        "confidence": 0.95,
        "vehicle": {
            "registered": True,
            "vehicle_type": "Q11",
            "fuel_type": "diesel",
            "emission_stage": "CN6A" if n % 5 else "CN5",
            "vin": "LFV2A21K6A3000001",
            "carrier": "顺达车队",
        },
        "decision": {
            "verdict": "ALLOW" if n % 5 else "DENY",
            "reasons": [] if n % 5 else ["stage_below_minimum"],
            "policy_version": "p-2026-11",
            "alert_level": "orange",
            "display": [f"冀B{n % 100000:05d}", "国六", "准许进入"],
        },
        "images": [
            {
                "kind": "plate",
                "sha256": f"{n:064x}",
                "content_type": "image/jpeg",
                "size": 48_000,
            }
        ],
        "cargo": {"name": "焦炭", "quantity": 32.5, "unit": "t"},
    }


# --- (a) ingest ---------------------------------------------------------------------------------


def bench_ingest(
    app: Any, db: dict[str, str], tenant: tuple[uuid.UUID, uuid.UUID], rows: int, newest: datetime
) -> list[dict[str, Any]]:
    from saas.db import get_database
    from saas.ledger.ingest import PassageBatch, ingest_passages
    from saas.models.tenancy import Site
    from saas.tenancy import tenant_context

    tenant_id, site_id = tenant
    batches = [
        PassageBatch.model_validate(
            {
                "passages": [
                    passage_body(n, newest - timedelta(seconds=rows - n))
                    for n in range(start, min(start + INGEST_BATCH, rows))
                ]
            }
        )
        for start in range(0, rows, INGEST_BATCH)
    ]
    with tenant_context(tenant_id), get_database(app).sessionmaker() as session:
        site = session.scalars(select(Site).where(Site.id == site_id)).one()
        started = time.perf_counter()
        for batch in batches:
            ingest_passages(session, site, batch)
        elapsed = time.perf_counter() - started
    rate = rows / elapsed

    # Anchor: the same rows (read back as stored) COPYed into an unlogged plain table as owner.
    import psycopg

    owner = make_url(db["owner"]).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(owner) as conn:
        conn.execute("SET app.system = 'on'")  # the owner is subject to FORCEd RLS
        conn.execute("CREATE UNLOGGED TABLE bench_copy (LIKE passages INCLUDING DEFAULTS)")
        columns = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'passages' ORDER BY ordinal_position"
            )
        ]
        stored = conn.execute(
            f"SELECT {', '.join(columns)} FROM passages WHERE site_id = %s", (site_id,)
        ).fetchall()
        cur = conn.cursor()
        started = time.perf_counter()
        with cur.copy(f"COPY bench_copy ({', '.join(columns)}) FROM STDIN") as copy:
            for row in stored:
                copy.write_row(row)
        conn.commit()
        copy_rate = len(stored) / (time.perf_counter() - started)
        conn.execute("DROP TABLE bench_copy")
        conn.commit()
    return [
        figure(
            "ingest_passages (batch 500, RLS)",
            rate,
            "passages/s",
            ">= 5000",
            rate >= 5000,
            "COPY same rows, unlogged, owner",
            copy_rate,
        )
    ]


# --- (b) day view -------------------------------------------------------------------------------


def load_synthetic(
    db: dict[str, str], tenants: list[tuple[uuid.UUID, uuid.UUID]], rows: int, newest: datetime
) -> float:
    """Server-side INSERT … SELECT generate_series as the superuser (replica mode: no FK
    triggers): ~10× faster than streaming the same rows over COPY from Python, and the query
    bench needs rows, not valid chains. Each tenant gets its own seq range on its one site."""
    engine = create_engine(db["super"], poolclass=NullPool)
    per_tenant = rows // len(tenants)
    span = DAYS * 86400
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("SET session_replication_role = replica"))
        conn.execute(text("SET synchronous_commit = off"))
        for tenant_id, site_id in tenants:
            conn.execute(
                text(
                    """
                    INSERT INTO passages (tenant_id, site_id, seq, captured_at, event_id, kind,
                        amends_event_id, received_at, prev_hash, hash, record, gate_code,
                        lane_code, direction, plate, plate_color, verdict, emission_stage,
                        fuel_type)
                    SELECT :tenant, :site, 1000000 + i, t, gen_random_uuid(), 'passage', NULL, t,
                        sha256(int8send(i - 1)), sha256(int8send(i)),
                        :record_head || lpad((i % 100000)::text, 5, '0') || :record_tail,
                        '1', '01', CASE WHEN i % 2 = 0 THEN 'in' ELSE 'out' END,
                        '冀B' || lpad((i % 100000)::text, 5, '0'), 'yellow',
                        CASE WHEN i % 5 = 0 THEN 'DENY' ELSE 'ALLOW' END, 'CN6A', 'diesel'
                    FROM (
                        SELECT i, :newest - make_interval(secs => floor(random() * :span)) AS t
                        FROM generate_series(1, :n) AS i
                    ) AS g
                    """
                ),
                {
                    "tenant": tenant_id,
                    "site": site_id,
                    "n": per_tenant,
                    "newest": newest,
                    "span": span,
                    "record_head": RECORD_HEAD,
                    "record_tail": RECORD_TAIL,
                },
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE passages"))
    engine.dispose()
    return time.perf_counter() - started


def bench_day_view(
    app: Any, tenants: list[tuple[uuid.UUID, uuid.UUID]], queries_n: int, newest: datetime
) -> list[dict[str, Any]]:
    from saas.db import get_database
    from saas.ledger import queries
    from saas.tenancy import tenant_context

    rng = random.Random(7)
    database = get_database(app)

    def timed(run: Callable[[Any], None], tenant_id: uuid.UUID) -> float:
        with tenant_context(tenant_id), database.sessionmaker() as session:
            started = time.perf_counter()
            run(session)
            session.commit()
            return time.perf_counter() - started

    page_times, ping_times, sizes = [], [], []
    for n in range(queries_n + 20):
        tenant_id, site_id = rng.choice(tenants)
        day = (newest - timedelta(days=rng.randrange(1, DAYS - 1))).replace(
            hour=16, minute=0, second=0, microsecond=0
        )  # 00:00 Asia/Shanghai
        flt = queries.PassageFilter(since=day, until=day + timedelta(days=1), site_id=site_id)

        def page(session: Any, flt: Any = flt) -> None:
            rows, _cursor = queries.page(session, flt, 50, None)
            sizes.append(len(rows))

        def ping(session: Any) -> None:
            session.execute(text("SELECT 1"))

        page_ms = timed(page, tenant_id) * 1000
        ping_ms = timed(ping, tenant_id) * 1000
        if n >= 20:  # warm-up
            page_times.append(page_ms)
            ping_times.append(ping_ms)
    value, anchor = p95(page_times), p95(ping_times)
    print(f"  day pages: median {statistics.median(sizes)} rows, {len(page_times)} queries")
    return [
        figure(
            "day view p95 (page of 50, RLS)",
            value,
            "ms",
            "<= 50",
            value <= 50,
            "SELECT 1 round trip p95",
            anchor,
        )
    ]


# --- (c) export ---------------------------------------------------------------------------------


def bench_export(
    app: Any, tenant: tuple[uuid.UUID, uuid.UUID], rows: int, newest: datetime, tmp: Path
) -> list[dict[str, Any]]:
    from saas.db import get_database
    from saas.ledger import exports
    from saas.tenancy import tenant_context

    tenant_id, _site = tenant
    storage = app.extensions["cleangate.storage"]

    def params(count: int) -> dict[str, Any]:
        return exports.resolve_params(
            "passages",
            {
                "since": (newest - timedelta(seconds=count)).isoformat(),
                "until": (newest + timedelta(seconds=1)).isoformat(),
            },
        )

    def run(count: int, fmt: str, trace: bool = False) -> tuple[float, int]:
        path = tmp / f"bench-{count}.{fmt}"
        with tenant_context(tenant_id), get_database(app).sessionmaker() as session:
            if trace:
                tracemalloc.start()
            started = time.perf_counter()
            done = exports.export_to_file(session, "passages", fmt, params(count), path)
            exports.store_file(storage, f"t/{tenant_id}/exports/bench.{fmt}", path, "x")
            elapsed = time.perf_counter() - started
            peak = 0
            if trace:
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
        assert done == count, (done, count)
        return elapsed, peak

    xlsx_s, _ = run(rows, "xlsx")
    csv_s, _ = run(rows, "csv")
    _, small_peak = run(10_000, "xlsx", trace=True)
    _, big_peak = run(rows, "xlsx", trace=True)
    growth_mb = (big_peak - small_peak) / 1e6
    return [
        figure(
            f"export {rows:,} rows to xlsx",
            xlsx_s,
            "s",
            "<= 10",
            xlsx_s <= 10,
            "same rows to csv (s)",
            csv_s,
        ),
        figure(
            f"xlsx peak memory at {rows:,} rows",
            big_peak / 1e6,
            "MB",
            "flat (+<3MB)",
            growth_mb < 3,
            "peak at 10,000 rows (MB)",
            small_peak / 1e6,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="synthetic passages for (b)")
    parser.add_argument("--export-rows", type=int, default=100_000, help="rows for (a) and (c)")
    parser.add_argument("--queries", type=int, default=300, help="day-view queries for (b)")
    args = parser.parse_args()

    print(f"cores: {os.cpu_count()}  python {sys.version.split()[0]}  admin {ADMIN_URL}")
    db = create_database()
    results: list[dict[str, Any]] = []
    try:
        migrate.upgrade(db["owner"], db["app"])
        with tempfile.TemporaryDirectory(prefix="cleangate-bench-") as tmp_name:
            tmp = Path(tmp_name)
            app = build_app(db, tmp)
            tenants = make_tenants(app, TENANTS + 1)
            ingest_tenant, query_tenants = tenants[0], tenants[1:]
            newest = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
            print(f"(a) ingesting {args.export_rows:,} passages through ingest_passages …")
            results += bench_ingest(app, db, ingest_tenant, args.export_rows, newest)
            print(f"(b) loading {args.rows:,} synthetic passages ({TENANTS} tenants × 2 years) …")
            loaded = load_synthetic(db, query_tenants, args.rows, newest)
            print(f"  loaded in {loaded:,.1f} s")
            results += bench_day_view(app, query_tenants, args.queries, newest)
            print(f"(c) exporting {args.export_rows:,} rows …")
            results += bench_export(app, ingest_tenant, args.export_rows, newest, tmp)
            from saas.db import get_database

            get_database(app).dispose()
    finally:
        drop_database(db["name"])
    names = {r["name"] for r in results}
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    merged = [r for r in previous if r["name"] not in names] + results
    RESULTS.write_text(json.dumps(merged, ensure_ascii=False, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
