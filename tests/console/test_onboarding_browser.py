"""Onboarding in a real browser (Playwright driving Debian's Chromium, headless): a provider
admin walks the wizard on a real HTTP server, the new site's box pairs with the code the wizard
showed (``cleangate-edge pair`` over HTTP) and connects to a real hub as a simulated edge
daemon, and the fleet page shows the new site's bridge online.

Screenshots go to ``var/artifacts/console/``. Skipped only when /usr/bin/chromium is missing
and CLEANGATE_REQUIRE_SERVICES is not set (as the board's browser test)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

import edge_bridge
from edge_bridge import config as edge_config
from edge_bridge.cli import main as edge_cli
from edge_bridge.daemon import Daemon
from saas.models.identity import Role
from tests.browser import ARGS, CHROMIUM, need_browser
from tests.conftest import PASSWORD, VALID_USCC, make_user
from tests.edge_hub.harness import SIM_LANES, HubThread, until

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "artifacts" / "console"


@dataclass
class Served:
    base: str
    hub: HubThread


@pytest.fixture
def served(app: Flask) -> Iterator[Served]:
    """The web app on a real HTTP server, and a hub, both on loopback."""
    hub = HubThread(app).start()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_port}", hub)
    finally:
        server.shutdown()
        thread.join(10)
        hub.stop()


class EdgeThread:
    """The paired box's daemon on its own event loop, pointed at the test hub."""

    def __init__(self, config_path: Path, hub_url: str) -> None:
        self.config_path, self.hub_url = config_path, hub_url
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.daemon: Daemon | None = None

    def call(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> Daemon:
        self.thread.start()

        async def boot() -> Daemon:
            daemon = Daemon(edge_config.load(self.config_path))
            daemon.link.hub_url = self.hub_url  # the address the pairing answer gave is prod's
            await daemon.start()
            return daemon

        self.daemon = self.call(boot())
        return self.daemon

    def stop(self) -> None:
        if self.daemon is not None:
            self.call(self.daemon.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _fleet_row(page: Any, base: str, site: str) -> str:
    page.goto(f"{base}/console/fleet?q={site}")
    rows = page.locator("#fleet tbody tr[data-device]")
    return " ".join(rows.all_text_contents())


@pytest.mark.timeout(300)
def test_onboard_a_tenant_and_see_its_bridge_come_online(
    app: Flask, served: Served, tmp_path: Path
) -> None:
    sync_api = need_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    admin = make_user(app, Role.PROVIDER_ADMIN, None)
    tag = uuid.uuid4().hex[:8]
    slug, tenant_name, site_name = f"web-{tag}", f"浏览器焦化{tag}", f"浏览器一厂{tag}"
    edge: EdgeThread | None = None
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(f"{served.base}/login")
            page.fill("input[name=username]", admin.username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{served.base}/console/")

            # the console home → 企业与站点 → 开通企业
            page.click("text=企业与站点")
            page.wait_for_url(f"{served.base}/console/tenants")
            page.click("nav >> text=开通企业")
            page.wait_for_url("**/console/tenants/new/enterprise")

            def next_step(expected: str) -> None:
                page.click("#wizard-next")
                page.wait_for_url(f"**/console/tenants/new/{expected}")

            page.fill("input[name=name]", tenant_name)
            page.fill("input[name=slug]", "Not A Slug")
            page.click("#wizard-next")  # refused: the error is shown at the field
            assert "小写字母" in page.locator("label:has(input[name=slug]) .error").inner_text()
            page.fill("input[name=slug]", slug)
            next_step("site")
            page.fill("input[name=name]", site_name)
            page.fill("input[name=uscc]", VALID_USCC)
            page.fill("input[name=region_code]", "130200")
            page.select_option("select[name=industry]", "coking")
            page.select_option("select[name=rating]", "B")
            next_step("admin")
            next_step("plan")  # admin@<slug>
            page.select_option("select[name=plan_id]", "")
            next_step("regulator")
            page.select_option("select[name=configure]", "0")
            next_step("confirm")
            assert tenant_name in page.inner_text("#summary")
            assert site_name in page.inner_text("#summary")
            page.fill("input[name=bridge_name]", "东门网关")
            page.click("#wizard-next")
            page.wait_for_selector("#pairing-code")
            code = page.inner_text("#pairing-code")
            assert len(code) == 8
            assert page.inner_text("#admin-username") == f"admin@{slug}"
            assert len(page.inner_text("#one-time-password")) >= 12
            page.screenshot(path=str(ARTIFACTS / "onboarded.png"), full_page=True)

            # a pending bridge is not in the fleet yet
            assert _fleet_row(page, served.base, site_name) == ""

            # the box pairs with the code over HTTP: active, never connected → offline
            (tmp_path / "edge.toml").write_text(
                f'[bridge]\nstate_dir = "{tmp_path}"\n[cloud]\nurl = "{served.base}"\n{SIM_LANES}',
                encoding="utf-8",
            )
            config = tmp_path / "edge.toml"
            assert edge_cli(["pair", "--config", str(config), "--code", code]) == 0
            row = _fleet_row(page, served.base, site_name)
            assert "东门网关" in row
            assert "离线" in row

            # the simulated edge connects to the hub: online in the fleet
            edge = EdgeThread(config, served.hub.url)
            daemon = edge.start()
            edge.call(until(lambda: daemon.state.online, timeout=30))
            deadline = time.monotonic() + 20
            while "在线" not in (row := _fleet_row(page, served.base, site_name)):
                assert time.monotonic() < deadline, row
                time.sleep(0.2)
            assert tenant_name in row
            assert site_name in row
            assert "东门网关" in row
            assert edge_bridge.__version__ in row
            assert "离线" not in row
            page.screenshot(path=str(ARTIFACTS / "fleet.png"), full_page=True)

            # the tenant's page says the same
            page.goto(f"{served.base}/console/tenants?q={slug}")
            page.click(f"text={tenant_name}")
            assert "1 / 1" in page.inner_text("#sites")
        finally:
            browser.close()
            if edge is not None:
                edge.stop()
    assert (ARTIFACTS / "fleet.png").stat().st_size > 10_000
