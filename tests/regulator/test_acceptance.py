"""Issue 7 acceptance, end to end: a site configured for ``hj1321-json`` (RSA2) against the
reference receiver ``RegulatorSim`` over real HTTP on loopback, passages entering through
``ingest_passages``, the real relay (claim, build, sign, send, mark; back-off with jitter; the
per-endpoint circuit breaker in Redis) driven by a simulated clock.

* Eight simulated hours of traffic on one Beijing day (2 gates, one passage per gate every
  2.5 minutes): one normal hour, six hours with the receiver ``down`` (it drops every
  connection) while the relay keeps trying and its breaker opens, then the receiver comes back
  and the relay drains. 100 % delivered, every key received exactly once, and the report rate
  per gate shows the outage: nothing captured more than an hour before the recovery counts as
  "within 1 hour"; everything captured before the outage or after the recovery does.
* A body changed in transit after signing is refused by the receiver's signature check and
  the rows end ``rejected`` with the platform's words in ``platform_message`` (平台信息); a
  补传 through an honest transport delivers them once.

The simulated day is tomorrow (Beijing): rows are written with the real ``utcnow()`` as their
first due time, so a simulated clock running later than the wall clock finds them due, and the
relay's back-off, leases, breaker and ``accepted_at`` all follow the simulated clock. The
receiver checks request timestamps against the wall clock, which the adapter also uses.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
import redis
import requests
from flask import Flask

from saas.db import get_database
from saas.regulator.base import Credentials
from saas.regulator.outbox import beijing_day_bounds
from saas.regulator.relay import Breaker, RelayCounts, RelayPolicy, relay, resend
from saas.regulator.report_rate import report_rates
from saas.regulator.signing import generate_private_key, public_material
from saas.regulator.sim import RegulatorSim, SimClient
from saas.settings import RegulatorRelaySettings
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture
from tests.regulator.conftest import (
    ingest,
    passage_body,
    run_relay,
    stored_hj1321_config,
    uploads,
)
from tests.regulator.test_hj1321 import CorruptingAdapter

pytestmark = pytest.mark.timeout(60)  # each case; ~25 s on PostgreSQL, ~17 s on SQLite

CLIENT_ID = "ent-accept-0001"
CLIENT_SECRET = "accept-client-secret-7c21"
ENT_CODE = "TS130200000042"
GATES = ("1", "2")
TICK = timedelta(minutes=2, seconds=30)  # one passage per gate per tick
RELAY_LAG = timedelta(seconds=30)  # the relay runs this long after each tick's ingest
HOUR = timedelta(hours=1)

# The production relay settings, unchanged: 96 attempts with the 30 s … 3600 s back-off last
# about four days, so a 6-hour outage ends delivered without anyone's 补传 (the first default,
# 12 attempts, ran out after ~5 h: this test caught it).
POLICY = RelayPolicy.from_settings(RegulatorRelaySettings.from_env({}))
DEFAULT_MAX_ATTEMPTS = RegulatorRelaySettings().max_attempts
OLD_BUDGET = 12


@pytest.fixture(scope="module")
def rsa_key() -> str:
    return generate_private_key("rsa2")


@pytest.fixture
def sim(rsa_key: str, breaker_redis: redis.Redis) -> Iterator[RegulatorSim]:
    material = public_material("rsa2", Credentials(private_key=rsa_key))
    assert material is not None
    with RegulatorSim([SimClient(CLIENT_ID, CLIENT_SECRET, "rsa2", material, ENT_CODE)]) as running:
        key = Breaker.key(running.url)
        breaker_redis.delete(key, key + ":probe")
        yield running
        breaker_redis.delete(key, key + ":probe")


def hj1321_config(app: Flask, tenant: TenantFixture, url: str, private_key: str) -> uuid.UUID:
    return stored_hj1321_config(
        app, tenant, url, private_key, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
        ent_code=ENT_CODE, name="唐山市重点用车单位管控平台", permit_no="91350100M000100Y43001P",
    )  # fmt: skip


def tomorrow_in_beijing() -> date:
    return (datetime.now(UTC) + timedelta(hours=8)).date() + timedelta(days=1)


def rate_of(on_time: int, captured: int) -> Decimal:
    return (Decimal(on_time) / Decimal(captured)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def test_six_hour_outage_then_full_delivery_and_an_honest_report_rate(
    app: Flask,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    sim: RegulatorSim,
    rsa_key: str,
    breaker_redis: redis.Redis,
) -> None:
    config = hj1321_config(app, tenant_a, sim.url, rsa_key)
    day = tomorrow_in_beijing()
    start = beijing_day_bounds(day)[0] + timedelta(hours=7)  # 07:00 Beijing
    down_at, up_at, traffic_end = start + HOUR, start + 7 * HOUR, start + 8 * HOUR
    assert datetime.now(UTC) < start  # the simulated clock is ahead of the wall clock

    captured: dict[str, tuple[str, datetime]] = {}  # key → (gate, captured_at)
    delivered: dict[str, datetime] = {}  # key → simulated time of the sweep that delivered it
    phases = {"before": RelayCounts(), "outage": RelayCounts(), "after": RelayCounts()}

    def sweep(at: datetime, phase: str) -> RelayCounts:
        counts = run_relay(app, tenant_a, breaker_redis, at=at, policy=POLICY)
        phases[phase].add(counts)
        for receipt in sim.receipts("passage"):
            delivered.setdefault(receipt["key"], at)
        return counts

    breaker = Breaker(breaker_redis, POLICY, POLICY.retry.lease_seconds)
    states: list[str] = []
    n = 0
    tick = start
    while tick < traffic_end:
        if tick == down_at:
            sim.set_faults(down=True)
        if tick == up_at:
            sim.set_faults(down=False)
        phase = "before" if tick < down_at else "outage" if tick < up_at else "after"
        bodies = []
        for gate in GATES:
            n += 1
            body = passage_body(f"冀B{n:05d}", captured_at=tick, gate=gate, lane="01")
            bodies.append(body)
            captured[f"passage:{body['event_id']}"] = (gate, tick)
        ingest(app, tenant_a, bodies)
        sweep(tick + RELAY_LAG, phase)
        if phase == "outage":
            # the retry job comes back half a minute later: once open, the breaker holds it
            state = breaker.state(sim.url, tick + 2 * RELAY_LAG)
            states.append(state)
            held = sweep(tick + 2 * RELAY_LAG, phase)
            if state == "open":
                assert held.claimed == 0
        tick += TICK

    # the backlog waits for its back-off (capped at 1 h + 10 % jitter): keep sweeping
    while len(delivered) < len(captured) and tick < traffic_end + 2 * HOUR:
        sweep(tick + RELAY_LAG, "after")
        tick += TICK

    # the relay did try during the outage, opened the breaker and delivered nothing then
    outage = phases["outage"]
    assert outage.accepted == 0
    assert outage.rejected == 0
    assert outage.dead == 0
    assert outage.claimed > 0
    assert outage.retried == outage.claimed
    assert 0 < outage.skipped_open <= states.count("open")
    first_open = states.index("open")
    assert states[:first_open] == ["closed"] * first_open
    assert set(states[first_open:]) == {"open"}  # and stays open until the receiver is back
    assert not [k for k, at in delivered.items() if down_at <= at < up_at]

    # 100 % delivered, 0 duplicates at the receiver
    assert len(captured) == 2 * 8 * 24 == 384
    rows = uploads(app, tenant_a)
    assert {r.key for r in rows} == set(captured)
    assert {r.status for r in rows} == {"accepted"}
    receipts = sim.receipts("passage")
    assert sorted(r["key"] for r in receipts) == sorted(captured)
    stats = sim.stats()
    assert (stats["received"], stats["accepted"], stats["duplicates"]) == (384, 384, 0)
    assert (stats["rejected"], stats["bad_signature"], stats["auth_failures"]) == (0, 0, 0)
    # what the receiver holds is what was captured (plate, gate, Beijing time)
    some = next(r for r in receipts if captured[r["key"]][1] == down_at)
    assert some["record"]["gateCode"] == captured[some["key"]][0]
    assert some["record"]["passTime"] == f"{day.isoformat()} 08:00:00"
    # the oldest rows needed more attempts than the first budget of 12, well within 96
    assert OLD_BUDGET < max(r.attempts for r in rows) < DEFAULT_MAX_ATTEMPTS
    # the relay's acceptance time is the sweep that delivered the record
    for row in rows:
        assert row.accepted_at == delivered[row.key], row.key
        assert (row.platform_code, row.platform_message) == ("0", "接收成功")

    # the report rate of that day, per gate, shows the outage honestly
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        daily = report_rates(session, tenant_a.site_id, day, day)
        assert (
            report_rates(
                session, tenant_a.site_id, day + timedelta(days=1), day + timedelta(days=1)
            )
            == []
        )
    by_gate = {r.gate_code: r for r in daily}
    assert sorted(by_gate) == list(GATES)
    for gate, rate in by_gate.items():
        mine = {k: at for k, (g, at) in captured.items() if g == gate}
        late = {k for k, at in mine.items() if delivered[k] - at > HOUR}
        assert (rate.config_id, rate.period, rate.lane_code) == (config, day.isoformat(), "01")
        assert rate.captured == len(mine) == 192
        assert rate.on_time == len(mine) - len(late)
        assert rate.rate == rate_of(rate.on_time, rate.captured)
        assert rate.alarm
        # before the outage and after the recovery: every record within 1 hour
        assert not {k for k in late if mine[k] < down_at or mine[k] >= up_at}
        # captured during the outage more than an hour before the recovery: none within 1 hour
        long_ago = {k for k, at in mine.items() if down_at <= at < up_at - HOUR}
        assert len(long_ago) == 5 * 24
        assert long_ago <= late
        assert 48 <= rate.on_time <= 48 + 24  # the last outage hour may still make it
        assert rate.rate is not None
        assert rate.rate <= Decimal("0.375")

    # another tenant sees neither the rates nor the rows
    with tenant_context(tenant_b.tenant_id), get_database(app).sessionmaker() as session:
        assert report_rates(session, tenant_a.site_id, day, day) == []
        assert report_rates(session, tenant_a.site_id, day, day, config_id=config) == []
    assert uploads(app, tenant_b) == []


def test_tampered_payload_is_rejected_with_the_platform_message_then_resent(
    app: Flask,
    tenant_a: TenantFixture,
    sim: RegulatorSim,
    rsa_key: str,
    breaker_redis: redis.Redis,
) -> None:
    hj1321_config(app, tenant_a, sim.url, rsa_key)
    keys = {f"passage:{e}" for e in ingest(app, tenant_a, [passage_body("冀B12345") for _ in "ab"])}

    def relay_with(http: requests.Session) -> RelayCounts:
        with tenant_context(tenant_a.tenant_id), app.app_context():
            return relay(
                get_database(app).sessionmaker, breaker_redis, policy=POLICY, http=http, app=app
            )

    with requests.Session() as tampering:
        tampering.mount("http://", CorruptingAdapter())  # 冀B12345 → 冀B99999 after signing
        counts = relay_with(tampering)
    assert (counts.claimed, counts.rejected, counts.accepted, counts.retried) == (2, 2, 0, 0)
    rows = uploads(app, tenant_a)
    assert {r.key for r in rows} == keys
    for row in rows:
        assert (row.status, row.platform_code) == ("rejected", "40001")
        assert row.platform_message == "验签失败: 签名与内容不符"
        assert row.accepted_at is None
    stats = sim.stats()
    assert (stats["bad_signature"], stats["accepted"], stats["received"]) == (1, 0, 0)
    assert sim.receipts() == []
    # a rejection is the record's verdict, not a transport failure: the breaker stays closed
    assert Breaker(breaker_redis, POLICY, 60).state(sim.url, datetime.now(UTC)) == "closed"

    # 补传 through an honest transport: delivered once, unchanged
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        assert resend(session, [r.id for r in rows]) == 2
        session.commit()
    with requests.Session() as honest:
        assert relay_with(honest).accepted == 2
    assert {r.status for r in uploads(app, tenant_a)} == {"accepted"}
    receipts = sim.receipts("passage")
    assert sorted(r["key"] for r in receipts) == sorted(keys)
    assert {r["record"]["plateNo"] for r in receipts} == {"冀B12345"}
    assert sim.stats()["duplicates"] == 0
