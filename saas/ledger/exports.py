"""Exports of the passage ledger and the three registries to xlsx and csv (docs/exports.md).

* Headers are the ledgers' Chinese field names, in the order of the standard's field list
  (seed 003 附表5 电子台账主要参数; domain.md §1.5 table A for the passage columns), then the
  columns our records add. Codes are written as their Chinese labels (``saas.compliance``).
* Times are Asia/Shanghai ``yyyy-MM-dd HH:mm:ss`` in the file (UTC in storage); xlsx gets real
  date cells with that format so Excel can sort and filter them.
* Constant memory for any size: rows stream from the database (``yield_per``, a server-side
  cursor on PostgreSQL) into a temporary file — csv row by row, xlsx with xlsxwriter's
  ``constant_memory`` mode — which is then copied to object storage without being read into
  memory. Progress is written to the ``exports`` row from a second session every few thousand
  rows, because committing the reading session would close its cursor.
* CSV carries a UTF-8 BOM (Excel otherwise guesses GBK and garbles Chinese). Text cells that a
  spreadsheet would read as a formula (``= + - @``, tab, CR first) get a leading ``'``
  (OWASP CSV injection); xlsx also stores every text as a string, never a formula.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import IO, Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from saas import entitlements
from saas.compliance import (
    AlertLevel,
    Direction,
    EmissionStage,
    FuelType,
    NonRoadStage,
    PlateColor,
    UseNature,
    Verdict,
    vehicle_type_from_code,
)
from saas.db import utcnow
from saas.errors import ApiError
from saas.ledger import queries
from saas.models.ledger import (
    Carrier,
    Export,
    InPlantVehicle,
    NonRoadMachinery,
    Passage,
    TransportVehicle,
)
from saas.models.tenancy import Site
from saas.tenancy import current_tenant_id

log = logging.getLogger(__name__)

KINDS = ("passages", "transport_vehicles", "inplant_vehicles", "nonroad_machinery")
FORMATS = ("xlsx", "csv")
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CONTENT_TYPES = {"xlsx": XLSX_MIME, "csv": "text/csv; charset=utf-8"}
KIND_LABELS = {
    "passages": "进出厂通行记录",
    "transport_vehicles": "进出厂运输车辆电子台账",
    "inplant_vehicles": "厂内运输车辆电子台账",
    "nonroad_machinery": "非道路移动机械电子台账",
}
DISPLAY_TZ = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
YIELD_PER = 1000
PROGRESS_EVERY = 2000
XLSX_MAX_ROWS = 1_048_576  # per sheet, header included; longer exports continue on a new sheet
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

# Labels of the decision's reason codes (saas.compliance.decision.REASON_CODES).
REASON_LABELS: dict[str, str] = {
    "plate_unreadable": "车牌无法识别",
    "plate_invalid": "车牌无效",
    "low_confidence": "识别置信度低",
    "blacklisted": "黑名单车辆",
    "unregistered_vehicle": "未登记车辆",
    "new_energy_plate": "新能源号牌",
    "whitelisted": "白名单车辆",
    "exemption_applied": "适用豁免",
    "exemption_stage_below_minimum": "豁免车辆排放阶段低于要求",
    "stage_below_minimum": "排放阶段低于要求",
    "alert_restriction": "重污染预警管控",
    "baseline_restriction": "日常管控",
    "review_rule": "需人工核验",
    "no_matching_rule": "无匹配规则",
    "outside_booking": "不在预约时段",
    "stage_inferred": "排放阶段为推断",
    "exit_violation": "出厂违规",
}
RECORD_KINDS = {
    "passage": "通行",
    "manual_release": "人工放行",
    "cargo": "货物补录",
    "correction": "更正",
}
NETWORK_LABELS = {"online": "已联网", "offline": "未联网", "unknown": "未知"}
VERIFICATION_LABELS = {
    "self_declared": "自行申报",
    "documents_checked": "已核对证件",
    "regulator_verified": "监管平台核验",
}


# --- request parameters ---


class RegistryFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: uuid.UUID | None = None
    include_inactive: bool = False


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: Literal["passages", "transport_vehicles", "inplant_vehicles", "nonroad_machinery"]
    format: Literal["xlsx", "csv"] = "xlsx"
    filter: Annotated[
        dict[str, Any],
        Field(
            description="PassageFilter fields (passages) or {site_id, include_inactive} "
            "(registries); the time window is fixed when the export is requested"
        ),
    ] = {}


def resolve_params(kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Validate the filter and pin its time window now: an export shows what was asked at
    request time, however long it waits in the queue."""
    try:
        if kind == "passages":
            flt = queries.PassageFilter.model_validate(raw)
            since, until = flt.window()
            flt = flt.model_copy(update={"since": since, "until": until})
            return flt.model_dump(mode="json", exclude_none=True)
        return RegistryFilter.model_validate(raw).model_dump(mode="json", exclude_none=True)
    except ValidationError as exc:
        fields: dict[str, str] = {}
        for err in exc.errors():
            path = ".".join(str(p) for p in ("filter", *err["loc"]))
            fields.setdefault(path, err["msg"])
        raise ApiError(422, "validation_failed", "筛选条件有误", {"fields": fields}) from None


