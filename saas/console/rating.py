"""Console: rating services (绩效分级服务; docs/console.md).

Per site, the rectification plan (整改方案) and the emergency-measures document (应急减排措施)
as versioned attachments with a status — draft, with the customer, submitted — and the
transport indicators of ``saas.compliance.rating`` over any period, computed from the site's
ledger and registries (``saas.console.rating_inputs``).

Every upload is a new version (PDF, DOCX or XLSX judged by its bytes, at most 20 MB) stored
under the tenant's prefix ``t/<tenant>/s/<site>/rating/<sha256>.<ext>``; status changes follow
``TRANSITIONS``; both are audited in the tenant's audit log. Reading needs ``console.view``,
writing ``rating.manage`` (provider admins and experts).

Provider staff belong to no tenant: the site list across tenants is read in a system context;
everything about one site — its documents, its ledger, the writes — runs in that site's
tenant context, so the ORM scoping and row-level security apply as for the tenant itself.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from saas.api.regulator import beijing_today
from saas.auth import audit
from saas.auth.permissions import Permission, require
from saas.auth.principal import Principal, check_permission
from saas.compliance.industry import Rating
from saas.compliance.rating import TransportMode
from saas.console import bp
from saas.console import rating_inputs as inputs
from saas.db import get_session, utcnow
from saas.errors import ApiError
from saas.ledger.exports import XLSX_MIME
from saas.models.identity import AuditEvent, User
from saas.models.rating import DOCUMENT_KINDS, DOCUMENT_STATUSES, RatingDocument
from saas.models.tenancy import Site, Tenant
from saas.tenancy import system_context, tenant_context

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
MAX_TITLE = 200
MAX_NOTE = 2000
MAX_FILENAME = 200
MAX_SITES = 500
HISTORY = 50
DEFAULT_DAYS = 90
PDF_MIME = "application/pdf"
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
FILE_TYPES = {"pdf": PDF_MIME, "docx": DOCX_MIME, "xlsx": XLSX_MIME}

KIND_LABELS = {
    "rectification_plan": lazy_gettext("整改方案"),
    "emergency_measures": lazy_gettext("应急减排措施"),
}
STATUS_LABELS = {
    "draft": lazy_gettext("草稿"),
    "with_customer": lazy_gettext("客户确认中"),
    "submitted": lazy_gettext("已提交"),
}
# draft → with the customer → submitted; the customer may send a version back for rework.
# A submitted version is final: a correction is a new version.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("with_customer",),
    "with_customer": ("draft", "submitted"),
    "submitted": (),
}
EVENT_LABELS = {
    "rating.document_upload": lazy_gettext("上传新版本"),
    "rating.document_status": lazy_gettext("变更状态"),
}
INDICATOR_LABELS = {
    "heavy_truck_clean_share": lazy_gettext("重型载货车辆国五及以上或新能源占比"),
    "heavy_truck_cn4_share": lazy_gettext("重型载货车辆国四及以上或新能源占比"),
    "heavy_truck_cn6_share": lazy_gettext("重型载货车辆国六或新能源占比"),
    "in_plant_clean_share": lazy_gettext("厂内运输车辆国五及以上或新能源占比"),
    "in_plant_cn4_share": lazy_gettext("厂内运输车辆国四及以上或新能源占比"),
    "non_road_clean_share": lazy_gettext("非道路移动机械国三及以上或新能源占比"),
    "clean_transport_ratio": lazy_gettext("清洁方式运输比例"),
    "clean_transport_ratio_with_nev": lazy_gettext("清洁方式运输比例（含新能源汽车）"),
}
MODE_LABELS = {
    TransportMode.RAIL: lazy_gettext("铁路"),
    TransportMode.WATER: lazy_gettext("水路"),
    TransportMode.PIPELINE: lazy_gettext("管道"),
    TransportMode.BELT: lazy_gettext("管状带式输送机/皮带通廊"),
    TransportMode.NEV_TRUCK: lazy_gettext("新能源汽车"),
    TransportMode.ROAD: lazy_gettext("公路（非新能源）"),
}
LEVEL_LABELS = {Rating.A: "A", Rating.B: "B", Rating.C: "C"}


# --- documents: the service ---------------------------------------------------------------------


def sniff_document(data: bytes) -> str | None:
    """``pdf``, ``docx`` or ``xlsx`` from the bytes themselves (never the name or the
    browser's content type); None for anything else. OOXML files are ZIP archives told apart
    by their main part; only the archive's directory is read, nothing is inflated."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if not data.startswith(b"PK\x03\x04"):
        return None
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, ValueError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    return None


def document_key(tenant_id: uuid.UUID, site_id: uuid.UUID, sha256: str, ext: str) -> str:
    """Server-chosen and content-addressed under the tenant's prefix."""
    return f"t/{tenant_id}/s/{site_id}/rating/{sha256}.{ext}"


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f\"\\/:*?<>|]+")


