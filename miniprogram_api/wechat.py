"""The WeChat server APIs the mini-program backend calls, through wechatpy.

- ``code_to_session`` (``GET /sns/jscode2session``): the ``wx.login`` code → openid, unionid
  and ``session_key``.
- ``phone_number`` (``POST /wxa/business/getuserphonenumber``): the getPhoneNumber button's
  code → the user's phone. Needs the app's access token, which wechatpy refreshes and retries
  with once when WeChat answers 40001/40014/42001 (invalid or expired token).

The client is the notification channel's (``saas.notify.channels.wechat.ApiClient``): base URL
configurable for tests, access token in Redis shared by every process and fetched from
``/cgi-bin/stable_token``. WeChat's answers become API errors the mini-program can act on:

| WeChat | here |
|---|---|
| 40029 invalid code, 40163 code been used | 401 ``invalid_code`` |
| 45011 API minute-quota reached | 429 ``wechat_rate_limited`` (Retry-After: 60) |
| -1 system busy | retried twice (0.2 s, 0.6 s), then 503 ``wechat_busy`` |
| network failure or HTTP error | 503 ``wechat_unavailable`` |
| anything else | 502 ``wechat_error`` with the errcode |
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from flask import current_app
from wechatpy.exceptions import WeChatClientException  # type: ignore[import-untyped]
from wechatpy.session.redisstorage import RedisStorage  # type: ignore[import-untyped]

from saas.errors import ApiError
from saas.notify.channels.wechat import ApiClient

BUSY_RETRIES = (0.2, 0.6)
INVALID_CODE = frozenset({40029, 40163})
T = TypeVar("T")


@dataclass(frozen=True)
class WxSession:
    openid: str
    unionid: str | None
    session_key: str


def client() -> ApiClient:
    cached = current_app.extensions.get("cleangate.mp_wechat")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    settings = current_app.config["CLEANGATE_SETTINGS"].notify
    if not (settings.wechat_app_id and settings.wechat_app_secret):
        raise ApiError(503, "miniprogram_not_configured", "小程序未配置 (WECHAT_APP_ID/SECRET)")
    base = settings.wechat_api_base
    base = base if base.endswith("/") else base + "/"
    storage = RedisStorage(current_app.extensions["cleangate.redis"], prefix="cleangate:wechat")
    made = ApiClient(settings.wechat_app_id, settings.wechat_app_secret, base, storage, timeout=10)
    current_app.extensions["cleangate.mp_wechat"] = made
    return made


def _call(action: Callable[[], T], *, invalid_code: str) -> T:
    for pause in (*BUSY_RETRIES, None):
        try:
            return action()
        except requests.RequestException:
            raise ApiError(503, "wechat_unavailable", "微信服务暂时无法连接，请稍后再试") from None
        except WeChatClientException as exc:
            code = exc.errcode
            if code is None:
                raise ApiError(
                    503, "wechat_unavailable", "微信服务暂时无法连接，请稍后再试"
                ) from None
            if code in INVALID_CODE:
                raise ApiError(401, "invalid_code", invalid_code, {"errcode": code}) from None
            if code == 45011:
                raise ApiError(
                    429,
                    "wechat_rate_limited",
                    "微信接口调用过于频繁，请一分钟后再试",
                    {"errcode": code, "retry_after": 60},
                ) from None
            if code == -1 and pause is not None:
                time.sleep(pause)
                continue
            if code == -1:
                raise ApiError(
                    503, "wechat_busy", "微信系统繁忙，请稍后再试", {"errcode": -1}
                ) from None
            raise ApiError(
                502, "wechat_error", f"微信接口返回错误 {code}", {"errcode": code}
            ) from None
    raise AssertionError("unreachable")


def code_to_session(code: str) -> WxSession:
    answer: dict[str, Any] = _call(
        lambda: client().wxa.code_to_session(code),
        invalid_code="登录凭证 code 无效或已使用，请重新调用 wx.login 获取",
    )
    openid = answer.get("openid")
    if not isinstance(openid, str) or not openid:
        raise ApiError(502, "wechat_error", "微信未返回 openid")
    unionid = answer.get("unionid")
    return WxSession(
        openid=openid,
        unionid=unionid if isinstance(unionid, str) and unionid else None,
        session_key=str(answer.get("session_key") or ""),
    )


def phone_number(code: str) -> str:
    """The user's phone (without country code for +86; ``+CC`` prefixed otherwise)."""
    api = client()
    answer: dict[str, Any] = _call(
        lambda: api.post(api.base + "wxa/business/getuserphonenumber", data={"code": code}),
        invalid_code="手机号授权 code 无效或已使用，请重新授权",
    )
    info = answer.get("phone_info") or {}
    watermark = info.get("watermark") or {}
    if watermark.get("appid") != api.appid:
        raise ApiError(502, "wechat_error", "手机号数据不属于本小程序")
    pure = str(info.get("purePhoneNumber") or "")
    country = str(info.get("countryCode") or "86")
    if not pure.isdigit():
        raise ApiError(502, "wechat_error", "微信未返回手机号")
    return pure if country == "86" else f"+{country}{pure}"
