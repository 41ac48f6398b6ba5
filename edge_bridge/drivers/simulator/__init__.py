"""Simulated devices (no sockets) for the demo and the daemon tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_bridge.drivers.base import DeviceKind, DriverManifest
from edge_bridge.drivers.simulator.devices import (
    SimulatedBarrier,
    SimulatedCamera,
    SimulatedDisplay,
)
from edge_bridge.drivers.simulator.plates import DEFAULT_MIX, PlateMix, SimulatedPlate, make_plate

if TYPE_CHECKING:
    from edge_bridge.drivers.registry import DriverRegistry

MANIFEST = DriverManifest(
    name="simulator",
    title="Simulated camera, barrier and display",
    kinds=frozenset({DeviceKind.PLATE_SOURCE, DeviceKind.BARRIER, DeviceKind.DISPLAY}),
    protocol_doc="docs/drivers/README.md#simulator",
    iot_class="local_push",
)


def register(registry: DriverRegistry) -> None:
    registry.register_driver(MANIFEST, DeviceKind.PLATE_SOURCE, SimulatedCamera.from_config)
    registry.register_driver(MANIFEST, DeviceKind.BARRIER, SimulatedBarrier.from_config)
    registry.register_driver(MANIFEST, DeviceKind.DISPLAY, SimulatedDisplay.from_config)


__all__ = [
    "DEFAULT_MIX",
    "MANIFEST",
    "PlateMix",
    "SimulatedBarrier",
    "SimulatedCamera",
    "SimulatedDisplay",
    "SimulatedPlate",
    "make_plate",
    "register",
]
