"""Live passage feeds for board viewers: ``wss://<hub>/feed/<site id>?token=<token>``.

A token is ``<expires unix>.<hex HMAC-SHA256(key, "<site id>:<expires>")>`` with a key derived
from ``SECRET_KEY``: the portal (or the board page) mints it for one site, the hub checks it
without a database round trip. A viewer receives

- ``{"type": "hello", "site_id"}`` once connected;
- ``{"type": "passages", "site_id", "passages": [...]}`` as the hub commits them (published on
  Redis ``edge:feed:<site>``, so a viewer on any hub sees every bridge's passages); each item
  carries ``board``, the last-vehicle panel as ``saas.compliance.board.passage_view`` makes it;
- ``{"type": "changed"}`` when the site's snapshot changed (alert, plan, site, lists): the
  public board refetches its JSON (docs/board.md).

Viewers send nothing; anything they send is ignored. A bad or expired token closes with 4401.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid


def _key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"cleangate board feed v1", hashlib.sha256).digest()


def feed_token(secret_key: str, site_id: uuid.UUID | str, ttl_seconds: int = 24 * 3600) -> str:
    expires = int(time.time()) + ttl_seconds
    mac = hmac.new(_key(secret_key), f"{site_id}:{expires}".encode(), hashlib.sha256)
    return f"{expires}.{mac.hexdigest()}"


def check_feed_token(secret_key: str, site_id: uuid.UUID | str, token: str) -> bool:
    expires_text, _, mac = token.partition(".")
    if not expires_text.isdigit() or int(expires_text) < time.time():
        return False
    expected = hmac.new(_key(secret_key), f"{site_id}:{expires_text}".encode(), hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), mac)
