"""Interfaces, registry, retry, containment between lanes, and the simulators' plate mix."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import pytest

from edge_bridge.drivers import (
    AuthRejected,
    ConfigError,
    DeviceKind,
    DeviceNotReady,
    DirectionHint,
    DriverSupervisor,
    GateDecision,
    PlateRead,
    ProbeResult,
    RetryPolicy,
    builtin_registry,
    probe_until_ready,
)
from edge_bridge.drivers.generic_http import GenericHttpSource
from edge_bridge.drivers.simulator import (
    PlateMix,
    SimulatedBarrier,
    SimulatedCamera,
    SimulatedDisplay,
)
from edge_bridge.drivers.vzenith import VzenithHub, VzenithSource
from edge_bridge.drivers.vzenith.simulator import FakeVzenithCamera
from saas.compliance import PlateColor, PlateFormat, Verdict, parse_plate
from tests.edge.drivers.helpers import Collector, run

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def test_plate_read_requires_aware_times_and_unit_confidence() -> None:
    fields = {
        "device_serial": "S",
        "lane": "l",
        "plate_raw": "晋A12345",
        "color": PlateColor.BLUE,
        "confidence": 0.5,
        "direction": DirectionHint.UNKNOWN,
        "event_time": NOW,
        "received_at": NOW,
        "event_id": "1",
    }
    read = PlateRead(**fields)
    assert read.dedupe_key == ("S", "1")
    assert read.plate.valid
    with pytest.raises(ValueError, match="aware"):
        PlateRead(**fields | {"event_time": datetime(2026, 1, 1)})
    with pytest.raises(ValueError, match="confidence"):
        PlateRead(**fields | {"confidence": 96})


def test_registry_has_every_builtin_driver_with_manifest() -> None:
    registry = builtin_registry()
    assert registry.names() == {"simulator", "hikvision", "vzenith", "generic_http", "generic_led"}
    for manifest in registry.manifests():
        assert manifest.protocol_doc.startswith("docs/drivers/")
    assert registry.manifest("hikvision").kinds == {DeviceKind.PLATE_SOURCE, DeviceKind.BARRIER}
    barrier = registry.create("barrier", "simulator", {"serial": "B1", "lane": "in"})
    assert isinstance(barrier, SimulatedBarrier)
    assert barrier.unique_id == "simulator:B1"
    source = registry.create(
        DeviceKind.PLATE_SOURCE,
        "generic_http",
        {"serial": "G1", "secret": "0123456789abcdef", "listen_port": 0},
    )
    assert isinstance(source, GenericHttpSource)
    with pytest.raises(ConfigError):
        registry.create("barrier", "nope", {"serial": "x"})
    with pytest.raises(ConfigError, match="serial"):
        registry.create("display", "simulator", {})
    with pytest.raises(ConfigError, match="secret"):
        registry.create("plate_source", "generic_http", {"serial": "G", "secret": "short"})
    with pytest.raises(ValueError, match="already registered"):
        registry.register_driver(
            registry.manifest("simulator"), DeviceKind.BARRIER, SimulatedBarrier.from_config
        )


def test_probe_retries_until_ready_and_waits_long_after_auth_refusal() -> None:
    class Flaky(SimulatedBarrier):
        attempts = 0

        async def probe(self) -> ProbeResult:
            self.attempts += 1
            if self.attempts < 3:
                raise DeviceNotReady("booting")
            return ProbeResult(self.serial)

    async def scenario() -> None:
        flaky = Flaky("B1", "in")
        result = await probe_until_ready(flaky, RetryPolicy(initial=0.01, maximum=0.02))
        assert (result.serial, flaky.attempts) == ("B1", 3)

    run(scenario())
    policy = RetryPolicy(initial=1, maximum=8, auth_delay=300)
    assert [policy.delay(n, DeviceNotReady()) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 8]
    assert policy.delay(1, AuthRejected()) == 300


def test_probe_with_wrong_serial_is_a_config_error_not_retried() -> None:
    class Impostor(SimulatedBarrier):
        async def probe(self) -> ProbeResult:
            return ProbeResult("OTHER")

    with pytest.raises(ConfigError, match="OTHER"):
        run(probe_until_ready(Impostor("B1", "in"), RetryPolicy(max_attempts=1)))


def test_failing_driver_does_not_stop_another_lane() -> None:
    """Lane A's driver can't start and lane B's callback raises once: lane B still works."""

    class Broken(SimulatedCamera):
        async def start(self, callback) -> None:
            raise RuntimeError("driver bug")

    async def scenario() -> None:
        calls = 0

        async def lane_b(read: PlateRead) -> GateDecision:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("lane bug")
            return GateDecision(Verdict.ALLOW)

        hub = VzenithHub()
        good = VzenithSource("VZ-B", "lane-b", listen_host="127.0.0.1", listen_port=0, hub=hub)
        supervisor = DriverSupervisor(RetryPolicy(initial=0.01, max_attempts=2))
        supervisor.add(Broken("CAM-A", "lane-a", rate=0), Collector())
        supervisor.add(good, lane_b)
        supervisor.add(SimulatedDisplay("LED-A", "lane-a"))
        await supervisor.start()
        try:
            await supervisor.wait_started(2.0)
            assert supervisor.status() == {
                "simulator:CAM-A": "failed",
                "vzenith:VZ-B": "running",
                "simulator:LED-A": "running",
            }
            assert "driver bug" in supervisor.errors()["simulator:CAM-A"]
            camera = FakeVzenithCamera(good.url, serial="VZ-B")
            first = await camera.push_plate("晋A12345")
            second = await camera.push_plate("晋A12346")
            assert first["Response_AlarmInfoPlate"]["info"] == "no"
            assert second["Response_AlarmInfoPlate"]["info"] == "ok"
        finally:
            await supervisor.stop()
        assert set(supervisor.status().values()) == {"stopped"}

    run(scenario())


