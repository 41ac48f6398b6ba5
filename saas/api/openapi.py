"""A small registry that turns route declarations into an OpenAPI 3.1 document.

Each operation declares its request and response pydantic models; the same models validate the
request, so the document cannot drift from what the code accepts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Blueprint, request
from pydantic import BaseModel, ValidationError

from saas.auth.permissions import Permission, require
from saas.errors import ApiError

_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
_FORMATS = {"uuid": {"type": "string", "format": "uuid"}, "int": {"type": "integer"}}


def openapi_path(rule: str) -> str:
    return _CONVERTER.sub(lambda m: "{" + m.group(2) + "}", rule)


def error_fields(exc: ValidationError) -> dict[str, str]:
    """pydantic errors → {"field.path": "reason"} for the 422 envelope."""
    fields: dict[str, str] = {}
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "body"
        fields.setdefault(path, err["msg"])
    return fields


def parse_body(model: type[BaseModel]) -> Any:
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "bad_request", "请求体必须是 JSON 对象")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(
            422, "validation_failed", "输入有误", {"fields": error_fields(exc)}
        ) from None


@dataclass
class Operation:
    method: str
    rule: str
    summary: str
    tags: list[str]
    permission: Permission | None
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    query: list[dict[str, Any]] = field(default_factory=list)
    secured: bool = False
    upload: dict[str, Any] | None = None  # a non-JSON request body: {media type: schema}


DEFAULT_SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "API token (cg_…), created in the portal",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "cg_session",
        "description": "browser session; unsafe methods need X-CSRFToken",
    },
}


class ApiRegistry:
    """Routes with their models. ``guard`` authenticates the routes declared ``secured`` (an
    API whose callers are not portal users, e.g. the mini-program's drivers); routes with a
    ``permission`` are checked against the portal principal as everywhere else."""

    def __init__(
        self,
        blueprint: Blueprint,
        title: str,
        version: str,
        description: str,
        *,
        security_schemes: dict[str, Any] | None = None,
        guard: Callable[[Callable[..., Any]], Callable[..., Any]] | None = None,
    ) -> None:
        self.blueprint = blueprint
        self.title = title
        self.version = version
        self.description = description
        self.security_schemes = security_schemes or DEFAULT_SECURITY_SCHEMES
        self.guard = guard
        self.operations: list[Operation] = []

    def route(
        self,
        rule: str,
        method: str,
        *,
        summary: str,
        tags: list[str],
        permission: Permission | None,
        body: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        query: list[dict[str, Any]] | None = None,
        secured: bool = False,
        upload: dict[str, Any] | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        if secured and self.guard is None:
            raise ValueError(f"{rule}: secured routes need the registry's guard")
        op = Operation(
            method.upper(),
            rule,
            summary,
            tags,
            permission,
            body,
            response,
            status,
            query or [],
            secured,
            upload,
        )
        self.operations.append(op)

        def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
            @wraps(view)
            def wrapper(**kwargs: Any) -> Any:
                if body is not None:
                    kwargs["body"] = parse_body(body)
                return view(**kwargs)

            guarded = wrapper
            if permission is not None:
                guarded = require(permission)(wrapper)
            elif secured and self.guard is not None:
                guarded = self.guard(wrapper)
            self.blueprint.add_url_rule(
                rule, endpoint=view.__name__, view_func=guarded, methods=[op.method]
            )
            return guarded

        return decorator

    def document(self, server_url: str) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
        for op in self.operations:
            entry: dict[str, Any] = {
                "summary": op.summary,
                "tags": op.tags,
                "operationId": f"{op.method.lower()}_{openapi_path(op.rule)}".replace("/", "_"),
                "parameters": [
                    {
                        "name": name,
                        "in": "path",
                        "required": True,
                        "schema": _FORMATS.get(conv or "", {"type": "string"}),
                    }
                    for conv, name in _CONVERTER.findall(op.rule)
                ]
                + op.query,
                "responses": {
                    "default": {
                        "description": "错误",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                },
            }
            if op.permission is not None:
                entry["security"] = [{"bearer": []}, {"session": []}]
                entry["x-permission"] = op.permission.value
            elif op.secured:
                entry["security"] = [{name: []} for name in self.security_schemes]
            if op.upload is not None:
                entry["requestBody"] = {
                    "required": True,
                    "content": {kind: {"schema": schema} for kind, schema in op.upload.items()},
                }
            if op.body is not None:
                entry["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(op.body, schemas)}},
                }
            ok: dict[str, Any] = {"description": "成功"}
            if op.response is not None:
                ok["content"] = {"application/json": {"schema": _ref(op.response, schemas)}}
            entry["responses"][str(op.status)] = ok
            paths.setdefault(
                self.blueprint.url_prefix + openapi_path(op.rule)
                if self.blueprint.url_prefix
                else openapi_path(op.rule),
                {},
            )[op.method.lower()] = entry
        return {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version, "description": self.description},
            "servers": [{"url": server_url}],
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": self.security_schemes,
            },
        }


def _ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        schemas[name] = sub
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "stable machine-readable code"},
                "message": {"type": "string", "description": "human-readable, Chinese"},
                "details": {
                    "type": "object",
                    "description": "e.g. {fields: {name: reason}} for 422",
                },
            },
        }
    },
}
