"""The simulator channel (development, demo, console): no network. Every message is appended
as one JSON line to ``NOTIFY_SIMULATOR_FILE`` (``var/notify-simulator.jsonl``) and kept in a
small in-memory ring of this process. Like a real receiver it is idempotent on the sender's
key: a message it has already taken is acknowledged again without a second line."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from saas.notify.channels import Outgoing
from saas.settings import NotifySettings

_LOCK = threading.Lock()
_RECENT: deque[dict[str, Any]] = deque(maxlen=500)
_SEEN: dict[str, str] = {}


class Simulator:
    provider = "simulator"

    def __init__(self, kind: str, path: Path) -> None:
        self.kind = kind
        self.path = path

    @classmethod
    def for_kind(cls, kind: str) -> Callable[[NotifySettings, redis.Redis], Simulator]:
        def factory(settings: NotifySettings, _client: redis.Redis) -> Simulator:
            return cls(kind, settings.simulator_file)

        return factory

    def send(self, message: Outgoing) -> str:
        provider_id = f"sim-{message.id.hex[:16]}"
        record = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "channel": self.kind,
            "recipient": message.recipient,
            "template": message.template,  # alert_started … | booking_result
            "subject": message.subject,
            "text": message.text,
            "key": message.idempotency_key,
            "provider_message_id": provider_id,
        }
        with _LOCK:
            if message.idempotency_key in _SEEN:
                return _SEEN[message.idempotency_key]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            _SEEN[message.idempotency_key] = provider_id
            if len(_SEEN) > 10_000:
                _SEEN.pop(next(iter(_SEEN)))
            _RECENT.append(record)
        return provider_id


def recent(limit: int = 50) -> list[dict[str, Any]]:
    """The newest simulated messages of this process, newest first (for the console)."""
    with _LOCK:
        return list(reversed(_RECENT))[:limit]


def read_file(path: Path, limit: int = 50) -> list[dict[str, Any]]:
    """The newest lines of a simulator file (other processes' messages too), newest first."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()[-limit:]
    return [json.loads(line) for line in reversed(lines) if line.strip()]
