"""What the web app, the worker and the hub processes tell each other, over Redis.

The hub runs as its own processes (several behind a load balancer), so nothing here is
in-process state: presence lives in Redis hashes, commands and "something changed" notices
travel on pub/sub channels every hub subscribes to, and command results come back as short-lived
keys the portal polls.

Keys and channels (all JSON):

``edge:presence:<device id>``   hash: online, hub, connected_at, last_seen, outbox_depth,
                                 clock_skew_ms, software_version, disk_free_bytes, devices
``edge:changes``                 channel: ``{tenant_id, site_id, what}`` — a site's snapshot
                                 (policy, alert, registry, lists, bookings) changed
``edge:commands``                channel: one command for one device
``edge:devices``                 channel: ``{device_id}`` — revoked or re-paired: the hub holding
                                 it drops the connection, which must authenticate again
``edge:command:<command id>``    key: the command and its state (sent, ok, failed, offline)
``edge:feed:<site id>``          channel: passages as they are committed (board live feeds)
``edge:snapshot:<site id>``      key: the version of the site's current snapshot (deleted by a
                                 change notice; rebuilt by the first hub that needs it)
``edge:snapshot:<site>:<ver>``   key: that version's body (content-addressed, immutable), so a
                                 hub can diff an old version against a new one
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable
from typing import Any

import redis

log = logging.getLogger(__name__)

CHANGES = "edge:changes"
COMMANDS = "edge:commands"
DEVICES = "edge:devices"
PRESENCE_TTL_SECONDS = 120  # a hub refreshes presence every 20 s; a dead hub's entries expire
COMMAND_TTL_SECONDS = 3600
SNAPSHOT_TTL_SECONDS = 24 * 3600
ACTIONS = ("open_barrier", "show_text", "resync")


def presence_key(device_id: uuid.UUID | str) -> str:
    return f"edge:presence:{device_id}"


def command_key(command_id: str) -> str:
    return f"edge:command:{command_id}"


def snapshot_key(site_id: uuid.UUID | str) -> str:
    return f"edge:snapshot:{site_id}"


def snapshot_body_key(site_id: uuid.UUID | str, version: str) -> str:
    return f"edge:snapshot:{site_id}:{version}"


def feed_channel(site_id: uuid.UUID | str) -> str:
    return f"edge:feed:{site_id}"


# --- presence ---------------------------------------------------------------------------------


def set_presence(client: redis.Redis, device_id: uuid.UUID | str, **fields: Any) -> None:
    """Record (part of) a connected bridge's state; expires unless refreshed."""
    values = {
        k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else str(v)
        for k, v in fields.items()
        if v is not None
    }
    values["last_seen"] = str(time.time())
    pipe = client.pipeline()
    pipe.hset(presence_key(device_id), mapping=values)
    pipe.expire(presence_key(device_id), PRESENCE_TTL_SECONDS)
    pipe.execute()


def mark_offline(client: redis.Redis, device_id: uuid.UUID | str, hub: str) -> None:
    """Only the hub that holds the connection may mark it offline (a newer one may exist)."""
    key = presence_key(device_id)
    current = client.hget(key, "hub")
    if current is None or current.decode() == hub:
        pipe = client.pipeline()
        pipe.hset(key, mapping={"online": "0", "last_seen": str(time.time())})
        pipe.expire(key, PRESENCE_TTL_SECONDS * 30)
        pipe.execute()


def presence(
    client: redis.Redis, device_ids: Iterable[uuid.UUID | str]
) -> dict[str, dict[str, Any]]:
    """``{device id: {online, last_seen, outbox_depth, clock_skew_ms, ...}}`` in one round
    trip; absent → offline. Redis down → ``{}`` (every bridge shows offline; pages still load)."""
    ids = [str(d) for d in device_ids]
    if not ids:
        return {}
    pipe = client.pipeline()
    for device_id in ids:
        pipe.hgetall(presence_key(device_id))
    try:
        answers = pipe.execute()
    except redis.RedisError:
        log.exception("edge presence unavailable")
        return {}
    out: dict[str, dict[str, Any]] = {}
    for device_id, raw in zip(ids, answers, strict=True):
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        out[device_id] = {
            "online": fields.get("online") == "1",
            "last_seen": float(fields["last_seen"]) if "last_seen" in fields else None,
            "outbox_depth": _int(fields.get("outbox_depth")),
            "clock_skew_ms": _int(fields.get("clock_skew_ms")),
            "software_version": fields.get("software_version"),
            "disk_free_bytes": _int(fields.get("disk_free_bytes")),
            "devices": json.loads(fields["devices"]) if "devices" in fields else [],
        }
    return out


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


# --- changes ----------------------------------------------------------------------------------


def notify_site_changed(
    client: redis.Redis, tenant_id: uuid.UUID | str, site_id: uuid.UUID | str, what: str
) -> None:
    """Call after COMMIT of anything in a site's snapshot (policy, alert, registry, lists,
    bookings): the hubs holding that site's bridges push the change within seconds."""
    pipe = client.pipeline()
    pipe.delete(snapshot_key(site_id))  # the cached version is stale now
    pipe.publish(
        CHANGES, json.dumps({"tenant_id": str(tenant_id), "site_id": str(site_id), "what": what})
    )
    pipe.execute()


def notify_device_changed(client: redis.Redis, device_id: uuid.UUID | str) -> None:
    """Call after COMMIT of a revoke or a re-pairing: an open connection authenticated with the
    old status or key is closed at once (4403) instead of living on until it drops."""
    client.publish(DEVICES, json.dumps({"device_id": str(device_id)}))


# --- commands ---------------------------------------------------------------------------------


class BridgeOffline(RuntimeError):
    """The bridge holds no connection to any hub: a command could not reach it."""


def issue_command(
    client: redis.Redis,
    device_id: uuid.UUID | str,
    *,
    action: str,
    issued_by: str,
    lane: str | None = None,
    gate: str | None = None,
    reason: str = "",
    text: str | None = None,
) -> dict[str, Any]:
    """Publish one command to the hub holding the bridge; returns the stored command.

    The caller validates and audits (remote open needs a reason). Raises ``BridgeOffline``
    when no hub holds the bridge, so the portal says so instead of queuing a barrier opening
    that could fire hours later."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if client.hget(presence_key(device_id), "online") != b"1":
        raise BridgeOffline(str(device_id))
    command = {
        "command_id": uuid.uuid4().hex,
        "device_id": str(device_id),
        "action": action,
        "gate": gate,
        "lane": lane,
        "reason": reason,
        "text": text,
        "issued_by": issued_by,
        "issued_at": time.time(),
        "state": "sent",
        "detail": "",
    }
    client.set(command_key(command["command_id"]), json.dumps(command), ex=COMMAND_TTL_SECONDS)
    receivers = client.publish(COMMANDS, json.dumps(command))
    if not receivers:
        _finish(client, command, "offline", "no hub is running")
        raise BridgeOffline(str(device_id))
    return command


def record_command_result(client: redis.Redis, command_id: str, ok: bool, detail: str) -> None:
    raw = client.get(command_key(command_id))
    if raw is None:
        return
    _finish(client, json.loads(raw), "ok" if ok else "failed", detail)


def _finish(client: redis.Redis, command: dict[str, Any], state: str, detail: str) -> None:
    command.update(state=state, detail=detail[:300], finished_at=time.time())
    client.set(command_key(command["command_id"]), json.dumps(command), ex=COMMAND_TTL_SECONDS)


def command_status(client: redis.Redis, command_id: str) -> dict[str, Any] | None:
    raw = client.get(command_key(command_id))
    return json.loads(raw) if raw is not None else None
