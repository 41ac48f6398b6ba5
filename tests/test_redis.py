"""Redis: the embedded substitute in development, a real server when configured."""

from __future__ import annotations

import uuid

import pytest

from saas.auth import throttle
from saas.redis_conn import connect
from saas.settings import EMBEDDED_REDIS
from tests import services


@pytest.fixture(params=["embedded", "real"])
def redis_client(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    if request.param == "embedded":
        return connect(EMBEDDED_REDIS)
    services.real_redis()  # skips, or fails under CLEANGATE_REQUIRE_SERVICES=1
    return connect(services.REDIS_URL)


def test_embedded_clients_share_one_server() -> None:
    key = f"test:{uuid.uuid4()}"
    connect(EMBEDDED_REDIS).set(key, "1")
    assert connect(EMBEDDED_REDIS).get(key) == b"1"


def test_throttle_counts_within_a_window(redis_client) -> None:  # type: ignore[no-untyped-def]
    key = f"test:{uuid.uuid4()}"
    assert [throttle.hit(redis_client, key, limit=3) for _ in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    ttl_keys = [k for k in redis_client.keys(f"throttle:{key}:*")]
    assert len(ttl_keys) == 1
    assert 0 < redis_client.ttl(ttl_keys[0]) <= 120
