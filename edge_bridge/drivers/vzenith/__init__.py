"""Vzenith 臻识 and the AlarmInfoPlate family (HTTP JSON push, command in the reply).

Protocol: docs/drivers/vzenith.md (facts from software.md §5.3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_bridge.drivers.base import DeviceKind, DriverManifest
from edge_bridge.drivers.vzenith.driver import (
    DEFAULT_HUB,
    CameraLink,
    VzenithBarrier,
    VzenithDisplay,
    VzenithHub,
    VzenithSource,
    led_encoder,
)

if TYPE_CHECKING:
    from edge_bridge.drivers.registry import DriverRegistry

MANIFEST = DriverManifest(
    name="vzenith",
    title="Vzenith 臻识 / AlarmInfoPlate HTTP push",
    kinds=frozenset({DeviceKind.PLATE_SOURCE, DeviceKind.BARRIER, DeviceKind.DISPLAY}),
    protocol_doc="docs/drivers/vzenith.md",
    iot_class="local_push",
)


def register(registry: DriverRegistry) -> None:
    registry.register_driver(MANIFEST, DeviceKind.PLATE_SOURCE, VzenithSource.from_config)
    registry.register_driver(MANIFEST, DeviceKind.BARRIER, VzenithBarrier.from_config)
    registry.register_driver(MANIFEST, DeviceKind.DISPLAY, VzenithDisplay.from_config)


__all__ = [
    "DEFAULT_HUB",
    "MANIFEST",
    "CameraLink",
    "VzenithBarrier",
    "VzenithDisplay",
    "VzenithHub",
    "VzenithSource",
    "led_encoder",
    "register",
]
