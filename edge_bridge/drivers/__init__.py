"""Device drivers: one package per vendor behind three capability interfaces.

See docs/drivers/README.md. Importing this package registers nothing and opens no socket;
``builtin_registry()`` / ``create(kind, name, config)`` load the vendor packages on demand.
"""

from edge_bridge.drivers.base import (
    AuthRejected,
    Barrier,
    CommandResult,
    ConfigError,
    ContainedCallback,
    Device,
    DeviceKind,
    DeviceNotReady,
    DirectionHint,
    Display,
    DriverManifest,
    DriverSupervisor,
    EventDeduper,
    GateDecision,
    Image,
    PlateCallback,
    PlateRead,
    PlateSource,
    ProbeResult,
    RetryPolicy,
    probe_until_ready,
)
from edge_bridge.drivers.registry import (
    DriverRegistry,
    builtin_registry,
    create,
    default_registry,
    register_driver,
)

__all__ = [
    "AuthRejected",
    "Barrier",
    "CommandResult",
    "ConfigError",
    "ContainedCallback",
    "Device",
    "DeviceKind",
    "DeviceNotReady",
    "DirectionHint",
    "Display",
    "DriverManifest",
    "DriverRegistry",
    "DriverSupervisor",
    "EventDeduper",
    "GateDecision",
    "Image",
    "PlateCallback",
    "PlateRead",
    "PlateSource",
    "ProbeResult",
    "RetryPolicy",
    "builtin_registry",
    "create",
    "default_registry",
    "probe_until_ready",
    "register_driver",
]
