"""The scheduled pull of the regulator feed, against a real HTTP server on 127.0.0.1: imports
and tells the covered site, is idempotent, and on a 5xx, a timeout, a refused connection, a body
that is not JSON or an invalid record imports nothing, records the error and tries again next
run. The token goes in its header only — never into the stored outcome or the log."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from saas.db import get_database
from saas.edge_hub import bus
from saas.models.alerts import Alert
from saas.models.tenancy import Site
from saas.policy import feed_pull
from saas.redis_conn import connect
from saas.settings import EMBEDDED_REDIS, AlertFeedSettings, Settings, SettingsError
from saas.tenancy import tenant_context
from tests import services
from tests.conftest import TenantFixture

TOKEN = "Bearer s3cret-feed-token"


class FeedServer:
    """A regulator stand-in: answers GET with whatever the test sets, remembers the headers."""

    def __init__(self) -> None:
        self.status = 200
        self.body: bytes = b"{}"
        self.delay = 0.0
        self.headers: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.headers.append(dict(self.headers.items()))
                if server.delay:
                    time.sleep(server.delay)
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = (
            f"http://127.0.0.1:{self.httpd.server_address[1]}/api/home/findControlMeasuresInfo"
        )
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, payload: Any = None, *, status: int = 200, raw: bytes | None = None) -> None:
        self.status = status
        self.body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    fake = FeedServer()
    yield fake
    fake.close()


@pytest.fixture(params=["embedded", "real"])
def rds(request: pytest.FixtureRequest) -> redis.Redis:
    if request.param == "embedded":
        client = connect(EMBEDDED_REDIS)
    else:
        services.real_redis()  # skips, or fails under CLEANGATE_REQUIRE_SERVICES=1
        client = connect(services.REDIS_URL)
    client.delete(feed_pull.STATUS_KEY, feed_pull.LOCK_KEY)
    return client


def _feed(url: str, timeout: int = 5) -> AlertFeedSettings:
    return AlertFeedSettings(urls=(url,), token=TOKEN, timeout_seconds=timeout)


def _site_with_permit(app: Flask, tenant: TenantFixture) -> str:
    permit = f"P{uuid.uuid4().hex[:20].upper()}"
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        site.permit_no = permit
        session.commit()
    return permit


def _answer(feed_id: int, permit: str, end: str = "") -> dict[str, Any]:
    record = {
        "entName": "某焦化有限公司",
        "startTime": "2026-03-01 08:00:00",
        "endTime": end,
        "warningLevel": "红色",
        "respondLevel": "I级",
        "controlMeasures": "停止公路运输",
    }
    return {
        "code": 200,
        "msg": "操作成功",
        "data": [
            record | {"id": feed_id, "entNo": permit},
            record | {"id": feed_id + 1, "entNo": "NOBODY-" + permit},
        ],
    }


def _alerts_of(app: Flask, feed_id: int) -> list[Alert]:
    with get_database(app).sessionmaker() as session:
        rows = session.scalars(
            select(Alert).where(
                Alert.source == "import:entrance_control",
                Alert.external_id.like(f"{feed_id}:%"),
            )
        ).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def _pull(app: Flask, rds: redis.Redis, feed: AlertFeedSettings) -> feed_pull.PullOutcome:
    return feed_pull.pull(get_database(app).sessionmaker, rds, feed)


def test_pull_imports_tells_the_site_and_is_idempotent(
    app: Flask,
    tenant_a: TenantFixture,
    server: FeedServer,
    rds: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="saas.policy.feed_pull")
    permit = _site_with_permit(app, tenant_a)
    feed_id = uuid.uuid4().int % 10**12
    server.answer(_answer(feed_id, permit))
    rds.set(bus.snapshot_key(tenant_a.site_id), "v-before")

    first = _pull(app, rds, _feed(server.url))
    assert first.ok, first
    (source,) = first.sources
    assert (source.records, source.created, source.updated, source.unchanged) == (2, 1, 0, 0)
    assert source.unmatched == ["NOBODY-" + permit]
    assert source.notified_sites == 1
    assert server.headers[-1]["Authorization"] == TOKEN
    (alert,) = _alerts_of(app, feed_id)
    assert (alert.level, alert.site_id, alert.measures) == ("red", tenant_a.site_id, "停止公路运输")
    assert alert.starts_at == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)  # 08:00 Beijing
    assert alert.ends_at is None
    assert rds.get(bus.snapshot_key(tenant_a.site_id)) is None  # notified after commit

    stored = feed_pull.last_outcome(rds)
    assert stored is not None
    assert stored["ok"] is True
    assert stored["sources"][0]["created"] == 1
    assert stored["sources"][0]["last_success_at_dt"] is not None

    rds.set(bus.snapshot_key(tenant_a.site_id), "v-again")
    second = _pull(app, rds, _feed(server.url))
    assert second.ok
    assert (second.sources[0].created, second.sources[0].unchanged) == (0, 1)
    assert len(_alerts_of(app, feed_id)) == 1
    assert rds.get(bus.snapshot_key(tenant_a.site_id)) == b"v-again"  # nothing changed: quiet

    server.answer(_answer(feed_id, permit, end="2026-03-03 08:00:00"))
    third = _pull(app, rds, _feed(server.url))
    assert third.sources[0].updated == 1
    (ended,) = _alerts_of(app, feed_id)
    assert ended.ends_at == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    assert rds.get(bus.snapshot_key(tenant_a.site_id)) is None

    raw = rds.get(feed_pull.STATUS_KEY)
    assert raw is not None
    assert b"s3cret" not in raw
    assert "s3cret" not in caplog.text
    assert "1 created" in caplog.text


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ({"status": 500, "raw": b'{"code": 500, "msg": "internal"}'}, "HTTP 500"),
        ({"status": 503, "raw": b"<html>maintenance</html>"}, "HTTP 503"),
        ({"raw": b"<html>login first</html>"}, "answer is not JSON"),
        ({"raw": b'{"code": 200, "data": '}, "answer is not JSON"),
        ({"raw": b'{"code": 401, "msg": "token invalid"}'}, "code"),
    ],
)
def test_a_failed_fetch_imports_nothing_records_the_error_and_retries(
    app: Flask,
    tenant_a: TenantFixture,
    server: FeedServer,
    rds: redis.Redis,
    answer: dict[str, Any],
    error: str,
) -> None:
    permit = _site_with_permit(app, tenant_a)
    feed_id = uuid.uuid4().int % 10**12
    server.answer(**answer)
    failed = _pull(app, rds, _feed(server.url))
    assert not failed.ok
    assert error in (failed.sources[0].error or "")
    assert _alerts_of(app, feed_id) == []
    stored = feed_pull.last_outcome(rds)
    assert stored is not None
    assert stored["ok"] is False
    assert error in stored["sources"][0]["error"]
    assert stored["sources"][0]["last_success_at"] is None

    server.answer(_answer(feed_id, permit))  # the regulator is back: the next run imports
    retried = _pull(app, rds, _feed(server.url))
    assert retried.ok
    assert len(_alerts_of(app, feed_id)) == 1


def test_timeouts_refused_connections_and_bad_records_import_nothing(
    app: Flask, tenant_a: TenantFixture, server: FeedServer, rds: redis.Redis
) -> None:
    permit = _site_with_permit(app, tenant_a)
    feed_id = uuid.uuid4().int % 10**12
    server.answer(_answer(feed_id, permit))
    server.delay = 2.5
    slow = _pull(app, rds, _feed(server.url, timeout=1))
    assert slow.sources[0].error == "timeout after 1 s"
    server.delay = 0

    bad = _answer(feed_id, permit)
    bad["data"][1]["startTime"] = "2026/03/01"
    server.answer(bad)
    invalid = _pull(app, rds, _feed(server.url))
    assert "1 invalid record(s)" in (invalid.sources[0].error or "")
    assert invalid.sources[0].record_errors == [
        {"index": "1", "field": "startTime/endTime", "message": "yyyy-MM-dd HH:mm:ss"}
    ]
    assert _alerts_of(app, feed_id) == []  # the good record 0 was not imported either

    closed = FeedServer()
    dead_url = closed.url
    closed.close()
    refused = _pull(app, rds, _feed(dead_url))
    assert refused.sources[0].error == "connection failed (ConnectionError)"
    assert _alerts_of(app, feed_id) == []


def test_one_failing_url_does_not_hold_back_another(
    app: Flask, tenant_a: TenantFixture, server: FeedServer, rds: redis.Redis
) -> None:
    permit = _site_with_permit(app, tenant_a)
    feed_id = uuid.uuid4().int % 10**12
    server.answer(_answer(feed_id, permit))
    broken = FeedServer()
    try:
        broken.answer(status=502, raw=b"bad gateway")
        secret_url = broken.url + "?appKey=TOPSECRET"
        feed = AlertFeedSettings(urls=(secret_url, server.url), token=TOKEN)
        outcome = _pull(app, rds, feed)
    finally:
        broken.close()
    assert not outcome.ok
    assert [s.ok for s in outcome.sources] == [False, True]
    assert outcome.sources[0].source == broken.url  # no query string
    assert len(_alerts_of(app, feed_id)) == 1
    raw = rds.get(feed_pull.STATUS_KEY)
    assert raw is not None
    assert b"TOPSECRET" not in raw


def test_a_running_pull_holds_off_the_next(
    app: Flask, tenant_a: TenantFixture, server: FeedServer, rds: redis.Redis
) -> None:
    permit = _site_with_permit(app, tenant_a)
    feed_id = uuid.uuid4().int % 10**12
    server.answer(_answer(feed_id, permit))
    rds.set(feed_pull.LOCK_KEY, "someone-else", ex=60)
    try:
        skipped = _pull(app, rds, _feed(server.url))
    finally:
        rds.delete(feed_pull.LOCK_KEY)
    assert skipped.skipped
    assert not skipped.ok
    assert server.headers == []
    assert _alerts_of(app, feed_id) == []
    assert _pull(app, rds, _feed(server.url)).ok


def test_the_cli_pulls_once_and_the_console_shows_the_outcome(
    app: Flask,
    tenant_a: TenantFixture,
    server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from saas.models.identity import Role
    from tests.conftest import login, make_user

    permit = _site_with_permit(app, tenant_a)
    feed_id = uuid.uuid4().int % 10**12
    server.answer(_answer(feed_id, permit))
    settings = app.config["CLEANGATE_SETTINGS"]
    monkeypatch.setitem(
        app.config,
        "CLEANGATE_SETTINGS",
        dataclasses.replace(settings, alert_feed=_feed(server.url)),
    )
    runner = app.test_cli_runner()
    result = runner.invoke(feed_pull.pull_command, [])
    assert result.exit_code == 0, result.output
    assert "1 created" in result.output
    assert len(_alerts_of(app, feed_id)) == 1

    staff = make_user(app, Role.PROVIDER_OPS, None)
    client = app.test_client()
    assert login(client, staff.username) == 302
    page = client.get("/console/alerts/import").get_data(as_text=True)
    status = page.split("监管平台定时拉取", 1)[1]
    assert server.url in status
    assert "成功" in status

    server.answer(status=500, raw=b"oops")
    failed = runner.invoke(feed_pull.pull_command, [])
    assert failed.exit_code == 1
    assert "HTTP 500" in failed.output
    page = client.get("/console/alerts").get_data(as_text=True)
    assert "HTTP 500" in page.split("监管平台定时拉取", 1)[1]

    monkeypatch.setitem(
        app.config,
        "CLEANGATE_SETTINGS",
        dataclasses.replace(settings, alert_feed=AlertFeedSettings()),
    )
    unset = runner.invoke(feed_pull.pull_command, [])
    assert unset.exit_code == 2
    assert "ALERT_FEED_URLS" in unset.output


def test_the_loop_keeps_going_after_a_failure() -> None:
    calls: list[int] = []

    def run() -> feed_pull.PullOutcome:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database away")
        return feed_pull.PullOutcome(started_at="t", ok=True)

    stop = threading.Event()
    assert feed_pull.run_loop(run, 0, stop, max_runs=3) == 3
    assert len(calls) == 3
    stop.set()
    assert feed_pull.run_loop(run, 0, stop) == 0


def test_feed_settings_are_strict_and_keep_secrets_out_of_repr() -> None:
    settings = Settings.from_env(
        {
            "ALERT_FEED_URLS": "https://a.example/api/home/findControlMeasuresInfo?k=SECRETQ,"
            " http://b.example/x",
            "ALERT_FEED_TOKEN": "TOKENVALUE",
            "ALERT_FEED_TOKEN_HEADER": "token",
            "ALERT_FEED_INTERVAL_SECONDS": "60",
        },
        testing=True,
        secret_key="x" * 40,
    )
    feed = settings.alert_feed
    assert len(feed.urls) == 2
    assert (feed.token_header, feed.interval_seconds) == ("token", 60)
    assert "TOKENVALUE" not in repr(settings)
    assert "SECRETQ" not in repr(settings)
    for env, name in (
        ({"ALERT_FEED_URLS": "ftp://x/y"}, "ALERT_FEED_URLS"),
        ({"ALERT_FEED_URLS": "not a url"}, "ALERT_FEED_URLS"),
        ({"ALERT_FEED_TOKEN_HEADER": "bad header:"}, "ALERT_FEED_TOKEN_HEADER"),
        ({"ALERT_FEED_TIMEOUT_SECONDS": "soon"}, "ALERT_FEED_TIMEOUT_SECONDS"),
        ({"ALERT_FEED_INTERVAL_SECONDS": "1"}, "ALERT_FEED_INTERVAL_SECONDS"),
    ):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env(env, testing=True, secret_key="x" * 40)


def test_redact_drops_credentials_and_query() -> None:
    assert (
        feed_pull.redact("https://user:pw@reg.example:8443/api/x?token=abc#f")
        == "https://reg.example:8443/api/x"
    )
