"""Portal: the registries (车辆台账) — list with filters and pages, create/edit forms,
deactivate/revoke, history, document images, Excel template and import report.

Thin over ``saas.ledger.registries`` and ``saas.ledger.imports``, the same services as the API,
so a browser and an integration get the same rules. URL parameters are named as in the API
(``vehicle_id``, ``machine_id`` …) so the isolation matrix classifies both alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, lazy_gettext
from flask_babel import gettext as _
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from saas.api.openapi import error_fields
from saas.api.pagination import paginate
from saas.api.registries import RESOURCES, Resource, parse_filters
from saas.auth.permissions import Permission, require
from saas.auth.principal import current_principal
from saas.compliance import (
    EmissionStage,
    ExemptionCategory,
    FuelType,
    NonRoadStage,
    PlateColor,
    UseNature,
    VehicleType,
)
from saas.db import get_session
from saas.errors import ApiError
from saas.i18n import DISPLAY_TIMEZONE
from saas.ledger import imports
from saas.ledger import registries as reg
from saas.models.ledger import Carrier
from saas.models.tenancy import Site
from saas.portal import bp

SHANGHAI = ZoneInfo(DISPLAY_TIMEZONE)

TITLES = {
    "carrier": lazy_gettext("车队"),
    "transport_vehicle": lazy_gettext("进出厂运输车辆"),
    "inplant_vehicle": lazy_gettext("厂内运输车辆"),
    "nonroad_machinery": lazy_gettext("非道路移动机械"),
    "vehicle_list": lazy_gettext("黑白名单"),
}
LABELS = {
    "site_id": lazy_gettext("站点"),
    "name": lazy_gettext("车队名称"),
    "uscc": lazy_gettext("统一社会信用代码"),
    "contact_name": lazy_gettext("联系人"),
    "contact_phone": lazy_gettext("联系电话"),
    "plate": lazy_gettext("车牌号码"),
    "plate_color": lazy_gettext("号牌颜色"),
    "vehicle_type": lazy_gettext("车辆类型"),
    "vin": lazy_gettext("车辆识别代码（VIN）"),
    "registration_date": lazy_gettext("注册登记日期"),
    "production_date": lazy_gettext("生产日期"),
    "model": lazy_gettext("车辆型号"),
    "engine_model": lazy_gettext("发动机型号"),
    "engine_manufacturer": lazy_gettext("发动机生产厂"),
    "engine_no": lazy_gettext("发动机编号"),
    "fuel_type": lazy_gettext("燃料类型"),
    "emission_stage": lazy_gettext("排放标准"),
    "nonroad_stage": lazy_gettext("排放标准"),
    "use_nature": lazy_gettext("使用性质"),
    "network_status": lazy_gettext("联网状态"),
    "carrier_id": lazy_gettext("车队"),
    "owner_name": lazy_gettext("所有人（单位）"),
    "owner_phone": lazy_gettext("所有人电话"),
    "rated_load_kg": lazy_gettext("核定载质量（kg）"),
    "verification": lazy_gettext("核验状态"),
    "env_reg_code": lazy_gettext("环保登记编码"),
    "machine_type": lazy_gettext("机械种类"),
    "pin": lazy_gettext("机械环保代码/产品识别码（PIN）"),
    "machine_model": lazy_gettext("机械型号"),
    "engine_power_kw": lazy_gettext("发动机功率（kW）"),
    "manufacturer": lazy_gettext("机械生产厂"),
    "local_code": lazy_gettext("本地环保编码"),
    "list_kind": lazy_gettext("名单类型"),
    "reason": lazy_gettext("原因"),
    "exemption": lazy_gettext("豁免类别"),
    "valid_from": lazy_gettext("有效期自"),
    "valid_to": lazy_gettext("有效期至"),
    "source": lazy_gettext("来源"),
    "active": lazy_gettext("状态"),
    "stage_basis": lazy_gettext("推断依据"),
    "created_at": lazy_gettext("登记时间"),
    "updated_at": lazy_gettext("更新时间"),
    "revoked_at": lazy_gettext("撤销时间"),
    "effective": lazy_gettext("当前有效"),
}
IMAGE_LABELS = {
    "list": lazy_gettext("随车清单"),
    "license": lazy_gettext("行驶证"),
    "nameplate": lazy_gettext("整车（机）铭牌"),
    "engine_nameplate": lazy_gettext("发动机铭牌"),
    "env_label": lazy_gettext("机械环保信息标签"),
}
SOURCE_LABELS = {
    "portal": lazy_gettext("门户"),
    "miniprogram": lazy_gettext("小程序"),
    "import": lazy_gettext("Excel 导入"),
    "lookup": lazy_gettext("平台查询"),
}
LIST_KIND_LABELS = {"black": lazy_gettext("黑名单"), "white": lazy_gettext("白名单")}
# Columns of the list page (the detail page shows every field).
LIST_COLUMNS = {
    "carrier": ("name", "uscc", "contact_name", "contact_phone"),
    "transport_vehicle": (
        "plate",
        "plate_color",
        "vehicle_type",
        "fuel_type",
        "emission_stage",
        "verification",
        "active",
    ),
    "inplant_vehicle": (
        "env_reg_code",
        "plate",
        "fuel_type",
        "emission_stage",
        "verification",
        "active",
    ),
    "nonroad_machinery": (
        "env_reg_code",
        "machine_type",
        "pin",
        "nonroad_stage",
        "verification",
        "active",
    ),
    "vehicle_list": ("plate", "list_kind", "reason", "valid_from", "valid_to", "effective"),
}
DATE_FIELDS = {"registration_date", "production_date"}
DATETIME_FIELDS = {"valid_from", "valid_to"}
NUMBER_FIELDS = {"rated_load_kg", "engine_power_kw"}


def _english() -> bool:
    return str(get_locale()) == "en"


def _enum_choices(enum: Any, with_code: bool = False) -> Callable[[], list[tuple[str, str]]]:
    def choices() -> list[tuple[str, str]]:
        out = []
        for member in enum:
            label = (
                member.label_en if _english() and hasattr(member, "label_en") else member.label_zh
            )
            out.append((member.value, f"{member.value} {label}" if with_code else label))
        return out

    return choices


def _pair_choices(
    table: dict[str, tuple[str, str]], keys: Any = None
) -> Callable[[], list[tuple[str, str]]]:
    def choices() -> list[tuple[str, str]]:
        return [(k, table[k][1] if _english() else table[k][0]) for k in (keys or table)]

    return choices


CHOICES: dict[str, Callable[[], list[tuple[str, str]]]] = {
    "plate_color": _enum_choices(PlateColor),
    "vehicle_type": _enum_choices(VehicleType, with_code=True),
    "fuel_type": _enum_choices(FuelType),
    "emission_stage": _enum_choices(EmissionStage),
    "nonroad_stage": _enum_choices(NonRoadStage),
    "use_nature": _enum_choices(UseNature, with_code=True),
    "network_status": _pair_choices(reg.NETWORK_STATUSES),
    "verification": _pair_choices(reg.VERIFICATION_LABELS, reg.USER_VERIFICATION_STATES),
    "exemption": _enum_choices(ExemptionCategory),
    "list_kind": lambda: [(k, str(v)) for k, v in LIST_KIND_LABELS.items()],
}


def display(name: str, value: Any) -> str:
    """A stored value as a person reads it (labels for codes, Beijing time for instants)."""
    if value is None or value == "":
        return "—"
    if name in CHOICES:
        return dict(CHOICES[name]()).get(str(value), str(value))
    if name == "verification":
        pair = reg.VERIFICATION_LABELS.get(value)
        return pair[1 if _english() else 0] if pair else str(value)
    if name == "source":
        return str(SOURCE_LABELS.get(value, value))
    if name in {"active", "effective"}:
        if name == "active":
            return _("在用") if value else _("已停用")
        return _("是") if value else _("否")
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _provenance_filters(r: reg.Registry, stmt: Any, args: Any) -> Any:
    """核验状态 and 来源 filters (e.g. "待核验, from the mini-program": ``verification=
    self_declared&source=miniprogram``), for the registries that carry provenance."""
    if not r.has_source:
        return stmt
    bad: dict[str, str] = {}
    for name, allowed in (("verification", reg.VERIFICATION_STATES), ("source", reg.SOURCES)):
        value = args.get(name)
        if not value:
            continue
        if value not in allowed:
            bad[name] = "unknown value"
            continue
        stmt = stmt.where(getattr(r.model, name) == value)
    if bad:
        raise ApiError(422, "validation_failed", _("查询条件有误"), {"fields": bad})
    return stmt


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: str  # text | date | datetime | number | select
    choices: list[tuple[str, str]]
    required: bool


def _form_fields(res: Resource, *, editing: bool) -> list[FormField]:
    session = get_session()
    model: type[BaseModel] = res.registry.patch if editing else res.registry.create
    fields: list[FormField] = []
    for name, info in model.model_fields.items():
        choices: list[tuple[str, str]] = []
        kind = "text"
        if name in CHOICES:
            kind, choices = "select", CHOICES[name]()
        elif name == "site_id":
            kind = "select"
            choices = [
                (str(s.id), s.name) for s in session.scalars(select(Site).order_by(Site.name))
            ]
        elif name == "carrier_id":
            kind = "select"
            choices = [
                (str(c.id), c.name) for c in session.scalars(select(Carrier).order_by(Carrier.name))
            ]
        elif name in DATE_FIELDS:
            kind = "date"
        elif name in DATETIME_FIELDS:
            kind = "datetime"
        elif name in NUMBER_FIELDS:
            kind = "number"
        required = not editing and info.is_required()
        fields.append(FormField(name, str(LABELS.get(name, name)), kind, choices, required))
    return fields


def _form_value(name: str, value: Any) -> str:
    """How a stored value appears in a form input (and is compared on submit)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _parse_form(res: Resource, fields: list[FormField], current: Any) -> dict[str, Any]:
    """Form strings → a body dict. Editing sends only what changed, so an inferred stage shown
    in the form is not turned into an explicit one by saving an unrelated field."""
    out: dict[str, Any] = {}
    for f in fields:
        raw = request.form.get(f.name, "").strip()
        if current is not None and raw == _form_current(f.name, current):
            continue
        if raw == "":
            if current is not None:
                out[f.name] = None
            continue
        if f.kind == "datetime":
            try:
                out[f.name] = datetime.fromisoformat(raw).replace(tzinfo=SHANGHAI).isoformat()
            except ValueError:
                out[f.name] = raw
        else:
            out[f.name] = raw
    return out