def create_export(
    session: Session,
    body: ExportIn,
    *,
    requested_by: uuid.UUID | None,
) -> Export:
    """The ``exports`` row (status queued); the caller enqueues the job after the commit."""
    params = resolve_params(body.kind, body.filter)
    if body.kind == "passages":  # a window over 30 days is a convenience billing may hold back
        since, until = (datetime.fromisoformat(params[k]) for k in ("since", "until"))
        entitlements.check_export_window(session, current_tenant_id(), since, until)
    site_id = params.get("site_id")
    if site_id is not None and not session.scalar(
        select(Site.id).where(Site.id == uuid.UUID(site_id))
    ):
        raise ApiError(
            422, "validation_failed", "站点不存在", {"fields": {"filter.site_id": "unknown site"}}
        )
    export = Export(
        kind=body.kind,
        file_format=body.format,
        params=params,
        status="queued",
        rows_done=0,
        requested_by=requested_by,
    )
    session.add(export)
    session.commit()
    return export


def storage_key(tenant_id: uuid.UUID, export_id: uuid.UUID, file_format: str) -> str:
    """Server-generated only: nothing a user typed reaches the key."""
    return f"t/{tenant_id}/exports/{export_id}.{file_format}"


def download_name(export: Export) -> str:
    stamp = export.created_at.astimezone(DISPLAY_TZ).strftime("%Y%m%d-%H%M%S")
    return f"{KIND_LABELS[export.kind]}_{stamp}.{export.file_format}"


# --- cell rendering ---


def escape_formula(text: str) -> str:
    """OWASP CSV-injection defence: a leading quote keeps a spreadsheet from evaluating it."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def local_time(moment: datetime | None) -> datetime | None:
    """UTC-aware → naive Asia/Shanghai wall time (what the file shows)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(DISPLAY_TZ).replace(tzinfo=None)


@lru_cache(maxsize=4096)
def label(enum: type[StrEnum], value: str | None) -> str:
    """The Chinese label of a stored code; an unknown code is shown as stored, never dropped.
    Stored case varies (edge snapshots send ``CN6A``, registries store ``cn6a``)."""
    if not value:
        return ""
    for candidate in (value, value.lower(), value.upper()):
        try:
            return str(enum(candidate).label_zh)  # type: ignore[attr-defined]
        except ValueError:
            continue
    return value


@lru_cache(maxsize=4096)
def vehicle_type_label(code: str | None) -> str:
    if not code:
        return ""
    found = vehicle_type_from_code(code)
    return found.label_zh if found is not None else code


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Column:
    header: str
    kind: str = "text"  # text | int | number | datetime | date
    width: int = 14


# --- passages ---

