"""Registries of a site (HJ 1321-2023 electronic ledgers; seed 003 appendix 5): carriers,
transport vehicles, in-plant vehicles, non-road machinery, black and white lists.

Plain functions taking a session; the tenant comes from the ambient tenant context, so every
query is scoped by the ORM (and by RLS on PostgreSQL) and another tenant's id answers 404 like
a missing one. Input is validated with ``saas.compliance`` before anything is written; every
write appends a ``RegistryChange`` row (who, what, old → new) in the same transaction, so the
history cannot disagree with the record. Nothing is ever deleted: registries deactivate,
list entries are revoked.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, get_type_hints

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, create_model
from pydantic_core import PydanticCustomError
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from saas.compliance import (
    EmissionStage,
    ExemptionCategory,
    FuelType,
    NonRoadStage,
    UseNature,
    VehicleType,
    infer_non_road_stage,
    infer_stage,
    normalize_plate,
    normalize_uscc,
    parse_color,
    parse_plate,
    parse_vin,
    validate_uscc,
    vehicle_type_from_code,
)
from saas.db import utcnow
from saas.errors import ApiError, NotFound, validation_error
from saas.ledger.images import sniff_image
from saas.models.ledger import (
    Carrier,
    InPlantVehicle,
    NonRoadMachinery,
    RegistryChange,
    TransportVehicle,
    VehicleListEntry,
)
from saas.regulator import outbox as regulator_outbox
from saas.sites import get_site

# --- code tables of the registries themselves --------------------------------------------------

VERIFICATION_STATES = ("self_declared", "documents_checked", "regulator_verified")
# regulator_verified is set only by a look-up against the regulator's data, never typed in.
USER_VERIFICATION_STATES = ("self_declared", "documents_checked")
SOURCES = ("portal", "miniprogram", "import", "lookup")
LIST_KINDS = ("black", "white")
# 联网状态: whether the heavy vehicle reports to the HJ 1239 remote-monitoring system
# (domain.md §1.4, interpretation UNCONFIRMED).
NETWORK_STATUSES: dict[str, tuple[str, str]] = {
    "online": ("已联网", "connected"),
    "offline": ("未联网", "not connected"),
    "unknown": ("未知", "unknown"),
}
VERIFICATION_LABELS: dict[str, tuple[str, str]] = {
    "self_declared": ("自行申报", "self-declared"),
    "documents_checked": ("已核对证件", "documents checked"),
    "regulator_verified": ("监管平台核验", "verified by the regulator"),
}

MAX_IMAGE_BYTES = 5 * 1024 * 1024
# --- field validators (the 422 reason carries the compliance error codes) ----------------------


def _plate(value: str) -> str:
    plate = parse_plate(value)
    if not plate.valid:
        raise PydanticCustomError(
            "plate_invalid", "车牌无效 ({codes})", {"codes": ",".join(plate.errors)}
        )
    return plate.normalized


def _vin(value: str) -> str:
    vin = parse_vin(value)
    if not vin.valid:  # warnings (check digit of a foreign WMI, year code) are accepted
        raise PydanticCustomError(
            "vin_invalid", "车辆识别代号无效 ({codes})", {"codes": ",".join(vin.errors)}
        )
    return vin.normalized


def _color(value: str) -> str:
    color = parse_color(value)
    if color is None:
        raise PydanticCustomError("plate_color_invalid", "号牌颜色未知: {value}", {"value": value})
    return color.value


def _vehicle_type(value: str) -> str:
    found = vehicle_type_from_code(value)
    if found is None:
        raise PydanticCustomError(
            "vehicle_type_invalid", "车辆类型代码未知 (GA 24.4): {value}", {"value": value}
        )
    return found.value


def _uscc(value: str) -> str:
    errors = validate_uscc(value)
    if errors:
        raise PydanticCustomError(
            "uscc_invalid", "统一社会信用代码无效 ({codes})", {"codes": ",".join(errors)}
        )
    return normalize_uscc(value)


def _labels(enum: type[StrEnum]) -> dict[str, str]:
    """Code, Chinese label and English label of each member → the code (Excel cells and forms
    carry either; only the canonical code is stored)."""
    out: dict[str, str] = {}
    for member in enum:
        out[member.value.upper()] = member.value
        for attr in ("label_zh", "label_en"):
            label = getattr(member, attr, None)
            if isinstance(label, str):
                out.setdefault(label.upper(), member.value)
    return out


def _code_reader(table: dict[str, str], error: str, what: str) -> Callable[[str], str]:
    def read(value: str) -> str:
        found = table.get(value.strip().upper())
        if found is None:
            raise PydanticCustomError(error, what + "未知: {value}", {"value": value})
        return found

    return read


def _pairs(table: dict[str, tuple[str, str]]) -> dict[str, str]:
    out = {code.upper(): code for code in table}
    for code, (zh, en) in table.items():
        out[zh.upper()] = code
        out[en.upper()] = code
    return out


_STAGES = _labels(EmissionStage)
_NR_STAGES = _labels(NonRoadStage)

PlateText = Annotated[str, Field(max_length=20), AfterValidator(_plate)]
VinText = Annotated[str, Field(max_length=30), AfterValidator(_vin)]
ColorCode = Annotated[str, AfterValidator(_color)]
VehicleTypeCode = Annotated[str, AfterValidator(_vehicle_type)]
FuelCode = Annotated[
    str, AfterValidator(_code_reader(_labels(FuelType), "fuel_invalid", "燃料类型"))
]
StageCode = Annotated[str, AfterValidator(_code_reader(_STAGES, "stage_invalid", "排放阶段"))]
NonRoadStageCode = Annotated[
    str, AfterValidator(_code_reader(_NR_STAGES, "stage_invalid", "排放阶段"))
]
UseNatureCode = Annotated[
    str, AfterValidator(_code_reader(_labels(UseNature), "use_nature_invalid", "使用性质"))
]
NetworkCode = Annotated[
    str, AfterValidator(_code_reader(_pairs(NETWORK_STATUSES), "network_invalid", "联网状态"))
]
VerificationCode = Annotated[
    str,
    AfterValidator(
        _code_reader(
            _pairs({k: VERIFICATION_LABELS[k] for k in USER_VERIFICATION_STATES}),
            "verification_invalid",
            "核验状态",
        )
    ),
]
ExemptionCode = Annotated[
    str,
    AfterValidator(_code_reader(_labels(ExemptionCategory), "exemption_invalid", "豁免类别")),
]
ListKind = Annotated[
    str,
    AfterValidator(
        _code_reader(
            {"BLACK": "black", "黑名单": "black", "WHITE": "white", "白名单": "white"},
            "list_kind_invalid",
            "名单类型",
        )
    ),
]
Uscc = Annotated[str, Field(max_length=40), AfterValidator(_uscc)]
Text40 = Annotated[str, Field(min_length=1, max_length=40)]
Text50 = Annotated[str, Field(min_length=1, max_length=50)]
Text100 = Annotated[str, Field(min_length=1, max_length=100)]
Text200 = Annotated[str, Field(min_length=1, max_length=200)]
Text300 = Annotated[str, Field(min_length=1, max_length=300)]
Phone = Annotated[str, Field(max_length=30, pattern=r"^[0-9+\-() ]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- request models ------------------------------------------------------------------------------


class CarrierIn(_Strict):
    """车队 / 承运单位."""

    site_id: uuid.UUID
    name: Text200
    uscc: Uscc | None = None
    contact_name: Text100 | None = None
    contact_phone: Phone | None = None


class TransportVehicleIn(_Strict):
    """进出厂运输车辆, in the order of seed 003 appendix 5."""

    site_id: uuid.UUID
    plate: PlateText  # 车牌号码
    plate_color: ColorCode | None = None  # 号牌颜色 (implied by the plate format if omitted)
    vehicle_type: VehicleTypeCode | None = None  # 车辆类型
    vin: VinText | None = None  # 车辆识别代号
    registration_date: date | None = None  # 注册登记日期
    model: Text100 | None = None  # 车辆型号
    engine_model: Text100 | None = None  # 发动机型号
    engine_manufacturer: Text200 | None = None  # 发动机生产厂
    engine_no: Text50 | None = None  # 发动机编号
    fuel_type: FuelCode | None = None  # 燃料类型
    emission_stage: StageCode | None = None  # 排放标准 (inferred if omitted)
    use_nature: UseNatureCode | None = None  # 使用性质
    network_status: NetworkCode = "unknown"  # 联网状态
    carrier_id: uuid.UUID | None = None  # 车队
    owner_name: Text200 | None = None  # 车辆所有人(单位)
    owner_phone: Phone | None = None
    rated_load_kg: Annotated[int, Field(ge=0, le=200_000)] | None = None  # 核定载质量
    verification: VerificationCode = "self_declared"


class InPlantVehicleIn(_Strict):
    """厂内运输车辆."""

    site_id: uuid.UUID
    env_reg_code: Text40  # 环保登记编码 (或内部管理号牌)
    vin: VinText | None = None
    production_date: date | None = None
    plate: PlateText | None = None
    registration_date: date | None = None
    model: Text100 | None = None
    engine_model: Text100 | None = None
    engine_manufacturer: Text200 | None = None
    engine_no: Text50 | None = None
    fuel_type: FuelCode | None = None
    emission_stage: StageCode | None = None
    network_status: NetworkCode = "unknown"
    owner_name: Text200 | None = None
    owner_phone: Phone | None = None
    verification: VerificationCode = "self_declared"


class NonRoadMachineryIn(_Strict):
    """非道路移动机械."""

    site_id: uuid.UUID
    env_reg_code: Text40  # 环保登记编码
    production_date: date | None = None  # 机械生产日期
    plate: PlateText | None = None  # 号牌 (if any)
    nonroad_stage: NonRoadStageCode | None = None  # 排放标准 国一–国四 (inferred if omitted)
    fuel_type: FuelCode | None = None
    machine_type: Text40  # 机械种类
    pin: Text40 | None = None  # 机械环保代码/产品识别码 (PIN)
    machine_model: Text100 | None = None  # 机械型号
    engine_model: Text100 | None = None
    engine_manufacturer: Text200 | None = None
    engine_no: Text50 | None = None
    engine_power_kw: Annotated[Decimal, Field(ge=0, le=100_000, decimal_places=1)] | None = None
    manufacturer: Text200 | None = None  # 机械生产厂
    local_code: Text40 | None = None  # 本地环保编码
    owner_name: Text200 | None = None  # 所属人(单位)
    owner_phone: Phone | None = None
    verification: VerificationCode = "self_declared"


class VehicleListIn(_Strict):
    """A black- or white-list entry of one site."""

    site_id: uuid.UUID
    plate: PlateText
    list_kind: ListKind
    reason: Text300
    exemption: ExemptionCode | None = None  # white list only
    valid_from: AwareDatetime | None = None  # default: now
    valid_to: AwareDatetime | None = None  # open-ended if omitted


def _patch_model(name: str, source: type[BaseModel], fields: Iterable[str]) -> type[BaseModel]:
    """Partial update of the given fields: all optional, only the ones sent change (allow-list,
    no mass assignment); same validators as the create model."""
    hints = get_type_hints(source, include_extras=True)
    spec: dict[str, Any] = {f: (hints[f] | None, None) for f in fields}
    model: type[BaseModel] = create_model(name, __base__=_Strict, **spec)
    return model


_NO_PATCH = {"site_id"}
CarrierPatch = _patch_model("CarrierPatch", CarrierIn, CarrierIn.model_fields.keys() - _NO_PATCH)
TransportVehiclePatch = _patch_model(
    "TransportVehiclePatch", TransportVehicleIn, TransportVehicleIn.model_fields.keys() - _NO_PATCH
)
InPlantVehiclePatch = _patch_model(
    "InPlantVehiclePatch", InPlantVehicleIn, InPlantVehicleIn.model_fields.keys() - _NO_PATCH
)
NonRoadMachineryPatch = _patch_model(
    "NonRoadMachineryPatch", NonRoadMachineryIn, NonRoadMachineryIn.model_fields.keys() - _NO_PATCH
)
VehicleListPatch = _patch_model(
    "VehicleListPatch", VehicleListIn, ("reason", "exemption", "valid_from", "valid_to")
)


# --- response models -----------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class CarrierOut(_Out):
    id: uuid.UUID
    site_id: uuid.UUID
    name: str
    uscc: str | None
    contact_name: str | None
    contact_phone: str | None
    created_at: datetime


class _RegistryOut(_Out):
    id: uuid.UUID
    site_id: uuid.UUID
    verification: str
    source: str
    active: bool
    owner_name: str | None
    owner_phone: str | None
    created_at: datetime
    updated_at: datetime


class TransportVehicleOut(_RegistryOut):
    plate: str
    plate_color: str
    vehicle_type: str | None
    vin: str | None
    registration_date: date | None
    model: str | None
    engine_model: str | None
    engine_manufacturer: str | None
    engine_no: str | None
    fuel_type: str | None
    emission_stage: str
    stage_inferred: bool
    stage_basis: str | None
    use_nature: str | None
    network_status: str
    list_image_key: str | None
    license_image_key: str | None
    carrier_id: uuid.UUID | None
    rated_load_kg: int | None


class InPlantVehicleOut(_RegistryOut):
    env_reg_code: str
    vin: str | None
    production_date: date | None
    plate: str | None
    registration_date: date | None
    model: str | None
    engine_model: str | None
    engine_manufacturer: str | None
    engine_no: str | None
    fuel_type: str | None
    emission_stage: str
    stage_inferred: bool
    stage_basis: str | None
    network_status: str
    list_image_key: str | None
    license_image_key: str | None


class NonRoadMachineryOut(_RegistryOut):
    env_reg_code: str
    pin: str | None
    machine_type: str
    production_date: date | None
    plate: str | None
    nonroad_stage: str
    stage_inferred: bool
    fuel_type: str | None
    machine_model: str | None
    engine_model: str | None
    engine_manufacturer: str | None
    engine_no: str | None
    engine_power_kw: Decimal | None
    manufacturer: str | None
    local_code: str | None
    nameplate_image_key: str | None
    engine_nameplate_image_key: str | None
    env_label_image_key: str | None


class VehicleListOut(_Out):
    id: uuid.UUID
    site_id: uuid.UUID
    plate: str
    list_kind: str
    reason: str
    exemption: str | None
    valid_from: datetime
    valid_to: datetime | None
    created_by: uuid.UUID | None
    created_at: datetime
    revoked_at: datetime | None
    effective: bool = False


class ChangeOut(_Out):
    id: int
    entity: str
    entity_id: uuid.UUID
    at: datetime
    user_id: uuid.UUID | None
    action: str
    changes: dict[str, Any]


# --- the registry kinds --------------------------------------------------------------------------


@dataclass(frozen=True)
class Registry:
    """What differs between the registries; the create/update/deactivate flow is shared."""

    entity: str  # registry_changes.entity
    model: type[Any]
    create: type[BaseModel]
    patch: type[BaseModel]
    out: type[BaseModel]
    label: str  # for messages: "运输车辆不存在"
    required: tuple[str, ...]  # may not be cleared by a patch
    unique: tuple[tuple[str, ...], ...]  # per site; a clash answers 409
    images: dict[str, str] = field(default_factory=dict)  # kind → column
    has_source: bool = True  # carriers and list entries carry no provenance columns
    prepare: Callable[[Session, dict[str, Any], dict[str, Any], Any], None] | None = None


def _check_carrier(session: Session, values: dict[str, Any]) -> None:
    carrier_id = values.get("carrier_id")
    if carrier_id is None:
        return
    carrier = session.scalars(select(Carrier).where(Carrier.id == carrier_id)).one_or_none()
    if carrier is None:
        raise NotFound("车队")
    if carrier.site_id != values["site_id"]:
        raise validation_error({"carrier_id": "车队不属于该站点 (carrier_other_site)"})


def _not_future(values: dict[str, Any], *names: str) -> None:
    today = utcnow().date()
    bad = {
        n: "日期不能晚于今天 (date_in_future)" for n in names if (values.get(n) or today) > today
    }
    if bad:
        raise validation_error(bad)


def _guess_basis(confidence: str, basis: Iterable[str]) -> str:
    return f"{confidence}: {', '.join(basis)}"[:300]


def _wants_inference(
    given: dict[str, Any], current: Any, stage_field: str, inputs: set[str]
) -> bool:
    """Infer on create without a stage, when a stage is cleared, or when an inferred (or
    unknown) stage's inputs change; an explicit stage is never overwritten by a guess."""
    if stage_field in given:
        value = given[stage_field]
        return value is None or value == "unknown"
    if current is None:
        return True
    was_guess = current.stage_inferred or getattr(current, stage_field) == "unknown"
    return was_guess and bool(inputs & given.keys())