def _form_current(name: str, record: Any) -> str:
    if name in {"emission_stage", "nonroad_stage"} and record.stage_inferred:
        return ""  # shown as "inferred"; choosing a stage makes it explicit
    return _form_value(name, getattr(record, name, None))


def _user_id() -> uuid.UUID | None:
    principal = current_principal()
    return principal.user_id if principal is not None else None


def _named(view: Any, name: str) -> Any:
    view.__name__ = name
    view.__qualname__ = name
    return view


def _endpoint(action: str, res: Resource) -> str:
    return f"portal.registries_{action}_{res.registry.entity}"


def _ctx(res: Resource) -> dict[str, Any]:
    return {
        "res": res,
        "title": TITLES[res.registry.entity],
        "endpoint": lambda action: _endpoint(action, res),
        "labels": LABELS,
        "display": display,
        "image_labels": IMAGE_LABELS,
    }


@bp.get("/registries", endpoint="registries")
@require(Permission.REGISTRY_READ)
def registries_index() -> str:
    links = [(TITLES[r.registry.entity], _endpoint("list", r)) for r in RESOURCES]
    return render_template("portal/registries/index.html", links=links)


def _declare(res: Resource) -> None:
    r = res.registry
    base = f"/registries/{res.path}"
    one = f"{base}/<uuid:{res.param}>"
    name = r.entity

    def list_view() -> tuple[str, int]:
        session = get_session()
        args = {k: v for k, v in request.args.items() if v and k != "cursor"}
        rows: list[Any] = []
        next_cursor = None
        error = None
        try:
            stmt = reg.list_query(r, parse_filters(request.args, r))
            stmt = _provenance_filters(r, stmt, request.args)
            rows, next_cursor = paginate(session, stmt, r.model.created_at, r.model.id)
        except ApiError as exc:
            error = exc.message + ": " + ", ".join(exc.details.get("fields", {}))
        sites = list(session.scalars(select(Site).order_by(Site.name)))
        stage_field = "nonroad_stage" if r is reg.NONROAD_MACHINERY else "emission_stage"
        return render_template(
            "portal/registries/list.html",
            rows=[reg.to_out(r, row) for row in rows],
            columns=LIST_COLUMNS[name],
            args=args,
            sites=sites,
            stage_choices=CHOICES[stage_field]() if hasattr(r.model, stage_field) else [],
            has_plate=hasattr(r.model, "plate"),
            has_code=r is reg.CARRIERS or hasattr(r.model, "env_reg_code"),
            verification_choices=_pair_choices(reg.VERIFICATION_LABELS)() if r.has_source else [],
            source_choices=[(k, str(v)) for k, v in SOURCE_LABELS.items()] if r.has_source else [],
            next_cursor=next_cursor,
            error=error,
            **_ctx(res),
        ), (422 if error else 200)

    bp.add_url_rule(
        base,
        view_func=require(Permission.REGISTRY_READ)(_named(list_view, f"registries_list_{name}")),
    )

    def _save(record: Any) -> str | tuple[str, int] | BaseResponse:
        editing = record is not None
        fields = _form_fields(res, editing=editing)
        errors: dict[str, str] = {}
        values = {f.name: _form_current(f.name, record) if editing else "" for f in fields}
        if request.method == "POST":
            values.update({f.name: request.form.get(f.name, "") for f in fields})
            body = _parse_form(res, fields, record)
            session = get_session()
            try:
                model = (r.patch if editing else r.create).model_validate(body)
                if editing:
                    saved = reg.update_record(session, r, record, model, user_id=_user_id())
                else:
                    saved = reg.create_record(session, r, model, user_id=_user_id())
            except ValidationError as exc:
                errors = error_fields(exc)
            except ApiError as exc:
                if exc.status == 404 and not exc.details:
                    raise
                errors = exc.details.get("fields") or {"": exc.message}
                if exc.status == 409:
                    errors = {k: exc.message for k in errors} or {"": exc.message}
            else:
                flash(_("已保存"))
                return redirect(url_for(_endpoint("detail", res), **{res.param: saved.id}))
        status = 422 if errors else 200
        return render_template(
            "portal/registries/form.html",
            fields=fields,
            values=values,
            errors=errors,
            record=record,
            **_ctx(res),
        ), status

    def new_view() -> str | tuple[str, int] | BaseResponse:
        return _save(None)

    bp.add_url_rule(
        f"{base}/new",
        view_func=require(Permission.REGISTRY_WRITE)(_named(new_view, f"registries_new_{name}")),
        methods=["GET", "POST"],
    )

    def detail_view(**kwargs: uuid.UUID) -> str:
        session = get_session()
        record = reg.get_record(session, r, kwargs[res.param])
        changes = reg.history(session, r, record, limit=200)
        fields = [f for f in r.create.model_fields if f != "site_id"]
        extra = ["stage_basis"] if hasattr(record, "stage_basis") else []
        meta = [
            m
            for m in ("source", "active", "revoked_at", "created_at", "updated_at")
            if hasattr(record, m)
        ]
        site = session.get(Site, record.site_id)
        return render_template(
            "portal/registries/detail.html",
            record=record,
            out=reg.to_out(r, record),
            site=site,
            fields=fields + extra + meta,
            changes=changes,
            images=[(kind, getattr(record, column)) for kind, column in r.images.items()],
            can_write=_can_write(),
            **_ctx(res),
        )

    bp.add_url_rule(
        one,
        view_func=require(Permission.REGISTRY_READ)(
            _named(detail_view, f"registries_detail_{name}")
        ),
    )

    def edit_view(**kwargs: uuid.UUID) -> str | tuple[str, int] | BaseResponse:
        record = reg.get_record(get_session(), r, kwargs[res.param])
        return _save(record)

    bp.add_url_rule(
        f"{one}/edit",
        view_func=require(Permission.REGISTRY_WRITE)(_named(edit_view, f"registries_edit_{name}")),
        methods=["GET", "POST"],
    )

    if res.deactivate is not None:

        def deactivate_view(**kwargs: uuid.UUID) -> BaseResponse:
            session = get_session()
            record = reg.get_record(session, r, kwargs[res.param])
            reg.deactivate_record(session, r, record, user_id=_user_id())
            flash(_("已撤销") if res.deactivate == "revoke" else _("已停用"))
            return redirect(url_for(_endpoint("detail", res), **{res.param: record.id}))

        bp.add_url_rule(
            f"{one}/deactivate",
            view_func=require(Permission.REGISTRY_WRITE)(
                _named(deactivate_view, f"registries_deactivate_{name}")
            ),
            methods=["POST"],
        )

    if r.images:

        def image_view(kind: str, **kwargs: uuid.UUID) -> BaseResponse:
            session = get_session()
            record = reg.get_record(session, r, kwargs[res.param])
            upload = request.files.get("image")
            data = upload.read(reg.MAX_IMAGE_BYTES + 1) if upload else b""
            storage = current_app.extensions["cleangate.storage"]
            try:
                reg.store_image(session, r, record, kind, data, storage, user_id=_user_id())
            except ApiError as exc:
                if exc.status == 404:
                    raise
                flash(exc.message)
            else:
                flash(_("图片已上传"))
            return redirect(url_for(_endpoint("detail", res), **{res.param: record.id}))

        bp.add_url_rule(
            f"{one}/images/<kind>",
            view_func=require(Permission.REGISTRY_WRITE)(
                _named(image_view, f"registries_image_{name}")
            ),
            methods=["POST"],
        )

    if res.importable:

        def template_view() -> Response:
            return Response(
                imports.build_template(r),
                mimetype=imports.XLSX_MIME,
                headers={"Content-Disposition": f'attachment; filename="{res.path}-template.xlsx"'},
            )

        bp.add_url_rule(
            f"{base}/template.xlsx",
            view_func=require(Permission.REGISTRY_READ)(
                _named(template_view, f"registries_template_{name}")
            ),
        )

        def import_view() -> str | tuple[str, int] | BaseResponse:
            session = get_session()
            sites = list(session.scalars(select(Site).order_by(Site.name)))
            report: list[Any] = []
            message = None
            status = 200
            if request.method == "POST":
                upload = request.files.get("file")
                data = upload.read(imports.MAX_FILE_BYTES + 1) if upload else b""
                try:
                    site_id = uuid.UUID(request.form.get("site_id", ""))
                    result = imports.import_workbook(session, r, site_id, data, user_id=_user_id())
                except ValueError:
                    message, status = _("请选择站点"), 422
                except ApiError as exc:
                    if exc.status == 404 and not exc.details:
                        raise
                    message, status = exc.message, exc.status
                    report = exc.details.get("rows", [])
                else:
                    flash(_("已导入 %(count)d 条记录", count=result.imported))
                    return redirect(url_for(_endpoint("list", res)))
            return render_template(
                "portal/registries/import.html",
                sites=sites,
                report=report,
                message=message,
                **_ctx(res),
            ), status

        bp.add_url_rule(
            f"{base}/import",
            view_func=require(Permission.REGISTRY_WRITE)(
                _named(import_view, f"registries_import_{name}")
            ),
            methods=["GET", "POST"],
        )


def _can_write() -> bool:
    principal = current_principal()
    return principal is not None and principal.can(Permission.REGISTRY_WRITE)


for _resource in RESOURCES:
    _declare(_resource)