# domain.md §1.5 table A / seed 003 附表5 order, then what the chained record adds.
PASSAGE_COLUMNS: tuple[Column, ...] = (
    Column("序号", "int", 8),
    Column("出入口编号", width=10),
    Column("道闸编号", width=8),
    Column("进出方向", width=8),
    Column("通行时间", "datetime", 20),
    Column("车牌号码", width=12),
    Column("号牌颜色", width=8),
    Column("车辆类型", width=16),
    Column("车辆识别代号(VIN)", width=20),
    Column("燃料类型", width=10),
    Column("排放阶段", width=10),
    Column("通行结果", width=10),
    Column("原因", width=24),
    Column("政策版本", width=12),
    Column("预警级别", width=10),
    Column("运输货物名称", width=14),
    Column("运输量", "number", 10),
    Column("图片SHA-256", width=66),
    Column("记录哈希", width=66),
    Column("计量单位", width=8),
    Column("货物来源地", width=16),
    Column("货物目的地", width=16),
    Column("注册登记日期", "date", 12),
    Column("车队名称", width=16),
    Column("站点", width=16),
    Column("记录类型", width=10),
    Column("补录说明", width=24),
    Column("台账序列号", "int", 10),
    Column("事件编号", width=38),
    Column("接收时间", "datetime", 20),
)

_PASSAGE_FIELDS = (
    Passage.site_id,
    Passage.seq,
    Passage.captured_at,
    Passage.received_at,
    Passage.event_id,
    Passage.kind,
    Passage.gate_code,
    Passage.lane_code,
    Passage.direction,
    Passage.plate,
    Passage.plate_color,
    Passage.verdict,
    Passage.emission_stage,
    Passage.fuel_type,
    Passage.hash,
    Passage.record,
)


def passage_statement(params: dict[str, Any]) -> Select[Any]:
    """The ledger query of the portal and API (``select_passages``), oldest first (序号 1 is
    the earliest record), reading only the columns the file needs."""
    flt = queries.PassageFilter.model_validate(params)
    return (
        queries.select_passages(flt)
        .with_only_columns(*_PASSAGE_FIELDS)
        .order_by(None)
        .order_by(Passage.captured_at, Passage.site_id, Passage.seq)
    )


def passage_cells(number: int, row: Any, site_names: dict[uuid.UUID, str]) -> list[Any]:
    record = json.loads(row.record)
    plate = _dict(record.get("plate"))
    vehicle = _dict(record.get("vehicle"))
    decision = _dict(record.get("decision"))
    cargo = _dict(record.get("cargo"))
    amendment = record.get("amendment")
    reasons = decision.get("reasons") or []
    registered = vehicle.get("registration_date")
    return [
        number,
        row.gate_code,
        row.lane_code,
        label(Direction, row.direction),
        local_time(row.captured_at),
        row.plate or plate.get("raw") or "",
        label(PlateColor, row.plate_color),
        vehicle_type_label(vehicle.get("vehicle_type")),
        vehicle.get("vin"),
        label(FuelType, row.fuel_type),
        label(EmissionStage, row.emission_stage),
        label(Verdict, row.verdict),
        "；".join(REASON_LABELS.get(r, r) for r in reasons),
        decision.get("policy_version"),
        label(AlertLevel, decision.get("alert_level")),
        cargo.get("name"),
        cargo.get("quantity"),
        "; ".join(i.get("sha256", "") for i in record.get("images") or [] if isinstance(i, dict)),
        bytes(row.hash).hex(),
        cargo.get("unit"),
        cargo.get("origin"),
        cargo.get("destination"),
        date.fromisoformat(registered) if isinstance(registered, str) else None,
        vehicle.get("carrier"),
        site_names.get(row.site_id, ""),
        RECORD_KINDS.get(row.kind, row.kind),
        _amendment_text(amendment),
        row.seq,
        str(row.event_id),
        local_time(row.received_at),
    ]


def _amendment_text(amendment: Any) -> str:
    if not amendment:
        return ""
    if isinstance(amendment, dict) and isinstance(amendment.get("reason"), str):
        return str(amendment["reason"])
    return json.dumps(amendment, ensure_ascii=False, sort_keys=True)


# --- registries (seed 003 附表5, in its order; then domain.md §1.5 extras and our state) ---------

_DOC = ("已上传", "未上传")


def _doc(key: str | None) -> str:
    return _DOC[0] if key else _DOC[1]


def _active(active: bool) -> str:
    return "在用" if active else "停用"


