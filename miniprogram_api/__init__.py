"""WeChat mini-program backend, mounted at ``/mp/v1`` (docs/miniprogram-api.md).

Drivers and visitors log in with ``wx.login`` and call this API with their own short-lived
token; they are not portal users and have no tenant. Each route acts on one site — resolved
from the id in the board's QR code — inside that site's tenant context.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue

from miniprogram_api.auth import driver_required
from saas.api.openapi import ApiRegistry

bp = Blueprint("mp", __name__, url_prefix="/mp/v1")
registry = ApiRegistry(
    bp,
    title="CleanGate mini-program API",
    version="1.0.0",
    description=(
        "环保门禁云小程序后端（司机、访客）。登录：POST /session 以 wx.login 的 code 换取 "
        "access_token（JWT，Authorization: Bearer）与 refresh_token。错误：{error: {code, "
        "message, details}}，校验错误 details.fields 为 {字段: 原因}，details.reasons 为 "
        "[{code, message}]。"
    ),
    security_schemes={
        "driver": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "access_token from POST /mp/v1/session (30 minutes by default)",
        }
    },
    guard=driver_required,
)


@bp.get("/openapi.json")
def openapi_document() -> ResponseReturnValue:
    settings = current_app.config["CLEANGATE_SETTINGS"]
    return jsonify(registry.document(settings.base_url + "/mp/v1"))


def init_app(app: Flask) -> None:
    """Called by ``saas.app.create_app``. Importing a route module declares its routes."""
    from miniprogram_api import (  # noqa: F401
        bookings,
        cargo,
        landing,
        precheck,
        session,
        sites_api,
        vehicles,
    )

    app.register_blueprint(bp)
    app.register_blueprint(landing.bp)
    # Every route authenticates by bearer token or by the WeChat code in its body; cookies
    # are never read, so there is nothing for CSRF to protect.
    exempt = app.config.setdefault("CSRF_EXEMPT_ENDPOINTS", set())
    exempt.update(
        rule.endpoint for rule in app.url_map.iter_rules() if rule.rule.startswith("/mp/")
    )
