"""REST API ``/api/v1``: one error envelope, one pagination convention, an OpenAPI document at
``/api/v1/openapi.json`` generated from the same declarations that validate requests."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue

from saas.api.openapi import ApiRegistry

bp = Blueprint("api", __name__, url_prefix="/api/v1")
registry = ApiRegistry(
    bp,
    title="CleanGate API",
    version="1.0.0",
    description=(
        "环保门禁云 REST API. Errors: {error: {code, message, details}}. Lists: keyset pages, "
        "?limit=&cursor= → {items, next_cursor}. Another tenant's object answers 404."
    ),
)


@bp.get("/openapi.json")
def openapi_document() -> ResponseReturnValue:
    settings = current_app.config["CLEANGATE_SETTINGS"]
    return jsonify(registry.document(settings.base_url + "/api/v1"))


def init_app(app: Flask) -> None:
    # Importing a resource module declares its routes on ``registry``/``bp``.
    from saas.api import (  # noqa: F401
        alerts,
        audit,
        board,
        bookings,
        contacts,
        devices,
        edge,
        execution,
        exports,
        gates,
        me,
        passages,
        plans,
        registries,
        regulator,
        sites,
        support,
        tokens,
        users,
    )

    app.register_blueprint(bp)


def items(rows: list[Any], next_cursor: str | None) -> dict[str, Any]:
    return {"items": rows, "next_cursor": next_cursor}