_ROAD_INPUTS = {"vehicle_type", "fuel_type", "registration_date", "vin", "production_date"}


def _prepare_transport(
    session: Session, values: dict[str, Any], given: dict[str, Any], current: Any
) -> None:
    # The colour a format implies (green NEV, yellow trailer…) fills a missing colour, and
    # follows a changed plate; an ordinary plate implies none, so its colour must be given.
    if "plate_color" not in given or values.get("plate_color") is None:
        implied = parse_plate(values["plate"]).color
        if implied is not None and ("plate" in given or values.get("plate_color") is None):
            values["plate_color"] = implied.value
    if values.get("plate_color") is None:
        raise validation_error({"plate_color": "请填写号牌颜色 (color_required)"})
    _check_carrier(session, values)
    _not_future(values, "registration_date")
    if _wants_inference(given, current, "emission_stage", _ROAD_INPUTS):
        vtype = VehicleType(values["vehicle_type"]) if values.get("vehicle_type") else None
        fuel = FuelType(values["fuel_type"]) if values.get("fuel_type") else None
        guess = infer_stage(vtype, fuel, values.get("registration_date"), values.get("vin"))
        values["emission_stage"] = (guess.stage or EmissionStage.UNKNOWN).value
        values["stage_inferred"] = True
        values["stage_basis"] = _guess_basis(guess.confidence.value, guess.basis)
    elif "emission_stage" in given:
        values["stage_inferred"] = False
        values["stage_basis"] = None


