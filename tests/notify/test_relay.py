"""The relay delivers through real local servers of every provider: signatures checked by the
fakes, retries with backoff, permanent refusals, dead letters, and at-least-once after a crash
with the receiver deduplicating on the sender's key."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask

from saas.db import get_database
from saas.notify.channels import Channel, Outgoing
from saas.notify.relay import CLAIM_CHUNK, RetryPolicy
from tests.conftest import TenantFixture
from tests.notify import fakes as f
from tests.notify.conftest import (
    add_contact,
    channels_for,
    issue_for_site,
    outbox_rows,
    place_site,
    run_relay,
    settings_for,
)

OPENID = "oAbCdEfGhIjKlMnOpQrStUvWx02"


def _one_sms(app: Flask, tenant: TenantFixture, phone: str = "13800138010") -> None:
    add_contact(app, tenant, phone=phone)
    issue_for_site(app, tenant)


def test_aliyun_sms_is_signed_delivered_and_marked_sent(
    app: Flask, tenant_a: TenantFixture, servers: f.Fakes, tmp_path: Path
) -> None:
    place_site(app, tenant_a, "130203", name="唐山钢铁")
    _one_sms(app, tenant_a)
    channels = channels_for(app, settings_for(servers, tmp_path))
    counts = run_relay(app, tenant_a, channels)
    assert (counts.claimed, counts.sent) == (1, 1)
    [row] = outbox_rows(app, tenant_a)
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
    assert row.sent_at is not None
    [got] = servers.aliyun.delivered
    assert got["PhoneNumbers"] == "13800138010"
    assert (got["SignName"], got["TemplateCode"]) == ("CleanGate", "SMS_470001")
    assert got["TemplateParam"]["site"] == "唐山钢铁"
    assert got["TemplateParam"]["level"] == "橙色"
    assert got["OutId"] == row.id.hex  # the receiver's deduplication key
    assert row.provider_message_id == "000001^0"
    assert servers.aliyun.rejected == []
    assert run_relay(app, tenant_a, channels).claimed == 0  # nothing is sent twice


def test_tencent_sms_is_signed_and_carries_the_idempotency_key(
    app: Flask, tenant_a: TenantFixture, servers: f.Fakes, tmp_path: Path
) -> None:
    _one_sms(app, tenant_a, "13800138011")
    channels = channels_for(app, settings_for(servers, tmp_path, sms_provider="tencent"))
    assert run_relay(app, tenant_a, channels).sent == 1
    [row] = outbox_rows(app, tenant_a)
    [got] = servers.tencent.delivered
    assert got["PhoneNumberSet"] == ["+8613800138011"]
    assert got["SessionContext"] == row.idempotency_key
    assert got["TemplateId"] == "SMS_470001"
    assert got["TemplateParamSet"][1:3] == ["橙色", "II"]
    assert row.provider_message_id == "2433:00000001"


def test_wechat_subscribe_message_fetches_one_token_and_refreshes_it(
    app: Flask, tenant_a: TenantFixture, servers: f.Fakes, tmp_path: Path
) -> None:
    app.extensions["cleangate.redis"].delete(f"cleangate:wechat:{f.WECHAT_APPID}_access_token")
    add_contact(app, tenant_a, wechat_openid=OPENID, notify_sms=False, notify_wechat=True)
    add_contact(app, tenant_a, wechat_openid=OPENID + "b", notify_sms=False, notify_wechat=True)
    issue_for_site(app, tenant_a)
    channels = channels_for(app, settings_for(servers, tmp_path))
    assert run_relay(app, tenant_a, channels).sent == 2
    assert len(servers.wechat.token_requests) == 1  # cached in Redis for the second message
    token_request = servers.wechat.token_requests[0]
    assert token_request.query == {}  # the secret travels in the JSON body, not the URL
    first = servers.wechat.delivered[0]
    assert first["template_id"] == "tmpl-alert-0001"
    assert first["page"] == "pages/alert/index"
    assert first["data"]["phrase2"] == {"value": "橙色"}
    assert len(first["data"]["thing4"]["value"]) <= 20
    # The token is revoked behind our back: the next message refreshes it and goes through.
    servers.wechat.expire_tokens()
    issue_for_site(app, tenant_a, level="red")
    assert run_relay(app, tenant_a, channels).sent == 2
    assert len(servers.wechat.token_requests) == 2


def test_wechat_refusal_is_permanent_and_secrets_stay_out_of_errors_and_logs(
    app: Flask,
    tenant_a: TenantFixture,
    servers: f.Fakes,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app.extensions["cleangate.redis"].delete(f"cleangate:wechat:{f.WECHAT_APPID}_access_token")
    servers.wechat.refusing.add(OPENID)
    add_contact(app, tenant_a, wechat_openid=OPENID, notify_sms=False, notify_wechat=True)
    issue_for_site(app, tenant_a)
    caplog.set_level(logging.DEBUG)
    counts = run_relay(app, tenant_a, channels_for(app, settings_for(servers, tmp_path)))
    assert (counts.failed, counts.retried) == (1, 0)
    [row] = outbox_rows(app, tenant_a)
    assert row.status == "failed"
    assert "43101" in (row.last_error or "")
    token = next(iter(servers.wechat.tokens))
    for secret in (f.WECHAT_SECRET, token, f.ALIYUN_SECRET):
        assert secret not in (row.last_error or "")
        assert secret not in caplog.text


def test_email_through_smtp_and_a_refused_recipient(
    app: Flask, tenant_a: TenantFixture, servers: f.Fakes, tmp_path: Path
) -> None:
    place_site(app, tenant_a, "130203", name="一号焦化厂")
    add_contact(app, tenant_a, email="duty@example.cn", notify_sms=False, notify_email=True)
    add_contact(app, tenant_a, email="gone@example.cn", notify_sms=False, notify_email=True)
    servers.smtp.refused.add("gone@example.cn")
    issue_for_site(app, tenant_a)
    counts = run_relay(app, tenant_a, channels_for(app, settings_for(servers, tmp_path)))
    assert (counts.sent, counts.failed) == (1, 1)
    [mail] = servers.smtp.delivered
    assert mail["To"] == "duty@example.cn"
    assert mail["Subject"] == "一号焦化厂：重污染天气橙色预警（II级应急响应）"
    assert "请按一厂一策落实" in mail.get_content()
    sent = outbox_rows(app, tenant_a, status="sent")[0]
    assert mail["Message-ID"] == f"<{sent.id.hex}@notify.cleangate>"
    failed = outbox_rows(app, tenant_a, status="failed")[0]
    assert "550" in (failed.last_error or "")


def test_a_500_is_retried_with_backoff_then_delivered(
    app: Flask, tenant_a: TenantFixture, servers: f.Fakes, tmp_path: Path
) -> None:
    _one_sms(app, tenant_a, "13800138012")
    channels = channels_for(app, settings_for(servers, tmp_path))
    servers.aliyun.fail_next(1, 500)
    now = datetime.now(UTC)
    first = run_relay(app, tenant_a, channels, at=now)
    assert (first.claimed, first.retried, first.sent) == (1, 1, 0)
    [row] = outbox_rows(app, tenant_a)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "HTTP 500" in (row.last_error or "")
    wait = (row.next_attempt_at - now).total_seconds()
    assert 30 <= wait <= 33.5  # base 30 s, up to 10 % jitter
    assert run_relay(app, tenant_a, channels, at=now + timedelta(seconds=20)).claimed == 0
    later = run_relay(app, tenant_a, channels, at=now + timedelta(seconds=40))
    assert later.sent == 1
    [row] = outbox_rows(app, tenant_a)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert len(servers.aliyun.delivered) == 1


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(base_seconds=30, max_seconds=100)
    waits = [policy.delay(n).total_seconds() for n in (1, 2, 3, 4)]
    assert 30 <= waits[0] <= 33
    assert 60 <= waits[1] <= 66
    assert all(100 <= wait <= 110 for wait in waits[2:])  # capped


def test_dead_after_max_attempts(
    app: Flask, tenant_a: TenantFixture, servers: f.Fakes, tmp_path: Path
) -> None:
    _one_sms(app, tenant_a, "13800138013")
    channels = channels_for(app, settings_for(servers, tmp_path))
    servers.aliyun.fail_next(10, 503)
    at = datetime.now(UTC)
    outcomes = []
    for _ in range(4):
        counts = run_relay(app, tenant_a, channels, at=at)
        outcomes.append((counts.retried, counts.dead))
        at += timedelta(hours=1)
    assert outcomes == [(1, 0), (1, 0), (0, 1), (0, 0)]  # POLICY: 3 attempts
    [row] = outbox_rows(app, tenant_a)
    assert (row.status, row.attempts) == ("dead", 3)
    assert len(servers.aliyun.requests) == 3


def test_a_bad_signature_is_refused_by_the_fake_and_never_counts_as_sent(
    app: Flask, tenant_a: TenantFixture, servers: f.Fakes, tmp_path: Path
) -> None:
    _one_sms(app, tenant_a, "13800138014")
    wrong = settings_for(servers, tmp_path, aliyun_access_key_secret="rotated-Secret-000000")
    counts = run_relay(app, tenant_a, channels_for(app, wrong))
    assert (counts.sent, counts.retried) == (0, 1)  # a rotated key can be fixed: retried
    assert servers.aliyun.rejected == ["signature"]
    assert servers.aliyun.delivered == []
    [row] = outbox_rows(app, tenant_a)
    assert "SignatureDoesNotMatch" in (row.last_error or "")
    assert "rotated-Secret" not in (row.last_error or "")


def test_a_refused_number_fails_for_good(
    app: Flask, tenant_a: TenantFixture, servers: f.Fakes, tmp_path: Path
) -> None:
    _one_sms(app, tenant_a, "13800138015")
    servers.tencent.illegal_numbers.add("+8613800138015")
    settings = settings_for(servers, tmp_path, sms_provider="tencent")
    assert run_relay(app, tenant_a, channels_for(app, settings)).failed == 1
    [row] = outbox_rows(app, tenant_a)
    assert row.status == "failed"
    assert row.last_error is not None
    assert row.last_error.startswith("InvalidParameterValue.IncorrectPhoneNumber")


class Crash(BaseException):
    """The process dies: nothing after the send runs (not an Exception: nothing catches it)."""


class CrashAfterSend:
    """A real channel whose process dies right after the provider accepted the message."""

    def __init__(self, inner: Channel) -> None:
        self.inner = inner
        self.provider = inner.provider

    def send(self, message: Outgoing) -> str:
        self.inner.send(message)
        raise Crash


def test_a_crash_between_send_and_mark_sends_again_after_the_lease_and_the_receiver_dedupes(
    app: Flask, tenant_a: TenantFixture, servers: f.Fakes, tmp_path: Path
) -> None:
    _one_sms(app, tenant_a, "13800138016")
    channels = channels_for(app, settings_for(servers, tmp_path))
    now = datetime.now(UTC)
    with pytest.raises(Crash):
        run_relay(app, tenant_a, {**channels, "sms": CrashAfterSend(channels["sms"])}, at=now)
    [row] = outbox_rows(app, tenant_a)
    assert (row.status, row.attempts) == ("pending", 1)  # claimed, never marked
    assert run_relay(app, tenant_a, channels, at=now + timedelta(seconds=30)).claimed == 0
    after_lease = run_relay(app, tenant_a, channels, at=now + timedelta(seconds=61))
    assert after_lease.sent == 1
    [row] = outbox_rows(app, tenant_a)
    assert (row.status, row.attempts) == ("sent", 2)
    assert len(servers.aliyun.requests) == 2  # at least once: sent twice …
    assert len(servers.aliyun.delivered) == 1  # … delivered once, deduplicated on OutId


def test_concurrent_relays_never_send_a_message_twice(
    app: Flask, tenant_a: TenantFixture, servers: f.Fakes, tmp_path: Path
) -> None:
    for n in range(3 * CLAIM_CHUNK):
        add_contact(app, tenant_a, name=f"值班员{n}", phone=f"1380013{n + 8100:04d}")
    issue_for_site(app, tenant_a)
    servers.aliyun.delay = 0.01
    channels = [channels_for(app, settings_for(servers, tmp_path)) for _ in range(3)]
    totals: list[int] = []
    errors: list[BaseException] = []

    def worker(mine: dict[str, Channel]) -> None:
        try:
            totals.append(run_relay(app, tenant_a, mine).sent)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(c,)) for c in channels]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sum(totals) == 3 * CLAIM_CHUNK
    out_ids = [r.body for r in servers.aliyun.requests]
    assert len(out_ids) == 3 * CLAIM_CHUNK  # no request twice
    assert {r.status for r in outbox_rows(app, tenant_a)} == {"sent"}


def test_relay_in_one_tenant_context_leaves_other_tenants_alone(
    app: Flask,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    servers: f.Fakes,
    tmp_path: Path,
) -> None:
    _one_sms(app, tenant_a, "13800138017")
    _one_sms(app, tenant_b, "13800138017")
    channels = channels_for(app, settings_for(servers, tmp_path))
    assert run_relay(app, tenant_b, channels).sent == 1
    assert [r.status for r in outbox_rows(app, tenant_a)] == ["pending"]
    assert [r.status for r in outbox_rows(app, tenant_b)] == ["sent"]
    assert get_database(app).sessionmaker is not None


def test_the_simulators_write_json_lines_and_take_each_key_once(
    app: Flask, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    from saas.notify.channels import simulator
    from saas.settings import NotifySettings

    add_contact(app, tenant_a, phone="13800138018", email="sim@example.cn", notify_email=True,
                wechat_openid=OPENID, notify_wechat=True)  # fmt: skip
    issue_for_site(app, tenant_a)
    settings = NotifySettings(simulator_file=tmp_path / "sim.jsonl")
    channels = channels_for(app, settings)
    now = datetime.now(UTC)
    with pytest.raises(Crash):  # the first message is taken, then the relay dies
        run_relay(app, tenant_a, {**channels, "sms": CrashAfterSend(channels["sms"])}, at=now)
    run_relay(app, tenant_a, channels, at=now + timedelta(seconds=61))
    assert {r.status for r in outbox_rows(app, tenant_a)} == {"sent"}
    lines = simulator.read_file(tmp_path / "sim.jsonl")
    assert sorted(line["channel"] for line in lines) == ["email", "sms", "wechat"]  # SMS once
    sms = next(line for line in lines if line["channel"] == "sms")
    assert sms["text"].startswith("【CleanGate】")
    assert sms["recipient"] == "13800138018"
    rows = {r.channel: r for r in outbox_rows(app, tenant_a)}
    assert rows["sms"].provider_message_id == sms["provider_message_id"]
    assert rows["sms"].idempotency_key in {line["key"] for line in simulator.recent(10)}
