"""The emergency execution record: episodes merged from alert windows, passages counted by
stage × fuel × final outcome, manual releases flagged as violations from the decision's reason
codes, production measures checked off, xlsx and PDF for inspectors — on SQLite and PostgreSQL,
with a second tenant holding the same plates."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import func, select

from saas.compliance import (
    AlertLevel,
    DecisionContext,
    Direction,
    EmissionStage,
    FuelType,
    GateEvent,
    decide,
    vehicle_type_from_code,
)
from saas.compliance.decision import VehicleFacts
from saas.compliance.plan import PLAN_TEMPLATES
from saas.db import get_database
from saas.models.alerts import SiteAlert
from saas.models.identity import AuditEvent, Role
from saas.models.plans import MeasureCheck, SitePlan
from saas.models.tenancy import Site
from saas.policy import alerts, execution, plans
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture, api_csrf, login, make_user
from tests.ledger.edge_helpers import Device, make_device, post_batch

BEIJING = ZoneInfo("Asia/Shanghai")
POLICY = PLAN_TEMPLATES["steel_b"].plan.policy
STOP_SAWS = {"kind": "stop", "process": "推台锯", "units_stopped": 2, "units_total": 4}


# --- building a site, its alerts, its plan and its passages ----------------------------------


def prepare_site(app: Flask, tenant: TenantFixture) -> None:
    """A B-rated long-process steel plant in a fresh city (a province no other test uses, so
    regional alerts of other tests never reach it): the steel_b template applies
    (orange: 国四 and below heavy trucks refused)."""
    region = f"54{uuid.uuid4().int % 90 + 10:02d}02"
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        site.industry, site.rating, site.region_code = "steel_long", "B", region
        site.contact_name, site.contact_phone = "王五", "13800001234"
        session.commit()


def site_alert(app: Flask, tenant: TenantFixture, level: str, start: datetime,
               end: datetime | None) -> None:  # fmt: skip
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        session.add(SiteAlert(site_id=tenant.site_id, level=level, starts_at=start, ends_at=end,
                              reason="测试预警"))  # fmt: skip
        session.commit()


def feed_alert(app: Flask, tenant: TenantFixture, level: str, start: datetime,
               end: datetime | None) -> None:  # fmt: skip
    """An alert a regulator feed addressed to this site (provider data, no tenant)."""
    with get_database(app).sessionmaker() as session:
        alerts.issue(session, level=level, starts_at=start, ends_at=end, site_id=tenant.site_id,
                     source="import:entrance_control", external_id=uuid.uuid4().hex,
                     actor_label="test feed")  # fmt: skip
        session.commit()


def approve_plan(
    app: Flask,
    tenant: TenantFixture,
    *,
    production: dict[str, list[dict[str, Any]]] | None = None,
    approved_at: datetime | None = None,
) -> uuid.UUID:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        row = plans.create_draft(session, site, actor_id=tenant.admin_id, template="steel_b")
        changes: dict[str, Any] = {"responsible_name": "李四", "responsible_phone": "13700005678"}
        if production is not None:
            changes["document"] = {**row.document, "production": production}
        plans.update_draft(session, row, changes, actor_id=tenant.admin_id)
        plans.approve(session, row, actor_id=tenant.admin_id)
        if approved_at is not None:
            row.approved_at = approved_at
        session.commit()
        return row.id


def gate_passage(
    plate: str,
    at: datetime,
    *,
    stage: str,
    fuel: str = "diesel",
    level: str = "orange",
    direction: str = "in",
    confidence: float = 0.96,
) -> dict[str, Any]:
    """What the edge sends for a camera read: decided by ``saas.compliance.decide`` on the
    steel_b policy, like ``edge_bridge.lanes.Lane.judge``."""
    decision = decide(
        GateEvent(plate_text=plate, time=at, color="yellow", confidence=confidence,
                  direction=Direction(direction)),
        VehicleFacts(vehicle_type=vehicle_type_from_code("H11"), fuel=FuelType(fuel),
                     stage=EmissionStage(stage)),
        DecisionContext(policy=POLICY, time=at, alert_level=AlertLevel(level)),
    )  # fmt: skip
    return {
        "event_id": str(uuid.uuid4()),
        "captured_at": at.isoformat(),
        "gate": "1",
        "lane": "01",
        "direction": direction,
        "plate_text": plate,
        "plate_color": "yellow",
        "confidence": confidence,
        "vehicle": {
            "registered": True,
            "vehicle_type": "H11",
            "fuel_type": fuel,
            "emission_stage": decision.stage.value if decision.stage else None,
        },
        "decision": {
            "verdict": decision.verdict.value.upper(),
            "reasons": list(decision.reasons),
            "matched_rules": list(decision.matched_rules),
            "policy_version": decision.policy_version or None,
            "alert_level": decision.alert_level.value,
            "display": list(decision.display),
            "barrier_opened": decision.verdict.value == "allow",
        },
    }


def gate_release(original: dict[str, Any], at: datetime, operator: str, reason: str,
                 **read: Any) -> dict[str, Any]:  # fmt: skip
    """The guard's release at the box, as ``Lane.release`` records it: the plate judged again,
    verdict forced to ALLOW, ``manual_release`` appended, ``manual`` naming the passage."""
    body = gate_passage(original["plate_text"], at, **read)
    body["confidence"] = 1.0
    body["decision"]["verdict"] = "ALLOW"
    body["decision"]["reasons"] = [*body["decision"]["reasons"], "manual_release"]
    body["manual"] = {"action": "release", "operator": operator, "reason": reason,
                      "amends_event_id": original["event_id"]}  # fmt: skip
    return body


def ingest(app: Flask, device: Device, items: list[dict[str, Any]]) -> None:
    response = post_batch(app.test_client(), device, items)
    assert response.status_code == 200, response.get_json()
    assert {a["status"] for a in response.get_json()["acks"]} == {"stored"}


def api_client(app: Flask, username: str) -> tuple[FlaskClient, dict[str, str]]:
    client = app.test_client()
    assert login(client, username) == 302
    return client, {"X-CSRFToken": api_csrf(client)}


def release_from_portal(client: FlaskClient, headers: dict[str, str], event_id: str,
                        reason: str) -> None:  # fmt: skip
    response = client.post(f"/api/v1/passages/{event_id}/release", json={"reason": reason},
                           headers=headers)  # fmt: skip
    assert response.status_code == 201, response.get_json()


@dataclass
class Scenario:
    tenant: TenantFixture
    now: datetime
    start: datetime  # the episode's true start (the adjacent yellow window)
    end: datetime
    earlier_start: datetime
    plan_id: uuid.UUID | None
    plates: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return execution.episode_key(self.start)

    @property
    def base(self) -> str:
        return f"/api/v1/sites/{self.tenant.site_id}/alert-episodes"


def build_scenario(app: Flask, tenant: TenantFixture, *, with_plan: bool = True) -> Scenario:
    """One episode: yellow (voluntary) → orange (regulator feed) → red (voluntary) → orange,
    scheduled to end in 2 h; an earlier yellow episode; passages in, between and after."""
    prepare_site(app, tenant)
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now - timedelta(hours=14), now + timedelta(hours=2)
    site_alert(app, tenant, "yellow", start, now - timedelta(hours=10))  # adjacent: one episode
    feed_alert(app, tenant, "orange", now - timedelta(hours=10), end)
    site_alert(app, tenant, "red", now - timedelta(hours=6), now - timedelta(hours=4))
    earlier = now - timedelta(hours=40)
    site_alert(app, tenant, "yellow", earlier, now - timedelta(hours=30))
    plan_id = approve_plan(app, tenant) if with_plan else None  # approved during the episode

    device = make_device(app, tenant.tenant_id, tenant.site_id)
    t = now - timedelta(hours=3)
    cn4 = gate_passage("冀B44444", t, stage="cn4")  # refused at orange, released by the guard
    cn4_release = gate_release(cn4, t + timedelta(minutes=1), "门岗张三", "领导电话同意放行",
                               stage="cn4")  # fmt: skip
    cn6 = gate_passage("冀B66666", t + timedelta(minutes=5), stage="cn6a")
    blurry = gate_passage("冀B66667", t + timedelta(minutes=6), stage="cn6a", confidence=0.5)
    gas = gate_passage("冀B55555", t + timedelta(minutes=7), stage="cn5", fuel="natural_gas")
    refused = gate_passage("冀B44445", t + timedelta(minutes=8), stage="cn4")
    portal_cn4 = gate_passage("冀B44446", t + timedelta(minutes=9), stage="cn4")
    leaving = gate_passage("冀B44444", t + timedelta(hours=2), stage="cn4", direction="out")
    between = gate_passage("冀B33333", now - timedelta(hours=20), stage="cn4", level="none")
    assert (cn4["decision"]["verdict"], blurry["decision"]["verdict"]) == ("DENY", "REVIEW")
    assert "stage_below_minimum" in cn4["decision"]["reasons"]
    assert "stage_below_minimum" not in blurry["decision"]["reasons"]
    ingest(app, device, [cn4, cn4_release, cn6, blurry, gas, refused, portal_cn4, leaving, between])

    client, headers = api_client(app, tenant.admin_username)
    release_from_portal(client, headers, blurry["event_id"], "人工核验为国六车辆，车牌污损")
    release_from_portal(client, headers, portal_cn4["event_id"], "<b>急需</b>原料")
    plates = {"cn4": cn4["event_id"], "blurry": blurry["event_id"]}
    return Scenario(tenant, now, start, end, earlier, plan_id, plates)


def _rows(app: Flask, tenant: TenantFixture, model: Any) -> int:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# --- episodes --------------------------------------------------------------------------------


def test_episodes_merge_adjacent_windows_and_follow_their_true_bounds(
    app: Flask, tenant_a: TenantFixture
) -> None:
    prepare_site(app, tenant_a)
    t0 = datetime(2025, 12, 1, tzinfo=UTC)
    site_alert(app, tenant_a, "yellow", t0, t0 + timedelta(hours=10))
    site_alert(app, tenant_a, "orange", t0 + timedelta(hours=10), t0 + timedelta(hours=30))
    site_alert(app, tenant_a, "red", t0 + timedelta(hours=12), t0 + timedelta(hours=20))
    site_alert(app, tenant_a, "yellow", t0 + timedelta(hours=25), t0 + timedelta(hours=40))
    site_alert(app, tenant_a, "orange", t0 + timedelta(days=5), None)  # still running
    # An episode reaching back 40 days before the range asked for (two lookaround steps).
    long_start = t0 - timedelta(days=80)
    site_alert(app, tenant_a, "yellow", long_start, t0 - timedelta(days=20))
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant_a.site_id)
        assert site is not None
        found = execution.episodes(session, site, t0 - timedelta(days=30), t0 + timedelta(days=6))
        assert [(e.starts_at, e.ends_at, e.level) for e in found] == [
            (long_start, t0 - timedelta(days=20), "yellow"),
            (t0, t0 + timedelta(hours=40), "red"),
            (t0 + timedelta(days=5), None, "orange"),
        ]
        merged = found[1]
        assert [(s.level, s.starts_at, s.ends_at) for s in merged.segments] == [
            ("yellow", t0, t0 + timedelta(hours=10)),
            ("orange", t0 + timedelta(hours=10), t0 + timedelta(hours=12)),
            ("red", t0 + timedelta(hours=12), t0 + timedelta(hours=20)),
            ("orange", t0 + timedelta(hours=20), t0 + timedelta(hours=30)),
            ("yellow", t0 + timedelta(hours=30), t0 + timedelta(hours=40)),
        ]
        assert merged.levels == ("yellow", "orange", "red")
        # Asked from the middle, the episode keeps its true start (its key).
        inner = execution.episodes(
            session, site, t0 + timedelta(hours=15), t0 + timedelta(hours=16)
        )
        assert [(e.starts_at, e.ends_at) for e in inner] == [(t0, t0 + timedelta(hours=40))]
        assert execution.find_episode(session, site, t0).key == "2025-12-01T00:00:00Z"
        with pytest.raises(execution.NotFound):
            execution.find_episode(session, site, t0 + timedelta(hours=1))  # not a start
        assert found[2].ongoing(t0 + timedelta(days=6))
        with pytest.raises(ValueError, match="timezone-aware"):
            execution.episodes(session, site, t0, t0)


# --- the record ------------------------------------------------------------------------------


def test_record_counts_outcomes_and_flags_releases_below_the_required_stage(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    a = build_scenario(app, tenant_a)
    b = build_scenario(app, tenant_b)  # same plates, same times, its own ledger
    client, _ = api_client(app, tenant_a.admin_username)

    listed = client.get(a.base)
    assert listed.status_code == 200, listed.get_json()
    items = listed.get_json()["items"]
    assert [i["key"] for i in items] == [a.key, execution.episode_key(a.earlier_start)]
    current = items[0]
    assert (current["level"], current["response"], current["ongoing"]) == ("red", "I", True)
    assert [s["level"] for s in current["segments"]] == ["yellow", "orange", "red", "orange"]
    assert current["ends_at"].startswith(a.end.strftime("%Y-%m-%dT%H:%M:%S"))

    got = client.get(current["record_url"])
    assert got.status_code == 200, got.get_json()
    rec = got.get_json()
    assert rec["site"]["enterprise"] == "a 集团"
    assert (rec["plan"]["version"], rec["plan"]["responsible_name"]) == (1, "李四")
    rows = {(r["direction"], r["stage"], r["fuel"]): r for r in rec["vehicles"]["rows"]}
    pick = ("admitted", "released", "refused", "review", "total")
    assert {k: tuple(v[f] for f in pick) for k, v in rows.items()} == {
        # 冀B44444 released at the gate, 冀B44446 from the portal, 冀B44445 refused; the
        # gate's release record is not a second passage.
        ("in", "cn4", "diesel"): (2, 2, 1, 0, 3),
        # 冀B66666 admitted; 冀B66667 held for review (low confidence), then released
        ("in", "cn6a", "diesel"): (2, 1, 0, 0, 2),
        ("in", "cn5", "natural_gas"): (1, 0, 0, 0, 1),
        ("out", "cn4", "diesel"): (1, 0, 0, 0, 1),
    }  # 冀B33333, between the episodes, is not counted
    assert rows[("in", "cn4", "diesel")]["stage_zh"] == "国四"
    assert tuple(rec["vehicles"]["entries"][f] for f in pick) == (5, 3, 1, 0, 6)

    releases = {r["plate"]: r for r in rec["manual_releases"]}
    assert set(releases) == {"冀B44444", "冀B66667", "冀B44446"}
    assert rec["violations"] == 2
    gate = releases["冀B44444"]
    assert (gate["source"], gate["operator"], gate["reason"], gate["violation"]) == (
        "release", "门岗张三", "领导电话同意放行", True,
    )  # fmt: skip
    assert (gate["automatic_verdict"], gate["stage"], gate["passage_event_id"]) == (
        "DENY", "cn4", a.plates["cn4"],
    )  # fmt: skip
    assert gate["decision_text"] == "不符合国V及以上标准"
    assert "stage_below_minimum" in gate["reasons"]
    portal = releases["冀B44446"]
    assert (portal["source"], portal["operator"], portal["violation"]) == (
        "portal", tenant_a.admin_username, True,
    )  # fmt: skip
    compliant = releases["冀B66667"]
    assert (compliant["automatic_verdict"], compliant["violation"]) == ("REVIEW", False)
    assert compliant["reasons"] == ["low_confidence"]

    # Production measures: steel_b's orange and red lists; nothing checked yet.
    orange = [m for m in rec["measures"] if m["level"] == "orange"]
    assert [m["text"] for m in orange][:2] == ["烧结机停产", "球团生产线停产"]
    late = orange[-1]
    assert late["after_hours"] == 120
    assert late["due_at"] is not None
    assert not any(m["checked"] for m in rec["measures"])
    assert {m["level"] for m in rec["measures"]} == {"orange", "red"}  # yellow has none

    # Tenant B sees its own record only; A's episode and events are not in it.
    b_client, _ = api_client(app, tenant_b.admin_username)
    b_rec = b_client.get(f"{b.base}/{b.key}").get_json()
    assert a.plates["cn4"] not in str(b_rec)
    assert b_rec["violations"] == 2
    assert b_client.get(f"{a.base}").status_code == 404
    assert b_client.get(f"{a.base}/{a.key}").status_code == 404
    assert b_client.get(f"{a.base}/{a.key}/export?format=pdf").status_code == 404


def test_episode_list_and_record_inputs(app: Flask, tenant_a: TenantFixture) -> None:
    a = build_scenario(app, tenant_a, with_plan=False)
    client, _ = api_client(app, tenant_a.admin_username)
    bad_from = client.get(f"{a.base}?from=yesterday")
    assert bad_from.status_code == 422
    assert set(bad_from.get_json()["error"]["details"]["fields"]) == {"from"}
    naive = client.get(f"{a.base}?to=2025-01-01T00:00:00")
    assert naive.get_json()["error"]["details"]["fields"].keys() == {"to"}
    backwards = client.get(f"{a.base}?from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z")
    assert backwards.status_code == 422
    window = client.get(
        f"{a.base}?from={(a.now - timedelta(hours=20)).isoformat().replace('+00:00', 'Z')}"
    ).get_json()
    assert [i["key"] for i in window["items"]] == [a.key]
    assert client.get(f"{a.base}/not-a-time").get_json()["error"]["details"]["fields"] == {
        "episode_start": "预警过程开始时间，ISO 8601 带时区，如 2025-01-10T00:00:00Z"
    }
    inside = execution.episode_key(a.start + timedelta(hours=1))
    assert client.get(f"{a.base}/{inside}").status_code == 404  # not an episode's start
    offset = a.start.astimezone(BEIJING).isoformat()  # the same moment, Beijing offset
    assert client.get(f"{a.base}/{offset.replace('+', '%2B')}").status_code == 200
    bad = client.get(f"{a.base}/{a.key}/export?format=docx")
    assert bad.status_code == 422
    assert bad.get_json()["error"]["details"]["fields"] == {"format": "xlsx 或 pdf"}
    # Without an approved plan the template's measures show and are checked off as such.
    rec = client.get(f"{a.base}/{a.key}").get_json()
    assert rec["plan"]["id"] is None
    assert rec["plan"]["template"] == "steel_b"
    assert rec["measures"][0]["text"] == "烧结机停产"
    refused = client.post(
        f"{a.base}/{a.key}/measure-checks",
        json={"level": "orange", "measure_index": 0,
              "done_at": (a.now - timedelta(hours=5)).isoformat()},
        headers={"X-CSRFToken": api_csrf(client)},
    )  # fmt: skip
    assert refused.status_code == 201, refused.get_json()
    assert refused.get_json()["measure_text"] == "烧结机停产"
    assert _rows(app, tenant_a, MeasureCheck) == 1


def test_a_gate_release_without_its_passage_in_the_episode_counts_as_the_passage(
    app: Flask, tenant_a: TenantFixture
) -> None:
    prepare_site(app, tenant_a)
    now = datetime.now(UTC).replace(microsecond=0)
    site_alert(app, tenant_a, "orange", now - timedelta(hours=2), None)
    before = gate_passage("冀B44444", now - timedelta(hours=3), stage="cn4", level="none")
    release = gate_release(before, now - timedelta(hours=1), "门岗李四", "预警前已到厂，补放行",
                           stage="cn4")  # fmt: skip
    orphan = gate_release({**before, "event_id": str(uuid.uuid4())}, now - timedelta(minutes=30),
                          "门岗李四", "原记录缺失", stage="cn4")  # fmt: skip
    ingest(app, make_device(app, tenant_a.tenant_id, tenant_a.site_id), [before, release, orphan])
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant_a.site_id)
        assert site is not None
        (episode,) = execution.episodes(session, site, now - timedelta(days=1), now)
        assert episode.ends_at is None
        rec = execution.record(session, site, episode)
        assert [(c.direction, c.stage, c.admitted, c.released, c.refused, c.total)
                for c in rec.counts] == [("in", "cn4", 2, 2, 0, 2)]  # fmt: skip
        by_reason = {r.reason: r for r in rec.releases}
        # The released passage (before the alert, an ordinary day: allowed) is outside.
        known = by_reason["预警前已到厂，补放行"]
        assert (known.automatic_verdict, known.violation) == ("ALLOW", True)
        missing = by_reason["原记录缺失"]
        assert (missing.automatic_verdict, missing.passage_event_id) == (None, None)
        assert missing.violation  # re-judged at orange: below 国五


# --- checking off measures -------------------------------------------------------------------


def test_check_measures_validation_duplicates_permissions_and_isolation(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    a = build_scenario(app, tenant_a)
    prepare_site(app, tenant_b)
    client, headers = api_client(app, tenant_a.admin_username)
    url = f"{a.base}/{a.key}/measure-checks"
    done = a.now - timedelta(hours=5)

    def post(c: FlaskClient, h: dict[str, str], **body: Any) -> Any:
        return c.post(url, json=body, headers=h)

    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"level": "purple", "measure_index": 0, "done_at": done.isoformat()}, {"level"}),
        ({"level": "orange", "measure_index": 99, "done_at": done.isoformat()},
         {"measure_index"}),
        ({"level": "yellow", "measure_index": 0, "done_at": done.isoformat()},
         {"measure_index"}),  # the plan has no yellow production measure
        ({"level": "orange", "measure_index": 0,
          "done_at": (a.now + timedelta(hours=1)).isoformat()}, {"done_at"}),  # future
        ({"level": "orange", "measure_index": 0,
          "done_at": (a.start - timedelta(minutes=1)).isoformat()}, {"done_at"}),  # before
        ({"level": "orange", "measure_index": 0, "done_at": "2025-01-01T08:00:00"},
         {"done_at"}),  # no time zone
        ({"level": "orange", "measure_index": 0, "done_at": done.isoformat(),
          "note": "x" * 301}, {"note"}),
        ({"level": "orange", "measure_index": -1, "done_at": done.isoformat()},
         {"measure_index"}),
        ({"level": "purple", "measure_index": 99, "done_at": (a.now + timedelta(days=1))
          .isoformat()}, {"level", "done_at"}),  # every bad field at once
    ]  # fmt: skip
    for body, named in cases:
        response = post(client, headers, **body)
        assert response.status_code == 422, (body, response.get_json())
        assert set(response.get_json()["error"]["details"]["fields"]) == named, body
    assert _rows(app, tenant_a, MeasureCheck) == 0

    # Tenant B: A's site answers like a missing one, for reading and checking alike.
    b_client, b_headers = api_client(app, tenant_b.admin_username)
    ok_body = {"level": "orange", "measure_index": 0, "done_at": done.isoformat()}
    assert post(b_client, b_headers, **ok_body).status_code == 404
    # A viewer may read but not check off; a guard neither checks.
    viewer = make_user(app, Role.VIEWER, tenant_a.tenant_id)
    v_client, v_headers = api_client(app, viewer.username)
    assert v_client.get(f"{a.base}/{a.key}").status_code == 200
    assert post(v_client, v_headers, **ok_body).status_code == 403
    assert _rows(app, tenant_a, MeasureCheck) == 0

    created = post(client, headers, note="烧结机已于凌晨停机", checked_by_name="车间主任赵六",
                   **ok_body)  # fmt: skip
    assert created.status_code == 201, created.get_json()
    check = created.get_json()
    assert (check["measure_text"], check["checked_by_name"]) == ("烧结机停产", "车间主任赵六")
    assert check["plan_id"] == str(a.plan_id)
    again = post(client, headers, **ok_body)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "measure_already_checked"
    red = post(client, headers, level="red", measure_index=2, done_at=done.isoformat())
    assert red.status_code == 201  # the same measure at another level is another line
    assert red.get_json()["checked_by_name"] == "a 集团管理员"  # default: the user

    rec = client.get(f"{a.base}/{a.key}").get_json()
    checked = [(m["level"], m["index"], m["check"]["checked_by_name"]) for m in rec["measures"]
               if m["checked"]]  # fmt: skip
    assert checked == [("orange", 0, "车间主任赵六"), ("red", 2, "a 集团管理员")]
    first = next(m for m in rec["measures"] if m["checked"])
    assert datetime.fromisoformat(first["check"]["done_at"]) == done
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.event == "measure.check").order_by(AuditEvent.id)
        ).all()
        assert [(e.details["level"], e.details["measure_index"]) for e in events] == [
            ("orange", 0), ("red", 2),
        ]  # fmt: skip
        assert events[0].details["episode_start"] == a.key


def test_a_past_episode_shows_the_plan_version_in_force_when_it_began(
    app: Flask, tenant_a: TenantFixture
) -> None:
    prepare_site(app, tenant_a)
    now = datetime.now(UTC).replace(microsecond=0)
    v1 = approve_plan(app, tenant_a, production={"orange": [STOP_SAWS]},
                      approved_at=now - timedelta(days=10))  # fmt: skip
    start = now - timedelta(days=3)
    site_alert(app, tenant_a, "orange", start, start + timedelta(hours=8))
    approve_plan(app, tenant_a)  # v2, approved after the episode
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant_a.site_id)
        assert site is not None
        episode = execution.find_episode(session, site, start)
        rec = execution.record(session, site, episode)
        assert (rec.plan_id, rec.plan_version) == (v1, 1)
        assert [m.text for m in rec.measures] == ["停推台锯2台（共4台）"]
        assert session.get(SitePlan, v1) is not None
        principal = _principal(tenant_a)
        check = execution.check_measure(session, site, start, "orange", 0,
                                        start + timedelta(hours=1), principal, "已停")  # fmt: skip
        assert (check.plan_id, check.measure_text) == (v1, "停推台锯2台（共4台）")
        session.commit()


def _principal(tenant: TenantFixture) -> Any:
    from saas.auth.permissions import permissions_for
    from saas.auth.principal import Principal

    return Principal(
        user_id=tenant.admin_id,
        username=tenant.admin_username,
        display_name="管理员",
        role=Role.TENANT_ADMIN.value,
        tenant_id=tenant.tenant_id,
        via="session",
        permissions=permissions_for(Role.TENANT_ADMIN.value),
    )


# --- files for inspectors --------------------------------------------------------------------


def test_xlsx_and_pdf_carry_the_figures_plates_and_check_offs(
    app: Flask, tenant_a: TenantFixture
) -> None:
    a = build_scenario(app, tenant_a)
    client, headers = api_client(app, tenant_a.admin_username)
    done = a.now - timedelta(hours=5, minutes=30)
    created = client.post(f"{a.base}/{a.key}/measure-checks", headers=headers,
                          json={"level": "orange", "measure_index": 1, "done_at": done.isoformat(),
                                "note": "=HYPERLINK(\"http://x\")"})  # fmt: skip
    assert created.status_code == 201

    response = client.get(f"{a.base}/{a.key}/export?format=xlsx")
    assert response.status_code == 200
    assert response.mimetype == execution.XLSX_MIME
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["概况", "车辆统计", "人工放行", "生产措施"]
    overview = {r[0]: r[1] for r in book["概况"].iter_rows(min_row=3, values_only=True) if r[0]}
    assert overview["企业名称"] == "a 集团"
    assert overview["最高预警级别"] == "红色预警（I级响应）"
    assert overview["一厂一策方案"].startswith("第1版")
    assert overview["人工放行"] == "3 次，其中违规 2 次"
    assert overview["措施落实负责人"] == "李四"

    counts = list(book["车辆统计"].iter_rows(values_only=True))
    assert counts[0] == execution.COUNT_HEADERS
    assert ("进厂", "国四", "柴油", 2, 2, 1, 0, 3) in counts
    assert ("进厂合计", None, None, 5, 3, 1, 0, 6) in counts

    sheet = book["人工放行"]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    by_plate = {r[1]: r for r in rows}
    assert by_plate["冀B44444"][12] == "是"
    assert by_plate["冀B66667"][12] == "否"
    assert by_plate["冀B44444"][9] == "门岗张三"
    assert by_plate["冀B44446"][10] == "<b>急需</b>原料"
    for line, row in enumerate(rows, start=2):
        fill = sheet.cell(line, 2).fill.fgColor.rgb
        assert (fill == "FFF8D7DA") is (row[12] == "是")  # violations highlighted

    measures = list(book["生产措施"].iter_rows(min_row=2, values_only=True))
    checked = next(r for r in measures if r[3] == "已落实")
    assert checked[:3] == ("橙色", 2, "球团生产线停产")
    assert checked[4] == done.astimezone(BEIJING).replace(tzinfo=None)  # Beijing wall time
    assert checked[6] == '\'=HYPERLINK("http://x")'  # never a formula

    pdf = client.get(f"{a.base}/{a.key}/export?format=pdf")
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "重污染天气应急响应执行记录" in text
    for expected in ("冀B44444", "冀B44446", "冀B66667", "门岗张三", "球团生产线停产",
                     "已落实 1 / 12", "违规 2 次", "<b>急需</b>原料",
                     done.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")):  # fmt: skip
        assert expected in text, expected
    assert f"第 1 页 / 共 {len(reader.pages)} 页" in text
    assert "生成时间" in text
