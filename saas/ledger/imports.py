"""Excel (.xlsx) templates and all-or-nothing import for the three vehicle registries.

Policy: a file is imported only if every row is valid; otherwise nothing is written and the
report lists every bad cell (row number as Excel shows it, column header, reason). A partial
import would leave the enterprise guessing which of its rows are in the ledger, and fixing a
file and uploading it again is the natural loop in a spreadsheet (docs/registries.md).
Rows are checked with exactly the validation of the API (``saas.ledger.registries``).
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font
from openpyxl.utils.datetime import from_excel
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from saas.compliance import (
    EmissionStage,
    FuelType,
    NonRoadStage,
    PlateColor,
    UseNature,
    VehicleType,
)
from saas.errors import ApiError
from saas.ledger import registries as reg
from saas.models.ledger import Carrier
from saas.sites import get_site

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
CARRIER_NAME = "carrier_name"  # a column that names a carrier instead of its id


@dataclass(frozen=True)
class Column:
    field: str
    header: str  # the ledger's Chinese name, verbatim (seed 003 appendix 5)
    required: bool = False
    note: str | None = None


_DATE = "日期，如 2021-07-01"
_CODE = "填代码或中文名称，见“代码表”"

# Order of seed 003 appendix 5 (电子台账主要参数), then the extra columns domain.md §1.5 lists.
COLUMNS: dict[str, tuple[Column, ...]] = {
    reg.TRANSPORT_VEHICLES.entity: (
        Column("plate", "车牌号码", True),
        Column("plate_color", "号牌颜色", False, "新能源、挂车等可省略；普通号牌必填。" + _CODE),
        Column("vehicle_type", "车辆类型", False, "GA 24.4 代码，如 H11、Q11。" + _CODE),
        Column("vin", "车辆识别代码（VIN）"),
        Column("registration_date", "注册登记日期", False, _DATE),
        Column("model", "车辆型号"),
        Column("engine_model", "发动机型号"),
        Column("engine_manufacturer", "发动机生产厂"),
        Column("engine_no", "发动机编号"),
        Column("fuel_type", "燃料类型", False, _CODE),
        Column("emission_stage", "排放标准", False, "留空则按注册登记日期推断。" + _CODE),
        Column("use_nature", "使用性质", False, _CODE),
        Column("network_status", "联网状态", False, _CODE),
        Column(CARRIER_NAME, "车队名称", False, "不存在的车队会一并新建"),
        Column("owner_name", "车辆所有人（单位）"),
        Column("owner_phone", "联系电话"),
        Column("rated_load_kg", "核定载质量（kg）"),
        Column("verification", "核验状态", False, _CODE),
    ),
    reg.INPLANT_VEHICLES.entity: (
        Column("env_reg_code", "环保登记编码", True, "或内部管理号牌"),
        Column("vin", "车辆识别代码（VIN）"),
        Column("production_date", "生产日期", False, _DATE),
        Column("plate", "车牌号码"),
        Column("registration_date", "注册登记日期", False, _DATE),
        Column("model", "车辆型号"),
        Column("engine_model", "发动机型号"),
        Column("engine_manufacturer", "发动机生产厂"),
        Column("engine_no", "发动机编号"),
        Column("fuel_type", "燃料类型", False, _CODE),
        Column("emission_stage", "排放标准", False, "留空则按日期推断。" + _CODE),
        Column("network_status", "联网状态", False, _CODE),
        Column("owner_name", "车辆所有人（单位）"),
        Column("owner_phone", "联系电话"),
        Column("verification", "核验状态", False, _CODE),
    ),
    reg.NONROAD_MACHINERY.entity: (
        Column("env_reg_code", "环保登记编码", True),
        Column("production_date", "机械生产日期", False, _DATE),
        Column("plate", "车牌号码"),
        Column("nonroad_stage", "排放标准", False, "国一–国四；留空则按生产日期推断。" + _CODE),
        Column("fuel_type", "燃料类型", False, _CODE),
        Column("machine_type", "机械种类", True, "如 装载机、挖掘机、叉车"),
        Column("pin", "机械环保代码/产品识别码（PIN）"),
        Column("machine_model", "机械型号"),
        Column("engine_model", "发动机型号"),
        Column("engine_manufacturer", "发动机生产厂"),
        Column("engine_no", "发动机编号"),
        Column("engine_power_kw", "发动机功率（kW）"),
        Column("manufacturer", "机械生产厂"),
        Column("local_code", "本地环保编码"),
        Column("owner_name", "所属人（单位）"),
        Column("owner_phone", "联系电话"),
        Column("verification", "核验状态", False, _CODE),
    ),
}
_DATE_FIELDS = {"registration_date", "production_date"}
_NUMBER_FIELDS = {"rated_load_kg", "engine_power_kw"}


def _code_rows(entity: str) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    road = entity != reg.NONROAD_MACHINERY.entity
    if entity == reg.TRANSPORT_VEHICLES.entity:
        rows += [("号牌颜色", c.value, c.label_zh) for c in PlateColor]
        rows += [("车辆类型", t.value, t.label_zh) for t in VehicleType]
    rows += [("燃料类型", f.value, f.label_zh) for f in FuelType]
    if road:
        rows += [("排放标准", s.value, s.label_zh) for s in EmissionStage]
    else:
        rows += [("排放标准", s.value, s.label_zh) for s in NonRoadStage]
    if entity == reg.TRANSPORT_VEHICLES.entity:
        rows += [("使用性质", u.value, u.label_zh) for u in UseNature]
    if road:
        rows += [("联网状态", k, zh) for k, (zh, _en) in reg.NETWORK_STATUSES.items()]
    rows += [("核验状态", k, reg.VERIFICATION_LABELS[k][0]) for k in reg.USER_VERIFICATION_STATES]
    return rows


def build_template(registry: reg.Registry) -> bytes:
    """Sheet 1: the headers in the standard's order (required ones marked *, notes as comments);
    sheet 2: every allowed code with its Chinese name."""
    columns = COLUMNS[registry.entity]
    wb = Workbook()
    sheet = wb.active
    assert sheet is not None
    sheet.title = "台账"
    for index, column in enumerate(columns, start=1):
        cell = sheet.cell(
            row=1, column=index, value=column.header + ("*" if column.required else "")
        )
        cell.font = Font(bold=True)
        if column.note:
            cell.comment = Comment(column.note, "CleanGate")
        letter = cell.column_letter
        sheet.column_dimensions[letter].width = max(14, len(column.header) * 2 + 4)
        if column.field in _DATE_FIELDS:
            # A column style, not formatted cells: those would count as rows and push the
            # user's data below them.
            sheet.column_dimensions[letter].number_format = "yyyy-mm-dd"
    sheet.freeze_panes = "A2"
    codes = wb.create_sheet("代码表")
    codes.append(["字段", "代码", "名称"])
    for cell in codes[1]:
        cell.font = Font(bold=True)
    for row in _code_rows(registry.entity):
        codes.append(list(row))
    codes.column_dimensions["A"].width = 12
    codes.column_dimensions["C"].width = 24
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --- import --------------------------------------------------------------------------------------


class RowError(BaseModel):
    row: int  # as Excel numbers it (the header is row 1)
    column: str  # header text, or "" for the whole row
    field: str | None
    reason: str


class ImportResult(BaseModel):
    imported: int
    ids: list[uuid.UUID]
    carriers_created: list[str]


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _cell(field: str, value: Any) -> Any:
    """Excel gives str, int, float or datetime; turn each into what the model expects."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if field in _DATE_FIELDS:
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, int | float):
            converted = from_excel(value)
            return converted.date() if isinstance(converted, datetime) else converted
        return _text(value).replace("/", "-").replace(".", "-")
    if field in _NUMBER_FIELDS:
        try:
            return Decimal(_text(value))  # the model rejects a fraction where it wants an int
        except InvalidOperation:
            return _text(value)  # and names a non-number
    return _text(value)