@dataclass(frozen=True)
class RegistryExport:
    model: type[Any]
    columns: tuple[Column, ...]
    cells: Callable[[int, Any, str | None, str], list[Any]]  # (序号, row, carrier, site name)


def _transport_cells(n: int, v: TransportVehicle, carrier: str | None, site: str) -> list[Any]:
    return [
        n,
        v.plate,
        label(PlateColor, v.plate_color),
        vehicle_type_label(v.vehicle_type),
        v.vin,
        v.registration_date,
        v.model,
        v.engine_model,
        v.engine_manufacturer,
        v.engine_no,
        label(FuelType, v.fuel_type),
        label(EmissionStage, v.emission_stage),
        label(UseNature, v.use_nature),
        NETWORK_LABELS.get(v.network_status, v.network_status),
        _doc(v.list_image_key),
        _doc(v.license_image_key),
        carrier,
        v.owner_name,
        v.owner_phone,
        v.rated_load_kg,
        VERIFICATION_LABELS.get(v.verification, v.verification),
        site,
        _active(v.active),
        local_time(v.created_at),
        local_time(v.updated_at),
    ]


def _inplant_cells(n: int, v: InPlantVehicle, _carrier: str | None, site: str) -> list[Any]:
    return [
        n,
        v.env_reg_code,
        v.vin,
        v.production_date,
        v.plate,
        v.registration_date,
        v.model,
        v.engine_model,
        v.engine_manufacturer,
        v.engine_no,
        label(FuelType, v.fuel_type),
        label(EmissionStage, v.emission_stage),
        _doc(v.list_image_key),
        _doc(v.license_image_key),
        v.owner_name,
        v.owner_phone,
        NETWORK_LABELS.get(v.network_status, v.network_status),
        VERIFICATION_LABELS.get(v.verification, v.verification),
        site,
        _active(v.active),
        local_time(v.created_at),
        local_time(v.updated_at),
    ]


def _nonroad_cells(n: int, m: NonRoadMachinery, _carrier: str | None, site: str) -> list[Any]:
    return [
        n,
        m.env_reg_code,
        m.production_date,
        m.plate,
        label(NonRoadStage, m.nonroad_stage),
        label(FuelType, m.fuel_type),
        m.machine_type,
        m.pin,
        m.machine_model,
        m.engine_model,
        m.engine_manufacturer,
        m.engine_no,
        _doc(m.nameplate_image_key),
        _doc(m.engine_nameplate_image_key),
        _doc(m.env_label_image_key),
        m.owner_name,
        m.engine_power_kw,
        m.manufacturer,
        m.local_code,
        m.owner_phone,
        VERIFICATION_LABELS.get(m.verification, m.verification),
        site,
        _active(m.active),
        local_time(m.created_at),
        local_time(m.updated_at),
    ]


_STATE_COLUMNS = (
    Column("核验状态", width=12),
    Column("站点", width=16),
    Column("状态", width=6),
    Column("登记时间", "datetime", 20),
    Column("更新时间", "datetime", 20),
)