def _prepare_inplant(
    session: Session, values: dict[str, Any], given: dict[str, Any], current: Any
) -> None:
    _not_future(values, "registration_date", "production_date")
    if _wants_inference(given, current, "emission_stage", _ROAD_INPUTS):
        fuel = FuelType(values["fuel_type"]) if values.get("fuel_type") else None
        # In-plant vehicles often have no registration date; the production date is the
        # closest stand-in and the basis says so.
        when = values.get("registration_date")
        extra: tuple[str, ...] = ()
        if when is None and values.get("production_date") is not None:
            when, extra = values["production_date"], ("production_date_as_registration",)
        guess = infer_stage(None, fuel, when, values.get("vin"))
        values["emission_stage"] = (guess.stage or EmissionStage.UNKNOWN).value
        values["stage_inferred"] = True
        values["stage_basis"] = _guess_basis(guess.confidence.value, (*extra, *guess.basis))
    elif "emission_stage" in given:
        values["stage_inferred"] = False
        values["stage_basis"] = None


def _prepare_nonroad(
    session: Session, values: dict[str, Any], given: dict[str, Any], current: Any
) -> None:
    _not_future(values, "production_date")
    if _wants_inference(given, current, "nonroad_stage", {"production_date"}):
        guess = infer_non_road_stage(values.get("production_date"))
        values["nonroad_stage"] = guess.stage.value
        values["stage_inferred"] = True
        # The table has no stage_basis column: the basis is kept in the change history.
        values["_stage_basis"] = _guess_basis(guess.confidence.value, guess.basis)
    elif "nonroad_stage" in given:
        values["stage_inferred"] = False


