"""Portal: the passage ledger (通行台账) — search, detail with the decision trace, release."""

from __future__ import annotations

import json
import uuid

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from pydantic import ValidationError
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from saas.auth.permissions import Permission, require
from saas.auth.principal import check_permission
from saas.db import get_session
from saas.errors import ApiError
from saas.i18n import local_to_aware
from saas.ledger import queries
from saas.ledger.ingest import append_amendment
from saas.models.tenancy import Site
from saas.portal import bp

PAGE_SIZE = 50


@bp.get("/passages", endpoint="passages")
@require(Permission.LEDGER_READ)
def passage_list() -> str | tuple[str, int]:
    session = get_session()
    args = {k: v for k, v in request.args.items() if v and k != "cursor"}
    query = dict(args)
    sites = list(session.scalars(select(Site).order_by(Site.name)))
    error = None
    rows: list[object] = []
    next_cursor = None
    try:
        for key in ("since", "until"):
            if key in query:
                query[key] = local_to_aware(query[key])
        flt = queries.PassageFilter.model_validate(query)
        rows, next_cursor = queries.page(session, flt, PAGE_SIZE, request.args.get("cursor"))
    except ValidationError as exc:
        error = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    except ApiError as exc:
        error = exc.message
    except ValueError:
        error = _("时间格式无效")
    status = 422 if error else 200
    return render_template(
        "portal/passages/list.html",
        rows=rows,
        args=args,
        sites=sites,
        next_cursor=next_cursor,
        error=error,
    ), status


@bp.get("/passages/<uuid:event_id>")
@require(Permission.LEDGER_READ)
def passage_detail(event_id: uuid.UUID) -> str:
    session = get_session()
    row = queries.find_passage(session, event_id)
    if row is None:
        abort(404, description=_("通行记录不存在"))
    record = json.loads(row.record)
    return render_template(
        "portal/passages/detail.html",
        row=row,
        record=record,
        amendments=queries.amendments_of(session, event_id),
    )


@bp.post("/passages/<uuid:event_id>/release")
@require(Permission.PASSAGE_RELEASE)
def passage_release(event_id: uuid.UUID) -> BaseResponse:
    principal = check_permission(Permission.PASSAGE_RELEASE)
    session = get_session()
    row = queries.find_passage(session, event_id)
    if row is None or row.kind != "passage":
        abort(404, description=_("通行记录不存在"))
    reason = request.form.get("reason", "").strip()
    if len(reason) < 4:
        flash(_("人工放行必须填写原因（至少 4 个字）"))
        return redirect(url_for("portal.passage_detail", event_id=event_id))
    site = session.get(Site, row.site_id)
    assert site is not None
    append_amendment(
        session,
        site,
        event_id,
        "manual_release",
        {"reason": reason[:500], "original_verdict": row.verdict},
        {"user_id": str(principal.user_id), "username": principal.username, "role": principal.role},
    )
    flash(_("已记录人工放行"))
    return redirect(url_for("portal.passage_detail", event_id=event_id))
