"""Portal: 一厂一策 plans — the plan in force per site, its versions, the draft editor and
approval. The rules are saas/policy/plans.py's; these views turn forms into its calls."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from saas.auth.permissions import Permission, require
from saas.auth.principal import check_permission
from saas.board import tokens as board_tokens
from saas.compliance import TEMPLATE_NAMES, load_template
from saas.compliance.codes import AlertLevel
from saas.compliance.plan import ALERT_LEVELS, PLAN_TEMPLATES, MeasureKind, Plan
from saas.db import get_session
from saas.errors import ApiError
from saas.models.plans import SitePlan
from saas.models.tenancy import Site
from saas.policy import plans
from saas.portal import bp
from saas.sites import get_site

LEVELS = (AlertLevel.NONE, *ALERT_LEVELS)
LEVEL_LABELS = {"none": "平日", "yellow": "黄色预警", "orange": "橙色预警", "red": "红色预警"}
KIND_LABELS = {
    MeasureKind.STOP.value: "停产/停用",
    MeasureKind.LIMIT.value: "限产",
    MeasureKind.EXTEND.value: "延长出焦时间",
    MeasureKind.TEXT.value: "其他（文字）",
}
MEASURE_FIELDS = ("process", "units_stopped", "units_total", "percent", "hours", "after_hours")
NUMBER_FIELDS = ("units_stopped", "units_total", "percent", "hours", "after_hours")
BLANK_ROWS = 3
_PATH = re.compile(r"^document\.production\.(\w+)\[(\d+)\](?:\.(\w+))?$")


@bp.get("/plans", endpoint="plans")
@require(Permission.SITE_READ)
def plan_index() -> str:
    session = get_session()
    sites = list(session.scalars(select(Site).order_by(Site.name)))
    rows = list(session.scalars(select(SitePlan).order_by(SitePlan.version.desc())))
    summary = []
    for site in sites:
        mine = [r for r in rows if r.site_id == site.id]
        summary.append(
            {
                "site": site,
                "in_force": next((r for r in mine if r.status == "approved"), None),
                "drafts": [r for r in mine if r.status == "draft"],
                "template": PLAN_TEMPLATES[plans.default_template(site).id],
            }
        )
    return render_template("portal/plans/index.html", summary=summary)


@bp.get("/sites/<uuid:site_id>/plan", endpoint="site_plan")
@require(Permission.SITE_READ)
def site_plan(site_id: uuid.UUID) -> str:
    session = get_session()
    site = get_site(session, site_id)
    plan, row = plans.document(session, site)
    return render_template(
        "portal/plans/site.html",
        site=site,
        row=row,
        template=plans.default_template(site),
        measures={lv.value: plan.measures(lv) for lv in LEVELS},
        versions=plans.versions(session, site.id),
        templates=PLAN_TEMPLATES,
        level_labels=LEVEL_LABELS,
        board_url=board_tokens.board_url(
            current_app.config["CLEANGATE_SETTINGS"].base_url, site.board_token
        )
        if site.board_token
        else None,
    )


@bp.post("/sites/<uuid:site_id>/board-token", endpoint="board_token")
@require(Permission.SITE_WRITE)
def board_token(site_id: uuid.UUID) -> BaseResponse:
    """Create the public board's address, or replace it (the old one stops working at once)."""
    principal = check_permission(Permission.SITE_WRITE)
    session = get_session()
    site = get_site(session, site_id)
    if site.board_token:
        board_tokens.rotate(
            session, site, actor_id=principal.user_id, actor_label=principal.username
        )
        flash(_("公示大屏地址已更换，旧地址已失效；请在大屏上打开新地址"))
    else:
        board_tokens.ensure_token(
            session, site, actor_id=principal.user_id, actor_label=principal.username
        )
        flash(_("已生成公示大屏地址"))
    session.commit()
    return redirect(url_for("portal.site_plan", site_id=site.id) + "#board")


@bp.post("/sites/<uuid:site_id>/plans", endpoint="plan_create")
@require(Permission.PLAN_WRITE)
def plan_create(site_id: uuid.UUID) -> BaseResponse:
    principal = check_permission(Permission.PLAN_WRITE)
    session = get_session()
    site = get_site(session, site_id)
    start = request.form.get("start", "current")
    template = start.removeprefix("template:") if start.startswith("template:") else None
    try:
        row = plans.create_draft(
            session,
            site,
            actor_id=principal.user_id,
            actor_label=principal.username,
            template=template,
        )
    except ApiError as exc:
        flash(_("无法新建草稿：%(error)s", error=exc.message))
        return redirect(url_for("portal.site_plan", site_id=site.id))
    session.commit()
    flash(_("已新建第 %(version)s 版草稿", version=row.version))
    return redirect(url_for("portal.plan_edit", site_id=site.id, plan_id=row.id))