def _prepare_list(
    session: Session, values: dict[str, Any], given: dict[str, Any], current: Any
) -> None:
    if values.get("valid_from") is None:
        values["valid_from"] = utcnow()
    if values.get("exemption") and values["list_kind"] != "white":
        raise validation_error({"exemption": "只有白名单可填写豁免类别 (exemption_white_only)"})
    if values.get("valid_to") is not None and values["valid_to"] <= values["valid_from"]:
        raise validation_error({"valid_to": "有效期结束须晚于开始 (period_invalid)"})
    # One plate, one effective entry per site at any time: on both lists at once (or twice on
    # one) the gate could not say which applies.
    stmt = select(VehicleListEntry).where(
        VehicleListEntry.site_id == values["site_id"],
        VehicleListEntry.plate == values["plate"],
        VehicleListEntry.revoked_at.is_(None),
        or_(VehicleListEntry.valid_to.is_(None), VehicleListEntry.valid_to > values["valid_from"]),
    )
    if values.get("valid_to") is not None:
        stmt = stmt.where(VehicleListEntry.valid_from < values["valid_to"])
    if current is not None:
        stmt = stmt.where(VehicleListEntry.id != current.id)
    if session.scalars(stmt.limit(1)).first() is not None:
        raise ApiError(
            409,
            "conflict",
            "该车牌在此期间已有名单记录",
            {"fields": {"plate": "overlapping list entry (list_overlap)"}},
        )


