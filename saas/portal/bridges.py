"""Portal: the edge bridges (边缘网关) of each site — live state, pairing, revocation, and remote
commands (open a barrier with a reason, show a text, resync). The rules are the API's
(saas/api/devices.py); these views only turn forms into its calls and results into messages."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from flask import current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from pydantic import ValidationError
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from saas.api import devices as service
from saas.auth.permissions import Permission, require
from saas.auth.principal import check_permission
from saas.db import get_session
from saas.errors import ApiError
from saas.models.ledger import EdgeDevice
from saas.models.tenancy import Site
from saas.portal import bp

_STATUS_ORDER = {"active": 0, "pending": 1, "revoked": 2}


def _page(issued: service.IssuedCode | None = None) -> BaseResponse:
    session = get_session()
    sites = list(session.scalars(select(Site).order_by(Site.name)))
    rows = list(session.scalars(select(EdgeDevice).order_by(EdgeDevice.created_at)))
    live = service.presence_for(current_app.extensions["cleangate.redis"], rows)
    by_site: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: _STATUS_ORDER.get(r.status, 3)):
        by_site[row.site_id].append(service.device_view(row, live.get(str(row.id))))
    shown: dict[str, Any] | None = None
    if issued is not None:
        settings = current_app.config["CLEANGATE_SETTINGS"]
        shown = {
            "name": issued.device.name,
            "code": issued.code,
            "expires_at": issued.expires_at,
            "command": service.pair_command(settings.base_url, issued.code),
        }
    response = make_response(
        render_template(
            "portal/bridges/index.html",
            sites=sites,
            by_site=by_site,
            issued=shown,
            max_lines=service.DISPLAY_MAX_LINES,
            max_chars=service.DISPLAY_MAX_CHARS,
        )
    )
    if issued is not None:
        response.headers["Cache-Control"] = "no-store"  # the code is shown once
    return response


def _back() -> BaseResponse:
    return redirect(url_for("portal.bridges"))


@bp.get("/bridges", endpoint="bridges")
@require(Permission.SITE_READ)
def bridge_list() -> BaseResponse:
    return _page()


@bp.post("/bridges")
@require(Permission.SITE_WRITE)
def bridge_create() -> BaseResponse:
    principal = check_permission(Permission.SITE_WRITE)
    try:
        body = service.BridgeCreate.model_validate(
            {"site_id": request.form.get("site_id", ""), "name": request.form.get("name", "")}
        )
    except ValidationError:
        flash(_("请选择站点并填写网关名称（最多 100 个字）"))
        return _back()
    issued = service.create_bridge(get_session(), principal, body.site_id, body.name)
    return _page(issued)


@bp.post("/bridges/<uuid:device_id>/pairing-code")
@require(Permission.SITE_WRITE)
def bridge_pairing_code(device_id: uuid.UUID) -> BaseResponse:
    principal = check_permission(Permission.SITE_WRITE)
    session = get_session()
    device = service.find_device(session, device_id)
    try:
        issued = service.issue_pairing_code(session, principal, device)
    except ApiError as exc:
        flash(exc.message)
        return _back()
    return _page(issued)


@bp.post("/bridges/<uuid:device_id>/revoke")
@require(Permission.SITE_WRITE)
def bridge_revoke(device_id: uuid.UUID) -> BaseResponse:
    principal = check_permission(Permission.SITE_WRITE)
    session = get_session()
    device = service.find_device(session, device_id)
    service.revoke_device_now(session, principal, device)
    flash(_("网关“%(name)s”已吊销", name=device.name))
    return _back()


def _command(device_id: uuid.UUID, data: dict[str, Any], invalid: str) -> BaseResponse:
    """Look the bridge up first (another tenant's id → 404 before anything else), then validate
    and send exactly as the API does, and say what happened."""
    principal = check_permission(Permission.SITE_READ)
    session = get_session()
    device = service.find_device(session, device_id)
    try:
        body = service.CommandIn.model_validate(
            {k: v for k, v in data.items() if v not in (None, "")}
        )
        service.check_command(body)
        command = service.send_command(
            session, current_app.extensions["cleangate.redis"], principal, device, body
        )
    except ValidationError:
        flash(invalid)
        return _back()
    except ApiError as exc:
        flash(invalid if exc.code == "validation_failed" else exc.message)
        return _back()
    flash(_("指令已发送给“%(name)s”（编号 %(id)s）", name=device.name, id=command["command_id"]))
    return _back()


@bp.post("/bridges/<uuid:device_id>/open")
@require(Permission.PASSAGE_RELEASE)
def bridge_open(device_id: uuid.UUID) -> BaseResponse:
    form = request.form
    return _command(
        device_id,
        {
            "action": "open_barrier",
            "gate": form.get("gate", "").strip(),
            "lane": form.get("lane", "").strip(),
            "reason": form.get("reason", "").strip(),
        },
        _("远程抬杆必须填写出入口、两位数字的道闸编号和原因（至少 2 个字）"),
    )


@bp.post("/bridges/<uuid:device_id>/text")
@require(Permission.SITE_WRITE)
def bridge_text(device_id: uuid.UUID) -> BaseResponse:
    form = request.form
    return _command(
        device_id,
        {
            "action": "show_text",
            "gate": form.get("gate", "").strip(),
            "lane": form.get("lane", "").strip(),
            "text": form.get("text", "").strip(),
        },
        _("显示内容必填，最多 4 行，每行最多 40 个字"),
    )


@bp.post("/bridges/<uuid:device_id>/resync")
@require(Permission.SITE_WRITE)
def bridge_resync(device_id: uuid.UUID) -> BaseResponse:
    return _command(device_id, {"action": "resync"}, _("指令无效"))
