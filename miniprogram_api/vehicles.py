"""The driver's garage and registering a garage vehicle at a site.

A garage vehicle (``MpVehicle``) is the driver's own, global row: the facts of the 行驶证 and
its photos (行驶证, 随车清单), declared once. Registering it at a site (the id from the site's
QR code) writes that site's transport-vehicle registry — the tenant's ``TransportVehicle``,
source ``miniprogram``, verification ``self_declared`` — through ``saas.ledger.registries``, so
the portal's rules, history rows and regulator outbox apply exactly as for a portal entry. The
enterprise then checks the documents in the portal. ``MpVehicleSite`` remembers where the
vehicle was registered so the driver can list, refresh and withdraw those registrations.

Validation uses the registry's own field types (``PlateText``, ``VinText`` …), so codes and
messages match the portal's; a 422 also carries ``details.reasons`` — the stable error codes of
``saas.compliance`` (``parse_plate``, ``parse_vin``) with a Chinese message each.

Decisions (docs/miniprogram-api.md):
- A plate (and its colour) identifies a garage vehicle: it cannot be changed by PATCH (delete
  and add again); a second vehicle with the same plate and colour is 409.
- PATCH changes the garage only; POST …/sites again refreshes a site's registration. A new photo
  is passed on at once to every site registration the driver may still change (active and
  self-declared); a record the enterprise has checked keeps its photos.
- POST …/sites answers 201 when it created the registry record, 200 when an existing
  self-declared record was refreshed; 409 when the enterprise has checked the record or has
  itself deactivated it.
- DELETE of a garage vehicle removes it from the garage only: what was registered at sites
  stays with those enterprises.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import Response, current_app, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from miniprogram_api import auth, registry, sites
from saas.compliance import (
    EmissionStage,
    FuelType,
    PlateColor,
    UseNature,
    VehicleType,
    infer_stage,
    parse_plate,
    plates,
    vin,
)
from saas.db import get_session, utcnow
from saas.errors import ApiError, NotFound
from saas.ledger import registries as reg
from saas.ledger.images import sniff_image
from saas.models.ledger import TransportVehicle
from saas.models.miniprogram import MpUser, MpVehicle, MpVehicleSite

MAX_IMAGE_BYTES = reg.MAX_IMAGE_BYTES  # 5 MB, as for the portal's document photos
_MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the image
IMAGE_KINDS: dict[str, tuple[str, str]] = {  # kind → (garage column, label)
    "license": ("license_image_key", "行驶证"),
    "list": ("list_image_key", "随车清单"),
}
_CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png"}
FACTS = (
    "vehicle_type",
    "vin",
    "registration_date",
    "model",
    "fuel_type",
    "emission_stage",
    "use_nature",
    "owner_name",
)
REQUIRED = ("vin", "vehicle_type", "fuel_type")  # on the 行驶证; may not be cleared
_CHECKED = ("documents_checked", "regulator_verified")

# --- reasons: stable codes with Chinese messages -------------------------------------------------

FIELD_LABELS = {
    "plate": "车牌号码",
    "plate_color": "号牌颜色",
    "vin": "车辆识别代号",
    "vehicle_type": "车辆类型",
    "fuel_type": "燃料类型",
    "emission_stage": "排放阶段",
    "registration_date": "注册登记日期",
    "model": "品牌型号",
    "use_nature": "使用性质",
    "owner_name": "所有人",
    "site_id": "站点",
}
_GENERIC: dict[str, tuple[str, str]] = {  # pydantic error type → (code, message suffix)
    "missing": ("required", "必填"),
    "string_too_short": ("required", "不能为空"),
    "string_too_long": ("too_long", "过长"),
    "extra_forbidden": ("unknown_field", "不是可填写的字段"),
    "date_parsing": ("date_invalid", "应为日期 YYYY-MM-DD"),
    "date_from_datetime_parsing": ("date_invalid", "应为日期 YYYY-MM-DD"),
    "date_from_datetime_inexact": ("date_invalid", "应为日期 YYYY-MM-DD"),
    "date_type": ("date_invalid", "应为日期 YYYY-MM-DD"),
    "string_type": ("type_invalid", "应为文本"),
    "uuid_parsing": ("uuid_invalid", "编号格式不对"),
    "uuid_type": ("uuid_invalid", "编号格式不对"),
}


@dataclass(frozen=True)
class Reason:
    field: str
    code: str
    message: str


def _reasons_of(exc: ValidationError) -> list[Reason]:
    out: list[Reason] = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "body"
        label = FIELD_LABELS.get(name, name)
        ctx = err.get("ctx") or {}
        kind = err["type"]
        if kind in {"plate_invalid", "vin_invalid"}:
            explain = plates.error_reasons if kind == "plate_invalid" else vin.error_reasons
            codes = [code for code in str(ctx.get("codes", "")).split(",") if code]
            out.extend(Reason(name, r["code"], r["message"]) for r in explain(codes))
        elif kind.endswith("_invalid"):  # the registry's code tables: fuel_invalid …
            out.append(Reason(name, kind, str(err["msg"])))
        else:
            code, suffix = _GENERIC.get(kind, ("invalid", "格式不对"))
            out.append(Reason(name, code, f"{label}{suffix}"))
    return out


def invalid(reasons: list[Reason]) -> ApiError:
    """422 naming each field (``details.fields``) and each reason (``details.reasons``)."""
    fields: dict[str, list[Reason]] = {}
    for reason in reasons:
        fields.setdefault(reason.field, []).append(reason)
    messages = list(dict.fromkeys(r.message for r in reasons))
    return ApiError(
        422,
        "validation_failed",
        "输入有误：" + "；".join(messages),
        {
            "fields": {
                name: "；".join(r.message for r in rs) + f" ({','.join(r.code for r in rs)})"
                for name, rs in fields.items()
            },
            "reasons": [{"field": r.field, "code": r.code, "message": r.message} for r in reasons],
        },
    )


def _parse(model: type[BaseModel]) -> Any:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "请求体必须是 JSON 对象")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(_reasons_of(exc)) from None


# --- models --------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class VehicleIn(_Strict):
    """行驶证上的信息. Codes (colour, type, fuel, stage, use) accept the code or the Chinese
    label, as in the portal; ``emission_stage`` omitted: the site's registry infers it."""

    plate: reg.PlateText  # 车牌号码
    plate_color: reg.ColorCode | None = None  # 号牌颜色 (implied by green/yellow-green plates)
    vin: reg.VinText  # 车辆识别代号
    vehicle_type: reg.VehicleTypeCode  # 车辆类型 (GA 24.4 code, e.g. H11)
    fuel_type: reg.FuelCode  # 燃料类型
    emission_stage: reg.StageCode | None = None  # 排放阶段
    registration_date: date | None = None  # 注册登记日期
    model: reg.Text100 | None = None  # 品牌型号
    use_nature: reg.UseNatureCode | None = None  # 使用性质
    owner_name: reg.Text200 | None = None  # 所有人


