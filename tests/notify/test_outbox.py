"""Alert notices are outbox rows written in the alert's own transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from saas.db import get_database
from saas.models.alerts import Alert
from saas.models.outbox import OutboxMessage
from saas.models.tenancy import Site
from saas.notify import queue_alert_notices
from saas.notify.alerts import compose
from saas.policy import alerts
from saas.tenancy import system_context, tenant_context
from tests.conftest import TenantFixture
from tests.notify.conftest import (
    add_contact,
    fresh_region,
    issue_for_site,
    outbox_rows,
    place_site,
)

OPENID = "oAbCdEfGhIjKlMnOpQrStUvWx01"
FUTURE = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)


def _contacts(app: Flask, tenant: TenantFixture) -> dict[str, object]:
    return {
        "all": add_contact(
            app,
            tenant,
            name="张主任",
            phone="+86 138-0013-8000",
            email="zhang@example.cn",
            wechat_openid=OPENID,
            notify_wechat=True,
            notify_email=True,
        ),
        "sms": add_contact(app, tenant, name="李工", phone="13900139000"),
        "inactive": add_contact(app, tenant, name="王工", phone="13700137000", active=False),
        "email_only": add_contact(
            app, tenant, name="赵工", email="zhao@example.cn", notify_sms=False, notify_email=True
        ),
    }


def _count(app: Flask, tenant: TenantFixture) -> int:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def test_rows_are_written_in_the_alert_transaction_and_vanish_with_its_rollback(
    app: Flask, tenant_a: TenantFixture
) -> None:
    ids = _contacts(app, tenant_a)
    with get_database(app).sessionmaker() as session:
        alert = alerts.issue(
            session,
            level="orange",
            starts_at=FUTURE,
            site_id=tenant_a.site_id,
            source="import:test",
            external_id=f"rollback-{ids['all']}",
        )
        with system_context("test: inside the open transaction"):
            pending = session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.tenant_id == tenant_a.tenant_id)
            )
        assert pending == 5  # all: sms+wechat+email, sms: sms, email_only: email; inactive: none
        session.rollback()
    assert _count(app, tenant_a) == 0
    with get_database(app).sessionmaker() as session, system_context("test"):
        assert session.get(Alert, alert.id) is None  # the cause is gone with its messages


def test_one_row_per_active_contact_and_enabled_channel_with_chinese_text(
    app: Flask, tenant_a: TenantFixture
) -> None:
    place_site(app, tenant_a, fresh_region(), name="唐山钢铁")
    ids = _contacts(app, tenant_a)
    starts = datetime(2027, 1, 12, 2, 0, tzinfo=UTC)  # 10:00 Beijing
    alert = issue_for_site(app, tenant_a, starts_at=starts)
    rows = outbox_rows(app, tenant_a)
    got = sorted((str(r.contact_id), r.channel, r.recipient) for r in rows)
    assert got == sorted(
        [
            (str(ids["all"]), "sms", "13800138000"),  # +86 and dashes normalised
            (str(ids["all"]), "wechat", OPENID),
            (str(ids["all"]), "email", "zhang@example.cn"),
            (str(ids["sms"]), "sms", "13900139000"),
            (str(ids["email_only"]), "email", "zhao@example.cn"),
        ]
    )
    row = next(r for r in rows if r.channel == "sms" and r.contact_id == ids["sms"])
    assert row.tenant_id == tenant_a.tenant_id
    assert row.site_id == tenant_a.site_id
    assert (row.status, row.attempts, row.template) == ("pending", 0, "alert_started")
    assert row.idempotency_key == (f"alert:{alert.id}:{tenant_a.site_id}:started:{ids['sms']}:sms")
    assert row.payload["text"] == (
        "【CleanGate】唐山钢铁：当前重污染天气橙色预警，执行II级应急响应措施，"
        "2027-01-12 10:00起。请按一厂一策落实。"
    )
    assert row.payload["values"] == {
        "site": "唐山钢铁",
        "level": "橙色",
        "response": "II",
        "start": "2027-01-12 10:00",
        "end": "另行通知",
        "time": "2027-01-12 10:00",
        "summary": "执行II级应急响应措施",
    }
    assert row.subject == "唐山钢铁：重污染天气橙色预警（II级应急响应）"


def test_queueing_the_same_notice_twice_writes_one_row(app: Flask, tenant_a: TenantFixture) -> None:
    add_contact(app, tenant_a, phone="13800138001")
    alert = issue_for_site(app, tenant_a, starts_at=FUTURE)
    assert _count(app, tenant_a) == 1
    with get_database(app).sessionmaker() as session, system_context("test: repeat"):
        site = session.get(Site, tenant_a.site_id)
        assert site is not None
        again = queue_alert_notices(
            session, site, event="started", alert_id=alert.id, level="orange",
            headline="当前重污染天气橙色预警，执行II级应急响应措施",
            starts_at=FUTURE, ends_at=None,
        )  # fmt: skip
        session.commit()
    assert again == 0
    assert _count(app, tenant_a) == 1


def test_a_regional_alert_reaches_every_covered_tenant_under_its_own_tenant(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    region = fresh_region("14")
    place_site(app, tenant_a, region)
    place_site(app, tenant_b, region[:4] + "99")  # another district of the same city
    add_contact(app, tenant_a, phone="13800138002")
    add_contact(app, tenant_b, phone="13800138002")  # the same person at both plants
    with get_database(app).sessionmaker() as session:
        alerts.issue(session, level="red", region_code=region[:4] + "00", starts_at=FUTURE)
        session.commit()
    rows_a, rows_b = outbox_rows(app, tenant_a), outbox_rows(app, tenant_b)
    assert [r.tenant_id for r in rows_a] == [tenant_a.tenant_id]
    assert [r.tenant_id for r in rows_b] == [tenant_b.tenant_id]
    assert rows_a[0].id != rows_b[0].id
    assert "执行I级应急响应措施" in rows_a[0].payload["text"]


def test_ending_now_says_ended_and_announcing_a_later_end_says_changed_once(
    app: Flask, tenant_a: TenantFixture
) -> None:
    add_contact(app, tenant_a, phone="13800138003")
    starts = datetime.now(UTC) - timedelta(hours=2)
    alert = issue_for_site(app, tenant_a, starts_at=starts)
    later = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)
    for _ in range(2):  # the same announcement twice (a feed imported twice) tells once
        with get_database(app).sessionmaker() as session, system_context("test"):
            row = session.get(Alert, alert.id)
            assert row is not None
            alerts.end(session, row, at=later)
            session.commit()
    changed = outbox_rows(app, tenant_a, template="alert_changed")
    assert len(changed) == 1
    assert "将于" in changed[0].payload["text"]
    with get_database(app).sessionmaker() as session, system_context("test"):
        row = session.get(Alert, alert.id)
        assert row is not None
        alerts.end(session, row)
        session.commit()
    ended = outbox_rows(app, tenant_a, template="alert_ended")
    assert len(ended) == 1
    assert ended[0].payload["text"].endswith("解除。")
    assert "已于" in ended[0].payload["text"]


def test_a_historical_alert_tells_nobody(app: Flask, tenant_a: TenantFixture) -> None:
    add_contact(app, tenant_a, phone="13800138004")
    past = datetime(2025, 1, 12, 2, 0, tzinfo=UTC)
    issue_for_site(app, tenant_a, starts_at=past, ends_at=past + timedelta(days=2))
    assert _count(app, tenant_a) == 0


def test_texts_use_beijing_time_across_midnight() -> None:
    content = compose(
        "ended",
        site_name="一号焦化厂",
        level="red",
        headline="",
        starts_at=datetime(2027, 1, 1, 0, 0, tzinfo=UTC),
        ends_at=datetime(2027, 1, 2, 16, 30, tzinfo=UTC),  # 00:30 on the 3rd in Beijing
    )
    assert content["text"] == (
        "【CleanGate】一号焦化厂：重污染天气红色预警（I级应急响应）已于2027-01-03 00:30解除。"
    )
    assert content["values"]["time"] == "2027-01-03 00:30"


def test_bad_events_and_levels_are_refused(app: Flask, tenant_a: TenantFixture) -> None:
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant_a.site_id)
        assert site is not None
        for event, level in (("paused", "red"), ("started", "purple")):
            with pytest.raises(ValueError, match=r"event|level"):
                queue_alert_notices(
                    session, site, event=event, alert_id=tenant_a.site_id,  # type: ignore[arg-type]
                    level=level, headline="", starts_at=FUTURE, ends_at=None,
                )  # fmt: skip
