"""The app factory. Every subsystem registers itself here, in order; nothing happens at import."""

from __future__ import annotations

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.middleware.proxy_fix import ProxyFix

from saas.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    from saas import (
        auth,
        board,
        db,
        edge_hub,
        errors,
        i18n,
        jobs,
        migrate_cli,
        redis_conn,
        security,
        storage,
    )
    from saas.api import init_app as init_api
    from saas.console import init_app as init_console
    from saas.ledger import cli as ledger_cli
    from saas.portal import init_app as init_portal

    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["SECRET_KEY"] = settings.secret_key
    app.config["CLEANGATE_SETTINGS"] = settings
    app.config["TESTING"] = settings.testing
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    if settings.proxy_hops:
        # Trust exactly that many proxies' X-Forwarded-For/-Proto (and never a client's own).
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops
        )

    db.init_app(app, db.Database(settings.database_url))
    app.extensions["cleangate.redis"] = redis_conn.connect(settings.redis_url)
    app.extensions["cleangate.storage"] = storage.from_settings(settings)
    security.init_app(app, production=settings.production)
    i18n.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    migrate_cli.init_app(app)
    ledger_cli.init_app(app)
    jobs.init_app(app)  # RQ queues on the app's Redis; `cleangate worker`
    edge_hub.init_app(app)  # snapshot change notices; `cleangate hub`

    # Registration points of the packages that build on saas (before the API blueprint is
    # registered, so their routes join /api/v1 and its OpenAPI document).
    import billing
    import miniprogram_api
    import tenants

    tenants.init_app(app)
    miniprogram_api.init_app(app)
    billing.init_app(app)

    init_api(app)
    init_portal(app)
    init_console(app)
    board.init_app(app)  # the public 一厂一策 board: /board/<token>

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return jsonify({"status": "ok"})

    return app
