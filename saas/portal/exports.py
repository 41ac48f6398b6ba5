"""Portal: exports (台账导出) — a form with the ledger filters, and a progress page that
refreshes itself with the ``Refresh`` response header (no script: CSP is ``script-src 'self'``)
until the file is ready."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from saas.api.exports import file_response, start_export
from saas.auth.permissions import Permission, require
from saas.db import get_session
from saas.errors import ApiError
from saas.i18n import local_to_aware
from saas.ledger import exports
from saas.models.ledger import Export
from saas.models.tenancy import Site
from saas.portal import bp

REFRESH_SECONDS = 2
RECENT = 20
PASSAGE_FIELDS = ("site_id", "gate", "lane", "plate", "verdict", "stage", "fuel", "direction")


def _form_to_body(form: dict[str, str]) -> exports.ExportIn:
    kind = form.get("export_kind", "passages")
    flt: dict[str, Any] = {}
    if kind == "passages":
        for name in ("since", "until"):
            if form.get(name):
                try:
                    flt[name] = local_to_aware(form[name])
                except ValueError:
                    flt[name] = form[name]  # the filter names it in its 422
        flt.update({k: form[k] for k in PASSAGE_FIELDS if form.get(k)})
        if form.get("records") == "all":
            flt["kind"] = "all"
    else:
        if form.get("site_id"):
            flt["site_id"] = form["site_id"]
        if form.get("include_inactive"):
            flt["include_inactive"] = True
    try:
        return exports.ExportIn.model_validate(
            {"kind": kind, "format": form.get("format", "xlsx"), "filter": flt}
        )
    except ValueError:
        raise ApiError(422, "validation_failed", _("导出类型或格式无效")) from None


def _page(args: dict[str, str], error: str | None, status: int) -> tuple[str, int]:
    session = get_session()
    rows = session.scalars(
        select(Export).order_by(Export.created_at.desc(), Export.id.desc()).limit(RECENT)
    ).all()
    return render_template(
        "portal/exports/index.html",
        args=args,
        error=error,
        sites=session.scalars(select(Site).order_by(Site.name)).all(),
        recent=rows,
    ), status


@bp.get("/exports", endpoint="exports")
@require(Permission.LEDGER_READ)
def export_index() -> tuple[str, int]:
    """The form, prefilled from the query string (the ledger page can link here with its
    filters), and the tenant's recent exports."""
    return _page({k: v for k, v in request.args.items() if v}, None, 200)


@bp.post("/exports")
@require(Permission.LEDGER_READ)
def export_start() -> BaseResponse | tuple[str, int]:
    form = {k: v.strip() for k, v in request.form.items() if k != "csrf_token"}
    try:
        row = start_export(_form_to_body(form))
    except ApiError as exc:
        fields = exc.details.get("fields", {})
        detail = "; ".join(f"{k}: {v}" for k, v in fields.items())
        return _page(form, f"{exc.message}{' — ' + detail if detail else ''}", exc.status)
    return redirect(url_for("portal.export_detail", export_id=row.id))


@bp.get("/exports/<uuid:export_id>")
@require(Permission.LEDGER_READ)
def export_detail(export_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    row = get_session().get(Export, export_id)
    if row is None:
        abort(404, description=_("导出任务不存在"))
    params = row.params or {}
    body = render_template(
        "portal/exports/detail.html",
        export=row,
        since=datetime.fromisoformat(params["since"]) if params.get("since") else None,
        until=datetime.fromisoformat(params["until"]) if params.get("until") else None,
        refresh=REFRESH_SECONDS if row.status in {"queued", "running"} else None,
    )
    response = BaseResponse(body, mimetype="text/html")
    if row.status in {"queued", "running"}:
        response.headers["Refresh"] = str(REFRESH_SECONDS)  # HTML standard; no script needed
    return response


@bp.get("/exports/<uuid:export_id>/file")
@require(Permission.LEDGER_READ)
def export_file(export_id: uuid.UUID) -> BaseResponse:
    row = get_session().get(Export, export_id)
    if row is None:
        abort(404, description=_("导出任务不存在"))
    return file_response(row)
