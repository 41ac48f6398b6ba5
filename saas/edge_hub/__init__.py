"""The edge hub: websocket server for edge bridges (``cleangate hub``), the site snapshots it
syncs to them, and the Redis bus between it and the web processes (docs/edge-protocol.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from saas.settings import Settings


def init_app(app: Flask) -> None:
    """In the web/worker app: tell the hubs after COMMIT when a site's snapshot changed."""
    from saas.db import get_database
    from saas.edge_hub import changes

    changes.install(get_database(app).sessionmaker, app.extensions["cleangate.redis"])


def hub_app(settings: Settings) -> Flask:
    """What the hub process needs of the platform — settings, database, Redis, storage, the
    change hook — without the API, portal, console and their translations and schemas
    (~65 MiB less resident memory per hub; bench/edge.py (b))."""
    from flask import Flask

    from saas import db, redis_conn, storage

    app = Flask("saas.edge_hub")
    app.config["CLEANGATE_SETTINGS"] = settings
    db.init_app(app, db.Database(settings.database_url))
    app.extensions["cleangate.redis"] = redis_conn.connect(settings.redis_url)
    app.extensions["cleangate.storage"] = storage.from_settings(settings)
    init_app(app)
    return app