REGISTRIES: dict[str, RegistryExport] = {
    "transport_vehicles": RegistryExport(
        TransportVehicle,
        (
            Column("序号", "int", 8),
            Column("车牌号码", width=12),
            Column("号牌颜色", width=8),
            Column("车辆类型", width=16),
            Column("车辆识别代码（VIN）", width=20),
            Column("注册登记日期", "date", 12),
            Column("车辆型号", width=16),
            Column("发动机型号", width=14),
            Column("发动机生产厂", width=18),
            Column("发动机编号", width=14),
            Column("燃料类型", width=10),
            Column("排放标准", width=10),
            Column("使用性质", width=10),
            Column("联网状态", width=10),
            Column("随车清单", width=10),
            Column("行驶证", width=10),
            Column("车队名称", width=16),
            Column("车辆所有人（单位）", width=18),
            Column("联系电话", width=14),
            Column("核定载质量（kg）", "int", 12),
            *_STATE_COLUMNS,
        ),
        _transport_cells,
    ),
    "inplant_vehicles": RegistryExport(
        InPlantVehicle,
        (
            Column("序号", "int", 8),
            Column("环保登记编码", width=16),
            Column("车辆识别代码（VIN）", width=20),
            Column("生产日期", "date", 12),
            Column("车牌号码", width=12),
            Column("注册登记日期", "date", 12),
            Column("车辆型号", width=16),
            Column("发动机型号", width=14),
            Column("发动机生产厂", width=18),
            Column("发动机编号", width=14),
            Column("燃料类型", width=10),
            Column("排放标准", width=10),
            Column("随车清单", width=10),
            Column("行驶证", width=10),
            Column("车辆所有人（单位）", width=18),
            Column("联系电话", width=14),
            Column("联网状态", width=10),
            *_STATE_COLUMNS,
        ),
        _inplant_cells,
    ),
    "nonroad_machinery": RegistryExport(
        NonRoadMachinery,
        (
            Column("序号", "int", 8),
            Column("环保登记编码", width=16),
            Column("机械生产日期", "date", 12),
            Column("车牌号码", width=12),
            Column("排放标准", width=10),
            Column("燃料类型", width=10),
            Column("机械种类", width=10),
            Column("机械环保代码/产品识别码（PIN）", width=24),
            Column("机械型号", width=14),
            Column("发动机型号", width=14),
            Column("发动机生产厂", width=18),
            Column("发动机编号", width=14),
            Column("整车（机）铭牌", width=12),
            Column("发动机铭牌", width=10),
            Column("机械环保标签", width=12),
            Column("所属人（单位）", width=18),
            Column("发动机功率（kW）", "number", 12),
            Column("机械生产厂", width=18),
            Column("本地环保编码", width=14),
            Column("联系电话", width=14),
            *_STATE_COLUMNS,
        ),
        _nonroad_cells,
    ),
}


def columns_of(kind: str) -> tuple[Column, ...]:
    return PASSAGE_COLUMNS if kind == "passages" else REGISTRIES[kind].columns


def registry_statement(kind: str, params: dict[str, Any]) -> Select[Any]:
    spec = REGISTRIES[kind]
    model = spec.model
    flt = RegistryFilter.model_validate(params)
    if model is TransportVehicle:
        stmt = select(model, Carrier.name).outerjoin(Carrier, model.carrier_id == Carrier.id)
    else:
        stmt = select(model)
    if flt.site_id:
        stmt = stmt.where(model.site_id == flt.site_id)
    if not flt.include_inactive:
        stmt = stmt.where(model.active.is_(True))
    return stmt.order_by(model.site_id, model.created_at, model.id)


# --- streaming the rows ---


def count_rows(session: Session, kind: str, params: dict[str, Any]) -> int:
    stmt = passage_statement(params) if kind == "passages" else registry_statement(kind, params)
    counted = select(func.count()).select_from(stmt.order_by(None).subquery())
    return int(session.scalar(counted) or 0)


def iter_rows(session: Session, kind: str, params: dict[str, Any]) -> Iterator[list[Any]]:
    """Cell lists in column order, streamed ``YIELD_PER`` rows at a time."""
    site_names = {sid: name for sid, name in session.execute(select(Site.id, Site.name))}
    number = 0
    if kind == "passages":
        result = session.execute(
            passage_statement(params), execution_options={"yield_per": YIELD_PER}
        )
        for row in result:
            number += 1
            yield passage_cells(number, row, site_names)
        return
    spec = REGISTRIES[kind]
    stmt = registry_statement(kind, params)
    result = session.execute(stmt, execution_options={"yield_per": YIELD_PER})
    for row in result:
        number += 1
        record = row[0]
        carrier = row[1] if len(row) > 1 else None
        yield spec.cells(number, record, carrier, site_names.get(record.site_id, ""))
        session.expunge(record)  # keep the identity map from growing with the export


# --- writers ---


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _csv_text(value: Any) -> str:
    return "" if value is None or value == "" else escape_formula(str(value))


def _csv_number(value: Any) -> str:
    if value is None:
        return ""
    return str(value) if _is_number(value) else _csv_text(value)


def _csv_datetime(value: Any) -> str:
    return value.strftime(TIME_FORMAT) if isinstance(value, datetime) else _csv_text(value)


