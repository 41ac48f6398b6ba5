"""Exports of the passage ledger and the registries (xlsx/csv) as background jobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import quote

from flask import Response, current_app, send_file, stream_with_context, url_for
from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from redis.exceptions import RedisError
from sqlalchemy import select

from saas.api import registry
from saas.api.pagination import QUERY_PARAMETERS, paginate
from saas.auth.permissions import Permission
from saas.auth.principal import check_permission
from saas.db import get_session
from saas.errors import ApiError, NotFound
from saas.jobs.exports import enqueue_export
from saas.ledger import exports
from saas.models.ledger import Export


class ExportCreated(BaseModel):
    export_id: uuid.UUID
    status: str
    status_url: str


class ExportOut(BaseModel):
    export_id: uuid.UUID
    kind: str
    format: str
    filter: dict[str, Any]
    status: str  # queued | running | done | failed
    rows_done: int
    rows_total: int | None
    progress: float | None  # 0..1 once the total is known
    size_bytes: int | None
    sha256: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    download_url: str | None


class ExportPage(BaseModel):
    items: list[ExportOut]
    next_cursor: str | None


def _require_for(kind: str) -> None:
    if kind != "passages":
        check_permission(Permission.REGISTRY_READ)


def export_out(row: Export) -> dict[str, Any]:
    total = row.rows_total
    progress = None
    if total is not None:
        progress = 1.0 if total == 0 or row.status == "done" else min(row.rows_done / total, 1.0)
    return ExportOut(
        export_id=row.id,
        kind=row.kind,
        format=row.file_format,
        filter=row.params,
        status=row.status,
        rows_done=row.rows_done,
        rows_total=total,
        progress=progress,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        error=row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        download_url=url_for("api.download_export", export_id=row.id)
        if row.status == "done"
        else None,
    ).model_dump(mode="json")


def get_export_or_404(export_id: uuid.UUID) -> Export:
    """Scoped by the ORM and RLS: another tenant's export is not found, like a missing one."""
    row = get_session().get(Export, export_id)
    if row is None:
        raise NotFound("导出任务")
    _require_for(row.kind)
    return row


def start_export(body: exports.ExportIn) -> Export:
    """Create the row, then enqueue; if the queue is down the row says so (and 503)."""
    principal = check_permission(Permission.LEDGER_READ)
    _require_for(body.kind)
    session = get_session()
    row = exports.create_export(session, body, requested_by=principal.user_id)
    try:
        enqueue_export(row)
    except RedisError as exc:
        row.status, row.error = "failed", f"queue unavailable: {type(exc).__name__}"
        session.commit()
        raise ApiError(503, "unavailable", "任务队列暂不可用，请稍后重试") from None
    return row


@registry.route(
    "/exports",
    "POST",
    summary="发起台账导出（xlsx/csv，后台任务）",
    tags=["exports"],
    permission=Permission.LEDGER_READ,
    body=exports.ExportIn,
    response=ExportCreated,
    status=202,
)
def create_export(body: exports.ExportIn) -> ResponseReturnValue:
    row = start_export(body)
    status_url = url_for("api.get_export", export_id=row.id)
    created = ExportCreated(export_id=row.id, status=row.status, status_url=status_url)
    return created.model_dump(mode="json"), 202, {"Location": status_url}


@registry.route(
    "/exports",
    "GET",
    summary="导出任务列表",
    tags=["exports"],
    permission=Permission.LEDGER_READ,
    response=ExportPage,
    query=QUERY_PARAMETERS,
)
def list_exports() -> ResponseReturnValue:
    rows, next_cursor = paginate(get_session(), select(Export), Export.created_at, Export.id)
    return {"items": [export_out(r) for r in rows], "next_cursor": next_cursor}


@registry.route(
    "/exports/<uuid:export_id>",
    "GET",
    summary="导出任务状态与进度",
    tags=["exports"],
    permission=Permission.LEDGER_READ,
    response=ExportOut,
)
def get_export(export_id: uuid.UUID) -> ResponseReturnValue:
    return export_out(get_export_or_404(export_id))


def file_response(row: Export) -> Response:
    """Streams from storage (never the whole file in memory); 404 until it is done."""
    if row.status != "done" or not row.storage_key:
        raise NotFound("导出文件")
    storage = current_app.extensions["cleangate.storage"]
    name = exports.download_name(row)
    mimetype = exports.CONTENT_TYPES[row.file_format]
    chunks, local = exports.open_stored(storage, row.storage_key)
    if local is not None:
        if not local.is_file():
            raise NotFound("导出文件")
        response = send_file(local, mimetype=mimetype, as_attachment=True, download_name=name)
    else:
        response = Response(stream_with_context(chunks), mimetype=mimetype)
        response.headers["Content-Disposition"] = (
            f'attachment; filename="export-{row.id}.{row.file_format}"; '
            f"filename*=UTF-8''{quote(name, safe='')}"  # RFC 6266 / 5987
        )
    response.headers["Cache-Control"] = "private, no-store"
    if row.sha256:
        response.headers["X-Content-SHA256"] = row.sha256
    return response


@registry.route(
    "/exports/<uuid:export_id>/file",
    "GET",
    summary="下载导出文件",
    tags=["exports"],
    permission=Permission.LEDGER_READ,
)
def download_export(export_id: uuid.UUID) -> ResponseReturnValue:
    return file_response(get_export_or_404(export_id))
