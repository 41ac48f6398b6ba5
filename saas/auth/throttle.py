"""Login rate limiting per client address, in Redis (fixed one-minute windows)."""

from __future__ import annotations

import time

import redis


def hit(client: redis.Redis, key: str, limit: int, window_seconds: int = 60) -> bool:
    """Count one attempt; True while the caller is within ``limit`` per window."""
    bucket = f"throttle:{key}:{int(time.time()) // window_seconds}"
    pipe = client.pipeline()
    pipe.incr(bucket)
    pipe.expire(bucket, window_seconds * 2)
    count, _ = pipe.execute()
    return int(count) <= limit
