"""The edge hub: websocket server for edge bridges (``cleangate hub``), the site snapshots it
syncs to them, and the Redis bus between it and the web processes (docs/edge-protocol.md)."""

from __future__ import annotations

import click
from flask import Flask, current_app


def init_app(app: Flask) -> None:
    from saas.db import get_database
    from saas.edge_hub import changes

    changes.install(get_database(app).sessionmaker, app.extensions["cleangate.redis"])

    @app.cli.command("hub")
    @click.option("--host", default="0.0.0.0", show_default=True, help="address to bind")  # noqa: S104
    @click.option("--port", default=8765, show_default=True, type=int)
    def hub_command(host: str, port: int) -> None:
        """Serve edge bridges over websocket (run several behind a load balancer)."""
        import logging

        from saas.edge_hub.server import run

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        run(current_app._get_current_object(), host, port)  # type: ignore[attr-defined]
