"""The bridge's copy of its site snapshot: applied from the hub, kept on disk so a restart while
the plant is offline still decides on the last rules it knew.

A box that has never synced decides on the strictest built-in policy (``c_enterprise``) with an
empty registry — every truck waits for the guard — and says so in an alarm.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from saas.compliance import load_template
from saas.compliance import snapshot as snap

log = logging.getLogger(__name__)

FALLBACK_TEMPLATE = "c_enterprise"


def fallback_body() -> dict[str, Any]:
    return {
        "policy": load_template(FALLBACK_TEMPLATE).to_dict(),
        "alert": {"level": "none", "since": None, "id": None},
        "registry": {},
        "black": {},
        "white": {},
        "bookings": [],
    }


class SnapshotStore:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "snapshot.json"
        self.synced = False  # a snapshot from the cloud (now or before a restart) is in force
        self.site = snap.Site(fallback_body())
        if self.path.exists():
            try:
                self.site = snap.Site(json.loads(self.path.read_text(encoding="utf-8")))
                self.synced = True
            except (ValueError, KeyError) as exc:
                log.error("ignoring unreadable %s: %s", self.path, exc)

    @property
    def version(self) -> str | None:
        return self.site.version if self.synced else None

    def replace(self, body: dict[str, Any], version: str) -> bool:
        """Install a full snapshot; False (and nothing changed) if it does not match its
        version or does not parse."""
        if snap.version(body) != version:
            log.error("snapshot digest mismatch; asking for a resync")
            return False
        try:
            site = snap.Site(body)
        except Exception:
            log.exception("snapshot from the cloud does not parse; keeping the previous one")
            return False
        self._persist(body)
        self.site, self.synced = site, True
        return True

    def apply_delta(self, base: str, version: str, changes: dict[str, Any]) -> bool:
        """Apply a delta on top of ``base``; False means "resync" (gap or digest mismatch)."""
        if not self.synced or self.site.version != base:
            return False
        try:
            body = snap.apply(self.site.body, changes)
        except (ValueError, KeyError, TypeError, AttributeError):
            return False
        return self.replace(body, version)

    def _persist(self, body: dict[str, Any]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "wb") as handle:
            handle.write(json.dumps(body, ensure_ascii=False).encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
