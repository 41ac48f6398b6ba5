"""Test helpers: run a coroutine in a fresh loop, and start/stop sources around a block."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from edge_bridge.drivers import GateDecision, PlateRead, PlateSource

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
    """asyncio.run with a ceiling, and a check that the test left no task behind."""

    async def main() -> T:
        result = await asyncio.wait_for(coro, timeout)
        await asyncio.sleep(0)
        leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not leftover, f"tasks left running: {leftover}"
        return result

    return asyncio.run(main())


class Collector:
    """A lane callback that records reads and answers with a scripted decision."""

    def __init__(
        self, decide: Callable[[PlateRead], Awaitable[GateDecision | None]] | None = None
    ) -> None:
        self.reads: list[PlateRead] = []
        self._decide = decide
        self.arrived = asyncio.Event()

    async def __call__(self, read: PlateRead) -> GateDecision | None:
        self.reads.append(read)
        self.arrived.set()
        return None if self._decide is None else await self._decide(read)

    async def wait_for(self, count: int, timeout: float = 3.0) -> list[PlateRead]:
        async def until() -> None:
            while len(self.reads) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(until(), timeout)
        return self.reads


@contextlib.asynccontextmanager
async def started(source: PlateSource, callback: Any) -> AsyncIterator[PlateSource]:
    await source.start(callback)
    try:
        yield source
    finally:
        await source.stop()
