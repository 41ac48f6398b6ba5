"""What the public "一厂一策" board shows (seed 001), computed the same way in the cloud and on
the edge box.

The cloud puts a site's ``plan`` section in the snapshot (``saas/policy/plans.py``
``board_section``): enterprise, district, legal representative, industry, rating (管控类型),
the person responsible, remarks, and the measure lines per alert level — phones already masked,
so the edge never holds a full number it would show. :func:`view` turns that section, the alert
in force and the last passage into the strings the page prints. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from saas.compliance.codes import AlertLevel, EmissionStage, Verdict
from saas.compliance.snapshot import Site

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
TITLE = "工业企业落实重污染天气应急响应措施\u201c一厂一策\u201d公示"
NO_ALERT = "当前无预警"
OFFLINE = "离线运行"


def mask_phone(phone: str | None) -> str:
    """``13912345678`` → ``139****5678``; a landline keeps its area code and last four digits;
    anything shorter than seven digits is hidden entirely."""
    if not phone:
        return ""
    text = phone.strip()
    digits = [c for c in text if c.isdigit()]
    if len(digits) < 7:
        return "****"
    if len(digits) == 11 and digits[0] == "1":
        return "".join(digits[:3]) + "****" + "".join(digits[-4:])
    head, sep, tail = text.partition("-")
    if sep and tail:
        tail_digits = [c for c in tail if c.isdigit()]
        return f"{head}-" + "*" * max(len(tail_digits) - 4, 3) + "".join(tail_digits[-4:])
    return "".join(digits[:3]) + "*" * max(len(digits) - 7, 4) + "".join(digits[-4:])


def headline(level: AlertLevel) -> str:
    """``当前重污染天气橙色预警，执行II级应急响应措施`` (seed 001); ``当前无预警`` without one."""
    if level is AlertLevel.NONE:
        return NO_ALERT
    return f"当前重污染天气{level.label_zh}，执行{level.response_level}级应急响应措施"


def local_time(moment: datetime) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(SHANGHAI)


def started_text(since: datetime | None) -> str:
    """``启动时间：2020年12月12日12时`` in Beijing time (seed 001), or empty."""
    if since is None:
        return ""
    t = local_time(since)
    minute = f"{t.minute:02d}分" if t.minute else ""
    return f"启动时间：{t.year}年{t.month}月{t.day}日{t.hour}时{minute}"


VERDICT_TEXT = {
    Verdict.ALLOW.value: ("准许进入", "allow"),
    Verdict.DENY.value: ("禁止进入", "deny"),
    Verdict.REVIEW.value: ("人工核验", "review"),
}
LEAVE_TEXT = "准许离开"  # an exit the gate let through (decision.py's LED line)


def passage_view(passage: Mapping[str, Any] | None) -> dict[str, str] | None:
    """The last vehicle panel: plate, stage line, verdict text and colour class. ``passage`` is
    a feed item (``plate``, ``verdict``, ``emission_stage``, ``captured_at``, optionally
    ``direction`` and ``display`` — the decision's LED lines). The ledger and the edge write
    verdicts in capitals (``ALLOW``) and stages in either case; both are accepted."""
    if not passage:
        return None
    verdict = str(passage.get("verdict") or "").lower()
    text, css = VERDICT_TEXT.get(verdict, ("—", "unknown"))
    if verdict == Verdict.ALLOW.value and passage.get("direction") == "out":
        text = LEAVE_TEXT
    stage_value = str(passage.get("emission_stage") or "").lower()
    try:
        stage = EmissionStage(stage_value).label_zh if stage_value else ""
    except ValueError:
        stage = ""
    display = passage.get("display")
    if isinstance(display, list | tuple) and len(display) >= 4 and str(display[2]).strip():
        stage_line = str(display[2])  # the decision's own phrase: 不符合国V及以上标准 (seed 001)
    elif verdict == Verdict.ALLOW.value:
        stage_line = "符合标准"
    elif verdict == Verdict.DENY.value:
        stage_line = f"不符合管控要求（{stage}）" if stage else "不符合管控要求"
    else:
        stage_line = stage
    captured = passage.get("captured_at")
    moment: datetime | None = captured if isinstance(captured, datetime) else None
    if isinstance(captured, str):
        try:
            moment = datetime.fromisoformat(captured)
        except ValueError:
            moment = None
    return {
        "plate": str(passage.get("plate") or "未识别"),
        "stage": stage_line,
        "verdict": text,
        "verdict_class": css,
        "time": local_time(moment).strftime("%H:%M:%S") if moment else "",
        # UTC, for the page's script: a late upload never replaces a newer vehicle
        "captured_at": local_time(moment).astimezone(UTC).isoformat() if moment else "",
    }


def alert_in_force(site: Site, at: datetime) -> tuple[AlertLevel, datetime | None]:
    """The level a snapshot puts in force at ``at`` and when that alert started (the board's
    启动时间), the way ``saas.policy.alerts.effective_alert`` answers in the cloud: the highest
    covering window, the latest-starting one among equals. Without windows, the snapshot's
    single ``level`` and ``since``."""
    level = site.alert_level_at(at)
    if level is AlertLevel.NONE:
        return level, None
    starts = [
        start
        for start, end, window_level in site.alert_windows
        if window_level is level and start <= at and (end is None or at < end)
    ]
    if starts:
        return level, max(starts)
    since = (site.body.get("alert") or {}).get("since")
    try:
        return level, datetime.fromisoformat(since) if isinstance(since, str) else None
    except ValueError:
        return level, None


def view(
    section: Mapping[str, Any] | None,
    level: AlertLevel,
    since: datetime | None,
    last_passage: Mapping[str, Any] | None,
    now: datetime,
    *,
    offline: bool = False,
) -> dict[str, Any]:
    """Everything the board prints, as plain strings (the template escapes them). ``offline``:
    the edge box lost its cloud link (the board says 离线运行; the gate keeps deciding)."""
    section = section or {}
    measures = section.get("measures") or {}
    lines = measures.get(level.value) or []
    return {
        "title": f"{section.get('city') or ''}{TITLE}",
        "enterprise": str(section.get("enterprise") or ""),
        "district": str(section.get("district") or ""),
        "legal_representative": str(section.get("legal_representative") or ""),
        "legal_phone": str(section.get("legal_phone") or ""),
        "industry": str(section.get("industry") or ""),
        "rating": str(section.get("rating") or ""),
        "responsible": str(section.get("responsible") or ""),
        "responsible_phone": str(section.get("responsible_phone") or ""),
        "remarks": str(section.get("remarks") or ""),
        "level": level.value,
        "headline": headline(level),
        "started": started_text(since) if level is not AlertLevel.NONE else "",
        "measures": [str(line) for line in lines],
        "last": passage_view(last_passage),
        "clock": local_time(now).strftime("%Y-%m-%d %H:%M:%S"),
        "now_ms": int(local_time(now).timestamp() * 1000),  # the page's clock runs from it
        "cargo_url": str(section.get("cargo_url") or ""),
        "offline_text": OFFLINE if offline else "",
    }
