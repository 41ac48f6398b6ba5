"""Plate sources that cameras push to over HTTP: we listen, each vendor parses its payload."""

from __future__ import annotations

import socket

from edge_bridge.drivers.base import ContainedCallback, DeviceNotReady, PlateCallback, PlateSource
from edge_bridge.drivers.http import HttpRequest, HttpResponse, HttpServer


class HttpPushSource(PlateSource):
    """Listening, starting and stopping shared by the push drivers (Hikvision, Vzenith,
    generic HTTP). Subclasses set ``listen_host``, ``listen_port``, ``server = None`` and
    ``_callback = None`` in ``__init__`` and implement ``_handle``."""

    listen_host: str
    listen_port: int
    server: HttpServer | None
    _callback: ContainedCallback | None

    def _check_port_free(self) -> None:
        """A push device can't be asked anything; the probe checks our listening port."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.listen_host, self.listen_port))
            except OSError as exc:
                raise DeviceNotReady(f"cannot listen on {self.listen_port}: {exc}") from exc

    async def start(self, callback: PlateCallback) -> None:
        self._callback = ContainedCallback(self.unique_id, callback)
        self.server = HttpServer(
            self._handle, self.listen_host, self.listen_port, name=self.unique_id
        )
        try:
            await self.server.start()
        except OSError as exc:
            self.server = None
            raise DeviceNotReady(f"cannot listen on {self.listen_port}: {exc}") from exc

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None
        if self._callback is not None:
            await self._callback.drain()

    async def _handle(self, request: HttpRequest) -> HttpResponse:
        raise NotImplementedError
