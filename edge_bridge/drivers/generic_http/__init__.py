"""Generic HTTP JSON push/commands and the ``generic_led`` TCP screen protocol.

Spec: docs/drivers/generic_http.md (our own protocol; no vendor facts involved).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_bridge.drivers.base import DeviceKind, DriverManifest
from edge_bridge.drivers.generic_http.driver import (
    GenericHttpBarrier,
    GenericHttpDisplay,
    GenericHttpSource,
    GenericLedDisplay,
)

if TYPE_CHECKING:
    from edge_bridge.drivers.registry import DriverRegistry

MANIFEST = DriverManifest(
    name="generic_http",
    title="Generic HTTP JSON push and commands (HMAC-SHA256)",
    kinds=frozenset({DeviceKind.PLATE_SOURCE, DeviceKind.BARRIER, DeviceKind.DISPLAY}),
    protocol_doc="docs/drivers/generic_http.md",
    iot_class="local_push",
)
LED_MANIFEST = DriverManifest(
    name="generic_led",
    title="generic_led length-prefixed text frames over TCP",
    kinds=frozenset({DeviceKind.DISPLAY}),
    protocol_doc="docs/drivers/generic_http.md#generic_led",
    iot_class="local_polling",
)


def register(registry: DriverRegistry) -> None:
    registry.register_driver(MANIFEST, DeviceKind.PLATE_SOURCE, GenericHttpSource.from_config)
    registry.register_driver(MANIFEST, DeviceKind.BARRIER, GenericHttpBarrier.from_config)
    registry.register_driver(MANIFEST, DeviceKind.DISPLAY, GenericHttpDisplay.from_config)
    registry.register_driver(LED_MANIFEST, DeviceKind.DISPLAY, GenericLedDisplay.from_config)


__all__ = [
    "LED_MANIFEST",
    "MANIFEST",
    "GenericHttpBarrier",
    "GenericHttpDisplay",
    "GenericHttpSource",
    "GenericLedDisplay",
    "register",
]