class VehiclePatch(_Strict):
    """Only the fields sent change; ``null`` clears an optional one. The plate cannot change."""

    vin: reg.VinText | None = None
    vehicle_type: reg.VehicleTypeCode | None = None
    fuel_type: reg.FuelCode | None = None
    emission_stage: reg.StageCode | None = None
    registration_date: date | None = None
    model: reg.Text100 | None = None
    use_nature: reg.UseNatureCode | None = None
    owner_name: reg.Text200 | None = None


class ImagesOut(BaseModel):
    license: bool  # 行驶证
    list: bool  # 随车清单


class VehicleOut(BaseModel):
    id: str
    plate: str
    plate_color: str
    vin: str | None
    vehicle_type: str | None
    fuel_type: str | None
    emission_stage: str | None  # as declared
    emission_stage_estimate: str | None  # what a registry would infer when none is declared
    registration_date: str | None
    model: str | None
    use_nature: str | None
    owner_name: str | None
    labels: dict[str, str]  # Chinese labels of the codes above
    images: ImagesOut
    created_at: str
    updated_at: str


class VehicleList(BaseModel):
    items: list[VehicleOut]


class SiteIn(_Strict):
    site_id: uuid.UUID


class SiteBrief(BaseModel):
    id: str
    name: str
    enterprise: str


class RegistrationOut(BaseModel):
    site: SiteBrief
    registry_id: str
    verification: str
    verification_label: str
    source: str
    active: bool
    emission_stage: str
    stage_inferred: bool


