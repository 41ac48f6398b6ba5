"""Alerts: which applies to a site at any moment, and the edges switching rules on them."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask

from edge_bridge import config as edge_config
from edge_bridge.daemon import Daemon
from edge_bridge.drivers.simulator import SimulatedCamera, SimulatedPlate
from saas.compliance import PlateColor, Verdict
from saas.db import get_database
from saas.models.alerts import Alert, SiteAlert
from saas.models.ledger import TransportVehicle
from saas.models.tenancy import Site
from saas.policy import alerts
from saas.tenancy import system_context, tenant_context
from tests.conftest import TenantFixture
from tests.edge_hub.harness import SIM_LANES, HubThread, make_box, until
from tests.ledger.edge_helpers import make_device

T0 = datetime(2026, 1, 12, 2, 0, tzinfo=UTC)  # 10:00 Beijing


def _site(app: Flask, tenant: TenantFixture, region: str, industry: str = "steel_long") -> Site:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        site.region_code, site.industry, site.rating = region, industry, "B"
        session.commit()
        return site


def _issue(app: Flask, **fields: object) -> Alert:
    with get_database(app).sessionmaker() as session:
        alert = alerts.issue(session, actor_label="ops@provider", **fields)  # type: ignore[arg-type]
        session.commit()
        alerts.notify(session, app.extensions["cleangate.redis"], alert)
        return alert


def _effective(app: Flask, tenant: TenantFixture, at: datetime) -> alerts.Effective | None:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        return alerts.effective_alert(session, site, at)


def _level(app: Flask, tenant: TenantFixture, at: datetime) -> str:
    found = _effective(app, tenant, at)
    return found.level if found else "none"


def test_a_city_alert_covers_its_districts_and_past_moments_are_answered(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    region = f"13{uuid.uuid4().int % 90 + 10:02d}03"  # a district of a fresh city
    city = region[:4] + "00"
    _site(app, tenant_a, region)
    _site(app, tenant_b, "120101")
    _issue(app, level="orange", region_code=city, starts_at=T0, ends_at=T0 + timedelta(days=2),
           notice="市重污染天气应急指挥部：启动橙色预警")  # fmt: skip
    hit = _effective(app, tenant_a, T0 + timedelta(hours=1))
    assert hit is not None
    assert (hit.level, hit.response, hit.source) == ("orange", "II", "regional")
    assert hit.headline == "当前重污染天气橙色预警，执行II级应急响应措施"
    assert _effective(app, tenant_a, T0 - timedelta(seconds=1)) is None  # before
    assert _effective(app, tenant_a, T0 + timedelta(days=2)) is None  # ended (end exclusive)
    assert _effective(app, tenant_b, T0 + timedelta(hours=1)) is None  # another province


def test_the_highest_level_wins_and_a_site_may_go_stricter(
    app: Flask, tenant_a: TenantFixture
) -> None:
    region = f"14{uuid.uuid4().int % 90 + 10:02d}05"
    _site(app, tenant_a, region)
    _issue(app, level="yellow", region_code=region[:2] + "0000", starts_at=T0)
    assert _level(app, tenant_a, T0) == "yellow"
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        session.add(
            SiteAlert(
                site_id=tenant_a.site_id,
                level="red",
                starts_at=T0 + timedelta(hours=2),
                ends_at=T0 + timedelta(hours=4),
                reason="企业自主提级",
            )
        )
        session.commit()
    stricter = _effective(app, tenant_a, T0 + timedelta(hours=3))
    assert stricter is not None
    assert (stricter.level, stricter.source) == ("red", "voluntary")
    assert _level(app, tenant_a, T0 + timedelta(hours=5)) == "yellow"


def test_a_feed_alert_for_one_site_and_an_ended_alert(app: Flask, tenant_a: TenantFixture) -> None:
    region = f"15{uuid.uuid4().int % 90 + 10:02d}01"
    _site(app, tenant_a, region)
    feed = _issue(app, level="red", site_id=tenant_a.site_id, starts_at=T0,
                  source="import:entrance_control", external_id=uuid.uuid4().hex,
                  measures="禁止国四及以下进入")  # fmt: skip
    found = _effective(app, tenant_a, T0)
    assert found is not None
    assert (found.notice, found.source) == ("禁止国四及以下进入", "site_feed")
    with get_database(app).sessionmaker() as session, system_context("test"):
        alert = session.get(Alert, feed.id)
        assert alert is not None
        alerts.end(session, alert, at=T0 + timedelta(hours=1))
        session.commit()
    assert _effective(app, tenant_a, T0 + timedelta(minutes=30)) is not None
    assert _effective(app, tenant_a, T0 + timedelta(hours=2)) is None


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"level": "purple", "region_code": "130200"}, "level"),
        ({"level": "red", "region_code": "13020"}, "region_code"),
        ({"level": "red", "region_code": "130200", "ends_at": T0}, "ends_at"),
        ({"level": "red"}, "region_code"),
    ],
)
def test_bad_alerts_name_the_field_and_write_nothing(
    app: Flask, fields: dict[str, object], named: str
) -> None:
    with get_database(app).sessionmaker() as session:
        with pytest.raises(alerts.AlertError) as error:
            alerts.issue(session, starts_at=T0, **fields)  # type: ignore[arg-type]
        assert named in error.value.fields
        session.rollback()


CN4_TRUCK = SimulatedPlate("ordinary_yellow", "冀B44444", PlateColor.YELLOW)


def _register_cn4_truck(app: Flask, tenant: TenantFixture) -> None:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        session.add(
            TransportVehicle(
                site_id=tenant.site_id,
                plate="冀B44444",
                plate_color="yellow",
                vehicle_type="H11",  # 重型普通货车
                fuel_type="diesel",
                emission_stage="cn4",
                registration_date=date(2014, 5, 1),
            )
        )
        session.commit()


@pytest.mark.timeout(300)
def test_an_orange_city_alert_switches_the_affected_gates_only(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture, tmp_path: Path
) -> None:
    region = f"13{uuid.uuid4().int % 90 + 10:02d}03"
    _site(app, tenant_a, region)
    _site(app, tenant_b, "120101")
    for tenant in (tenant_a, tenant_b):
        _register_cn4_truck(app, tenant)
    boxes = {}
    with HubThread(app) as hub:
        for name, tenant in (("affected", tenant_a), ("other", tenant_b)):
            device = make_device(app, tenant.tenant_id, tenant.site_id)
            boxes[name] = make_box(tmp_path / name, device, hub.url, SIM_LANES)

        async def scenario() -> None:
            daemons = {n: Daemon(edge_config.load(b.config_path)) for n, b in boxes.items()}
            for daemon in daemons.values():
                await daemon.start()
            try:
                for daemon in daemons.values():
                    await daemon.supervisor.wait_started(5)
                    await until(lambda d=daemon: d.state.online and d.snapshot.synced)

                async def verdict(name: str) -> Verdict:
                    camera = daemons[name].supervisor._entries["simulator:CAM-IN"].device
                    assert isinstance(camera, SimulatedCamera)
                    decision = await camera.emit(CN4_TRUCK)
                    assert decision is not None
                    return decision.verdict

                await until(
                    lambda: all("冀B44444" in d.snapshot.site.registry for d in daemons.values())
                )
                assert await verdict("affected") is Verdict.ALLOW  # ordinary day: B-rated steel
                before = {n: d.snapshot.version for n, d in daemons.items()}

                issued = time.monotonic()
                alert = await asyncio.to_thread(
                    _issue, app, level="orange", region_code=region[:4] + "00",
                    starts_at=datetime.now(UTC) - timedelta(seconds=1),
                )  # fmt: skip
                await until(lambda: daemons["affected"].snapshot.version != before["affected"])
                assert time.monotonic() - issued < 60
                assert daemons["affected"].state.alert_level == "orange"
                assert await verdict("affected") is Verdict.DENY  # 国四 heavy diesel refused
                assert daemons["other"].snapshot.version == before["other"]
                assert await verdict("other") is Verdict.ALLOW

                def end_it() -> None:
                    with get_database(app).sessionmaker() as session, system_context("test"):
                        row = session.get(Alert, alert.id)
                        assert row is not None
                        alerts.end(session, row)
                        session.commit()
                        alerts.notify(session, app.extensions["cleangate.redis"], row)

                changed = daemons["affected"].snapshot.version
                await asyncio.to_thread(end_it)
                await until(lambda: daemons["affected"].snapshot.version != changed)
                assert await verdict("affected") is Verdict.ALLOW  # ordinary rules restored
            finally:
                for daemon in daemons.values():
                    await daemon.stop()

        asyncio.run(scenario())