_ROAD_IMAGES = {"list": "list_image_key", "license": "license_image_key"}

CARRIERS = Registry(
    "carrier",
    Carrier,
    CarrierIn,
    CarrierPatch,
    CarrierOut,
    "车队",
    ("name",),
    (("name",),),
    has_source=False,
)
TRANSPORT_VEHICLES = Registry(
    "transport_vehicle",
    TransportVehicle,
    TransportVehicleIn,
    TransportVehiclePatch,
    TransportVehicleOut,
    "运输车辆",
    ("plate", "plate_color", "network_status", "verification"),
    (("plate", "plate_color"),),
    _ROAD_IMAGES,
    prepare=_prepare_transport,
)
INPLANT_VEHICLES = Registry(
    "inplant_vehicle",
    InPlantVehicle,
    InPlantVehicleIn,
    InPlantVehiclePatch,
    InPlantVehicleOut,
    "厂内车辆",
    ("env_reg_code", "network_status", "verification"),
    (("env_reg_code",),),
    _ROAD_IMAGES,
    prepare=_prepare_inplant,
)
NONROAD_MACHINERY = Registry(
    "nonroad_machinery",
    NonRoadMachinery,
    NonRoadMachineryIn,
    NonRoadMachineryPatch,
    NonRoadMachineryOut,
    "非道路移动机械",
    ("env_reg_code", "machine_type", "verification"),
    (("env_reg_code",), ("pin",)),
    {
        "nameplate": "nameplate_image_key",
        "engine_nameplate": "engine_nameplate_image_key",
        "env_label": "env_label_image_key",
    },
    prepare=_prepare_nonroad,
)
VEHICLE_LISTS = Registry(
    "vehicle_list",
    VehicleListEntry,
    VehicleListIn,
    VehicleListPatch,
    VehicleListOut,
    "名单记录",
    ("reason", "valid_from"),
    (),
    has_source=False,
    prepare=_prepare_list,
)
REGISTRIES: dict[str, Registry] = {
    r.entity: r
    for r in (CARRIERS, TRANSPORT_VEHICLES, INPLANT_VEHICLES, NONROAD_MACHINERY, VEHICLE_LISTS)
}