class RegistrationList(BaseModel):
    items: list[RegistrationOut]


class PropagationOut(BaseModel):
    site_id: str
    registry_id: str
    status: str  # updated | checked | inactive | unavailable
    message: str


class ImageOut(BaseModel):
    kind: str
    content_type: str
    sha256: str
    size: int
    sites: list[PropagationOut]


# --- garage --------------------------------------------------------------------------------------


def _storage() -> Any:
    return current_app.extensions["cleangate.storage"]


def _own(session: Session, vehicle_id: uuid.UUID) -> MpVehicle:
    """The driver's own vehicle; another driver's answers like a missing one."""
    vehicle = session.scalars(
        select(MpVehicle).where(
            MpVehicle.id == vehicle_id, MpVehicle.user_id == auth.current_user_id()
        )
    ).one_or_none()
    if vehicle is None:
        raise NotFound("车辆")
    return vehicle


def _label(enum: Any, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(enum(value).label_zh)
    except ValueError:
        return value


def _estimate(vehicle: MpVehicle) -> str | None:
    if vehicle.emission_stage is not None:
        return None
    guess = infer_stage(
        VehicleType(vehicle.vehicle_type) if vehicle.vehicle_type else None,
        FuelType(vehicle.fuel_type) if vehicle.fuel_type else None,
        vehicle.registration_date,
        vehicle.vin,
    )
    return (guess.stage or EmissionStage.UNKNOWN).value


def vehicle_out(vehicle: MpVehicle) -> dict[str, Any]:
    estimate = _estimate(vehicle)
    labels = {
        "plate_color": _label(PlateColor, vehicle.plate_color),
        "vehicle_type": _label(VehicleType, vehicle.vehicle_type),
        "fuel_type": _label(FuelType, vehicle.fuel_type),
        "emission_stage": _label(EmissionStage, vehicle.emission_stage),
        "emission_stage_estimate": _label(EmissionStage, estimate),
        "use_nature": _label(UseNature, vehicle.use_nature),
    }
    return {
        "id": str(vehicle.id),
        "plate": vehicle.plate,
        "plate_color": vehicle.plate_color,
        "vin": vehicle.vin,
        "vehicle_type": vehicle.vehicle_type,
        "fuel_type": vehicle.fuel_type,
        "emission_stage": vehicle.emission_stage,
        "emission_stage_estimate": estimate,
        "registration_date": _iso(vehicle.registration_date),
        "model": vehicle.model,
        "use_nature": vehicle.use_nature,
        "owner_name": vehicle.owner_name,
        "labels": {k: v for k, v in labels.items() if v is not None},
        "images": {
            kind: getattr(vehicle, column) is not None
            for kind, (column, _label_) in IMAGE_KINDS.items()
        },
        "created_at": _iso(vehicle.created_at),
        "updated_at": _iso(vehicle.updated_at),
    }


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _check_facts(values: dict[str, Any]) -> None:
    """What the registry's ``_prepare_transport`` would refuse, refused here already."""
    reasons: list[Reason] = []
    when = values.get("registration_date")
    if when is not None and when > utcnow().date():
        reasons.append(Reason("registration_date", "date_in_future", "注册登记日期不能晚于今天"))
    if reasons:
        raise invalid(reasons)


def _plate_color(plate: str, given: str | None) -> str:
    if given is not None:
        return given
    implied = parse_plate(plate).color
    if implied is None:
        raise invalid(
            [Reason("plate_color", "color_required", "请选择号牌颜色（普通号牌为蓝色或黄色）")]
        )
    return implied.value


def _stage(value: str | None) -> str | None:
    return None if value == EmissionStage.UNKNOWN.value else value  # unknown: let it be inferred


_GARAGE = ["garage"]


@registry.route(
    "/vehicles",
    "POST",
    summary="添加车辆到我的车库（行驶证信息；排放阶段可不填，由站点台账推断）",
    tags=_GARAGE,
    permission=None,
    secured=True,
    upload={"application/json": VehicleIn.model_json_schema()},
    response=VehicleOut,
    status=201,
)
def create_vehicle() -> ResponseReturnValue:
    body: VehicleIn = _parse(VehicleIn)
    values = body.model_dump()
    values["plate_color"] = _plate_color(body.plate, body.plate_color)
    values["emission_stage"] = _stage(values["emission_stage"])
    _check_facts(values)
    session = get_session()
    user_id = auth.current_user_id()
    clash = session.scalars(
        select(MpVehicle.id).where(
            MpVehicle.user_id == user_id,
            MpVehicle.plate == values["plate"],
            MpVehicle.plate_color == values["plate_color"],
        )
    ).first()
    if clash is not None:
        raise _duplicate()
    vehicle = MpVehicle(user_id=user_id, **values)
    session.add(vehicle)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise _duplicate() from None
    return vehicle_out(vehicle), 201


def _duplicate() -> ApiError:
    return ApiError(
        409,
        "conflict",
        "车库中已有这辆车（车牌和号牌颜色相同）",
        {"fields": {"plate": "duplicate"}},
    )


@registry.route(
    "/vehicles",
    "GET",
    summary="我的车库（最新添加的在前）",
    tags=_GARAGE,
    permission=None,
    secured=True,
    response=VehicleList,
)
def list_vehicles() -> ResponseReturnValue:
    rows = get_session().scalars(
        select(MpVehicle)
        .where(MpVehicle.user_id == auth.current_user_id())
        .order_by(MpVehicle.created_at.desc(), MpVehicle.id.desc())
    )
    return {"items": [vehicle_out(v) for v in rows]}


@registry.route(
    "/vehicles/<uuid:vehicle_id>",
    "GET",
    summary="车库中的一辆车",
    tags=_GARAGE,
    permission=None,
    secured=True,
    response=VehicleOut,
)
def get_vehicle(vehicle_id: uuid.UUID) -> ResponseReturnValue:
    return vehicle_out(_own(get_session(), vehicle_id))


@registry.route(
    "/vehicles/<uuid:vehicle_id>",
    "PATCH",
    summary="修改车库中的车辆信息（只改车库；车牌不能改；再次提交站点登记可更新站点台账）",
    tags=_GARAGE,
    permission=None,
    secured=True,
    upload={"application/json": VehiclePatch.model_json_schema()},
    response=VehicleOut,
)
def patch_vehicle(vehicle_id: uuid.UUID) -> ResponseReturnValue:
    session = get_session()
    vehicle = _own(session, vehicle_id)
    raw = request.get_json(silent=True)
    if isinstance(raw, dict) and {"plate", "plate_color"} & raw.keys():
        raise invalid(
            [
                Reason(name, "plate_immutable", "车牌不能修改：请删除这辆车后重新添加")
                for name in ("plate", "plate_color")
                if name in raw
            ]
        )
    body: VehiclePatch = _parse(VehiclePatch)
    given = body.model_dump(exclude_unset=True)
    cleared = [n for n in REQUIRED if n in given and given[n] is None]
    if cleared:
        raise invalid([Reason(n, "required", f"{FIELD_LABELS[n]}不能为空") for n in cleared])
    if "emission_stage" in given:
        given["emission_stage"] = _stage(given["emission_stage"])
    _check_facts(given)
    for name, value in given.items():
        setattr(vehicle, name, value)
    session.commit()
    return vehicle_out(vehicle)


@registry.route(
    "/vehicles/<uuid:vehicle_id>",
    "DELETE",
    summary="从车库删除车辆（只删车库中的记录；已在各站点的登记仍归该企业所有，不会撤销）",
    tags=_GARAGE,
    permission=None,
    secured=True,
    status=204,
)
def delete_vehicle(vehicle_id: uuid.UUID) -> ResponseReturnValue:
    session = get_session()
    vehicle = _own(session, vehicle_id)
    for link in session.scalars(
        select(MpVehicleSite).where(MpVehicleSite.vehicle_id == vehicle.id)
    ):
        session.delete(link)
    session.flush()
    session.delete(vehicle)
    session.commit()
    return "", 204


# --- document photos -----------------------------------------------------------------------------


def _kind(kind: str) -> tuple[str, str]:
    found = IMAGE_KINDS.get(kind)
    if found is None:
        raise NotFound("图片类型")
    return found


def _too_large() -> ApiError:
    return ApiError(413, "payload_too_large", "图片超过 5 MB")


def _read_upload() -> bytes:
    """The image bytes: the raw body, or the multipart field ``image``. The declared length is
    checked before anything is read; the read itself stops one byte past the limit."""
    multipart = request.mimetype == "multipart/form-data"
    declared = request.content_length
    allowed = MAX_IMAGE_BYTES + (_MULTIPART_OVERHEAD if multipart else 0)
    if declared is not None and declared > allowed:
        raise _too_large()
    if multipart:
        upload = request.files.get("image")
        if upload is None:
            raise ApiError(
                422,
                "validation_failed",
                "缺少图片：表单字段应为 image",
                {
                    "fields": {"image": "必填 (required)"},
                    "reasons": [{"field": "image", "code": "required", "message": "缺少图片"}],
                },
            )
        data: bytes = upload.read(MAX_IMAGE_BYTES + 1)
    else:
        data = request.stream.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise _too_large()
    return data


_STATUS_TEXT = {
    "updated": "已更新站点台账中的图片",
    "checked": "企业已核验该登记，图片未替换；如需更换请联系企业",
    "inactive": "该站点的登记已停用，图片未更新",
    "unavailable": "站点暂不可用，图片未更新",
}


def _may_change(record: TransportVehicle) -> str | None:
    """Why a driver may not change this registry record (None: they may)."""
    if record.verification in _CHECKED:
        return "checked"
    if not record.active:
        return "inactive"
    return None


def _propagate(vehicle_id: uuid.UUID, kind: str, data: bytes) -> list[dict[str, str]]:
    """Store a new photo into each site registration of the vehicle, in that site's tenant."""
    links = [
        (link.site_id, link.registry_id)
        for link in get_session().scalars(
            select(MpVehicleSite)
            .where(MpVehicleSite.vehicle_id == vehicle_id)
            .order_by(MpVehicleSite.created_at)
        )
    ]
    out: list[dict[str, str]] = []
    for site_id, registry_id in links:
        try:
            with sites.site_scope(site_id) as (session, _site):
                record = session.scalars(
                    select(TransportVehicle).where(TransportVehicle.id == registry_id)
                ).one_or_none()
                status = "unavailable" if record is None else _may_change(record)
                if status is None:
                    reg.store_image(
                        session,
                        reg.TRANSPORT_VEHICLES,
                        record,
                        kind,
                        data,
                        _storage(),
                        user_id=None,
                    )
                    status = "updated"
        except NotFound:
            status = "unavailable"
        out.append(
            {
                "site_id": str(site_id),
                "registry_id": str(registry_id),
                "status": status,
                "message": _STATUS_TEXT[status],
            }
        )
    return out


@registry.route(
    "/vehicles/<uuid:vehicle_id>/images/<kind>",
    "PUT",
    summary="上传证件照片：kind = license（行驶证）或 list（随车清单）；JPEG/PNG，≤ 5 MB；"
    "同时更新该车在各站点仍为自行申报的登记",
    tags=_GARAGE,
    permission=None,
    secured=True,
    upload={
        "image/jpeg": {"type": "string", "format": "binary"},
        "image/png": {"type": "string", "format": "binary"},
        "multipart/form-data": {
            "type": "object",
            "required": ["image"],
            "properties": {"image": {"type": "string", "format": "binary"}},
        },
    },
    response=ImageOut,
)
def put_image(vehicle_id: uuid.UUID, kind: str) -> ResponseReturnValue:
    session = get_session()
    vehicle = _own(session, vehicle_id)
    column = _kind(kind)[0]
    data = _read_upload()
    sniffed = sniff_image(data)
    if sniffed is None:
        raise ApiError(415, "unsupported_media_type", "只接受 JPEG 或 PNG 图片")
    content_type, ext = sniffed
    digest = hashlib.sha256(data).hexdigest()
    key = f"mp/u/{vehicle.user_id}/docs/{digest}.{ext}"
    storage = _storage()
    if not storage.exists(key):
        storage.put(key, data, content_type)
    if getattr(vehicle, column) != key:
        setattr(vehicle, column, key)
        session.commit()
    return {
        "kind": kind,
        "content_type": content_type,
        "sha256": digest,
        "size": len(data),
        "sites": _propagate(vehicle.id, kind, data),
    }


@registry.route(
    "/vehicles/<uuid:vehicle_id>/images/<kind>",
    "GET",
    summary="读取自己上传的证件照片（图片内容）",
    tags=_GARAGE,
    permission=None,
    secured=True,
)
def get_image(vehicle_id: uuid.UUID, kind: str) -> ResponseReturnValue:
    vehicle = _own(get_session(), vehicle_id)
    column, label = _kind(kind)
    key = getattr(vehicle, column)
    if key is None:
        raise NotFound(label)
    ext = key.rsplit(".", 1)[-1]
    response = Response(_storage().get(key), mimetype=_CONTENT_TYPES.get(ext, "image/jpeg"))
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --- registration at a site ----------------------------------------------------------------------


def _verification_label(value: str) -> str:
    pair = reg.VERIFICATION_LABELS.get(value)
    return pair[0] if pair else value


def _registration_out(ref: sites.SiteRef, record: TransportVehicle) -> dict[str, Any]:
    return {
        "site": {"id": str(ref.id), "name": ref.name, "enterprise": ref.enterprise},
        "registry_id": str(record.id),
        "verification": record.verification,
        "verification_label": _verification_label(record.verification),
        "source": record.source,
        "active": record.active,
        "emission_stage": record.emission_stage,
        "stage_inferred": record.stage_inferred,
    }


def _checked_conflict() -> ApiError:
    return ApiError(
        409,
        "registration_checked",
        "该企业已核验这辆车的登记信息，小程序申报不会覆盖；如需更正请联系企业环保管理员",
        {"fields": {"plate": "documents_checked"}},
    )


def _deactivated_by_enterprise(session: Session, record: TransportVehicle) -> bool:
    """The latest deactivation was made by a portal user (a driver's withdrawal has none)."""
    for change in reg.history(session, reg.TRANSPORT_VEHICLES, record, limit=200):
        if change.action == "deactivate":
            return change.user_id is not None
    return False


def _link(
    session: Session, vehicle_id: uuid.UUID, site_id: uuid.UUID, registry_id: uuid.UUID
) -> None:
    link = session.scalars(
        select(MpVehicleSite).where(
            MpVehicleSite.vehicle_id == vehicle_id, MpVehicleSite.site_id == site_id
        )
    ).one_or_none()
    if link is None:
        session.add(MpVehicleSite(vehicle_id=vehicle_id, site_id=site_id, registry_id=registry_id))
    else:
        link.registry_id = registry_id
        link.updated_at = utcnow()


def _validated(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:  # garage facts were validated with the same types
        raise invalid(_reasons_of(exc)) from None


@registry.route(
    "/vehicles/<uuid:vehicle_id>/sites",
    "POST",
    summary="把车辆登记到站点（进入该企业的运输车辆台账，自行申报，待企业核验证件）；"
    "201 新登记，200 已登记并按车库信息更新",
    tags=["registrations"],
    permission=None,
    secured=True,
    body=SiteIn,
    response=RegistrationOut,
    status=201,
)
def register_at_site(vehicle_id: uuid.UUID, body: SiteIn) -> ResponseReturnValue:
    session = get_session()
    vehicle = _own(session, vehicle_id)
    user = session.get(MpUser, vehicle.user_id)
    facts: dict[str, Any] = {
        name: getattr(vehicle, name) for name in FACTS if getattr(vehicle, name) is not None
    }
    if user is not None and user.phone:
        facts["owner_phone"] = user.phone
    plate, color = vehicle.plate, vehicle.plate_color
    storage = _storage()
    photos = {
        kind: storage.get(getattr(vehicle, column))
        for kind, (column, _label_) in IMAGE_KINDS.items()
        if getattr(vehicle, column) is not None
    }
    ref = sites.resolve(body.site_id)
    with sites.site_scope(body.site_id) as (session, site):
        existing = session.scalars(
            select(TransportVehicle).where(
                TransportVehicle.site_id == site.id,
                TransportVehicle.plate == plate,
                TransportVehicle.plate_color == color,
            )
        ).one_or_none()
        created = existing is None
        if existing is None:
            data = _validated(
                reg.TransportVehicleIn,
                {
                    "site_id": site.id,
                    "plate": plate,
                    "plate_color": color,
                    "verification": "self_declared",
                    **facts,
                },
            )
            values = reg.validate_new(session, reg.TRANSPORT_VEHICLES, data)
            try:
                record = reg.insert_record(
                    session, reg.TRANSPORT_VEHICLES, values, user_id=None, source="miniprogram"
                )
                _link(session, vehicle_id, site.id, record.id)
                session.commit()
            except IntegrityError:
                session.rollback()
                raise ApiError(409, "conflict", "该站点刚刚登记了相同车牌的车辆，请重试") from None
        else:
            record = existing
            if record.verification in _CHECKED:
                raise _checked_conflict()
            if not record.active and _deactivated_by_enterprise(session, record):
                raise ApiError(
                    409,
                    "registration_deactivated",
                    "企业已停用这辆车在该站点的登记，请联系企业环保管理员",
                )
            _link(session, vehicle_id, site.id, record.id)
            patch = _validated(reg.TransportVehiclePatch, facts)
            reg.update_record(session, reg.TRANSPORT_VEHICLES, record, patch, user_id=None)
            if not record.active:  # withdrawn by the driver earlier: registered again
                reg.reactivate_record(session, reg.TRANSPORT_VEHICLES, record, user_id=None)
            session.commit()
        for kind, photo in photos.items():
            reg.store_image(
                session, reg.TRANSPORT_VEHICLES, record, kind, photo, storage, user_id=None
            )
        out = _registration_out(ref, record)
    return out, 201 if created else 200


@registry.route(
    "/vehicles/<uuid:vehicle_id>/sites",
    "GET",
    summary="这辆车登记过的站点及企业核验状态",
    tags=["registrations"],
    permission=None,
    secured=True,
    response=RegistrationList,
)
def list_registrations(vehicle_id: uuid.UUID) -> ResponseReturnValue:
    session = get_session()
    vehicle = _own(session, vehicle_id)
    links = [
        (link.site_id, link.registry_id)
        for link in session.scalars(
            select(MpVehicleSite)
            .where(MpVehicleSite.vehicle_id == vehicle.id)
            .order_by(MpVehicleSite.created_at.desc(), MpVehicleSite.id)
        )
    ]
    items = []
    for site_id, registry_id in links:
        try:
            ref = sites.resolve(site_id)
            with sites.site_scope(site_id) as (scoped, _site):
                record = scoped.scalars(
                    select(TransportVehicle).where(TransportVehicle.id == registry_id)
                ).one_or_none()
                if record is not None:
                    items.append(_registration_out(ref, record))
        except NotFound:
            continue  # the site's enterprise is no longer active
    return {"items": items}


@registry.route(
    "/vehicles/<uuid:vehicle_id>/sites/<uuid:site_id>",
    "DELETE",
    summary="撤回在站点的登记（仅限小程序申报且企业尚未核验的登记；企业录入或已核验的 409）",
    tags=["registrations"],
    permission=None,
    secured=True,
    status=204,
)
def withdraw_registration(vehicle_id: uuid.UUID, site_id: uuid.UUID) -> ResponseReturnValue:
    session = get_session()
    vehicle = _own(session, vehicle_id)
    link_id = session.scalars(
        select(MpVehicleSite.id).where(
            MpVehicleSite.vehicle_id == vehicle.id, MpVehicleSite.site_id == site_id
        )
    ).one_or_none()
    if link_id is None:
        raise NotFound("站点登记")
    with sites.site_scope(site_id) as (scoped, _site):
        link = scoped.get(MpVehicleSite, link_id)
        assert link is not None
        record = scoped.scalars(
            select(TransportVehicle).where(TransportVehicle.id == link.registry_id)
        ).one_or_none()
        if record is not None and record.active:
            if record.verification != "self_declared" or record.source != "miniprogram":
                raise ApiError(
                    409,
                    "registration_locked",
                    "该登记已由企业核验或由企业录入，不能在小程序撤回，请联系企业环保管理员",
                )
            shared = scoped.scalars(
                select(MpVehicleSite.id).where(
                    MpVehicleSite.registry_id == record.id, MpVehicleSite.id != link.id
                )
            ).first()
            scoped.delete(link)
            if shared is None:  # another driver's garage still stands behind the record
                reg.deactivate_record(scoped, reg.TRANSPORT_VEHICLES, record, user_id=None)
        else:
            scoped.delete(link)
        scoped.commit()
    return "", 204
