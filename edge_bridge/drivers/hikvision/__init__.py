"""Hikvision ANPR cameras and barrier relays over ISAPI (HTTP push + Digest-auth commands).

Protocol: docs/drivers/hikvision.md (facts from software.md §5.1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_bridge.drivers.base import DeviceKind, DriverManifest
from edge_bridge.drivers.hikvision.driver import (
    HikvisionBarrier,
    HikvisionSource,
    IsapiDevice,
    isapi_client,
)

if TYPE_CHECKING:
    from edge_bridge.drivers.registry import DriverRegistry

MANIFEST = DriverManifest(
    name="hikvision",
    title="Hikvision ISAPI (ANPR push, barrierGate)",
    kinds=frozenset({DeviceKind.PLATE_SOURCE, DeviceKind.BARRIER}),
    protocol_doc="docs/drivers/hikvision.md",
    iot_class="local_push",
)


def register(registry: DriverRegistry) -> None:
    registry.register_driver(MANIFEST, DeviceKind.PLATE_SOURCE, HikvisionSource.from_config)
    registry.register_driver(MANIFEST, DeviceKind.BARRIER, HikvisionBarrier.from_config)


__all__ = [
    "MANIFEST",
    "HikvisionBarrier",
    "HikvisionSource",
    "IsapiDevice",
    "isapi_client",
    "register",
]