# --- history -------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    return value


def record_change(
    session: Session,
    registry: Registry,
    entity_id: uuid.UUID,
    user_id: uuid.UUID | None,
    action: str,
    changes: dict[str, list[Any]],
) -> RegistryChange:
    row = RegistryChange(
        entity=registry.entity,
        entity_id=entity_id,
        user_id=user_id,
        action=action,
        changes={k: [_jsonable(v) for v in pair] for k, pair in changes.items()},
    )
    session.add(row)
    if registry.entity in regulator_outbox.REGISTRY_KINDS:  # docs/regulator.md
        record = session.get(registry.model, entity_id)
        if record is not None:
            regulator_outbox.enqueue_registry(
                session, registry.entity, entity_id, record.site_id, utcnow()
            )
    return row


def history(
    session: Session, registry: Registry, record: Any, *, limit: int = 50, before: int | None = None
) -> list[RegistryChange]:
    """Newest first; ``before`` is the id of the last change of the previous page."""
    stmt = select(RegistryChange).where(
        RegistryChange.entity == registry.entity, RegistryChange.entity_id == record.id
    )
    if before is not None:
        stmt = stmt.where(RegistryChange.id < before)
    return list(session.scalars(stmt.order_by(RegistryChange.id.desc()).limit(limit)))


# --- reads ---------------------------------------------------------------------------------------


def get_record(session: Session, registry: Registry, record_id: uuid.UUID) -> Any:
    """The current tenant's record, or 404 (another tenant's record answers the same)."""
    model = registry.model
    record = session.scalars(select(model).where(model.id == record_id)).one_or_none()
    if record is None:
        raise NotFound(registry.label)
    return record


@dataclass(frozen=True)
class Filters:
    site_id: uuid.UUID | None = None
    plate: str | None = None  # prefix, normalized like a plate
    code: str | None = None  # 环保登记编码 prefix (in-plant, non-road) or carrier name prefix
    stage: str | None = None
    active: bool | None = None  # registries: not deactivated; lists: effective now
    list_kind: str | None = None


