"""`cleangate ledger verify` detects every single-byte edit, deletion, reordering and gap,
made directly in the database (as a superuser would: triggers and RLS bypassed)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from saas.db import get_database
from saas.ledger.verify import verify_site
from saas.tenancy import system_context
from tests.conftest import Backend, TenantFixture, make_tenant
from tests.ledger.edge_helpers import make_device, passage, post_batch


@contextmanager
def raw(backend: Backend) -> Iterator[Connection]:
    """A connection that can change anything: SQLite's own, or PostgreSQL's superuser with
    triggers off (session_replication_role) — the attacker the chain must expose."""
    if backend.pg is None:
        engine = get_database(backend.app).engine
        with engine.begin() as conn:
            yield conn
        return
    engine = create_engine(backend.pg.admin_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("SET session_replication_role = replica"))
        yield conn
    engine.dispose()


def _ledger(app: Flask, count: int = 4) -> TenantFixture:
    tenant = make_tenant(app, "chain")
    device = make_device(app, tenant.tenant_id, tenant.site_id)
    response = post_batch(
        app.test_client(), device, [passage(f"冀B2000{i}", minutes_ago=i) for i in range(count)]
    )
    assert response.status_code == 200
    return tenant


def _verify(app: Flask, site_id: uuid.UUID) -> object:
    key = app.extensions["cleangate.ledger_key"]
    with get_database(app).sessionmaker() as session, system_context("test verify"):
        return verify_site(session, site_id, key.public_bytes)


def _cli(app: Flask, site_id: uuid.UUID) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["ledger", "verify", "--site", str(site_id)])
    return result.exit_code, result.output


def test_intact_chain_verifies(backend: Backend) -> None:
    tenant = _ledger(backend.app)
    assert backend.app.test_cli_runner().invoke(args=["ledger", "checkpoint"]).exit_code == 0
    code, output = _cli(backend.app, tenant.site_id)
    assert code == 0, output
    assert "4 records, 1 checkpoints intact" in output


def test_every_single_byte_edit_of_a_record_is_detected(backend: Backend) -> None:
    tenant = _ledger(backend.app, 3)
    with raw(backend) as conn:
        record = conn.execute(
            text("SELECT record FROM passages WHERE site_id = :s AND seq = 2"),
            {"s": _sid(backend, tenant.site_id)},
        ).scalar_one()
    data = record.encode("utf-8")
    step = 1 if backend.pg is None else 3
    missed = []
    for index in range(0, len(data), step):
        flipped = bytearray(data)
        flipped[index] ^= 0x01
        try:
            edited = flipped.decode("utf-8")
        except UnicodeDecodeError:
            continue  # not storable as text; the column only holds valid UTF-8
        _set(backend, tenant.site_id, 2, "record", edited)
        report = _verify(backend.app, tenant.site_id)
        if report.intact or report.first_break.seq != 2:  # type: ignore[attr-defined]
            missed.append(index)
    _set(backend, tenant.site_id, 2, "record", record)
    assert not missed, f"edits at byte offsets {missed[:10]} were not detected"
    assert _verify(backend.app, tenant.site_id).intact  # type: ignore[attr-defined]


def _sid(backend: Backend, site_id: uuid.UUID) -> object:
    return site_id.hex if backend.pg is None else site_id


def _set(backend: Backend, site_id: uuid.UUID, seq: int, column: str, value: object) -> None:
    with raw(backend) as conn:
        conn.execute(
            text(f"UPDATE passages SET {column} = :v WHERE site_id = :s AND seq = :q"),  # noqa: S608
            {"v": value, "s": _sid(backend, site_id), "q": seq},
        )


Tamper = Callable[[Connection, object], None]


def _flip_hash(conn: Connection, sid: object) -> None:
    current = conn.execute(
        text("SELECT hash FROM passages WHERE site_id = :s AND seq = 2"), {"s": sid}
    ).scalar_one()
    conn.execute(
        text("UPDATE passages SET hash = :h WHERE site_id = :s AND seq = 2"),
        {"h": bytes([current[0] ^ 0x80]) + bytes(current[1:]), "s": sid},
    )


TAMPERS: dict[str, tuple[Tamper, str]] = {
    "delete a middle record": (
        lambda c, s: c.execute(
            text("DELETE FROM passages WHERE site_id = :s AND seq = 2"), {"s": s}
        ),
        "missing",
    ),
    "delete the last record": (
        lambda c, s: c.execute(
            text("DELETE FROM passages WHERE site_id = :s AND seq = 4"), {"s": s}
        ),
        "missing",
    ),
    "swap two records": (
        lambda c, s: [
            c.execute(
                text("UPDATE passages SET seq = :to WHERE site_id = :s AND seq = :fr"),
                {"s": s, "fr": a, "to": b},
            )
            for a, b in ((2, 100), (3, 2), (100, 3))
        ],
        "reordered",
    ),
    "renumber to leave a gap": (
        lambda c, s: c.execute(
            text("UPDATE passages SET seq = 9 WHERE site_id = :s AND seq = 4"), {"s": s}
        ),
        "missing",
    ),
    "change a query column": (
        lambda c, s: c.execute(
            text(
                "UPDATE passages SET verdict = 'ALLOW', plate = '冀B99999' "
                "WHERE site_id = :s AND seq = 3"
            ),
            {"s": s},
        ),
        "column_mismatch",
    ),
    "edit a hash": (_flip_hash, "edited"),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_structural_tampering_is_detected(backend: Backend, name: str) -> None:
    tenant = _ledger(backend.app)
    tamper, problem = TAMPERS[name]
    with raw(backend) as conn:
        tamper(conn, _sid(backend, tenant.site_id))
    report = _verify(backend.app, tenant.site_id)
    assert not report.intact, name  # type: ignore[attr-defined]
    assert report.first_break.problem in {problem, "edited", "reordered", "missing"}  # type: ignore[attr-defined]
    code, output = _cli(backend.app, tenant.site_id)
    assert code == 1
    assert "BROKEN" in output


def test_rewritten_history_is_caught_by_the_checkpoint(backend: Backend) -> None:
    """Someone recomputes the whole chain after an edit: only the signed checkpoint shows it."""
    import json

    from saas.ledger import chain

    tenant = _ledger(backend.app, 3)
    assert backend.app.test_cli_runner().invoke(args=["ledger", "checkpoint"]).exit_code == 0
    sid = _sid(backend, tenant.site_id)
    with raw(backend) as conn:
        rows = conn.execute(
            text("SELECT seq, record FROM passages WHERE site_id = :s ORDER BY seq"), {"s": sid}
        ).all()
        prev = chain.GENESIS
        for seq, record in rows:
            data = json.loads(record)
            if seq == 2:
                data["decision"]["verdict"] = "DENY"
            raw_bytes = chain.canonical_bytes(data)
            digest = chain.link_hash(prev, seq, raw_bytes)
            conn.execute(
                text(
                    "UPDATE passages SET record = :r, hash = :h, prev_hash = :p, "
                    "verdict = :v WHERE site_id = :s AND seq = :q"
                ),
                {
                    "r": raw_bytes.decode(),
                    "h": digest,
                    "p": prev,
                    "v": data["decision"]["verdict"],
                    "s": sid,
                    "q": seq,
                },
            )
            prev = digest
        conn.execute(
            text("UPDATE ledger_heads SET head = :h WHERE site_id = :s"), {"h": prev, "s": sid}
        )
    report = _verify(backend.app, tenant.site_id)
    assert not report.intact  # type: ignore[attr-defined]
    assert report.first_break.problem == "rewritten"  # type: ignore[attr-defined]


def test_forged_checkpoint_is_detected(backend: Backend) -> None:
    tenant = _ledger(backend.app, 2)
    assert backend.app.test_cli_runner().invoke(args=["ledger", "checkpoint"]).exit_code == 0
    with raw(backend) as conn:
        conn.execute(
            text(
                "UPDATE ledger_checkpoints SET note = replace(note, '\n2\n', '\n1\n')"
                " WHERE site_id = :s"
            ),
            {"s": _sid(backend, tenant.site_id)},
        )
    report = _verify(backend.app, tenant.site_id)
    assert report.first_break.problem == "checkpoint_forged"  # type: ignore[attr-defined]


def test_app_role_cannot_update_or_delete_ledger_rows(pg_backend: Backend) -> None:
    """The second fence on PostgreSQL: no grant and an append-only trigger."""
    tenant = _ledger(pg_backend.app, 1)
    assert pg_backend.pg is not None
    engine = create_engine(pg_backend.pg.app_url, poolclass=NullPool)
    for statement in ("UPDATE passages SET verdict = 'ALLOW'", "DELETE FROM passages"):
        with engine.connect() as conn:
            conn.execute(
                text("SELECT set_config('app.tenant_id', :t, false)"), {"t": str(tenant.tenant_id)}
            )
            with pytest.raises(Exception, match="permission denied"):
                conn.execute(text(statement))
    owner = create_engine(pg_backend.pg.owner_url, poolclass=NullPool)
    with owner.connect() as conn:
        conn.execute(text("SELECT set_config('app.system', 'on', false)"))  # past RLS
        with pytest.raises(Exception, match="append-only"):
            conn.execute(text("UPDATE passages SET verdict = 'ALLOW'"))
    engine.dispose()
    owner.dispose()