def _csv_date(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else _csv_text(value)


_CSV_CONVERTERS: dict[str, Callable[[Any], str]] = {
    "text": _csv_text,
    "int": _csv_number,
    "number": _csv_number,
    "datetime": _csv_datetime,
    "date": _csv_date,
}


class CsvWriter:
    """UTF-8 with BOM, CRLF rows (RFC 4180 / Excel). One converter per column, chosen once."""

    def __init__(self, handle: IO[str], columns: tuple[Column, ...]) -> None:
        self.converters = [_CSV_CONVERTERS[c.kind] for c in columns]
        self.writer = csv.writer(handle, lineterminator="\r\n")
        self.writer.writerow([c.header for c in columns])

    def write(self, cells: list[Any]) -> None:
        self.writer.writerow([f(v) for f, v in zip(self.converters, cells, strict=True)])


EXCEL_EPOCH = datetime(1899, 12, 30)  # naive: Excel serials are wall time


def excel_serial(value: datetime | date) -> float:
    """What xlsxwriter's write_datetime computes, without its per-cell overhead."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    delta = value - EXCEL_EPOCH
    return delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400


class XlsxWriter:
    """xlsxwriter in ``constant_memory`` mode: each row is flushed to a temp file as soon as
    the next one starts, so memory stays flat. Strings are never turned into formulas or links.
    Dates are written as serial numbers with a date format (real Excel dates)."""

    def __init__(self, path: Path, columns: tuple[Column, ...], sheet_name: str) -> None:
        import xlsxwriter

        self.workbook = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                "tmpdir": str(path.parent),
            },
        )
        self.columns = columns
        self.sheet_name = sheet_name
        self.bold = self.workbook.add_format({"bold": True})
        self.formats = {
            "datetime": self.workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
            "date": self.workbook.add_format({"num_format": "yyyy-mm-dd"}),
        }
        self.kinds = [c.kind for c in columns]
        self.sheets = 0
        self._new_sheet()

    def _new_sheet(self) -> None:
        self.sheets += 1
        name = self.sheet_name if self.sheets == 1 else f"{self.sheet_name}{self.sheets}"
        self.sheet = self.workbook.add_worksheet(name[:31])
        for index, column in enumerate(self.columns):
            self.sheet.set_column(index, index, column.width)
            self.sheet.write_string(0, index, column.header, self.bold)
        self.sheet.freeze_panes(1, 0)
        self.row = 1

    def write(self, cells: list[Any]) -> None:
        if self.row >= XLSX_MAX_ROWS:
            self._new_sheet()
        sheet, row = self.sheet, self.row
        write_string, write_number = sheet.write_string, sheet.write_number
        for index, (kind, value) in enumerate(zip(self.kinds, cells, strict=True)):
            if value is None or value == "":
                continue
            if kind == "text":
                write_string(row, index, escape_formula(str(value)))
            elif kind in ("datetime", "date") and isinstance(value, date):
                write_number(row, index, excel_serial(value), self.formats[kind])
            elif _is_number(value):
                write_number(row, index, float(value))
            else:
                write_string(row, index, escape_formula(str(value)))
        self.row += 1

    def close(self) -> None:
        self.workbook.close()


def write_file(
    rows: Iterable[list[Any]],
    kind: str,
    file_format: str,
    path: Path,
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write ``rows`` to ``path``; returns the row count. ``progress(n)`` every few thousand."""
    columns = columns_of(kind)
    count = 0
    if file_format == "csv":
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            csv_writer = CsvWriter(handle, columns)
            for cells in rows:
                csv_writer.write(cells)
                count += 1
                if progress is not None and count % PROGRESS_EVERY == 0:
                    progress(count)
        return count
    if file_format != "xlsx":
        raise ValueError(f"unknown export format {file_format!r}")
    xlsx = XlsxWriter(path, columns, KIND_LABELS[kind])
    try:
        for cells in rows:
            xlsx.write(cells)
            count += 1
            if progress is not None and count % PROGRESS_EVERY == 0:
                progress(count)
    finally:
        xlsx.close()
    return count


def export_to_file(
    session: Session,
    kind: str,
    file_format: str,
    params: dict[str, Any],
    path: Path,
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """The whole export of one kind into a local file (used by the job, tests and bench)."""
    if kind not in KINDS:
        raise ValueError(f"unknown export kind {kind!r}")
    return write_file(iter_rows(session, kind, params), kind, file_format, path, progress=progress)


# --- storage without holding the file in memory ---


def store_file(storage: Any, key: str, path: Path, content_type: str) -> None:
    """Copy a local file into object storage in constant memory. ``Storage.put`` takes bytes,
    so the two known backends are streamed here (boto3 multipart upload; an atomic
    copy-and-rename on disk); an unknown backend falls back to ``put``."""
    from saas.storage import LocalStorage, S3Storage

    put_file = getattr(storage, "put_file", None)
    if callable(put_file):
        put_file(key, path, content_type)
    elif isinstance(storage, LocalStorage):
        target = storage.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
        try:
            with path.open("rb") as src, tmp.open("xb") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    elif isinstance(storage, S3Storage):
        full = f"{storage.prefix}/{key}" if storage.prefix else key
        storage.client.upload_file(
            str(path), storage.bucket, full, ExtraArgs={"ContentType": content_type}
        )
    else:
        storage.put(key, path.read_bytes(), content_type)


def open_stored(storage: Any, key: str) -> tuple[Iterator[bytes], Path | None]:
    """(chunks, local path if the file is on local disk) — never the whole file at once."""
    from saas.storage import LocalStorage, S3Storage

    if isinstance(storage, LocalStorage):
        return iter(()), storage.root / key
    if isinstance(storage, S3Storage):
        full = f"{storage.prefix}/{key}" if storage.prefix else key
        body = storage.client.get_object(Bucket=storage.bucket, Key=full)["Body"]
        return body.iter_chunks(chunk_size=256 * 1024), None
    return iter((storage.get(key),)), None


def _digest(path: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


# --- the job body ---


def _set(session: Session, export_id: uuid.UUID, **values: Any) -> None:
    session.execute(update(Export).where(Export.id == export_id).values(**values))
    session.commit()


def perform_export(
    export_id: uuid.UUID, *, sessionmaker: Callable[[], Session], storage: Any, final: bool = True
) -> Export | None:
    """Run one export: count, stream into a temp file, store, record the outcome. Called in
    the tenant context of the export (the RQ job sets it). Idempotent: a finished export is
    left alone; a retried one starts over. ``final`` = no retry follows a failure."""
    with sessionmaker() as progress_session, sessionmaker() as reader:
        export = progress_session.get(Export, export_id)
        if export is None:
            log.warning("export %s not found (deleted, or another database)", export_id)
            return None
        if export.status == "done":
            return export
        tenant_id, kind, fmt = export.tenant_id, export.kind, export.file_format
        params = dict(export.params)
        _set(
            progress_session,
            export_id,
            status="running",
            started_at=utcnow(),
            rows_done=0,
            error=None,
        )
        try:
            total = count_rows(reader, kind, params)
            _set(progress_session, export_id, rows_total=total)
            with tempfile.TemporaryDirectory(prefix="cleangate-export-") as tmp:
                path = Path(tmp) / f"export.{fmt}"
                rows = export_to_file(
                    reader,
                    kind,
                    fmt,
                    params,
                    path,
                    progress=lambda n: _set(progress_session, export_id, rows_done=n),
                )
                reader.rollback()  # end the read transaction (server-side cursor) early
                sha256, size = _digest(path)
                key = storage_key(tenant_id, export_id, fmt)
                store_file(storage, key, path, CONTENT_TYPES[fmt])
        except Exception as exc:
            reader.rollback()
            progress_session.rollback()
            _set(
                progress_session,
                export_id,
                status="failed" if final else "queued",
                error=f"{type(exc).__name__}: {exc}"[:500],
                finished_at=utcnow() if final else None,
            )
            raise
        _set(
            progress_session,
            export_id,
            status="done",
            rows_done=rows,
            rows_total=rows,
            storage_key=key,
            size_bytes=size,
            sha256=sha256,
            finished_at=utcnow(),
        )
        progress_session.expire_all()
        return progress_session.get(Export, export_id)