def list_query(registry: Registry, filters: Filters, *, now: datetime | None = None) -> Select[Any]:
    model = registry.model
    stmt = select(model)
    if filters.site_id is not None:
        stmt = stmt.where(model.site_id == filters.site_id)
    if filters.plate and hasattr(model, "plate"):
        stmt = stmt.where(model.plate.startswith(normalize_plate(filters.plate), autoescape=True))
    if filters.code:
        column = model.name if registry is CARRIERS else getattr(model, "env_reg_code", None)
        if column is not None:
            stmt = stmt.where(column.startswith(filters.code.strip(), autoescape=True))
    if filters.stage:
        column = getattr(model, "nonroad_stage", None) or getattr(model, "emission_stage", None)
        if column is not None:
            stmt = stmt.where(column == filters.stage)
    if filters.list_kind and registry is VEHICLE_LISTS:
        stmt = stmt.where(model.list_kind == filters.list_kind)
    if filters.active is not None:
        if registry is VEHICLE_LISTS:
            effective = _effective_clause(now or utcnow())
            stmt = stmt.where(effective if filters.active else ~effective)
        elif hasattr(model, "active"):
            stmt = stmt.where(model.active.is_(filters.active))
    return stmt


def _effective_clause(at: datetime) -> Any:
    entry = VehicleListEntry
    return and_(
        entry.revoked_at.is_(None),
        entry.valid_from <= at,
        or_(entry.valid_to.is_(None), entry.valid_to > at),
    )


def is_effective(entry: VehicleListEntry, at: datetime | None = None) -> bool:
    """Not revoked and ``valid_from <= at < valid_to`` (an open end never expires)."""
    at = at or utcnow()
    return (
        entry.revoked_at is None
        and entry.valid_from <= at
        and (entry.valid_to is None or at < entry.valid_to)
    )


def list_status(
    session: Session, site_id: uuid.UUID, plate: str, at: datetime | None = None
) -> VehicleListEntry | None:
    """The entry in force for a plate at a site (black or white), if any."""
    stmt = select(VehicleListEntry).where(
        VehicleListEntry.site_id == site_id,
        VehicleListEntry.plate == normalize_plate(plate),
        _effective_clause(at or utcnow()),
    )
    return session.scalars(stmt.order_by(VehicleListEntry.valid_from.desc()).limit(1)).first()


def to_out(registry: Registry, record: Any) -> BaseModel:
    out = registry.out.model_validate(record)
    if isinstance(out, VehicleListOut):
        out.effective = is_effective(record)
    return out


# --- writes --------------------------------------------------------------------------------------


def _conflict(registry: Registry, key: tuple[str, ...]) -> ApiError:
    return ApiError(
        409,
        "conflict",
        f"该站点已有相同的{registry.label}",
        {"fields": {name: "duplicate" for name in key}},
    )


def _check_unique(
    session: Session, registry: Registry, values: dict[str, Any], current: Any
) -> None:
    model = registry.model
    for key in registry.unique:
        if any(values.get(name) is None for name in key):
            continue
        stmt = select(model.id).where(
            model.site_id == values["site_id"], *(getattr(model, n) == values[n] for n in key)
        )
        if current is not None:
            stmt = stmt.where(model.id != current.id)
        if session.scalars(stmt.limit(1)).first() is not None:
            raise _conflict(registry, key)


def validate_new(
    session: Session, registry: Registry, data: BaseModel, *, existing: set[Any] | None = None
) -> dict[str, Any]:
    """Everything a create checks, without writing: the site (404 if foreign), derived fields,
    duplicates (409). The import runs this over every row before it writes any."""
    values = data.model_dump()
    get_site(session, values["site_id"])
    given = {k: v for k, v in values.items() if k in data.model_fields_set}
    if registry.prepare is not None:
        registry.prepare(session, values, given, None)
    _check_unique(session, registry, values, None)
    return values


