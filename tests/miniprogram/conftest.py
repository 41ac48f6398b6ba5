"""Fixtures of the mini-program tests: the fake WeChat server (a real local HTTP server), the
app pointed at it, and drivers logged in through it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.notify import fakes as f


@pytest.fixture(scope="session")
def wechat_server() -> Iterator[f.FakeWeChat]:
    server = f.FakeWeChat("wechat").start()
    server.reset()
    yield server  # type: ignore[misc]
    server.stop()


@pytest.fixture
def wechat(wechat_server: f.FakeWeChat) -> f.FakeWeChat:
    wechat_server.reset()
    return wechat_server


@pytest.fixture
def mp_app(app: Flask, wechat: f.FakeWeChat) -> Iterator[Flask]:
    """The shared test app with the mini-program's WeChat calls going to the fake."""
    original = app.config["CLEANGATE_SETTINGS"]
    notify = replace(
        original.notify,
        wechat_app_id=f.WECHAT_APPID,
        wechat_app_secret=f.WECHAT_SECRET,
        wechat_api_base=wechat.url,
    )
    app.config["CLEANGATE_SETTINGS"] = replace(original, notify=notify)
    app.extensions.pop("cleangate.mp_wechat", None)
    redis = app.extensions["cleangate.redis"]
    redis.delete(f"cleangate:wechat:{f.WECHAT_APPID}_access_token")
    for key in redis.scan_iter("throttle:mp-login:*"):
        redis.delete(key)
    yield app
    app.config["CLEANGATE_SETTINGS"] = original
    app.extensions.pop("cleangate.mp_wechat", None)


@dataclass
class Driver:
    client: FlaskClient
    openid: str
    user_id: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def get(self, path: str, **kwargs: object):  # type: ignore[no-untyped-def]
        return self.client.get("/mp/v1" + path, headers=self.headers, **kwargs)

    def post(self, path: str, **kwargs: object):  # type: ignore[no-untyped-def]
        return self.client.post("/mp/v1" + path, headers=self.headers, **kwargs)

    def put(self, path: str, **kwargs: object):  # type: ignore[no-untyped-def]
        return self.client.put("/mp/v1" + path, headers=self.headers, **kwargs)

    def patch(self, path: str, **kwargs: object):  # type: ignore[no-untyped-def]
        return self.client.patch("/mp/v1" + path, headers=self.headers, **kwargs)

    def delete(self, path: str, **kwargs: object):  # type: ignore[no-untyped-def]
        return self.client.delete("/mp/v1" + path, headers=self.headers, **kwargs)


def login(client: FlaskClient, wechat: f.FakeWeChat, openid: str | None = None) -> Driver:
    openid = openid or "o" + uuid.uuid4().hex[:27]
    response = client.post("/mp/v1/session", json={"code": wechat.login_code(openid)})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return Driver(client, openid, body["user"]["id"], body["access_token"], body["refresh_token"])


@pytest.fixture
def driver(mp_app: Flask, wechat: f.FakeWeChat) -> Driver:
    return login(mp_app.test_client(), wechat)
