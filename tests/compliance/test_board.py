"""The public board's view model (saas/compliance/board.py), shared by cloud and edge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from saas.compliance import board
from saas.compliance.codes import AlertLevel
from saas.compliance.snapshot import Site
from saas.compliance.templates import load_template

NOW = datetime(2020, 12, 12, 4, 30, 15, tzinfo=UTC)  # 12:30:15 in Beijing (seed 001's day)

SECTION: dict[str, Any] = {
    "city": "XX市",
    "enterprise": "XX市XX区XXXX有限公司",
    "district": "XX区",
    "legal_representative": "张XX",
    "legal_phone": "139****5678",
    "industry": "塑料制品",
    "rating": "C级",
    "responsible": "王XX",
    "responsible_phone": "138****4321",
    "remarks": "省重点出口企业",
    "measures": {
        "none": ["常态化管控"],
        "orange": ["停推台锯2台（共4台）", "停止使用国四及以下重型载货车辆（含燃气）进行物料运输"],
    },
    "cargo_url": "https://cloud.example/mp/cargo/s1",
}


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13912345678", "139****5678"),
        (" 139 1234 5678 ", "139****5678"),
        ("0315-7654321", "0315-***4321"),
        ("031512345678", "031*****5678"),
        ("12345", "****"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_phone(phone: str | None, masked: str) -> None:
    assert board.mask_phone(phone) == masked


def test_headline_and_start_time_as_seed_001_prints_them() -> None:
    assert board.headline(AlertLevel.ORANGE) == "当前重污染天气橙色预警，执行II级应急响应措施"
    assert board.headline(AlertLevel.NONE) == "当前无预警"
    assert board.started_text(datetime(2020, 12, 12, 4, 0, tzinfo=UTC)) == (
        "启动时间：2020年12月12日12时"
    )
    assert board.started_text(datetime(2020, 12, 12, 4, 5)) == "启动时间：2020年12月12日12时05分"
    assert board.started_text(None) == ""


def test_view_of_an_orange_alert_prints_every_field_of_the_deck() -> None:
    since = datetime(2020, 12, 12, 4, 0, tzinfo=UTC)
    last = {"plate": "津A54321", "verdict": "ALLOW", "captured_at": NOW.isoformat()}
    out = board.view(SECTION, AlertLevel.ORANGE, since, last, NOW)
    assert out["title"] == "XX市工业企业落实重污染天气应急响应措施\u201c一厂一策\u201d公示"
    assert (out["enterprise"], out["district"], out["rating"]) == (
        "XX市XX区XXXX有限公司",
        "XX区",
        "C级",
    )
    assert (out["legal_representative"], out["legal_phone"]) == ("张XX", "139****5678")
    assert (out["responsible"], out["responsible_phone"]) == ("王XX", "138****4321")
    assert out["headline"] == "当前重污染天气橙色预警，执行II级应急响应措施"
    assert out["started"] == "启动时间：2020年12月12日12时"
    assert out["measures"] == SECTION["measures"]["orange"]
    assert out["last"]["plate"] == "津A54321"
    assert (out["last"]["verdict"], out["last"]["verdict_class"]) == ("准许进入", "allow")
    assert out["clock"] == "2020-12-12 12:30:15"
    assert out["now_ms"] == int(NOW.timestamp() * 1000)
    assert out["cargo_url"] == SECTION["cargo_url"]
    assert out["offline_text"] == ""


def test_no_alert_shows_the_ordinary_day_and_no_start_time() -> None:
    out = board.view(SECTION, AlertLevel.NONE, NOW, None, NOW, offline=True)
    assert out["headline"] == "当前无预警"
    assert out["started"] == ""
    assert out["measures"] == ["常态化管控"]
    assert out["last"] is None
    assert out["offline_text"] == "离线运行"
    empty = board.view(None, AlertLevel.RED, None, None, NOW.replace(tzinfo=None))
    assert empty["title"].startswith("工业企业")
    assert empty["measures"] == []
    assert empty["clock"] == "2020-12-12 12:30:15"  # a naive time is UTC


@pytest.mark.parametrize(
    ("item", "stage", "verdict", "css"),
    [
        ({"verdict": "ALLOW"}, "符合标准", "准许进入", "allow"),
        ({"verdict": "allow", "direction": "out"}, "符合标准", "准许离开", "allow"),
        (
            {"verdict": "DENY", "emission_stage": "CN4"},
            "不符合管控要求（国四）",
            "禁止进入",
            "deny",
        ),
        ({"verdict": "DENY", "emission_stage": "cn9"}, "不符合管控要求", "禁止进入", "deny"),
        ({"verdict": "REVIEW", "emission_stage": "cn5"}, "国五", "人工核验", "review"),
        ({"verdict": "maybe"}, "", "—", "unknown"),
        (
            {"verdict": "DENY", "display": ["津A12345", "国四", "不符合国V及以上标准", "禁止进入"]},
            "不符合国V及以上标准",
            "禁止进入",
            "deny",
        ),
        (
            {"verdict": "ALLOW", "display": ["津A1", "国六", "准许进入"]},
            "符合标准",
            "准许进入",
            "allow",
        ),
    ],
)
def test_last_vehicle_panel(item: dict[str, Any], stage: str, verdict: str, css: str) -> None:
    out = board.passage_view({"plate": "津A12345", **item})
    assert out is not None
    assert (out["stage"], out["verdict"], out["verdict_class"]) == (stage, verdict, css)


def test_last_vehicle_time_and_missing_values() -> None:
    assert board.passage_view(None) is None
    assert board.passage_view({}) is None
    aware = board.passage_view({"plate": "", "captured_at": "2020-12-12T04:30:15+00:00"})
    assert aware is not None
    assert (aware["plate"], aware["time"]) == ("未识别", "12:30:15")
    assert aware["captured_at"] == "2020-12-12T04:30:15+00:00"
    moment = board.passage_view({"plate": "冀B1", "captured_at": NOW + timedelta(hours=1)})
    assert moment is not None
    assert moment["time"] == "13:30:15"
    for junk in ("yesterday", 12, None):
        out = board.passage_view({"plate": "冀B1", "captured_at": junk})
        assert out is not None
        assert (out["time"], out["captured_at"]) == ("", "")


def _site(alert: dict[str, Any]) -> Site:
    return Site({"policy": load_template("c_enterprise").to_dict(), "alert": alert})


def test_alert_in_force_from_snapshot_windows() -> None:
    t = NOW
    windows = [
        {"level": "yellow", "starts_at": (t - timedelta(days=1)).isoformat(), "ends_at": None},
        {"level": "orange", "starts_at": (t - timedelta(hours=5)).isoformat(), "ends_at": None},
        {
            "level": "orange",
            "starts_at": (t - timedelta(hours=2)).isoformat(),
            "ends_at": (t + timedelta(hours=2)).isoformat(),
        },
        {"level": "red", "starts_at": (t + timedelta(hours=1)).isoformat(), "ends_at": None},
    ]
    site = _site({"level": "yellow", "since": None, "windows": windows})
    assert board.alert_in_force(site, t) == (AlertLevel.ORANGE, t - timedelta(hours=2))
    assert board.alert_in_force(site, t + timedelta(hours=1)) == (
        AlertLevel.RED,
        t + timedelta(hours=1),
    )
    over = _site({"level": "none", "windows": [windows[2]]})
    assert board.alert_in_force(over, t + timedelta(hours=3)) == (AlertLevel.NONE, None)


def test_alert_in_force_without_windows_uses_level_and_since() -> None:
    since = NOW - timedelta(hours=3)
    assert board.alert_in_force(_site({"level": "red", "since": since.isoformat()}), NOW) == (
        AlertLevel.RED,
        since,
    )
    assert board.alert_in_force(_site({"level": "red", "since": "junk"}), NOW) == (
        AlertLevel.RED,
        None,
    )
    assert board.alert_in_force(_site({"level": "yellow"}), NOW) == (AlertLevel.YELLOW, None)
    assert board.alert_in_force(_site({}), NOW) == (AlertLevel.NONE, None)
