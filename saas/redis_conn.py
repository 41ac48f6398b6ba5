"""Redis connection from ``REDIS_URL``; ``embedded://`` gives an in-process substitute (fakeredis)
so development and the demo run without a Redis server."""

from __future__ import annotations

from typing import Any

import redis

from saas.settings import EMBEDDED_REDIS


def connect(url: str) -> redis.Redis:
    if url == EMBEDDED_REDIS:
        import fakeredis

        server = _embedded_server()
        return fakeredis.FakeRedis(server=server)
    return redis.Redis.from_url(url)


_SERVER: Any = None


def _embedded_server() -> Any:
    """One substitute server per process, shared by every client, like one real Redis."""
    global _SERVER
    if _SERVER is None:
        import fakeredis

        _SERVER = fakeredis.FakeServer()
    return _SERVER
