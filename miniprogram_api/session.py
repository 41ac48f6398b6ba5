"""Login, token refresh, logout, the driver's profile and phone binding."""

from __future__ import annotations

from typing import Annotated

from flask import current_app, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from miniprogram_api import auth, registry, wechat
from saas.auth import throttle
from saas.db import get_session, utcnow
from saas.errors import ApiError
from saas.models.miniprogram import MpUser

WxCode = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LoginIn(_Strict):
    code: WxCode  # from wx.login()


class RefreshIn(_Strict):
    refresh_token: Annotated[str, Field(min_length=1, max_length=200)]


class PhoneIn(_Strict):
    code: WxCode  # from the getPhoneNumber button's bindgetphonenumber event


class ProfilePatch(_Strict):
    display_name: Annotated[str, Field(min_length=1, max_length=50)]


class TokenOut(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str


class LoginOut(TokenOut):
    user: ProfileOut


class ProfileOut(BaseModel):
    id: str
    display_name: str | None
    phone: str | None  # masked: 138****5678
    phone_bound: bool


LoginOut.model_rebuild()


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return None
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def profile(user: MpUser) -> dict[str, object]:
    return {
        "id": str(user.id),
        "display_name": user.display_name,
        "phone": mask_phone(user.phone),
        "phone_bound": user.phone is not None,
    }


def _throttle() -> None:
    limit = current_app.config["CLEANGATE_SETTINGS"].miniprogram.login_limit_per_minute
    address = request.remote_addr or "unknown"
    if not throttle.hit(current_app.extensions["cleangate.redis"], f"mp-login:{address}", limit):
        raise ApiError(429, "rate_limited", "登录尝试过于频繁，请一分钟后再试", {"retry_after": 60})


@registry.route(
    "/session",
    "POST",
    summary="登录：以 wx.login 的 code 换取访问令牌（code2Session）",
    tags=["session"],
    permission=None,
    body=LoginIn,
    response=LoginOut,
)
def login(body: LoginIn) -> ResponseReturnValue:
    _throttle()
    found = wechat.code_to_session(body.code)
    session = get_session()
    user = session.scalars(select(MpUser).where(MpUser.openid == found.openid)).one_or_none()
    now = utcnow()
    if user is None:
        user = MpUser(openid=found.openid, unionid=found.unionid, last_login_at=now)
        session.add(user)
    else:
        if user.disabled:
            raise ApiError(403, "account_disabled", "账号已停用")
        user.last_login_at = now
        user.unionid = found.unionid or user.unionid
    session.commit()
    if found.session_key:
        auth.keep_session_key(user.id, found.session_key)
    return {**auth.token_pair(user.id), "user": profile(user)}


@registry.route(
    "/session/refresh",
    "POST",
    summary="以 refresh_token 换取新的令牌对（refresh_token 只能用一次）",
    tags=["session"],
    permission=None,
    body=RefreshIn,
    response=TokenOut,
)
def refresh(body: RefreshIn) -> ResponseReturnValue:
    user_id = auth.use_refresh(body.refresh_token)
    user = get_session().get(MpUser, user_id)
    if user is None or user.disabled:
        raise ApiError(401, "account_disabled", "账号不存在或已停用")
    return auth.token_pair(user_id)


@registry.route(
    "/session/logout",
    "POST",
    summary="退出登录（作废 refresh_token）",
    tags=["session"],
    permission=None,
    body=RefreshIn,
    status=204,
)
def logout(body: RefreshIn) -> ResponseReturnValue:
    auth.revoke_refresh(body.refresh_token)
    return "", 204


@registry.route(
    "/me",
    "GET",
    summary="当前用户",
    tags=["session"],
    permission=None,
    secured=True,
    response=ProfileOut,
)
def me() -> ResponseReturnValue:
    user = get_session().get(MpUser, auth.current_user_id())
    assert user is not None  # driver_required checked it
    return profile(user)


@registry.route(
    "/me",
    "PATCH",
    summary="修改称呼",
    tags=["session"],
    permission=None,
    secured=True,
    body=ProfilePatch,
    response=ProfileOut,
)
def patch_me(body: ProfilePatch) -> ResponseReturnValue:
    session = get_session()
    user = session.get(MpUser, auth.current_user_id())
    assert user is not None
    user.display_name = body.display_name
    session.commit()
    return profile(user)


@registry.route(
    "/me/phone",
    "POST",
    summary="绑定手机号：getPhoneNumber 按钮返回的 code（getuserphonenumber）",
    tags=["session"],
    permission=None,
    secured=True,
    body=PhoneIn,
    response=ProfileOut,
)
def bind_phone(body: PhoneIn) -> ResponseReturnValue:
    phone = wechat.phone_number(body.code)
    session = get_session()
    user = session.get(MpUser, auth.current_user_id())
    assert user is not None
    user.phone = phone
    user.phone_bound_at = utcnow()
    session.commit()
    return profile(user)
