"""Registries (`/api/v1`): carriers, transport vehicles, in-plant vehicles, non-road machinery,
black and white lists. Thin routes over ``saas.ledger.registries``; the routes of the five
registries are declared by one factory so they cannot drift apart."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, create_model

from saas.api import items, registry
from saas.api.pagination import QUERY_PARAMETERS, page_args, paginate
from saas.auth.permissions import Permission
from saas.auth.principal import current_principal
from saas.db import get_session
from saas.errors import ApiError, validation_error
from saas.ledger import imports
from saas.ledger import registries as reg
from saas.ledger.registries import ChangeOut, Filters, Registry


@dataclass(frozen=True)
class Resource:
    registry: Registry
    path: str  # URL segment
    param: str  # URL parameter naming one record
    tag: str
    title: str  # Chinese, for summaries
    deactivate: str | None = "deactivate"  # action name, None if the registry cannot
    importable: bool = False


RESOURCES = (
    Resource(reg.CARRIERS, "carriers", "carrier_id", "carriers", "车队", deactivate=None),
    Resource(
        reg.TRANSPORT_VEHICLES,
        "transport-vehicles",
        "vehicle_id",
        "transport-vehicles",
        "进出厂运输车辆",
        importable=True,
    ),
    Resource(
        reg.INPLANT_VEHICLES,
        "inplant-vehicles",
        "inplant_id",
        "inplant-vehicles",
        "厂内运输车辆",
        importable=True,
    ),
    Resource(
        reg.NONROAD_MACHINERY,
        "nonroad-machinery",
        "machine_id",
        "nonroad-machinery",
        "非道路移动机械",
        importable=True,
    ),
    Resource(reg.VEHICLE_LISTS, "vehicle-lists", "entry_id", "vehicle-lists", "黑白名单", "revoke"),
)


class ChangePage(BaseModel):
    items: list[ChangeOut]
    next_cursor: str | None


class ImageOut(BaseModel):
    kind: str
    key: str


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _filter_parameters(res: Resource) -> list[dict[str, Any]]:
    params = [_query("site_id", {"type": "string", "format": "uuid"}, "站点")]
    model = res.registry.model
    if hasattr(model, "plate"):
        params.append(_query("plate", {"type": "string"}, "车牌号码前缀"))
    if res.registry is reg.CARRIERS:
        params.append(_query("code", {"type": "string"}, "车队名称前缀"))
    elif hasattr(model, "env_reg_code"):
        params.append(_query("code", {"type": "string"}, "环保登记编码前缀"))
    if hasattr(model, "emission_stage") or hasattr(model, "nonroad_stage"):
        params.append(_query("stage", {"type": "string"}, "排放阶段代码 (cn5, nr3 …)"))
    if res.registry is reg.VEHICLE_LISTS:
        params.append(_query("list_kind", {"type": "string", "enum": list(reg.LIST_KINDS)}, ""))
        params.append(_query("active", {"type": "boolean"}, "当前有效（未撤销且在有效期内）"))
    elif hasattr(model, "active"):
        params.append(_query("active", {"type": "boolean"}, "未停用"))
    return params + QUERY_PARAMETERS


def _bad(name: str, reason: str) -> ApiError:
    return validation_error({name: reason}, "查询参数有误")


def parse_filters(args: Any, registry_: Registry) -> Filters:
    """Query-string filters, validated like a body (422 naming the parameter)."""
    site_id = None
    if args.get("site_id"):
        try:
            site_id = uuid.UUID(args["site_id"])
        except ValueError:
            raise _bad("site_id", "invalid uuid") from None
    active = None
    if args.get("active"):
        text = args["active"].lower()
        if text not in {"true", "false", "1", "0"}:
            raise _bad("active", "true or false")
        active = text in {"true", "1"}
    stage = None
    if args.get("stage"):
        table = reg._NR_STAGES if registry_ is reg.NONROAD_MACHINERY else reg._STAGES
        stage = table.get(args["stage"].strip().upper())
        if stage is None:
            raise _bad("stage", "unknown stage")
    list_kind = args.get("list_kind") or None
    if list_kind is not None and list_kind not in reg.LIST_KINDS:
        raise _bad("list_kind", "black or white")
    return Filters(
        site_id=site_id,
        plate=args.get("plate") or None,
        code=args.get("code") or None,
        stage=stage,
        active=active,
        list_kind=list_kind,
    )


def _user_id() -> uuid.UUID | None:
    principal = current_principal()
    return principal.user_id if principal is not None else None


def _dump(res: Resource, record: Any) -> dict[str, Any]:
    return reg.to_out(res.registry, record).model_dump(mode="json")


def _named(view: Any, name: str) -> Any:
    view.__name__ = name
    view.__qualname__ = name
    return view


def _declare(res: Resource) -> None:
    r = res.registry
    base = f"/{res.path}"
    one = f"{base}/<uuid:{res.param}>"
    name = r.entity
    page = create_model(
        f"{r.out.__name__}Page", items=(list[r.out], ...), next_cursor=(str | None, ...)
    )  # type: ignore[call-overload]

    def list_view() -> ResponseReturnValue:
        stmt = reg.list_query(r, parse_filters(request.args, r))
        rows, cursor = paginate(get_session(), stmt, r.model.created_at, r.model.id)
        return items([_dump(res, row) for row in rows], cursor)

    registry.route(
        base,
        "GET",
        summary=f"{res.title}列表（可按站点、车牌前缀、排放阶段、状态筛选）",
        tags=[res.tag],
        permission=Permission.REGISTRY_READ,
        response=page,
        query=_filter_parameters(res),
    )(_named(list_view, f"list_{name}"))

    def create_view(body: BaseModel) -> ResponseReturnValue:
        record = reg.create_record(get_session(), r, body, user_id=_user_id())
        return _dump(res, record), 201

    registry.route(
        base,
        "POST",
        summary=f"登记{res.title}",
        tags=[res.tag],
        permission=Permission.REGISTRY_WRITE,
        body=r.create,
        response=r.out,
        status=201,
    )(_named(create_view, f"create_{name}"))

    def detail_view(**kwargs: uuid.UUID) -> ResponseReturnValue:
        return _dump(res, reg.get_record(get_session(), r, kwargs[res.param]))

    registry.route(
        one,
        "GET",
        summary=f"{res.title}详情",
        tags=[res.tag],
        permission=Permission.REGISTRY_READ,
        response=r.out,
    )(_named(detail_view, f"get_{name}"))

    def patch_view(body: BaseModel, **kwargs: uuid.UUID) -> ResponseReturnValue:
        session = get_session()
        record = reg.get_record(session, r, kwargs[res.param])
        return _dump(res, reg.update_record(session, r, record, body, user_id=_user_id()))

    registry.route(
        one,
        "PATCH",
        summary=f"修改{res.title}（只改所给字段）",
        tags=[res.tag],
        permission=Permission.REGISTRY_WRITE,
        body=r.patch,
        response=r.out,
    )(_named(patch_view, f"patch_{name}"))

    if res.deactivate is not None:

        def deactivate_view(**kwargs: uuid.UUID) -> ResponseReturnValue:
            session = get_session()
            record = reg.get_record(session, r, kwargs[res.param])
            return _dump(res, reg.deactivate_record(session, r, record, user_id=_user_id()))

        registry.route(
            f"{one}/{res.deactivate}",
            "POST",
            summary=f"{'撤销' if res.deactivate == 'revoke' else '停用'}{res.title}（不删除）",
            tags=[res.tag],
            permission=Permission.REGISTRY_WRITE,
            response=r.out,
        )(_named(deactivate_view, f"{res.deactivate}_{name}"))

    if res.deactivate == "deactivate":

        def reactivate_view(**kwargs: uuid.UUID) -> ResponseReturnValue:
            session = get_session()
            record = reg.get_record(session, r, kwargs[res.param])
            return _dump(res, reg.reactivate_record(session, r, record, user_id=_user_id()))

        registry.route(
            f"{one}/reactivate",
            "POST",
            summary=f"重新启用{res.title}",
            tags=[res.tag],
            permission=Permission.REGISTRY_WRITE,
            response=r.out,
        )(_named(reactivate_view, f"reactivate_{name}"))

    def history_view(**kwargs: uuid.UUID) -> ResponseReturnValue:
        session = get_session()
        record = reg.get_record(session, r, kwargs[res.param])
        limit, cursor = page_args()
        before = None
        if cursor is not None:
            if not cursor.isdigit():
                raise _bad("cursor", "invalid cursor")
            before = int(cursor)
        rows = reg.history(session, r, record, limit=limit + 1, before=before)
        next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
        return items(
            [ChangeOut.model_validate(c).model_dump(mode="json") for c in rows[:limit]],
            next_cursor,
        )

    registry.route(
        f"{one}/history",
        "GET",
        summary=f"{res.title}变更记录（谁、何时、改了什么）",
        tags=[res.tag],
        permission=Permission.REGISTRY_READ,
        response=ChangePage,
        query=QUERY_PARAMETERS,
    )(_named(history_view, f"history_{name}"))

    if r.images:

        def image_view(kind: str, **kwargs: uuid.UUID) -> ResponseReturnValue:
            # Refuse an oversized body before reading it; the bytes are checked again below.
            if (request.content_length or 0) > reg.MAX_IMAGE_BYTES:
                raise ApiError(413, "payload_too_large", "图片超过 5 MB")
            session = get_session()
            record = reg.get_record(session, r, kwargs[res.param])
            if kind not in r.images:
                raise ApiError(404, "not_found", "图片类型不存在")
            data = request.get_data(cache=False)
            storage = current_app.extensions["cleangate.storage"]
            key = reg.store_image(session, r, record, kind, data, storage, user_id=_user_id())
            return ImageOut(kind=kind, key=key).model_dump(mode="json")

        registry.route(
            f"{one}/images/<kind>",
            "PUT",
            summary=f"上传{res.title}证件图片（{'|'.join(r.images)}；JPEG/PNG ≤ 5 MB，原始字节）",
            tags=[res.tag],
            permission=Permission.REGISTRY_WRITE,
            response=ImageOut,
        )(_named(image_view, f"put_{name}_image"))

    if res.importable:

        def template_view() -> ResponseReturnValue:
            return Response(
                imports.build_template(r),
                mimetype=imports.XLSX_MIME,
                headers={"Content-Disposition": f'attachment; filename="{res.path}-template.xlsx"'},
            )

        registry.route(
            f"{base}/import-template",
            "GET",
            summary=f"{res.title} Excel 导入模板（.xlsx，第二页为代码表）",
            tags=[res.tag],
            permission=Permission.REGISTRY_READ,
        )(_named(template_view, f"template_{name}"))

        def import_view() -> ResponseReturnValue:
            site = request.args.get("site_id", "")
            try:
                site_id = uuid.UUID(site)
            except ValueError:
                raise _bad("site_id", "required uuid") from None
            upload = request.files.get("file")
            if (request.content_length or 0) > imports.MAX_FILE_BYTES + 64 * 1024:
                raise ApiError(413, "payload_too_large", "文件超过 5 MB")
            data = upload.read(imports.MAX_FILE_BYTES + 1) if upload else request.get_data()
            result = imports.import_workbook(get_session(), r, site_id, data, user_id=_user_id())
            return result.model_dump(mode="json"), 201

        registry.route(
            f"{base}/import",
            "POST",
            summary=(
                f"导入{res.title}（?site_id=；.xlsx 原始字节或 multipart 字段 file；"
                "全部行无误才导入，否则 422 列出每个错误行）"
            ),
            tags=[res.tag],
            permission=Permission.REGISTRY_WRITE,
            response=imports.ImportResult,
            status=201,
            query=[
                {
                    "name": "site_id",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "format": "uuid"},
                }
            ],
        )(_named(import_view, f"import_{name}"))


for _resource in RESOURCES:
    _declare(_resource)