def _header_map(
    header: tuple[Any, ...], columns: tuple[Column, ...], errors: list[RowError]
) -> dict[int, Column]:
    by_header = {c.header: c for c in columns}
    found: dict[int, Column] = {}
    for index, raw in enumerate(header):
        text = _text(raw).rstrip("*").strip() if raw is not None else ""
        if not text:
            continue
        column = by_header.get(text)
        if column is None:
            errors.append(
                RowError(row=1, column=text, field=None, reason="未知的列 (unknown_column)")
            )
        else:
            found[index] = column
    present = {c.field for c in found.values()}
    for column in columns:
        if column.required and column.field not in present:
            errors.append(
                RowError(row=1, column=column.header, field=column.field, reason="缺少必填列")
            )
    return found


def _fail(errors: list[RowError]) -> ApiError:
    rows = sorted({e.row for e in errors})
    return ApiError(
        422,
        "validation_failed",
        f"导入文件有 {len(errors)} 处错误（{len(rows)} 行），未导入任何记录",
        {
            "fields": {"file": f"{len(errors)} errors in {len(rows)} rows"},
            "rows": [e.model_dump() for e in errors],
        },
    )


def _read_rows(data: bytes) -> tuple[tuple[Any, ...], list[tuple[int, tuple[Any, ...]]]]:
    if len(data) > MAX_FILE_BYTES:
        raise ApiError(413, "payload_too_large", "文件超过 5 MB")
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises zip, XML and key errors alike for a non-xlsx body
        raise ApiError(
            422,
            "validation_failed",
            "不是有效的 .xlsx 文件",
            {"fields": {"file": "not an .xlsx workbook"}},
        ) from None
    try:
        sheet = wb.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, ())
        body: list[tuple[int, tuple[Any, ...]]] = []
        for number, row in enumerate(rows, start=2):
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
                continue
            if len(body) >= MAX_ROWS:
                raise ApiError(
                    422,
                    "validation_failed",
                    f"一次最多导入 {MAX_ROWS} 行",
                    {"fields": {"file": f"more than {MAX_ROWS} rows"}},
                )
            body.append((number, tuple(row)))
        return tuple(header), body
    finally:
        wb.close()


