"""Login through code2Session, tokens, phone binding — against the fake WeChat server."""

from __future__ import annotations

import time
import uuid

from flask import Flask

from miniprogram_api import auth
from tests.miniprogram.conftest import Driver, login
from tests.notify import fakes as f


def test_login_issues_tokens_and_keeps_the_session_key_server_side(
    mp_app: Flask, wechat: f.FakeWeChat
) -> None:
    client = mp_app.test_client()
    code = wechat.login_code("o-driver-0001", unionid="u-0001")
    response = client.post("/mp/v1/session", json={"code": code})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "user"}
    assert "session_key" not in response.get_data(as_text=True)
    assert "o-driver-0001" not in response.get_data(as_text=True)  # the openid stays ours
    call = next(r for r in wechat.requests if r.path == "/sns/jscode2session")
    assert call.query["js_code"] == code
    assert call.query["grant_type"] == "authorization_code"
    redis = mp_app.extensions["cleangate.redis"]
    assert redis.get(f"cleangate:mp:session-key:{body['user']['id']}")
    me = client.get("/mp/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.get_json()["id"] == body["user"]["id"]
    # The same WeChat user logging in again is the same user.
    again = login(client, wechat, "o-driver-0001")
    assert again.user_id == body["user"]["id"]


def test_invalid_and_used_codes_are_401_with_a_clear_message(
    mp_app: Flask, wechat: f.FakeWeChat
) -> None:
    client = mp_app.test_client()
    bad = client.post("/mp/v1/session", json={"code": "0" * 32})
    assert bad.status_code == 401
    assert bad.get_json()["error"]["code"] == "invalid_code"
    assert "wx.login" in bad.get_json()["error"]["message"]
    code = wechat.login_code("o-used")
    assert client.post("/mp/v1/session", json={"code": code}).status_code == 200
    used = client.post("/mp/v1/session", json={"code": code})
    assert used.status_code == 401
    assert used.get_json()["error"]["details"]["errcode"] == 40163
    shape = client.post("/mp/v1/session", json={"code": "not a code!"})
    assert shape.status_code == 422
    assert "code" in shape.get_json()["error"]["details"]["fields"]


def test_wechat_rate_limit_and_busy(mp_app: Flask, wechat: f.FakeWeChat) -> None:
    client = mp_app.test_client()
    wechat.fail_next(1, 200, {"errcode": 45011, "errmsg": "api minute-quota reach limit"})
    limited = client.post("/mp/v1/session", json={"code": wechat.login_code("o-rl")})
    assert limited.status_code == 429
    assert limited.get_json()["error"]["code"] == "wechat_rate_limited"
    # System busy twice: retried, and the third attempt logs in.
    wechat.fail_next(2, 200, {"errcode": -1, "errmsg": "system error"})
    ok = client.post("/mp/v1/session", json={"code": wechat.login_code("o-busy")})
    assert ok.status_code == 200
    wechat.fail_next(3, 200, {"errcode": -1, "errmsg": "system error"})
    busy = client.post("/mp/v1/session", json={"code": wechat.login_code("o-busy2")})
    assert busy.status_code == 503
    assert busy.get_json()["error"]["code"] == "wechat_busy"


def test_phone_binding_refreshes_an_expired_access_token(
    driver: Driver, wechat: f.FakeWeChat
) -> None:
    first = driver.post("/me/phone", json={"code": wechat.phone_code("13812345678")})
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["phone"] == "138****5678"
    tokens_before = len(wechat.token_requests)
    wechat.expire_tokens()  # WeChat now answers 42001 to the cached token
    second = driver.post("/me/phone", json={"code": wechat.phone_code("13900001111")})
    assert second.status_code == 200, second.get_json()
    assert second.get_json()["phone"] == "139****1111"
    assert len(wechat.token_requests) == tokens_before + 1  # wechatpy refreshed and retried
    answers = [r for r in wechat.requests if r.path == "/wxa/business/getuserphonenumber"]
    assert len(answers) == 3  # first bind, the 42001 refusal, the retry
    bad = driver.post("/me/phone", json={"code": "pnope"})
    assert bad.status_code == 401
    assert bad.get_json()["error"]["code"] == "invalid_code"


def test_refresh_token_works_once_and_logout_revokes(driver: Driver) -> None:
    client = driver.client
    first = client.post("/mp/v1/session/refresh", json={"refresh_token": driver.refresh_token})
    assert first.status_code == 200
    replay = client.post("/mp/v1/session/refresh", json={"refresh_token": driver.refresh_token})
    assert replay.status_code == 401
    assert replay.get_json()["error"]["code"] == "refresh_invalid"
    fresh = first.get_json()["refresh_token"]
    assert client.post("/mp/v1/session/logout", json={"refresh_token": fresh}).status_code == 204
    gone = client.post("/mp/v1/session/refresh", json={"refresh_token": fresh})
    assert gone.status_code == 401


def test_access_token_checks(mp_app: Flask, driver: Driver) -> None:
    client = driver.client
    assert client.get("/mp/v1/me").status_code == 401
    tampered = driver.access_token[:-3] + ("AAA" if driver.access_token[-3:] != "AAA" else "BBB")
    r = client.get("/mp/v1/me", headers={"Authorization": f"Bearer {tampered}"})
    assert r.status_code == 401
    assert r.get_json()["error"]["code"] == "token_invalid"
    with mp_app.app_context():
        old, _ = auth.issue_access(uuid.UUID(driver.user_id), now=time.time() - 7200)
    r = client.get("/mp/v1/me", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401
    assert r.get_json()["error"]["code"] == "token_expired"
    # A portal API token is not a mini-program token, and the reverse.
    r = client.get("/api/v1/me", headers=driver.headers)
    assert r.status_code == 401


def test_openapi_document_lists_the_routes(mp_app: Flask) -> None:
    doc = mp_app.test_client().get("/mp/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert "/mp/v1/session" in doc["paths"]
    assert doc["paths"]["/mp/v1/me"]["get"]["security"] == [{"driver": []}]
    assert "security" not in doc["paths"]["/mp/v1/session"]["post"]
