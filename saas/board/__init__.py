"""The public "一厂一策" board: ``/board/<token>`` (HTML, 1920×1080) and ``/board/<token>.json``.

No login: the unguessable token is the credential (saas/board/tokens.py). The page is rendered
complete on the server (saas/board/page/, shared with the edge box) and then kept live by its
script over the hub's viewer websocket (``/feed/<site id>?token=…``, saas/edge_hub/feeds.py).
docs/board.md.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, jsonify, request, url_for

from saas.board import render, service, tokens
from saas.db import get_database, utcnow
from saas.edge_hub.feeds import feed_token
from saas.errors import NotFound, error_response
from saas.models.tenancy import Site
from saas.tenancy import tenant_context

bp = Blueprint("board", __name__, url_prefix="/board")

REFRESH_MS = 60_000  # the page refetches its JSON at least this often (alerts that start later)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)  # `cleangate board url` is added in saas/cli.py


def _lookup(token: str) -> tuple[uuid.UUID, dict[str, Any]] | None:
    """(site id, board view) for a token, or None — unknown and malformed alike."""
    settings = current_app.config["CLEANGATE_SETTINGS"]
    database = get_database()
    with database.sessionmaker() as session:
        site = tokens.site_for_token(session, token)
        if site is None:
            return None
        site_id, tenant_id = site.id, site.tenant_id
    with tenant_context(tenant_id), database.sessionmaker() as session:
        site = session.get(Site, site_id)
        if site is None or site.board_token != token:
            return None  # rotated between the two reads
        data = service.current_view(session, site, base_url=settings.base_url, now=utcnow())
    return site_id, data


def feed_url(site_id: uuid.UUID) -> str:
    """The hub's viewer websocket for one site, with a fresh 24-hour feed token (the page's
    JSON refresh hands out a new one long before it expires)."""
    settings = current_app.config["CLEANGATE_SETTINGS"]
    token = feed_token(settings.secret_key, site_id)
    return f"{settings.board_feed_url.rstrip('/')}/feed/{site_id}?token={token}"


def _feed_origin() -> str:
    parts = urlsplit(current_app.config["CLEANGATE_SETTINGS"].board_feed_url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the address is the credential
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {_feed_origin()}".rstrip()
        + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return response


@bp.get("/<token>.json")
def data(token: str) -> Response:
    found = _lookup(token)
    if found is None:
        return _headers(error_response(404, "not_found", "公示页不存在", {}))
    site_id, board = found
    return _headers(jsonify({**board, "feed": {"ws": feed_url(site_id)}}))


@bp.get("/<token>")
def page(token: str) -> Response:
    found = _lookup(token)
    if found is None:
        raise NotFound("公示页")
    site_id, board = found
    feed = {
        "mode": "ws",
        "ws": feed_url(site_id),
        "json": url_for("board.data", token=token),
        "refresh_ms": REFRESH_MS,
    }
    assets = f"{request.script_root}/board/assets/{render.assets_version()}"
    html = render.render_page(board, feed, assets)
    return _headers(Response(html, 200, content_type="text/html; charset=utf-8"))


@bp.get("/assets/<version>/<name>")
def asset(version: str, name: str) -> Response:
    """board.css / board.js; the version in the path only busts caches."""
    try:
        body = render.asset(name)
    except KeyError:
        raise NotFound("文件") from None
    response = Response(body, 200, content_type=render.ASSETS[name])
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
