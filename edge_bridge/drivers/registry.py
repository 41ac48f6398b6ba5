"""Drivers by name: the daemon's config says ``{kind: barrier, driver: hikvision, ...}``.

Vendor packages don't register themselves at import (no import-time side effects, per
CONVENTIONS.md); each exposes ``register(registry)`` and ``builtin_registry()`` calls them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from edge_bridge.drivers.base import ConfigError, Device, DeviceKind, DriverManifest

DeviceFactory = Callable[[Mapping[str, Any]], Device]

BUILTIN_PACKAGES = ("simulator", "hikvision", "vzenith", "generic_http")


class DriverRegistry:
    def __init__(self) -> None:
        self._factories: dict[tuple[DeviceKind, str], DeviceFactory] = {}
        self._manifests: dict[str, DriverManifest] = {}

    def register_driver(
        self, manifest: DriverManifest, kind: DeviceKind, factory: DeviceFactory
    ) -> None:
        if kind not in manifest.kinds:
            raise ValueError(f"{manifest.name} does not declare kind {kind}")
        key = (kind, manifest.name)
        if key in self._factories:
            raise ValueError(f"driver {manifest.name!r} already registered for {kind}")
        self._factories[key] = factory
        self._manifests[manifest.name] = manifest

    def create(self, kind: DeviceKind | str, name: str, config: Mapping[str, Any]) -> Device:
        factory = self._factories.get((DeviceKind(kind), name))
        if factory is None:
            raise ConfigError(f"no {kind} driver named {name!r}; known: {sorted(self.names())}")
        return factory(config)

    def names(self) -> set[str]:
        return set(self._manifests)

    def manifest(self, name: str) -> DriverManifest:
        return self._manifests[name]

    def manifests(self) -> list[DriverManifest]:
        return sorted(self._manifests.values(), key=lambda m: m.name)


def builtin_registry() -> DriverRegistry:
    """A fresh registry with every driver shipped in ``edge_bridge.drivers``."""
    registry = DriverRegistry()
    for package in BUILTIN_PACKAGES:
        module = importlib.import_module(f"edge_bridge.drivers.{package}")
        module.register(registry)
    return registry


_default: DriverRegistry | None = None


def default_registry() -> DriverRegistry:
    global _default
    if _default is None:
        _default = builtin_registry()
    return _default


def register_driver(manifest: DriverManifest, kind: DeviceKind, factory: DeviceFactory) -> None:
    """Add a third-party driver to the process-wide registry."""
    default_registry().register_driver(manifest, kind, factory)


def create(kind: DeviceKind | str, name: str, config: Mapping[str, Any]) -> Device:
    return default_registry().create(kind, name, config)
