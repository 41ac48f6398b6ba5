"""A site's gates and lanes with coordinates (道闸登记), the source of the regulator gate
registration (docs/regulator.md, "Gates"). Thin routes over ``saas.regulator.gates``; another
tenant's site or gate answers 404."""

from __future__ import annotations

import uuid

from flask.typing import ResponseReturnValue
from pydantic import BaseModel

from saas.api import registry
from saas.auth.permissions import Permission
from saas.auth.principal import current_principal
from saas.db import get_session
from saas.regulator import gates
from saas.regulator.gates import GateCreate, GateOut, GatePatch
from saas.sites import get_site


class GateList(BaseModel):
    items: list[GateOut]


def _actor() -> uuid.UUID | None:
    principal = current_principal()
    return principal.user_id if principal is not None else None


@registry.route(
    "/sites/<uuid:site_id>/gates",
    "GET",
    summary="站点的出入口/道闸（含经纬度）",
    tags=["regulator"],
    permission=Permission.SITE_READ,
    response=GateList,
)
def list_site_gates(site_id: uuid.UUID) -> ResponseReturnValue:
    session = get_session()
    site = get_site(session, site_id)
    return {"items": [gates.gate_out(g) for g in gates.list_gates(session, site)]}


@registry.route(
    "/sites/<uuid:site_id>/gates",
    "POST",
    summary="新增道闸（经纬度必填；随即向监管平台登记）",
    tags=["regulator"],
    permission=Permission.SITE_WRITE,
    body=GateCreate,
    response=GateOut,
    status=201,
)
def create_site_gate(site_id: uuid.UUID, body: GateCreate) -> ResponseReturnValue:
    session = get_session()
    site = get_site(session, site_id)
    gate = gates.create_gate(session, site, body, actor_id=_actor())
    return gates.gate_out(gate), 201


@registry.route(
    "/sites/<uuid:site_id>/gates/<uuid:gate_id>",
    "PATCH",
    summary="修改道闸（只改所给字段；有变更即向监管平台重新登记）",
    tags=["regulator"],
    permission=Permission.SITE_WRITE,
    body=GatePatch,
    response=GateOut,
)
def patch_site_gate(site_id: uuid.UUID, gate_id: uuid.UUID, body: GatePatch) -> ResponseReturnValue:
    session = get_session()
    site = get_site(session, site_id)
    gate = gates.update_gate(
        session, site, gates.get_gate(session, site, gate_id), body, actor_id=_actor()
    )
    return gates.gate_out(gate)


@registry.route(
    "/sites/<uuid:site_id>/gates/<uuid:gate_id>",
    "DELETE",
    summary="删除道闸（不通知平台；停用请改 active=false）",
    tags=["regulator"],
    permission=Permission.SITE_WRITE,
    status=204,
)
def delete_site_gate(site_id: uuid.UUID, gate_id: uuid.UUID) -> ResponseReturnValue:
    session = get_session()
    site = get_site(session, site_id)
    gates.delete_gate(session, site, gates.get_gate(session, site, gate_id), actor_id=_actor())
    return "", 204