def import_workbook(
    session: Session,
    registry: reg.Registry,
    site_id: uuid.UUID,
    data: bytes,
    *,
    user_id: uuid.UUID | None,
) -> ImportResult:
    """Validate every row, then write all of them in one transaction — or none."""
    columns = COLUMNS.get(registry.entity)
    if columns is None:
        raise ApiError(404, "not_found", "该台账不支持导入")
    get_site(session, site_id)  # 404 for another tenant's site, before reading the file
    header, body = _read_rows(data)
    errors: list[RowError] = []
    mapping = _header_map(header, columns, errors)
    if errors:
        raise _fail(errors)
    if not body:
        raise ApiError(
            422, "validation_failed", "文件中没有数据行", {"fields": {"file": "no data rows"}}
        )
    header_of = {c.field: c.header for c in columns}
    carriers = {
        c.name: c.id for c in session.scalars(select(Carrier).where(Carrier.site_id == site_id))
    }
    seen: dict[tuple[str, ...], dict[tuple[Any, ...], int]] = {k: {} for k in registry.unique}
    valid: list[tuple[dict[str, Any], str | None]] = []

    def add(row: int, field: str | None, reason: str) -> None:
        column = header_of.get(field or "", field or "")
        if field == "carrier_id":
            column = header_of[CARRIER_NAME]
        errors.append(RowError(row=row, column=column, field=field, reason=reason))

    for number, row in body:
        raw: dict[str, Any] = {"site_id": site_id}
        carrier_name: str | None = None
        for index, column in mapping.items():
            value = _cell(column.field, row[index] if index < len(row) else None)
            if column.field == CARRIER_NAME:
                carrier_name = value
            elif value is not None:
                raw[column.field] = value
        if carrier_name is not None and len(carrier_name) > 200:
            add(number, CARRIER_NAME, "车队名称过长 (max 200)")
            continue
        if carrier_name is not None and carrier_name in carriers:
            raw["carrier_id"] = carriers[carrier_name]
        try:
            model = registry.create.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                field = str(err["loc"][0]) if err["loc"] else None
                add(number, field, err["msg"])
            continue
        try:
            values = reg.validate_new(session, registry, model)
        except ApiError as exc:
            fields = exc.details.get("fields") or {"": exc.message}
            for field, reason in fields.items():
                add(number, field or None, f"{exc.message}: {reason}" if field else reason)
            continue
        clash = False
        for key, rows_by_key in seen.items():
            if any(values.get(n) is None for n in key):
                continue
            natural = tuple(values[n] for n in key)
            if natural in rows_by_key:
                add(number, key[0], f"与第 {rows_by_key[natural]} 行重复 (duplicate_in_file)")
                clash = True
            else:
                rows_by_key[natural] = number
        if not clash:
            valid.append((values, carrier_name))
    if errors:
        session.rollback()
        raise _fail(errors)

    created_carriers: list[str] = []
    ids: list[uuid.UUID] = []
    try:
        for values, carrier_name in valid:
            if carrier_name is not None and values.get("carrier_id") is None:
                if carrier_name not in carriers:
                    carrier = reg.insert_record(
                        session,
                        reg.CARRIERS,
                        {"site_id": site_id, "name": carrier_name},
                        user_id=user_id,
                        source="import",
                        action="import",
                    )
                    carriers[carrier_name] = carrier.id
                    created_carriers.append(carrier_name)
                values["carrier_id"] = carriers[carrier_name]
            record = reg.insert_record(
                session, registry, values, user_id=user_id, source="import", action="import"
            )
            ids.append(record.id)
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ApiError(409, "conflict", "导入期间记录被并发修改，未导入任何记录") from None
    return ImportResult(imported=len(ids), ids=ids, carriers_created=created_carriers)
