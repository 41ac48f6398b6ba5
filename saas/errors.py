"""One error envelope for every JSON API: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

JSON_PREFIXES = ("/api/", "/mp/")


class ApiError(Exception):
    """An error with an HTTP status, a stable code, a Chinese message and optional details."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


class NotFound(ApiError):
    """Missing or another tenant's object: the same answer either way."""

    def __init__(self, what: str = "对象") -> None:
        super().__init__(404, "not_found", f"{what}不存在")


def validation_error(fields: dict[str, str], message: str = "输入有误") -> ApiError:
    """422 naming each bad field: ``details.fields = {field: reason}``."""
    return ApiError(422, "validation_failed", message, {"fields": fields})


def error_response(status: int, code: str, message: str, details: dict[str, Any]) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "details": details}})
    response.status_code = status
    return response


def wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES) or request.accept_mimetypes.best == (
        "application/json"
    )


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
}


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response | tuple[str, int]:
        if wants_json():
            return error_response(exc.status, exc.code, exc.message, exc.details)
        return render_template("error.html", status=exc.status, message=exc.message), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | tuple[str, int]:
        status = exc.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        message = exc.description or exc.name
        if wants_json():
            return error_response(status, code, message, {})
        return render_template("error.html", status=status, message=message), status