def insert_record(
    session: Session,
    registry: Registry,
    values: dict[str, Any],
    *,
    user_id: uuid.UUID | None,
    source: str = "portal",
    action: str = "create",
) -> Any:
    """Add a validated record and its history row (flush, no commit)."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    values = dict(values)
    stage_basis = values.pop("_stage_basis", None)
    if registry.has_source:
        values["source"] = source
    if registry is VEHICLE_LISTS:
        values["created_by"] = user_id
    record = registry.model(**values)
    session.add(record)
    session.flush()
    changes = {k: [None, v] for k, v in values.items() if v is not None}
    if stage_basis is not None:
        changes["stage_basis"] = [None, stage_basis]
    record_change(session, registry, record.id, user_id, action, changes)
    return record


def _flush_or_conflict(session: Session, registry: Registry) -> None:
    try:
        session.flush()
    except IntegrityError:
        # A concurrent write took the natural key between our check and the flush.
        session.rollback()
        raise _conflict(registry, registry.unique[0] if registry.unique else ()) from None


def create_record(
    session: Session,
    registry: Registry,
    data: BaseModel,
    *,
    user_id: uuid.UUID | None,
    source: str = "portal",
) -> Any:
    values = validate_new(session, registry, data)
    try:
        record = insert_record(session, registry, values, user_id=user_id, source=source)
    except IntegrityError:
        session.rollback()
        raise _conflict(registry, registry.unique[0] if registry.unique else ()) from None
    session.commit()
    return record


def update_record(
    session: Session,
    registry: Registry,
    record: Any,
    patch: BaseModel,
    *,
    user_id: uuid.UUID | None,
) -> Any:
    """Apply the fields sent; re-derive what depends on them; record old → new per field."""
    given = patch.model_dump(exclude_unset=True)
    cleared = [n for n in registry.required if n in given and given[n] is None]
    if cleared:
        raise validation_error({n: "不能为空 (required)" for n in cleared})
    if registry is VEHICLE_LISTS and record.revoked_at is not None:
        raise ApiError(409, "conflict", "名单记录已撤销，不能修改")
    mapper_columns = [c.key for c in record.__mapper__.column_attrs]
    values = {k: getattr(record, k) for k in mapper_columns}
    values.update(given)
    if registry.prepare is not None:
        registry.prepare(session, values, given, record)
    _check_unique(session, registry, values, record)
    stage_basis = values.pop("_stage_basis", None)
    diff = {
        k: [getattr(record, k), v]
        for k, v in values.items()
        if k in mapper_columns and getattr(record, k) != v
    }
    if not diff:
        return record
    for name, (_old, new) in diff.items():
        setattr(record, name, new)
    if stage_basis is not None:
        diff["stage_basis"] = [None, stage_basis]
    _flush_or_conflict(session, registry)
    record_change(session, registry, record.id, user_id, "update", diff)
    session.commit()
    return record


def deactivate_record(
    session: Session, registry: Registry, record: Any, *, user_id: uuid.UUID | None
) -> Any:
    """Deactivate (registries) or revoke (list entries); idempotent, never a delete."""
    if registry is VEHICLE_LISTS:
        if record.revoked_at is None:
            now = utcnow()
            record_change(
                session, registry, record.id, user_id, "revoke", {"revoked_at": [None, now]}
            )
            record.revoked_at = now
            session.commit()
        return record
    if not hasattr(record, "active"):
        raise ApiError(405, "method_not_allowed", f"{registry.label}不能停用")
    if record.active:
        record.active = False
        record_change(
            session, registry, record.id, user_id, "deactivate", {"active": [True, False]}
        )
        session.commit()
    return record


def reactivate_record(
    session: Session, registry: Registry, record: Any, *, user_id: uuid.UUID | None
) -> Any:
    """Bring a deactivated record back (its natural key still blocks a new one)."""
    if not record.active:
        record.active = True
        record_change(
            session, registry, record.id, user_id, "reactivate", {"active": [False, True]}
        )
        session.commit()
    return record


# --- document images -----------------------------------------------------------------------------


def document_key(tenant_id: uuid.UUID, site_id: uuid.UUID, data: bytes, ext: str) -> str:
    """Server-chosen and content-addressed: a client never names a storage path."""
    return f"t/{tenant_id}/s/{site_id}/docs/{hashlib.sha256(data).hexdigest()}.{ext}"


def store_image(
    session: Session,
    registry: Registry,
    record: Any,
    image_kind: str,
    data: bytes,
    storage: Any,
    *,
    user_id: uuid.UUID | None,
) -> str:
    """Check size and type before anything is stored; then store, link and record."""
    column = registry.images.get(image_kind)
    if column is None:
        raise NotFound("图片类型")
    if len(data) > MAX_IMAGE_BYTES:
        raise ApiError(413, "payload_too_large", "图片超过 5 MB")
    kind = sniff_image(data)
    if kind is None:
        raise ApiError(415, "unsupported_media_type", "只接受 JPEG 或 PNG 图片")
    content_type, ext = kind
    key = document_key(record.tenant_id, record.site_id, data, ext)
    if not storage.exists(key):
        storage.put(key, data, content_type)
    old = getattr(record, column)
    if old != key:
        setattr(record, column, key)
        record_change(session, registry, record.id, user_id, "update", {column: [old, key]})
        session.commit()
    return key
