"""The edge box's copy of the board (edge_bridge/web.py ``/board``): the cloud's page, rendered
from the box's own snapshot and its own last decision, so the gate's screen works offline."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from edge_bridge.state import BridgeState
from edge_bridge.sync import SnapshotStore
from edge_bridge.web import LocalWeb
from saas.board import service
from saas.compliance import snapshot as snap
from saas.compliance.board import started_text
from saas.db import get_database, utcnow
from saas.edge_hub import snapshot as site_snapshot
from saas.models.tenancy import Site
from saas.tenancy import tenant_context
from tests.board.helpers import XSS_MEASURE, XSS_PLATE, seed_site
from tests.conftest import TenantFixture
from tests.edge.drivers.helpers import run
from tests.edge.test_web import USERS, Browser, FakeActions, make_state, passage, text

BASE = "https://cloud.example"


def cloud_body(app: Flask, tenant: TenantFixture) -> dict[str, Any]:
    """The snapshot body the hub would send this site's bridge."""
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        return site_snapshot.build(session, tenant.site_id, base_url=BASE)


def cloud_view(app: Flask, tenant: TenantFixture) -> dict[str, Any]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        return service.current_view(session, site, base_url=BASE, now=utcnow())


def store_with(tmp_path: Path, body: dict[str, Any]) -> SnapshotStore:
    store = SnapshotStore(tmp_path)
    assert store.replace(body, snap.version(body))
    return store


async def board_of(
    state: BridgeState, store: SnapshotStore | None, *, via_actions: bool = False
) -> tuple[str, dict[str, Any], LocalWeb]:
    actions = FakeActions(state)
    if via_actions:
        actions.snapshot = store  # type: ignore[attr-defined]  # the daemon holds it like this
    web = LocalWeb(
        state, actions, "127.0.0.1", 0, USERS, b"k" * 32,
        snapshot=None if via_actions else store,
    )  # fmt: skip
    await web.start()
    try:
        anon = Browser(web.url)
        page = await anon.get("/board")
        assert page.status == 200
        data = json.loads((await anon.get("/board.json")).body)
        return text(page), data, web
    finally:
        await web.stop()


def test_the_edge_prints_what_the_cloud_prints(
    app: Flask, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    seed_site(app, tenant_a)
    store = store_with(tmp_path, cloud_body(app, tenant_a))
    cloud = cloud_view(app, tenant_a)
    page, data, _ = run(board_of(make_state(), store))
    same = {k: v for k, v in data.items() if k not in ("clock", "now_ms", "last", "offline_text")}
    assert same == {k: cloud[k] for k in same}
    assert set(same) | {"clock", "now_ms", "last", "offline_text"} == set(cloud)
    assert data["enterprise"] == "一号焦化厂"
    assert data["legal_phone"] == "139****5678"
    assert "XX市工业企业落实重污染天气应急响应措施" in page
    assert "139****5678" in page
    assert "13912345678" not in page
    assert "当前无预警" in page
    # the box's own last decision, plate in full (seed 001)
    assert '<p id="b-plate" class="b-plate">冀B67890</p>' in page
    assert "verdict-deny" in page
    # the QR code of the site's cargo registration, drawn on the box
    assert data["cargo_url"] == f"{BASE}/mp/cargo/{tenant_a.site_id}"
    assert '<div class="b-qr-code"><svg' in page
    # the script polls the box every second, no websocket
    config = re.search(r'id="board-config">(.*?)</script>', page)
    assert config is not None
    assert json.loads(config.group(1)) == {
        "mode": "poll",
        "json": "/board.json",
        "interval_ms": 1000,
    }


def test_alert_windows_switch_the_board_on_time_offline(
    app: Flask, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    """An alert that began after the box lost its link still shows, from the snapshot's
    windows, with its start time and the orange measures."""
    seed_site(app, tenant_a, xss_measure=True)
    body = cloud_body(app, tenant_a)
    start = datetime.now(UTC) - timedelta(hours=1)
    body["alert"] = {
        "level": "none",
        "since": None,
        "id": None,
        "windows": [{"level": "orange", "starts_at": start.isoformat(), "ends_at": None,
                     "id": "w1"}],
    }  # fmt: skip
    state = make_state(online=False)
    state.record(
        passage("x1", XSS_PLATE, display=(XSS_PLATE, "国四", "不符合国V及以上标准", "禁止进入"))
    )
    page, data, _ = run(board_of(state, store_with(tmp_path, body), via_actions=True))
    assert data["level"] == "orange"
    assert data["headline"] == "当前重污染天气橙色预警，执行II级应急响应措施"
    assert data["started"] == started_text(start)  # Beijing time, e.g. 启动时间：2026年1月2日9时
    assert XSS_MEASURE in data["measures"]
    assert data["offline_text"] == "离线运行"
    assert '<div id="b-offline" class="b-offline" role="status">离线运行</div>' in page
    assert data["last"]["plate"] == XSS_PLATE
    assert data["last"]["stage"] == "不符合国V及以上标准"
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&#34;window.__xss = 1&#34;&gt;" in page


def test_a_box_that_never_synced_still_shows_a_board(tmp_path: Path) -> None:
    state = make_state()
    state.site_name = "<b>厂</b>"
    page, data, _ = run(board_of(state, SnapshotStore(tmp_path)))
    assert data["enterprise"] == "<b>厂</b>"
    assert "&lt;b&gt;厂&lt;/b&gt;" in page
    assert data["headline"] == "当前无预警"
    assert data["cargo_url"] == ""
    assert "货物登记暂未开通" in page
    assert data["last"]["plate"] == "冀B67890"
    # without any snapshot store the alert level comes from the daemon's state
    page, data, _ = run(board_of(make_state(), None))
    assert data["level"] == "orange"


def test_the_board_assets_come_from_the_shared_page(tmp_path: Path) -> None:
    async def scenario() -> None:
        web = LocalWeb(make_state(), FakeActions(make_state()), "127.0.0.1", 0, USERS, b"k" * 32)
        await web.start()
        try:
            anon = Browser(web.url)
            page = await anon.get("/board")
            csp = page.headers.get("Content-Security-Policy") or ""
            assert "script-src 'self'" in csp
            assert "unsafe-inline" not in csp
            shared = Path(__file__).resolve().parents[2] / "saas" / "board" / "page"
            for name, kind in (("board.css", "text/css"), ("board.js", "text/javascript")):
                found = re.search(rf'"(/static/board/\w+/{re.escape(name)})"', text(page))
                assert found, name
                asset = await anon.get(found.group(1))
                assert asset.status == 200
                assert (asset.headers.get("Content-Type") or "").startswith(kind)
                assert asset.body == (shared / name).read_bytes()
            assert (await anon.get("/static/board/x/board.html")).status == 404
            assert (await anon.get("/static/board/x/../web.py")).status == 404
            assert (await anon.get("/static/board.js")).status == 404  # the old script is gone
        finally:
            await web.stop()

    run(scenario())