def test_supervisor_keeps_retrying_a_device_that_is_not_ready_yet() -> None:
    async def scenario() -> None:
        barrier = SimulatedBarrier("B1", "in")
        barrier.faults.offline = True
        supervisor = DriverSupervisor(RetryPolicy(initial=0.01, maximum=0.01))
        supervisor.add(barrier)
        await supervisor.start()
        try:
            await asyncio.sleep(0.05)
            assert supervisor.status() == {"simulator:B1": "probing"}
            barrier.faults.offline = False
            await supervisor.wait_started(1.0)
            assert supervisor.status() == {"simulator:B1": "running"}
        finally:
            await supervisor.stop()

    run(scenario())


# ---------------------------------------------------------------- simulators


def test_plate_mix_is_realistic_and_reproducible() -> None:
    mix = PlateMix(seed=7)
    plates = [mix.draw() for _ in range(2000)]
    again = PlateMix(seed=7)
    assert [p.text for p in plates[:20]] == [again.draw().text for _ in range(20)]
    categories = Counter(p.category for p in plates)
    assert set(categories) == {
        "ordinary_blue",
        "ordinary_yellow",
        "nev_small",
        "nev_large",
        "trailer",
        "malformed",
        "unreadable",
    }
    for plate in plates:
        parsed = parse_plate(plate.text, plate.color.value if plate.color else None)
        if plate.category == "malformed":
            assert not parsed.valid, plate
        elif plate.category == "unreadable":
            assert parsed.unreadable
        else:
            assert parsed.valid, (plate, parsed.errors)
            assert "color_mismatch" not in parsed.warnings
    kinds = Counter(parse_plate(p.text).kind for p in plates)
    assert kinds[PlateFormat.NEV_SMALL]
    assert kinds[PlateFormat.NEV_LARGE]
    assert kinds[PlateFormat.TRAILER]
    assert all(len(p.text) == 8 for p in plates if p.category.startswith("nev"))
    assert all(p.text.endswith("挂") for p in plates if p.category == "trailer")


def test_simulated_camera_pushes_at_rate_and_records_decisions() -> None:
    async def deny(read: PlateRead) -> GateDecision:
        return GateDecision(Verdict.DENY)

    async def scenario() -> None:
        lanes = Collector(deny)
        camera = SimulatedCamera("SIM-1", "lane-in", rate=200.0, seed=3)
        await camera.start(lanes)
        try:
            reads = await lanes.wait_for(10)
        finally:
            await camera.stop()
        assert not camera.available
        assert all(r.device_serial == "SIM-1" and r.event_time <= r.received_at for r in reads)
        assert len({r.event_id for r in reads}) == len(reads)
        assert all(r.images and r.images[0].data.startswith(b"\xff\xd8") for r in reads)
        assert all(d is not None and d.verdict is Verdict.DENY for _, d in camera.decisions)

    run(scenario())


def test_simulated_barrier_and_display_record_and_inject_faults() -> None:
    async def scenario() -> None:
        barrier = SimulatedBarrier("B1", "in", latency=0.01)
        display = SimulatedDisplay("D1", "in", max_lines=2)
        assert (await barrier.open("ALLOW 晋A12345")).ok
        assert barrier.state == "open"
        assert (await barrier.close()).ok
        barrier.faults.fail_next = 1
        failed = await barrier.open("again")
        assert (failed.ok, failed.code) == (False, "device_error")
        barrier.faults.offline = True
        assert (await barrier.open("x")).code == "unreachable"
        assert not barrier.available
        assert barrier.events == [("open", "ALLOW 晋A12345"), ("close", "")]
        assert (await display.show(["a", "b", "c"])).ok
        assert display.shown == [("a", "b")]

    run(scenario())
