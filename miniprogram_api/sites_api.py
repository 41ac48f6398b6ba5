"""Scanning a board's QR code and reading the site it names."""

from __future__ import annotations

import uuid
from typing import Annotated

from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field

from miniprogram_api import registry, sites


class QrIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: Annotated[str, Field(min_length=1, max_length=500)]  # the scanned link, as WeChat gave it


class GateOut(BaseModel):
    code: str
    name: str


class SiteOut(BaseModel):
    id: str
    name: str
    enterprise: str
    address: str | None
    gates: list[GateOut]


class QrOut(BaseModel):
    site: SiteOut
    gate: str | None


def site_out(site_id: uuid.UUID) -> dict[str, object]:
    ref = sites.resolve(site_id)
    with sites.site_scope(site_id) as (session, site):
        return {
            "id": str(site.id),
            "name": site.name,
            "enterprise": ref.enterprise,
            "address": site.address,
            "gates": sites.gates(session, site),
        }


@registry.route(
    "/sites/<uuid:site_id>",
    "GET",
    summary="站点信息（名称、企业、出入口）",
    tags=["sites"],
    permission=None,
    secured=True,
    response=SiteOut,
)
def get_site(site_id: uuid.UUID) -> ResponseReturnValue:
    return site_out(site_id)


@registry.route(
    "/qr",
    "POST",
    summary="解析门岗公示牌上的二维码 → 站点（及出入口）",
    tags=["sites"],
    permission=None,
    secured=True,
    body=QrIn,
    response=QrOut,
)
def resolve_qr(body: QrIn) -> ResponseReturnValue:
    site_id, gate = sites.parse_qr(body.url)
    out = site_out(site_id)
    if gate is not None and gate not in {g["code"] for g in out["gates"]}:  # type: ignore[attr-defined]
        gate = None  # a gate since removed: the site still stands
    return {"site": out, "gate": gate}