def clean_filename(raw: str, ext: str, fallback: str) -> str:
    """The uploaded name without path, control or reserved characters, with the extension of
    the type the bytes were found to be."""
    name = unicodedata.normalize("NFC", raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    stem = _UNSAFE_NAME.sub("_", name).strip(" ._")
    if "." in stem:
        stem = stem.rsplit(".", 1)[0].strip(" ._")
    stem = stem[: MAX_FILENAME - len(ext) - 1] or fallback
    return f"{stem}.{ext}"


def check_upload(kind: str, title: str, note: str, data: bytes) -> tuple[str, str]:
    """``(ext, sha256)`` of an acceptable upload; else ``ApiError`` naming the field (413 too
    large, 415 not PDF/DOCX/XLSX, 422 missing or bad fields). Checks everything before
    anything is stored."""
    fields: dict[str, str] = {}
    if kind not in DOCUMENT_KINDS:
        fields["kind"] = _("请选择整改方案或应急减排措施")
    if not title:
        fields["title"] = _("请填写标题")
    elif len(title) > MAX_TITLE:
        fields["title"] = _("标题不超过 200 字")
    if len(note) > MAX_NOTE:
        fields["note"] = _("备注不超过 2000 字")
    if not data:
        fields["file"] = _("请选择文件")
    if fields:
        raise ApiError(422, "validation_failed", _("输入有误"), {"fields": fields})
    if len(data) > MAX_DOCUMENT_BYTES:
        message = _("文件超过 20 MB")
        raise ApiError(413, "payload_too_large", message, {"fields": {"file": message}})
    ext = sniff_document(data)
    if ext is None:
        message = _("只接受 PDF、Word（DOCX）或 Excel（XLSX）文件")
        raise ApiError(415, "unsupported_media_type", message, {"fields": {"file": message}})
    return ext, hashlib.sha256(data).hexdigest()


def latest_version(session: Session, site_id: uuid.UUID, kind: str) -> RatingDocument | None:
    return session.scalars(
        select(RatingDocument)
        .where(RatingDocument.site_id == site_id, RatingDocument.kind == kind)
        .order_by(RatingDocument.version.desc())
        .limit(1)
    ).first()


def upload_document(
    session: Session,
    site: Site,
    storage: Any,
    actor: Principal,
    *,
    kind: str,
    title: str,
    note: str,
    filename: str,
    data: bytes,
) -> RatingDocument:
    """Store the file and add it as the next version of ``kind`` (status draft), audited, in
    one commit. 409 when its content equals the latest version's or another upload took the
    version number first. Call in the site's tenant context."""
    ext, sha256 = check_upload(kind, title, note, data)
    latest = latest_version(session, site.id, kind)
    if latest is not None and latest.sha256 == sha256:
        message = _("文件与最新版本（第 %(n)d 版）内容相同", n=latest.version)
        raise ApiError(409, "conflict", message, {"fields": {"file": message}})
    version = (latest.version if latest is not None else 0) + 1
    key = document_key(site.tenant_id, site.id, sha256, ext)
    if not storage.exists(key):
        storage.put(key, data, FILE_TYPES[ext])
    now = utcnow()
    row = RatingDocument(
        id=uuid.uuid4(),
        tenant_id=site.tenant_id,
        site_id=site.id,
        kind=kind,
        version=version,
        status="draft",
        title=title,
        storage_key=key,
        filename=clean_filename(filename, ext, f"{kind}-v{version}"),
        content_type=FILE_TYPES[ext],
        size=len(data),
        sha256=sha256,
        note=note,
        created_by=actor.user_id,
        created_at=now,
        status_changed_at=now,
    )
    session.add(row)
    audit.record(
        session,
        "rating.document_upload",
        tenant_id=site.tenant_id,
        actor_user_id=actor.user_id,
        actor_label=actor.username,
        details={
            "site_id": str(site.id),
            "document_id": str(row.id),
            "kind": kind,
            "version": version,
            "sha256": sha256,
            "size": len(data),
            "filename": row.filename,
        },
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ApiError(409, "conflict", _("另一个版本刚刚上传，请刷新后重试")) from None
    return row


def get_document(session: Session, site: Site, document_id: uuid.UUID) -> RatingDocument:
    """The site's document, or 404 (another site's or tenant's id answers the same)."""
    row = session.scalars(
        select(RatingDocument).where(
            RatingDocument.id == document_id, RatingDocument.site_id == site.id
        )
    ).one_or_none()
    if row is None:
        raise ApiError(404, "not_found", _("文件不存在"))
    return row


def change_status(
    session: Session,
    site: Site,
    row: RatingDocument,
    status: str,
    actor: Principal,
    *,
    expected: str | None = None,
) -> RatingDocument:
    """Move one version along ``TRANSITIONS``, audited; 422 for an unknown status, 409 for a
    move not allowed from where it is (or when ``expected`` shows the page was stale)."""
    if status not in DOCUMENT_STATUSES:
        raise ApiError(422, "validation_failed", _("输入有误"),
                       {"fields": {"status": _("请选择草稿、客户确认中或已提交")}})  # fmt: skip
    if expected is not None and expected != row.status:
        raise ApiError(409, "conflict", _("状态已被他人修改，请刷新后重试"),
                       {"fields": {"status": _("状态已变化")}})  # fmt: skip
    if status not in TRANSITIONS[row.status]:
        message = _(
            "不能从“%(old)s”改为“%(new)s”",
            old=STATUS_LABELS[row.status],
            new=STATUS_LABELS[status],
        )
        raise ApiError(409, "conflict", message, {"fields": {"status": message}})
    old = row.status
    row.status = status
    row.status_changed_at = utcnow()
    audit.record(
        session,
        "rating.document_status",
        tenant_id=site.tenant_id,
        actor_user_id=actor.user_id,
        actor_label=actor.username,
        details={
            "site_id": str(site.id),
            "document_id": str(row.id),
            "kind": row.kind,
            "version": row.version,
            "from": old,
            "to": status,
        },
    )
    session.commit()
    return row


# --- reading for the pages ------------------------------------------------------------------------


def _site_or_404(site_id: uuid.UUID) -> tuple[Site, str]:
    with system_context("console: the site a rating page names (its tenant)"):
        found = (
            get_session()
            .execute(
                select(Site, Tenant.name)
                .join(Tenant, Tenant.id == Site.tenant_id)
                .where(Site.id == site_id)
            )
            .one_or_none()
        )
    if found is None:
        raise ApiError(404, "not_found", _("站点不存在"))
    return found[0], found[1]


def _user_names(ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Display names of the staff who uploaded (provider users have no tenant)."""
    if not ids:
        return {}
    with system_context("console: names of the staff who uploaded rating documents"):
        return dict(
            get_session().execute(select(User.id, User.display_name).where(User.id.in_(ids))).all()
        )


@dataclass
class Period:
    start: date
    end: date
    tonnage: dict[TransportMode, Decimal]
    raw: dict[str, str]


def parse_period(args: dict[str, str]) -> tuple[Period, dict[str, str]]:
    """``from``/``to`` (Beijing dates, default the last 90 days) and the clean-mode tonnage
    entered for the period; errors named by field."""
    errors: dict[str, str] = {}
    today = beijing_today()
    parsed: dict[str, date] = {}
    for name in ("from", "to"):
        if args.get(name):
            try:
                parsed[name] = date.fromisoformat(args[name])
            except ValueError:
                errors[name] = _("应为日期 YYYY-MM-DD")
    end = parsed.get("to", today)
    start = parsed.get("from", end - timedelta(days=DEFAULT_DAYS - 1))
    if not errors and end < start:
        errors["to"] = _("结束日期不能早于开始日期")
    elif not errors and (end - start).days >= inputs.MAX_DAYS:
        errors["to"] = _("一次至多查询 %(n)d 天", n=inputs.MAX_DAYS)
    tonnage: dict[TransportMode, Decimal] = {}
    for mode in inputs.CLEAN_MODES:
        text = args.get(mode.value, "")
        if not text:
            continue
        try:
            amount = Decimal(text)
        except InvalidOperation:
            amount = Decimal(-1)
        if not amount.is_finite() or amount < 0 or amount > Decimal("1e12"):
            errors[mode.value] = _("应为不小于 0 的吨数")
            continue
        tonnage[mode] = amount
    raw = {k: args.get(k, "") for k in ("from", "to", *(m.value for m in inputs.CLEAN_MODES))}
    raw["from"], raw["to"] = raw["from"] or start.isoformat(), raw["to"] or end.isoformat()
    return Period(start, end, tonnage, raw), errors


def _history(session: Session, site: Site) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.tenant_id == site.tenant_id,
                AuditEvent.event.in_(tuple(EVENT_LABELS)),
                AuditEvent.details["site_id"].as_string() == str(site.id),
            )
            .order_by(AuditEvent.id.desc())
            .limit(HISTORY)
        )
    )


def _site_page(
    site_id: uuid.UUID,
    *,
    form: dict[str, str] | None = None,
    upload_errors: dict[str, str] | None = None,
    status_error: tuple[uuid.UUID, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    site, tenant_name = _site_or_404(site_id)
    period, period_errors = parse_period({k: v.strip() for k, v in request.args.items()})
    session = get_session()
    view = None
    with tenant_context(site.tenant_id):
        documents = list(
            session.scalars(
                select(RatingDocument)
                .where(RatingDocument.site_id == site.id)
                .order_by(RatingDocument.kind, RatingDocument.version.desc())
            )
        )
        history = _history(session, site)
        if not period_errors:
            try:
                gathered = inputs.gather(session, site, period.start, period.end, period.tonnage)
            except ValueError as exc:  # a bound the parser let through
                period_errors["to"] = str(exc)
            else:
                view = inputs.evaluate(site, gathered)
    by_kind = {k: [d for d in documents if d.kind == k] for k in DOCUMENT_KINDS}
    names = _user_names({d.created_by for d in documents if d.created_by} |
                        {e.actor_user_id for e in history if e.actor_user_id})  # fmt: skip
    return render_template(
        "console/rating_site.html",
        site=site,
        tenant_name=tenant_name,
        industry=inputs.industry_of(site),
        by_kind=by_kind,
        names=names,
        history=history,
        form=form or {},
        upload_errors=upload_errors or {},
        status_error=status_error,
        period=period,
        period_errors=period_errors,
        view=view,
        percent=inputs.percent,
        kind_labels=KIND_LABELS,
        status_labels=STATUS_LABELS,
        event_labels=EVENT_LABELS,
        transitions=TRANSITIONS,
        indicator_labels=INDICATOR_LABELS,
        mode_labels=MODE_LABELS,
        clean_modes=inputs.CLEAN_MODES,
        indicator_names=inputs.INDICATOR_NAMES,
        max_mb=MAX_DOCUMENT_BYTES // (1024 * 1024),
    ), (status if status != 200 else (422 if period_errors else 200))


# --- routes ---------------------------------------------------------------------------------------


@bp.get("/rating", endpoint="rating")
@require(Permission.CONSOLE_VIEW)
def rating_index() -> str:
    """Sites across tenants with the latest version and status of each document."""
    q = request.args.get("q", "").strip()[:100]
    session = get_session()
    with system_context("console: rating documents across tenants (read-only)"):
        stmt = select(Site, Tenant.name).join(Tenant, Tenant.id == Site.tenant_id)
        if q:
            pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            stmt = stmt.where(
                or_(Site.name.like(pattern, escape="\\"), Tenant.name.like(pattern, escape="\\"))
            )
        found = session.execute(stmt.order_by(Tenant.name, Site.name).limit(MAX_SITES + 1)).all()
        truncated = len(found) > MAX_SITES
        found = found[:MAX_SITES]
        ids = [site.id for site, _tenant in found]
        newest = (
            select(
                RatingDocument.site_id,
                RatingDocument.kind,
                func.max(RatingDocument.version).label("version"),
            )
            .where(RatingDocument.site_id.in_(ids))
            .group_by(RatingDocument.site_id, RatingDocument.kind)
            .subquery()
        )
        latest = session.scalars(
            select(RatingDocument).join(
                newest,
                and_(
                    RatingDocument.site_id == newest.c.site_id,
                    RatingDocument.kind == newest.c.kind,
                    RatingDocument.version == newest.c.version,
                ),
            )
        ).all() if ids else []  # fmt: skip
    by_site: dict[uuid.UUID, dict[str, RatingDocument]] = {}
    for row in latest:
        by_site.setdefault(row.site_id, {})[row.kind] = row
    return render_template(
        "console/rating.html",
        rows=[(site, tenant, by_site.get(site.id, {})) for site, tenant in found],
        q=q,
        truncated=truncated,
        kinds=DOCUMENT_KINDS,
        kind_labels=KIND_LABELS,
        status_labels=STATUS_LABELS,
        industry_of=inputs.industry_of,
    )


@bp.get("/rating/<uuid:site_id>", endpoint="rating_site")
@require(Permission.CONSOLE_VIEW)
def rating_site(site_id: uuid.UUID) -> tuple[str, int]:
    return _site_page(site_id)


@bp.post("/rating/<uuid:site_id>/documents", endpoint="rating_upload")
@require(Permission.RATING_MANAGE)
def rating_upload(site_id: uuid.UUID) -> Any:
    principal = check_permission(Permission.RATING_MANAGE)
    site, _tenant = _site_or_404(site_id)
    form = {k: request.form.get(k, "").strip() for k in ("kind", "title", "note")}
    upload = request.files.get("file")
    data = upload.read(MAX_DOCUMENT_BYTES + 1) if upload else b""
    filename = (upload.filename or "") if upload else ""
    session = get_session()
    try:
        with tenant_context(site.tenant_id):
            row = upload_document(
                session,
                site,
                current_app.extensions["cleangate.storage"],
                principal,
                kind=form["kind"],
                title=form["title"],
                note=form["note"],
                filename=filename,
                data=data,
            )
    except ApiError as exc:
        session.rollback()
        fields = exc.details.get("fields") or {"file": exc.message}
        return _site_page(site_id, form=form, upload_errors=fields, status=exc.status)
    flash(_("已上传%(kind)s第 %(n)d 版", kind=KIND_LABELS[row.kind], n=row.version))
    return redirect(url_for("console.rating_site", site_id=site.id))


@bp.post("/rating/<uuid:site_id>/documents/<uuid:document_id>/status", endpoint="rating_status")
@require(Permission.RATING_MANAGE)
def rating_status(site_id: uuid.UUID, document_id: uuid.UUID) -> Any:
    principal = check_permission(Permission.RATING_MANAGE)
    site, _tenant = _site_or_404(site_id)
    session = get_session()
    try:
        with tenant_context(site.tenant_id):
            row = get_document(session, site, document_id)
            change_status(
                session,
                site,
                row,
                request.form.get("status", "").strip(),
                principal,
                expected=request.form.get("from_status", "").strip() or None,
            )
    except ApiError as exc:
        session.rollback()
        if exc.status == 404:
            raise
        message = (exc.details.get("fields") or {}).get("status", exc.message)
        return _site_page(site_id, status_error=(document_id, message), status=exc.status)
    flash(
        _("%(kind)s第 %(n)d 版已改为“%(status)s”", kind=KIND_LABELS[row.kind], n=row.version,
          status=STATUS_LABELS[row.status])
    )  # fmt: skip
    return redirect(url_for("console.rating_site", site_id=site.id))


@bp.get("/rating/<uuid:site_id>/documents/<uuid:document_id>/download",
        endpoint="rating_download")  # fmt: skip
@require(Permission.CONSOLE_VIEW)
def rating_download(site_id: uuid.UUID, document_id: uuid.UUID) -> BaseResponse:
    site, _tenant = _site_or_404(site_id)
    with tenant_context(site.tenant_id):
        row = get_document(get_session(), site, document_id)
    data = current_app.extensions["cleangate.storage"].get(row.storage_key)
    ext = row.storage_key.rsplit(".", 1)[-1]
    response = Response(data, mimetype=row.content_type)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="rating-{row.kind}-v{row.version}.{ext}"; '
        f"filename*=UTF-8''{quote(row.filename, safe='')}"  # RFC 6266 / 5987
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-SHA256"] = row.sha256
    return response
