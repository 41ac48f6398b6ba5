"""The local pages' words in Simplified Chinese (first) and English.

The edge installs without Babel (docs/architecture.md), and the guard console and the gate board
need a few dozen labels, so this is a plain table: message id → {"zh": …, "en": …}. ``?lang=en``
on any page sets the ``cg_lang`` cookie (edge_bridge/web.py); Chinese is the default.
"""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES: tuple[str, ...] = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

MESSAGES: dict[str, dict[str, str]] = {
    # chrome
    "app_name": {"zh": "CleanGate 环保门禁", "en": "CleanGate gate control"},
    "console_title": {"zh": "门岗控制台", "en": "Guard console"},
    "board_title": {"zh": "门禁公示", "en": "Gate board"},
    "other_language": {"zh": "English", "en": "中文"},
    "logged_in_as": {"zh": "值班人员：{user}", "en": "On duty: {user}"},
    "logout": {"zh": "退出登录", "en": "Log out"},
    "logout_confirm": {"zh": "确认退出登录？", "en": "Log out now?"},
    "refresh": {"zh": "刷新", "en": "Refresh"},
    "new_data": {
        "zh": "有新数据；提交或清空表单后自动刷新，或点击刷新",
        "en": "New data; the page refreshes once the forms are sent or cleared, or click Refresh",
    },
    "link_lost": {
        "zh": "与本机门禁服务的连接中断，页面数据可能已过时",
        "en": "Lost contact with the local gate service; this page may be out of date",
    },
    # login
    "login_title": {"zh": "门岗登录", "en": "Guard login"},
    "username": {"zh": "用户名", "en": "User name"},
    "password": {"zh": "密码", "en": "Password"},
    "login": {"zh": "登录", "en": "Log in"},
    "login_failed": {"zh": "用户名或密码错误", "en": "Wrong user name or password"},
    "login_rate_limited": {
        "zh": "登录失败次数过多，请 {seconds} 秒后再试",
        "en": "Too many failed logins; try again in {seconds} s",
    },
    "logged_out": {"zh": "已退出登录", "en": "Logged out"},
    # errors
    "error_title": {"zh": "出错了", "en": "Error"},
    "not_found": {"zh": "页面或道闸不存在", "en": "No such page or lane"},
    "forbidden_csrf": {
        "zh": "表单已过期或来源无效，请返回页面后重试",
        "en": "The form expired or did not come from this console; go back and try again",
    },
    "method_not_allowed": {"zh": "不支持的请求方式", "en": "Method not allowed"},
    "back": {"zh": "返回", "en": "Back"},
    # status strip
    "offline": {"zh": "离线运行", "en": "Offline"},
    "offline_detail": {
        "zh": "与云平台的连接已断开：本地按最近一次下发的规则放行，记录暂存待上传",
        "en": "No connection to the cloud: deciding with the last rules received, "
        "records are kept for upload",
    },
    "online": {"zh": "在线", "en": "Online"},
    "alarms": {"zh": "告警", "en": "Alarms"},
    "alert_level": {"zh": "预警等级", "en": "Alert level"},
    "outbox_depth": {"zh": "待上传", "en": "Waiting for upload"},
    "snapshot": {"zh": "规则版本", "en": "Rules version"},
    "snapshot_none": {"zh": "尚未收到规则", "en": "No rules received yet"},
    "clock_skew": {"zh": "时钟偏差", "en": "Clock skew"},
    "disk_free": {"zh": "磁盘剩余", "en": "Disk free"},
    "last_connected": {"zh": "最近连接", "en": "Last connected"},
    "never": {"zh": "从未", "en": "never"},
    "version": {"zh": "软件版本", "en": "Software version"},
    "ago_seconds": {"zh": "{n} 秒前", "en": "{n} s ago"},
    "ago_minutes": {"zh": "{n} 分钟前", "en": "{n} min ago"},
    "ago_hours": {"zh": "{n} 小时前", "en": "{n} h ago"},
    "ago_days": {"zh": "{n} 天前", "en": "{n} d ago"},
    "unknown": {"zh": "未知", "en": "unknown"},
    # alert levels (预警等级)
    "alert_none": {"zh": "无", "en": "none"},
    "alert_yellow": {"zh": "黄色", "en": "yellow"},
    "alert_orange": {"zh": "橙色", "en": "orange"},
    "alert_red": {"zh": "红色", "en": "red"},
    # lanes
    "lanes": {"zh": "车道", "en": "Lanes"},
    "gate": {"zh": "出入口", "en": "Gate"},
    "lane": {"zh": "车道", "en": "Lane"},
    "direction": {"zh": "方向", "en": "Direction"},
    "dir_in": {"zh": "进", "en": "in"},
    "dir_out": {"zh": "出", "en": "out"},
    "devices": {"zh": "设备", "en": "Devices"},
    "device_camera": {"zh": "相机", "en": "camera"},
    "device_barrier": {"zh": "道闸", "en": "barrier"},
    "device_display": {"zh": "显示屏", "en": "display"},
    "last_passage": {"zh": "最近通行", "en": "Last passage"},
    "no_passage": {"zh": "暂无通行记录", "en": "No passage yet"},
    "plate": {"zh": "车牌", "en": "Plate"},
    "plate_color": {"zh": "车牌颜色", "en": "Plate colour"},
    "verdict": {"zh": "结果", "en": "Verdict"},
    "reasons": {"zh": "原因", "en": "Reasons"},
    "led": {"zh": "显示屏内容", "en": "LED text"},
    "time": {"zh": "时间", "en": "Time"},
    "photo": {"zh": "照片", "en": "Photo"},
    "emission_stage": {"zh": "排放阶段", "en": "Emission stage"},
    "barrier_opened": {"zh": "道闸已开", "en": "Barrier opened"},
    "barrier_closed": {"zh": "道闸未开", "en": "Barrier not opened"},
    "manual": {"zh": "人工操作", "en": "Manual"},
    "manual_release": {"zh": "人工放行", "en": "Manual release"},
    "manual_typed": {"zh": "手工录入", "en": "Typed plate"},
    "operator": {"zh": "操作人", "en": "Operator"},
    "release_reason": {"zh": "放行原因", "en": "Release reason"},
    "release_reason_hint": {
        "zh": "必填：说明为何人工放行（如：车牌污损已核对行驶证）",
        "en": "Required: why the barrier is opened by hand",
    },
    "release_button": {"zh": "人工放行", "en": "Open barrier"},
    "release_reason_required": {
        "zh": "请填写放行原因，未执行放行",
        "en": "Enter the release reason (放行原因); the barrier was not opened",
    },
    "text_too_long": {"zh": "{field}过长（最多 {n} 字）", "en": "{field} too long (at most {n})"},
    "typed_plate_title": {"zh": "手工录入车牌", "en": "Type the plate"},
    "typed_plate_button": {"zh": "提交车牌", "en": "Decide"},
    "plate_required": {"zh": "请填写车牌号码，未提交", "en": "Enter the plate; nothing was sent"},
    "color_invalid": {"zh": "车牌颜色无效，未提交", "en": "Unknown plate colour; nothing was sent"},
    "color_unset": {"zh": "未确定", "en": "not sure"},
    "released_flash": {
        "zh": "{lane} 已人工放行（{verdict}）",
        "en": "{lane} released by hand ({verdict})",
    },
    "typed_flash": {
        "zh": "{lane} 车牌 {plate}：{verdict}",
        "en": "{lane} plate {plate}: {verdict}",
    },
    "action_failed": {"zh": "{lane} 操作失败：{error}", "en": "{lane} failed: {error}"},
    "recent": {"zh": "最近通行记录", "en": "Recent passages"},
    "none_yet": {"zh": "暂无记录", "en": "Nothing yet"},
    # plate colours: the console's select (short forms) and tables
    "color_blue": {"zh": "蓝", "en": "blue"},
    "color_yellow": {"zh": "黄", "en": "yellow"},
    "color_green": {"zh": "绿", "en": "green"},
    "color_yellow_green": {"zh": "黄绿", "en": "yellow-green"},
    "color_white": {"zh": "白", "en": "white"},
    "color_black": {"zh": "黑", "en": "black"},
    "color_other": {"zh": "其他", "en": "other"},
    # verdicts
    "verdict_allow": {"zh": "放行", "en": "allowed"},
    "verdict_deny": {"zh": "禁止", "en": "denied"},
    "verdict_review": {"zh": "人工核验", "en": "manual check"},
    # counts
    "today_in": {"zh": "今日进厂", "en": "In today"},
    "today_out": {"zh": "今日出厂", "en": "Out today"},
    "plate_unreadable": {"zh": "未识别", "en": "not read"},
    # decision reasons (saas.compliance.REASON_CODES)
    "reason_plate_unreadable": {"zh": "车牌未识别", "en": "plate not read"},
    "reason_plate_invalid": {"zh": "车牌格式无效", "en": "invalid plate"},
    "reason_low_confidence": {"zh": "识别置信度低", "en": "low read confidence"},
    "reason_blacklisted": {"zh": "黑名单车辆", "en": "blacklisted"},
    "reason_unregistered_vehicle": {"zh": "未登记车辆", "en": "vehicle not registered"},
    "reason_new_energy_plate": {"zh": "新能源车辆", "en": "new-energy plate"},
    "reason_whitelisted": {"zh": "白名单车辆", "en": "whitelisted"},
    "reason_exemption_applied": {"zh": "豁免车辆", "en": "exemption applied"},
    "reason_exemption_stage_below_minimum": {
        "zh": "豁免车辆排放阶段不足",
        "en": "exempt vehicle below minimum stage",
    },
    "reason_stage_below_minimum": {"zh": "排放阶段不符合要求", "en": "emission stage too low"},
    "reason_alert_restriction": {"zh": "重污染天气预警管控", "en": "alert restriction"},
    "reason_baseline_restriction": {"zh": "常态管控", "en": "baseline restriction"},
    "reason_review_rule": {"zh": "规则要求人工核验", "en": "rule asks for a check"},
    "reason_no_matching_rule": {"zh": "无匹配规则", "en": "no matching rule"},
    "reason_outside_booking": {"zh": "不在预约时段", "en": "outside booking"},
    "reason_stage_inferred": {"zh": "排放阶段为推断值", "en": "stage inferred"},
    "reason_exit_violation": {"zh": "出厂异常", "en": "exit violation"},
}


def translator(lang: str) -> Callable[..., str]:
    """``t(message_id, **values)`` in ``lang``; an unknown id comes back as itself (visible)."""
    if lang not in LANGUAGES:
        lang = DEFAULT_LANGUAGE

    def t(message_id: str, /, **values: object) -> str:
        entry = MESSAGES.get(message_id)
        if entry is None:
            return message_id
        text = entry.get(lang) or entry[DEFAULT_LANGUAGE]
        return text.format(**values) if values else text

    return t


def has_message(message_id: str) -> bool:
    return message_id in MESSAGES
