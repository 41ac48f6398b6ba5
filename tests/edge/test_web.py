"""Guard console and public board (edge_bridge/web.py), over real HTTP on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import re
import string
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from edge_bridge.drivers.http import ClientResponse, http_request
from edge_bridge.drivers.simulator.jpeg import tiny_jpeg
from edge_bridge.state import BridgeState, LaneState, PassageView
from edge_bridge.web import (
    SESSION_SECONDS,
    LocalWeb,
    hash_password,
    is_password_hash,
    mask_plate,
    verify_password,
)
from edge_bridge.web_i18n import MESSAGES
from saas.compliance import PlateColor
from tests.edge.drivers.helpers import run

PASSWORD = "门岗-pass-1"
# Cheap scrypt parameters keep the suite fast; verification reads them from the hash.
USERS = {
    "guard1": hash_password(PASSWORD, n=2**10, r=8, p=1),
    "guard2": hash_password("other-pw", n=2**10, r=8, p=1),
}
XSS = "<img src=x onerror=alert(1)>"
T0 = datetime(2025, 1, 4, 6, 3, 2, tzinfo=UTC)  # 14:03:02 in Asia/Shanghai
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
JPEG_SHA = "a" * 64
PNG_SHA = "b" * 64


class Clock:
    def __init__(self) -> None:
        self.now = T0.timestamp() + 60

    def __call__(self) -> float:
        return self.now


def passage(event_id: str, plate: str, **changes: object) -> PassageView:
    values: dict[str, object] = {
        "event_id": event_id,
        "captured_at": T0,
        "gate": "1",
        "lane": "01",
        "direction": "in",
        "plate_text": plate,
        "plate_color": "yellow",
        "verdict": "DENY",
        "reasons": ("stage_below_minimum",),
        "display": (plate, "国四", "禁止进入"),
        "emission_stage": "CN4",
        "barrier_opened": False,
    }
    values.update(changes)
    return PassageView(**values)  # type: ignore[arg-type]


def make_state(online: bool = True) -> BridgeState:
    state = BridgeState(site_name="河北某钢铁厂", online=online, alert_level="orange")
    state.lanes["1/01"] = LaneState("1", "01", "in", camera="DS-1")
    state.lanes["1/02"] = LaneState("1", "02", "out")
    state.devices["DS-1"] = "available"
    state.outbox_depth = 7
    state.snapshot_version = "3f2a9c0d1e4b5a6c7d8e9f0a1b2c3d4e"
    state.snapshot_at = T0
    state.record(passage("e1", "冀A12345", verdict="ALLOW", reasons=(), barrier_opened=True))
    state.record(passage("e2", "冀B67890", images=(JPEG_SHA,)))
    return state


class FakeActions:
    """Records what the console asked for and answers like the daemon would."""

    def __init__(self, state: BridgeState) -> None:
        self.state = state
        self.calls: list[tuple[object, ...]] = []
        self.images = {JPEG_SHA: tiny_jpeg(), PNG_SHA: PNG}
        self.fail: Exception | None = None

    async def manual_release(self, gate: str, lane: str, reason: str, operator: str) -> PassageView:
        self.calls.append(("release", gate, lane, reason, operator))
        if self.fail:
            raise self.fail
        view = passage(
            "r1", "冀B67890", gate=gate, lane=lane, verdict="ALLOW", barrier_opened=True,
            manual="release", operator=operator, reason=reason,
        )  # fmt: skip
        self.state.record(view)
        return view

    async def manual_plate(
        self, gate: str, lane: str, plate_text: str, color: str | None, operator: str
    ) -> PassageView:
        self.calls.append(("plate", gate, lane, plate_text, color, operator))
        view = passage(
            "t1", plate_text, gate=gate, lane=lane, plate_color=color, verdict="REVIEW",
            manual="typed", operator=operator,
        )  # fmt: skip
        self.state.record(view)
        return view

    def image(self, sha256: str) -> bytes | None:
        self.calls.append(("image", sha256))
        return self.images.get(sha256)


class Browser:
    """Keeps cookies like a browser (no redirects followed: tests look at Location)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}
        self.set_cookie_lines: list[str] = []

    def _keep(self, response: ClientResponse) -> ClientResponse:
        for line in response.headers.get_all("Set-Cookie"):
            self.set_cookie_lines.append(line)
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in line:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response

    def _headers(self) -> list[tuple[str, str]]:
        if not self.cookies:
            return []
        return [("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))]

    async def get(self, path: str) -> ClientResponse:
        return self._keep(await http_request("GET", self.base + path, headers=self._headers()))

    async def post(self, path: str, fields: dict[str, str]) -> ClientResponse:
        body = urlencode(fields).encode()
        headers = [*self._headers(), ("Content-Type", "application/x-www-form-urlencoded")]
        return self._keep(await http_request("POST", self.base + path, body=body, headers=headers))

    async def login(self, user: str = "guard1", password: str = PASSWORD) -> ClientResponse:
        page = await self.get("/login")
        return await self.post(
            "/login", {"csrf": csrf_of(page), "username": user, "password": password}
        )

    async def console_csrf(self) -> str:
        page = await self.get("/")
        assert page.status == 200
        return csrf_of(page)


def text(response: ClientResponse) -> str:
    return response.body.decode("utf-8")


def csrf_of(response: ClientResponse) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', text(response))
    assert match, "no CSRF field in the page"
    return match.group(1)


@contextlib.asynccontextmanager
async def serving(
    state: BridgeState | None = None, clock: Clock | None = None
) -> AsyncIterator[tuple[LocalWeb, FakeActions, BridgeState]]:
    state = state or make_state()
    actions = FakeActions(state)
    web = LocalWeb(state, actions, "127.0.0.1", 0, USERS, b"k" * 32, clock=clock or Clock())
    await web.start()
    try:
        yield web, actions, state
    finally:
        await web.stop()


async def logged_in(web: LocalWeb, user: str = "guard1") -> Browser:
    browser = Browser(web.url)
    response = await browser.login(user, PASSWORD if user == "guard1" else "other-pw")
    assert response.status == 303, text(response)
    return browser


# ---------------------------------------------------------------- passwords and masking


def test_hash_password_format_and_verify() -> None:
    encoded = hash_password("s3cret 密码")
    name, n, r, p, salt, key = encoded.split("$")
    assert (name, n, r, p) == ("scrypt", "32768", "8", "3")
    assert salt
    assert key
    assert is_password_hash(encoded)
    assert verify_password("s3cret 密码", encoded)
    assert not verify_password("s3cret 密码 ", encoded)
    assert hash_password("same", n=2**10) != hash_password("same", n=2**10)  # salted
    assert not verify_password("x", "scrypt$1024$8$1$!!$!!")
    assert not verify_password("x", "bcrypt$whatever")
    assert not is_password_hash("scrypt$3$8$1$c2FsdA==$" + "A" * 44)  # n not a power of two
    with pytest.raises(ValueError, match="empty"):
        hash_password("")


@pytest.mark.parametrize(
    ("plate", "masked"),
    [
        ("冀A12345", "冀A·12***"),
        ("冀 a·12345", "冀A·12***"),
        ("冀AD12345", "冀A·D1****"),
        ("冀A1234挂", "冀A·12***"),
        ("使123456", "******"),
        (XSS, "******"),
        ("无牌车", None),
        ("", None),
    ],
)
def test_mask_plate(plate: str, masked: str | None) -> None:
    assert mask_plate(plate) == masked


def test_every_message_has_both_languages_with_the_same_placeholders() -> None:
    fields = string.Formatter()
    for key, entry in MESSAGES.items():
        assert set(entry) == {"zh", "en"}, key
        zh = {f for _, f, _, _ in fields.parse(entry["zh"]) if f}
        en = {f for _, f, _, _ in fields.parse(entry["en"]) if f}
        assert zh == en, key


# ---------------------------------------------------------------- login


def test_pages_need_login_but_board_and_healthz_do_not() -> None:
    async def scenario() -> None:
        async with serving() as (web, actions, _):
            anon = Browser(web.url)
            home = await anon.get("/")
            assert home.status == 303
            assert home.headers.get("Location") == "/login?next=%2F"
            assert (await anon.get("/logout")).status == 303
            assert (await anon.get("/state.json")).status == 401
            assert (await anon.get(f"/images/{JPEG_SHA}")).status == 401
            release = await anon.post("/lanes/1/01/release", {"reason": "x"})
            assert release.status == 303
            assert (await anon.get("/board")).status == 200
            assert (await anon.get("/board.json")).status == 200
            health = await anon.get("/healthz")
            assert (health.status, health.body) == (200, b"ok")
            assert actions.calls == []

    run(scenario())


def test_wrong_password_and_unknown_user_are_refused_without_a_session() -> None:
    async def scenario() -> None:
        async with serving() as (web, _, _):
            browser = Browser(web.url)
            for user, password in (("guard1", "wrong"), ("nobody", PASSWORD), ("guard1", "")):
                response = await browser.login(user, password)
                assert response.status == 401
                assert "用户名或密码错误" in text(response)
                assert "cg_session" not in browser.cookies
            assert (await browser.get("/")).status == 303

    run(scenario())


def test_login_sets_a_hardened_session_cookie_and_follows_next() -> None:
    async def scenario() -> None:
        async with serving() as (web, _, _):
            browser = Browser(web.url)
            page = await browser.get("/login?next=/state.json")
            response = await browser.post(
                "/login",
                {
                    "csrf": csrf_of(page),
                    "username": "guard1",
                    "password": PASSWORD,
                    "next": "/state.json",
                },
            )
            assert response.status == 303
            assert response.headers.get("Location") == "/state.json"
            line = next(c for c in browser.set_cookie_lines if c.startswith("cg_session="))
            assert "HttpOnly" in line
            assert "SameSite=Strict" in line
            assert f"Max-Age={SESSION_SECONDS}" in line
            console = await browser.get("/")
            assert console.status == 200
            assert "河北某钢铁厂" in text(console)
            assert "值班人员：guard1" in text(console)
            # only a local path may follow a login (no open redirect)
            elsewhere = Browser(web.url)
            page = await elsewhere.get("/login")
            away = await elsewhere.post(
                "/login",
                {
                    "csrf": csrf_of(page),
                    "username": "guard1",
                    "password": PASSWORD,
                    "next": "//evil.example/",
                },
            )
            assert (away.status, away.headers.get("Location")) == (303, "/")

    run(scenario())


def test_login_without_csrf_token_is_403() -> None:
    async def scenario() -> None:
        async with serving() as (web, _, _):
            browser = Browser(web.url)
            await browser.get("/login")
            fields = {"username": "guard1", "password": PASSWORD}
            assert (await browser.post("/login", fields)).status == 403
            assert (await browser.post("/login", {**fields, "csrf": "forged"})).status == 403
            assert "cg_session" not in browser.cookies

    run(scenario())


def test_failed_logins_are_rate_limited_per_address() -> None:
    async def scenario() -> None:
        clock = Clock()
        async with serving(clock=clock) as (web, _, _):
            browser = Browser(web.url)
            for _ in range(5):
                assert (await browser.login("guard1", "wrong")).status == 401
            blocked = await browser.login()  # even the right password waits
            assert blocked.status == 429
            assert blocked.headers.get("Retry-After") == "60"
            assert "登录失败次数过多" in text(blocked)
            assert "cg_session" not in browser.cookies
            clock.now += 61
            assert (await browser.login()).status == 303

    run(scenario())


def test_session_expires_after_12_hours_and_a_tampered_cookie_is_refused() -> None:
    async def scenario() -> None:
        clock = Clock()
        async with serving(clock=clock) as (web, _, _):
            browser = await logged_in(web)
            token = browser.cookies["cg_session"]
            forged = Browser(web.url)
            forged.cookies["cg_session"] = token[:-1] + ("A" if token[-1] != "A" else "B")
            assert (await forged.get("/")).status == 303
            clock.now += SESSION_SECONDS - 5
            assert (await browser.get("/")).status == 200
            clock.now += 10
            assert (await browser.get("/")).status == 303

    run(scenario())


def test_logout_ends_the_session_even_if_the_cookie_is_kept() -> None:
    async def scenario() -> None:
        async with serving() as (web, _, _):
            browser = await logged_in(web)
            kept = browser.cookies["cg_session"]
            csrf = await browser.console_csrf()
            assert (await browser.post("/logout", {})).status == 403  # CSRF applies here too
            out = await browser.post("/logout", {"csrf": csrf})
            assert out.status == 303
            assert out.headers.get("Location") == "/login?out=1"
            assert "cg_session" not in browser.cookies
            browser.cookies["cg_session"] = kept
            assert (await browser.get("/")).status == 303
            assert "已退出登录" in text(await browser.get("/login?out=1"))

    run(scenario())


# ---------------------------------------------------------------- guard actions


def test_lane_posts_without_a_valid_csrf_token_are_403_and_call_nothing() -> None:
    async def scenario() -> None:
        async with serving() as (web, actions, _):
            browser = await logged_in(web)
            other = await logged_in(web, "guard2")
            foreign_token = await other.console_csrf()
            for fields in (
                {"reason": "车牌污损，已核对行驶证"},
                {"reason": "车牌污损，已核对行驶证", "csrf": "0" * 43},
                {"reason": "车牌污损，已核对行驶证", "csrf": foreign_token},
            ):
                assert (await browser.post("/lanes/1/01/release", fields)).status == 403
                plate = {**fields, "plate": "冀A12345", "color": "yellow"}
                assert (await browser.post("/lanes/1/01/plate", plate)).status == 403
            assert actions.calls == []

    run(scenario())


def test_release_without_a_reason_names_the_field_and_calls_nothing() -> None:
    async def scenario() -> None:
        async with serving() as (web, actions, _):
            browser = await logged_in(web)
            csrf = await browser.console_csrf()
            for reason in ("", "   \n "):
                response = await browser.post(
                    "/lanes/1/01/release", {"csrf": csrf, "reason": reason}
                )
                assert response.status == 400
                assert '<p class="error" role="alert">请填写放行原因' in text(response)
            assert actions.calls == []

    run(scenario())


def test_release_with_a_reason_calls_the_daemon_as_the_logged_in_guard() -> None:
    async def scenario() -> None:
        async with serving() as (web, actions, _):
            browser = await logged_in(web)
            csrf = await browser.console_csrf()
            response = await browser.post(
                "/lanes/1/01/release", {"csrf": csrf, "reason": " 车牌污损，已核对行驶证 "}
            )
            assert response.status == 303
            assert response.headers.get("Location") == "/#lane-1%2F01"
            assert actions.calls == [("release", "1", "01", "车牌污损，已核对行驶证", "guard1")]
            page = text(await browser.get("/"))
            assert "1/01 已人工放行（放行）" in page  # the flash, once
            assert "1/01 已人工放行" not in text(await browser.get("/"))

    run(scenario())


def test_typed_plate_calls_manual_plate_with_the_compliance_colour() -> None:
    async def scenario() -> None:
        async with serving() as (web, actions, _):
            browser = await logged_in(web)
            page = await browser.get("/")
            for value, label in (("blue", "蓝"), ("yellow_green", "黄绿"), ("black", "黑")):
                assert f'<option value="{value}">{label}</option>' in text(page)
            csrf = csrf_of(page)
            response = await browser.post(
                "/lanes/1/02/plate", {"csrf": csrf, "plate": "冀AD12345", "color": "yellow_green"}
            )
            assert response.status == 303
            assert actions.calls == [
                ("plate", "1", "02", "冀AD12345", PlateColor.YELLOW_GREEN.value, "guard1")
            ]
            assert "冀AD12345：人工核验" in text(await browser.get("/"))
            no_colour = {"csrf": csrf, "plate": "冀A12345", "color": ""}
            assert (await browser.post("/lanes/1/02/plate", no_colour)).status == 303
            assert actions.calls[-1] == ("plate", "1", "02", "冀A12345", None, "guard1")

    run(scenario())


def test_typed_plate_validation_and_unknown_lanes_call_nothing() -> None:
    async def scenario() -> None:
        async with serving() as (web, actions, _):
            browser = await logged_in(web)
            csrf = await browser.console_csrf()
            bad_colour = await browser.post(
                "/lanes/1/01/plate", {"csrf": csrf, "plate": "冀A12345", "color": "purple"}
            )
            assert bad_colour.status == 400
            assert "车牌颜色无效" in text(bad_colour)
            empty = await browser.post("/lanes/1/01/plate", {"csrf": csrf, "plate": " "})
            assert empty.status == 400
            assert "请填写车牌号码" in text(empty)
            for path in ("/lanes/9/01/release", "/lanes/1/99/plate", "/lanes/1%2F01/x/release"):
                fields = {"csrf": csrf, "reason": "r", "plate": "冀A12345"}
                assert (await browser.post(path, fields)).status == 404
            assert (await browser.get("/lanes/1/01/release")).status == 405
            assert actions.calls == []

    run(scenario())


def test_a_failing_action_is_reported_to_the_guard() -> None:
    async def scenario() -> None:
        async with serving() as (web, actions, _):
            actions.fail = RuntimeError("道闸无响应")
            browser = await logged_in(web)
            csrf = await browser.console_csrf()
            response = await browser.post("/lanes/1/01/release", {"csrf": csrf, "reason": "r"})
            assert response.status == 303
            assert "1/01 操作失败：道闸无响应" in text(await browser.get("/"))

    run(scenario())


# ---------------------------------------------------------------- console content


def test_console_shows_lanes_status_and_recent_passages() -> None:
    async def scenario() -> None:
        async with serving() as (web, _, state):
            state.alarms["disk_full"] = "磁盘剩余不足 5%"
            state.clock_skew_ms = -2500
            page = text(await (await logged_in(web)).get("/"))
            assert "磁盘剩余不足 5%" in page
            assert '<span class="badge alert-orange">橙色</span>' in page
            assert '<span class="value" id="outbox-depth">7</span>' in page
            snapshot = '<code title="3f2a9c0d1e4b5a6c7d8e9f0a1b2c3d4e">3f2a9c0d</code>'
            assert f"{snapshot} · 1 分钟前" in page
            assert "-2.5 s" in page
            assert "2025-01-04 14:03:02" in page  # UTC 06:03:02 shown in Asia/Shanghai
            assert '<span class="badge verdict-deny">禁止</span>' in page
            assert '<span class="badge verdict-allow">放行</span>' in page
            assert "排放阶段不符合要求" in page
            assert "国四" in page
            assert f'<img src="/images/{JPEG_SHA}"' in page
            assert 'id="lane-1%2F01"' in page
            assert '<span class="dir">进</span>' in page
            assert '<span class="dir">出</span>' in page
            assert "相机 DS-1: available" in page
            assert page.count("<tr>") == 1 + 2  # header row + two passages

    run(scenario())


def test_recent_table_stops_at_50() -> None:
    async def scenario() -> None:
        state = make_state()
        for n in range(60):
            state.record(passage(f"n{n}", f"冀C{n:05d}"))
        async with serving(state) as (web, _, _):
            page = text(await (await logged_in(web)).get("/"))
            assert "冀C00059" in page
            assert "冀C00010" in page
            assert "冀C00009" not in page
            assert page.count("<tr>") == 1 + 50

    run(scenario())


def test_offline_banner_is_shown_only_when_offline() -> None:
    async def scenario() -> None:
        async with serving(make_state(online=False)) as (web, _, state):
            browser = await logged_in(web)
            anon = Browser(web.url)
            assert "离线运行" in text(await browser.get("/"))
            board = text(await anon.get("/board"))
            assert '<div id="b-offline" class="b-offline" role="status">离线运行</div>' in board
            assert json.loads((await anon.get("/board.json")).body)["offline_text"] == "离线运行"
            state.online = True
            assert "离线运行" not in text(await browser.get("/"))
            assert "离线运行" not in text(await anon.get("/board"))
            assert json.loads((await anon.get("/board.json")).body)["offline_text"] == ""

    run(scenario())


def test_state_json_reports_a_change_counter_for_polling() -> None:
    async def scenario() -> None:
        async with serving() as (web, _, state):
            browser = await logged_in(web)
            first = json.loads((await browser.get("/state.json")).body)
            assert first["online"] is True
            assert first["outbox_depth"] == 7
            assert first["lanes"] == {"1/01": "e2", "1/02": None}
            again = json.loads((await browser.get("/state.json")).body)
            assert again["changes"] == first["changes"]
            state.online = False
            later = json.loads((await browser.get("/state.json")).body)
            assert later["changes"] > first["changes"]
            assert later["online"] is False
            page = await browser.get("/")
            assert f'data-changes="{later["changes"]}"' in text(page)

    run(scenario())


# ---------------------------------------------------------------- public board


def test_board_shows_the_last_vehicle_as_seed_001_does() -> None:
    """The public board is the cloud's 一厂一策 page (docs/board.md): the last vehicle's full
    plate and verdict; tests/board/test_edge_board.py covers it in depth."""

    async def scenario() -> None:
        async with serving() as (web, _, state):
            anon = Browser(web.url)
            board = text(await anon.get("/board"))
            data = json.loads((await anon.get("/board.json")).body)
            assert '<p id="b-plate" class="b-plate">冀B67890</p>' in board
            assert "冀A12345" not in board  # only the newest vehicle is shown
            assert "当前重污染天气橙色预警" in board
            assert "verdict-deny" in board
            assert data["last"] == {
                "plate": "冀B67890",
                "stage": "不符合管控要求（国四）",
                "verdict": "禁止进入",
                "verdict_class": "deny",
                "time": "14:03:02",
                "captured_at": "2025-01-04T06:03:02+00:00",
            }
            for n in range(30):
                state.record(passage(f"n{n}", "冀C12345", verdict="ALLOW"))
            data = json.loads((await anon.get("/board.json")).body)
            assert (data["last"]["plate"], data["last"]["verdict_class"]) == ("冀C12345", "allow")

    run(scenario())


def test_user_values_are_escaped_on_console_and_board() -> None:
    async def scenario() -> None:
        state = make_state()
        state.site_name = "<b>厂</b>"
        state.alarms["clock_skew"] = "<script>alert(2)</script>"
        state.record(passage("x1", XSS, reasons=(XSS,), display=(XSS,)))
        state.record(passage("x2", "冀<b>1234", emission_stage="<i>stage</i>"))
        async with serving(state) as (web, _, _):
            console = text(await (await logged_in(web)).get("/"))
            board = text(await Browser(web.url).get("/board"))
            assert "&lt;img src=x onerror=alert(1)&gt;" in console
            assert "&lt;script&gt;alert(2)&lt;/script&gt;" in console
            for page in (console, board):
                assert "<img src=x" not in page
                assert "<script>alert" not in page
                assert "<b>厂" not in page
                assert "<i>stage" not in page
                assert "&lt;b&gt;厂&lt;/b&gt;" in page
                assert "冀&lt;b&gt;1234" in page
            assert "&lt;i&gt;stage&lt;/i&gt;" in console

    run(scenario())


# ---------------------------------------------------------------- images, language, misc


def test_images_are_served_with_their_type_and_404_otherwise() -> None:
    async def scenario() -> None:
        async with serving() as (web, actions, _):
            browser = await logged_in(web)
            jpeg = await browser.get(f"/images/{JPEG_SHA}")
            assert (jpeg.status, jpeg.headers.get("Content-Type")) == (200, "image/jpeg")
            assert jpeg.body == tiny_jpeg()
            png = await browser.get(f"/images/{PNG_SHA.upper()}")
            assert (png.status, png.headers.get("Content-Type")) == (200, "image/png")
            assert ("image", PNG_SHA) in actions.calls
            asked = len(actions.calls)
            assert (await browser.get(f"/images/{'c' * 64}")).status == 404
            assert len(actions.calls) == asked + 1
            for bad in ("xyz", "a" * 63, "g" * 64, "..%2F" + "a" * 60):
                assert (await browser.get(f"/images/{bad}")).status == 404
            assert len(actions.calls) == asked + 1  # invalid names never reach the store

    run(scenario())


def test_lang_en_switches_labels_and_sticks_in_a_cookie() -> None:
    async def scenario() -> None:
        async with serving(make_state(online=False)) as (web, _, _):
            anon = Browser(web.url)
            login_page = text(await anon.get("/login?lang=en"))
            assert 'lang="en"' in login_page
            assert "Guard login" in login_page
            assert "门岗登录" not in login_page
            assert anon.cookies.get("cg_lang") == "en"
            assert "Guard login" in text(await anon.get("/login"))
            board = text(await anon.get("/board"))  # the public board: Chinese only (seed 001)
            assert 'lang="zh-CN"' in board
            assert "离线运行" in board
            assert "门岗登录" in text(await anon.get("/login?lang=zh"))
            browser = await logged_in(web)
            console = text(await browser.get("/?lang=en"))
            assert "Guard console" in console
            assert "Release reason" in console
            assert "放行原因" not in console

    run(scenario())


def test_security_headers_and_static_files() -> None:
    async def scenario() -> None:
        async with serving() as (web, _, _):
            anon = Browser(web.url)
            board = await anon.get("/board")
            assert "script-src 'self'" in (board.headers.get("Content-Security-Policy") or "")
            assert board.headers.get("X-Frame-Options") == "DENY"
            assert board.headers.get("Cache-Control") == "no-store"
            board_css = re.search(r'href="(/static/board/\w+/board\.css)"', text(board))
            assert board_css
            assert (await anon.get(board_css.group(1))).status == 200
            css_url = re.search(
                r'href="(/static/edge\.css\?v=\w+)"', text(await anon.get("/login"))
            )
            assert css_url
            css = await anon.get(css_url.group(1))
            assert css.status == 200
            assert css.headers.get("Content-Type") == "text/css; charset=utf-8"
            assert (await anon.get("/static/../web.py")).status == 404
            assert (await anon.get("/nowhere")).status == 404

    run(scenario())