def _form_rows(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Production measures as editable rows, plus blank rows to add more."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for level in ALERT_LEVELS:
        items = [dict(m) for m in (document.get("production") or {}).get(level.value, [])]
        rows[level.value] = items + [{} for _ in range(BLANK_ROWS)]
    return rows


def _render_edit(
    site: Site,
    row: SitePlan,
    *,
    form: dict[str, Any] | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    document = row.document
    policy_doc = document.get("policy", {})
    values = form or {
        "city": row.city,
        "district": row.district,
        "responsible_name": row.responsible_name,
        "responsible_phone": row.responsible_phone,
        "remarks": row.remarks,
        "change_note": row.change_note,
        "rows": _form_rows(document),
        "transport": {
            "none": "\n".join(policy_doc.get("baseline", {}).get("measures", [])),
            **{
                lv.value: "\n".join(
                    policy_doc.get("levels", {}).get(lv.value, {}).get("measures", [])
                )
                for lv in ALERT_LEVELS
            },
        },
        "policy_json": json.dumps(policy_doc, ensure_ascii=False, indent=2),
        "policy_template": "",
    }
    measures: dict[str, tuple[str, ...]] = {}
    try:
        plan = Plan.from_dict(document)
        measures = {lv.value: plan.measures(lv) for lv in LEVELS}
    except ValueError:  # pragma: no cover - a stored plan is valid by construction
        pass
    html = render_template(
        "portal/plans/edit.html",
        site=site,
        row=row,
        values=values,
        errors=errors or [],
        measures=measures,
        kinds=KIND_LABELS,
        levels=ALERT_LEVELS,
        level_labels=LEVEL_LABELS,
        policy_templates=TEMPLATE_NAMES,
    )
    return html, status


@bp.get("/sites/<uuid:site_id>/plans/<uuid:plan_id>", endpoint="plan_edit")
@require(Permission.SITE_READ)
def plan_edit(site_id: uuid.UUID, plan_id: uuid.UUID) -> tuple[str, int]:
    session = get_session()
    site = get_site(session, site_id)
    return _render_edit(site, plans.get(session, site.id, plan_id))


def _read_form(row: SitePlan) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(changes for plans.update_draft, the values to re-show, form-level errors)."""
    form = request.form
    errors: list[str] = []
    values: dict[str, Any] = {
        name: form.get(name, "").strip()
        for name in ("city", "district", "responsible_name", "responsible_phone", "remarks")
    }
    values["change_note"] = form.get("change_note", "").strip()
    values["policy_json"] = form.get("policy_json", "")
    values["policy_template"] = form.get("policy_template", "")
    values["transport"] = {lv.value: form.get(f"transport-{lv.value}", "") for lv in LEVELS}
    production: dict[str, list[dict[str, Any]]] = {}
    values["rows"] = {}
    values["form_row"] = {}  # level → form row of each stored measure (blank rows are skipped)
    for level in ALERT_LEVELS:
        shown: list[dict[str, Any]] = []
        items: list[dict[str, Any]] = []
        for i in range(int(form.get(f"{level.value}-rows", "0") or 0)):
            raw = {
                name: form.get(f"{level.value}-{i}-{name}", "").strip()
                for name in ("kind", *MEASURE_FIELDS, "text")
            }
            shown.append(raw)
            if not raw["kind"]:
                continue
            values["form_row"].setdefault(level.value, []).append(i)
            item: dict[str, Any] = {"kind": raw["kind"]}
            for name in ("process", "text"):
                if raw[name]:
                    item[name] = raw[name]
            for name in NUMBER_FIELDS:
                if raw[name]:
                    item[name] = int(raw[name]) if raw[name].isdigit() else raw[name]
            items.append(item)
        production[level.value] = items
        values["rows"][level.value] = shown + [{} for _ in range(BLANK_ROWS)]
    if values["policy_template"]:
        if values["policy_template"] not in TEMPLATE_NAMES:
            errors.append(_("未知的运输管控模板"))
            policy: Any = row.document.get("policy")
        else:
            policy = load_template(values["policy_template"]).to_dict()
    else:
        try:
            policy = json.loads(values["policy_json"] or "null")
        except ValueError as exc:
            errors.append(_("运输管控规则（JSON）格式错误：%(error)s", error=str(exc)))
            policy = row.document.get("policy")
    if isinstance(policy, dict) and not values["policy_template"]:
        policy = dict(policy)
        lines = {
            lv: [x.strip() for x in text.splitlines() if x.strip()]
            for lv, text in values["transport"].items()
        }
        if isinstance(policy.get("baseline"), dict):
            policy["baseline"] = {**policy["baseline"], "measures": lines["none"]}
        levels = policy.get("levels")
        if isinstance(levels, dict):
            policy["levels"] = {
                name: {**body, "measures": lines.get(name, [])} if isinstance(body, dict) else body
                for name, body in levels.items()
            }
    changes = {
        **{k: values[k] for k in ("city", "district", "remarks", "change_note")},
        "responsible_name": values["responsible_name"],
        "responsible_phone": values["responsible_phone"],
        "document": {"production": production, "policy": policy},
    }
    return changes, values, errors


def _explain(field: str, message: str, form_row: dict[str, list[int]] | None = None) -> str:
    """A validation path in words: ``橙色预警 · 第 2 行 限产比例：expected …`` (the row
    number as the form shows it)."""
    names = {
        "units_stopped": _("停用台数"),
        "units_total": _("总台数"),
        "percent": _("限产比例"),
        "hours": _("出焦时间"),
        "after_hours": _("持续时长条件"),
        "process": _("工序/设备"),
        "text": _("措施内容"),
        "kind": _("措施类型"),
        "responsible_name": _("措施落实负责人"),
        "responsible_phone": _("负责人电话"),
    }
    found = _PATH.match(field)
    if found:
        level, index, name = found.groups()
        rows = (form_row or {}).get(level, [])
        row = rows[int(index)] if int(index) < len(rows) else int(index)
        where = f"{LEVEL_LABELS.get(level, level)} · " + _("第 %(n)s 行", n=row + 1)
        return f"{where} {names.get(name or '', '')}：{message}"
    if field.startswith("document.policy"):
        return (
            _("运输管控规则") + f" {field.removeprefix('document.policy').lstrip('.')}：{message}"
        )
    if field.startswith("document.production."):
        level = field.removeprefix("document.production.")
        return f"{LEVEL_LABELS.get(level, level)}：{message}"
    return f"{names.get(field, field)}：{message}"


@bp.post("/sites/<uuid:site_id>/plans/<uuid:plan_id>", endpoint="plan_save")
@require(Permission.PLAN_WRITE)
def plan_save(site_id: uuid.UUID, plan_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    principal = check_permission(Permission.PLAN_WRITE)
    session = get_session()
    site = get_site(session, site_id)
    row = plans.get(session, site.id, plan_id)
    changes, values, errors = _read_form(row)
    phone = values["responsible_phone"]
    if phone and not re.fullmatch(r"[0-9+\- ]{7,30}", phone):
        errors.append(_explain("responsible_phone", _("电话号码格式不正确")))
    if errors:
        return _render_edit(site, row, form=values, errors=errors, status=422)
    try:
        plans.update_draft(
            session, row, changes, actor_id=principal.user_id, actor_label=principal.username
        )
    except ApiError as exc:
        session.rollback()
        fields = exc.details.get("fields", {}) if exc.status == 422 else {}
        shown = [_explain(f, m, values["form_row"]) for f, m in fields.items()] or [exc.message]
        row = plans.get(session, site.id, plan_id)
        return _render_edit(site, row, form=values, errors=shown, status=exc.status)
    session.commit()
    flash(_("草稿已保存"))
    return redirect(url_for("portal.plan_edit", site_id=site.id, plan_id=row.id))


@bp.post("/sites/<uuid:site_id>/plans/<uuid:plan_id>/approve", endpoint="plan_approve")
@require(Permission.PLAN_APPROVE)
def plan_approve(site_id: uuid.UUID, plan_id: uuid.UUID) -> BaseResponse:
    principal = check_permission(Permission.PLAN_APPROVE)
    session = get_session()
    site = get_site(session, site_id)
    row = plans.get(session, site.id, plan_id)
    try:
        plans.approve(session, row, actor_id=principal.user_id, actor_label=principal.username)
    except ApiError as exc:
        session.rollback()
        fields = exc.details.get("fields", {})
        flash(_("未批准：%(error)s", error="；".join(fields.values()) or exc.message))
        return redirect(url_for("portal.plan_edit", site_id=site.id, plan_id=plan_id))
    session.commit()
    flash(_("第 %(version)s 版已批准生效，门禁规则已下发", version=row.version))
    return redirect(url_for("portal.site_plan", site_id=site.id))


@bp.post("/sites/<uuid:site_id>/plans/<uuid:plan_id>/withdraw", endpoint="plan_withdraw")
@require(Permission.PLAN_WRITE)
def plan_withdraw(site_id: uuid.UUID, plan_id: uuid.UUID) -> BaseResponse:
    principal = check_permission(Permission.PLAN_WRITE)
    session = get_session()
    site = get_site(session, site_id)
    row = plans.get(session, site.id, plan_id)
    try:
        plans.withdraw(session, row, actor_id=principal.user_id, actor_label=principal.username)
    except ApiError as exc:
        session.rollback()
        flash(exc.message)
        return redirect(url_for("portal.plan_edit", site_id=site.id, plan_id=plan_id))
    session.commit()
    flash(_("第 %(version)s 版草稿已撤回", version=row.version))
    return redirect(url_for("portal.site_plan", site_id=site.id))
